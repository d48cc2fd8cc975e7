//! Bash completion, exercised in real bash: the generated script must complete subcommand
//! options and their values (clap_complete's hyphenated-binary bug left only the top level
//! working; newcomer review finding 2).

use std::process::Command;

/// Complete `words` (the last one is being typed) with the script `perf-run completions bash`.
fn complete(words: &[&str]) -> Vec<String> {
    let script = assert_cmd::Command::cargo_bin("perf-run")
        .unwrap()
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(script.status.success());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("perf-run.bash");
    std::fs::write(&path, &script.stdout).unwrap();
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let cword = words.len() - 1;
    let prev = if cword > 0 { words[cword - 1] } else { "" };
    let probe = format!(
        "source '{}'; COMP_WORDS=({}); COMP_CWORD={cword}; _perf__run perf-run '{}' '{prev}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        path.display(),
        quoted.join(" "),
        words[cword],
    );
    let out = Command::new("bash").arg("-c").arg(probe).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn subcommand_options_and_values_complete() {
    assert_eq!(
        complete(&["perf-run", "run", "--mode", ""]),
        ["single-agg", "multi-agg", "disagg"]
    );
    assert_eq!(complete(&["perf-run", "run", "--inst"]), ["--install"]);
    assert_eq!(
        complete(&["perf-run", "render", "--install", ""]),
        ["auto", "none"]
    );
    let subs = complete(&["perf-run", "re"]);
    assert!(
        subs.contains(&"render".to_string()) && subs.contains(&"resume".to_string()),
        "{subs:?}"
    );
}
