//! Configuration: cluster profiles, the environment overlay, perf-sanity YAML configs, the
//! checkout layout and test lists.

pub mod error;
pub mod kexpr;
pub mod layout;
pub mod mode;
pub mod perf_sanity;
pub mod profile;
pub mod settings;
pub mod ssh_user;
pub mod stage;
pub mod testlist;

pub use error::ConfigError;

/// The closest known name to `want`, if any is close enough to be a likely typo.
pub fn suggest<'a>(want: &str, names: impl Iterator<Item = &'a str>) -> Option<String> {
    names
        .map(|n| (strsim::jaro_winkler(want, n), n))
        .filter(|(s, _)| *s > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, n)| n.to_string())
}

/// The process environment as a lookup function (what `settings::resolve` takes).
pub fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// One sentence for a YAML error: `file:line:column: message (field `a.b.c`)`. serde-saphyr
/// gives the location and a message; the field path is read back from the source text.
pub fn yaml_error(path: &std::path::Path, text: &str, err: &serde_saphyr::Error) -> String {
    let full = err.to_string();
    let msg = full
        .lines()
        .next()
        .unwrap_or("")
        .trim_start_matches("error: ")
        .to_string();
    // "line 2 column 18: invalid u32" -> "invalid u32"
    let msg = match msg.split_once(": ") {
        Some((loc, rest)) if loc.starts_with("line ") => rest.to_string(),
        _ => msg,
    };
    match err.location() {
        Some(loc) if loc.line() > 0 => {
            let (line, col) = (loc.line() as usize, loc.column() as usize);
            let found: String = text
                .lines()
                .nth(line - 1)
                .map(|l| l.chars().skip(col.saturating_sub(1)).collect::<String>())
                .unwrap_or_default();
            let found = found.trim();
            let msg = if ["invalid u", "invalid i"]
                .iter()
                .any(|p| msg.starts_with(p))
            {
                format!("expected a whole number, found `{found}`")
            } else if msg.starts_with("invalid f") {
                format!("expected a number, found `{found}`")
            } else if msg == "expected string scalar" && found.starts_with(['[', '{']) {
                format!("expected a single value, found `{found}`")
            } else {
                msg
            };
            let field = yaml_field_path(text, line, col)
                .filter(|_| !msg.starts_with("missing field") && !msg.starts_with("unclosed"))
                .map(|f| format!("field `{f}`: "))
                .unwrap_or_default();
            format!("{}:{line}:{col}: {field}{msg}", path.display())
        }
        _ => format!("{}: {msg}", path.display()),
    }
}

/// The dotted key path of the YAML value at `line`/`col` (1-based), from indentation.
fn yaml_field_path(text: &str, line: usize, col: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let cur = *lines.get(line.checked_sub(1)?)?;
    let key_of = |l: &str| -> Option<(usize, String)> {
        let trimmed = l.trim_start();
        let mut indent = l.len() - trimmed.len();
        let mut t = trimmed;
        if let Some(rest) = t.strip_prefix("- ") {
            indent += 2;
            t = rest;
        }
        let (k, _) = t.split_once(':')?;
        let k = k.trim();
        (!k.is_empty()
            && !k.starts_with('#')
            && k.chars().all(|c| c.is_alphanumeric() || "_-.".contains(c)))
        .then(|| (indent, k.to_string()))
    };
    let before: String = cur.chars().take(col.saturating_sub(1)).collect();
    let (mut indent, key) = key_of(&before).or_else(|| key_of(cur))?;
    let mut path = vec![key];
    for l in lines[..line - 1].iter().rev() {
        if l.trim().is_empty() || l.trim_start().starts_with('#') {
            continue;
        }
        if let Some((i, k)) = key_of(l)
            && i < indent
        {
            path.push(k);
            indent = i;
            if i == 0 {
                break;
            }
        }
    }
    path.reverse();
    Some(path.join("."))
}
