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
    // The script asks the installed `perf-run` for dynamic values: put this build first on PATH.
    let bin = assert_cmd::cargo::cargo_bin("perf-run");
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(probe)
        .env("PATH", path)
        .env_remove("TRTLLM_DIR")
        .env_remove("PERF_RUN_CLUSTERS")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
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

#[test]
fn dynamic_values_profile_and_config_names() {
    let clusters = complete(&["perf-run", "run", "--cluster", ""]);
    for p in ["gb200", "gb300", "local-test"] {
        assert!(clusters.contains(&p.to_string()), "{clusters:?}");
    }
    assert_eq!(
        complete(&["perf-run", "doctor", "--cluster", "gb3"]),
        ["gb300"]
    );
    let stub = format!("{}/tests/stub-trtllm", env!("CARGO_MANIFEST_DIR"));
    let configs = complete(&[
        "perf-run",
        "run",
        "--trtllm-dir",
        &stub,
        "--config",
        "deepseek_r1",
    ]);
    assert_eq!(
        configs,
        [
            "deepseek_r1_fp4_v2_2_nodes_grace_blackwell",
            "deepseek_r1_fp4_v2_grace_blackwell"
        ]
    );
    // No checkout on the line and no TRTLLM_DIR: nothing to offer, no error.
    assert!(complete(&["perf-run", "run", "--config", ""]).is_empty());
    // Hidden subcommands are not offered.
    let subs = complete(&["perf-run", ""]);
    for hidden in ["wait", "manpages", "complete-values"] {
        assert!(!subs.contains(&hidden.to_string()), "{subs:?}");
    }
    assert!(subs.contains(&"report".to_string()), "{subs:?}");
}
