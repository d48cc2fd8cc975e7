//! Shell quoting, the leaf that plan, render, remote and slurm share (DESIGN.md "Quoting").
//! Script bodies and remote command lines: every value is one bash word (`quote_word`, `sh`).
//! `#SBATCH` directives: sbatch (not bash) reads them, so values are checked against an
//! allowlist instead of quoted (crates.md pitfall 1). This module imports nothing from the crate.

/// Characters that never need quoting in bash (outside the command position).
fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c)
}

/// One bash word that evaluates to exactly `s`. Plain words stay as they are, ordinary text is
/// single-quoted, anything with a quote or a control character uses ANSI-C quoting (`$'…'`),
/// which never puts a raw newline into the script. NUL cannot be represented: callers reject
/// it first (`check_value`).
pub fn quote_word(s: &str) -> String {
    if s.is_empty() {
        return "''".to_string();
    }
    if s.chars().all(is_plain) && !s.starts_with('=') {
        return s.to_string();
    }
    if s.chars().any(char::is_control) {
        return ansi_c(s);
    }
    if !s.contains('\'') {
        return format!("'{s}'");
    }
    // Text with single quotes but nothing double quotes would interpret: "…" reads best.
    if !s.contains(['"', '$', '`', '\\', '!']) {
        return format!("\"{s}\"");
    }
    ansi_c(s)
}

fn ansi_c(s: &str) -> String {
    String::from_utf8(shell_quote::Bash::quote_vec(s)).unwrap_or_else(|e| {
        // quote_vec output of valid UTF-8 input is ASCII/UTF-8; keep going losslessly anyway.
        String::from_utf8_lossy(e.as_bytes()).into_owned()
    })
}

/// Join words into a bash command line, each quoted.
pub fn sh(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| quote_word(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Environment-variable names must match `^[A-Za-z_][A-Za-z0-9_]*$` (DESIGN.md "Quoting").
pub fn is_env_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// Values allowed after `#SBATCH --key=`: the crates.md allowlist.
pub fn is_sbatch_value(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._,:=@%+/-".contains(c))
}

/// Option names allowed after `#SBATCH --`.
pub fn is_sbatch_key(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c == '-') && !s.starts_with('-')
}

/// A value that is going into a script body: NUL is the one thing bash cannot hold.
pub fn check_value(what: &str, s: &str) -> Result<(), String> {
    if s.contains('\0') {
        return Err(format!(
            "{what} contains a NUL byte, which a shell script cannot hold"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_quoting() {
        assert_eq!(quote_word("abc"), "abc");
        assert_eq!(quote_word("/a/b-c_d.yaml"), "/a/b-c_d.yaml");
        assert_eq!(
            quote_word("--junit-xml=/x/results.xml"),
            "--junit-xml=/x/results.xml"
        );
        assert_eq!(quote_word(""), "''");
        assert_eq!(quote_word("a b"), "'a b'");
        assert_eq!(quote_word("x[y]"), "'x[y]'");
        assert_eq!(quote_word("$(id)"), "'$(id)'");
        assert_eq!(quote_word("~root"), "'~root'");
        assert_eq!(quote_word("it's"), "\"it's\"");
        assert!(quote_word("it's $x").starts_with("$'"));
        assert!(!quote_word("a\nb").contains('\n'));
    }

    #[test]
    fn names_and_sbatch_values() {
        assert!(is_env_name("LLM_ROOT") && is_env_name("_x1"));
        assert!(
            !is_env_name("1X") && !is_env_name("A-B") && !is_env_name("") && !is_env_name("A B")
        );
        assert!(is_sbatch_value("04:00:00") && is_sbatch_value("/home/u/runs/x/slurm-%j.log"));
        assert!(
            !is_sbatch_value("a b") && !is_sbatch_value("a\nsrun x") && !is_sbatch_value("$(x)")
        );
        assert!(is_sbatch_key("ntasks-per-node") && !is_sbatch_key("x=y"));
    }
}
