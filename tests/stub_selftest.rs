//! The stand-in checkout's own self-test (`tests/stub-trtllm/selftest.sh`, ~45 s, no Slurm):
//! its parse rules, collection, every role and knob, and the upstream contracts it checks
//! (gen_only sentinels and gen-log parsing, every rank's env). perf-run's end-to-end tests
//! prove the batch script against these contracts, so the contracts themselves must hold.
//!
//! Needs Debian's python3 with pytest, pytest-timeout and PyYAML (installed by
//! `scripts/test-cluster up`); without them the test says so and passes, except under
//! `CI=true`, where it fails.

use std::process::Command;

#[test]
fn the_stand_in_checkout_passes_its_self_test() {
    let have = Command::new("/usr/bin/python3")
        .args(["-c", "import pytest, pytest_timeout, yaml"])
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but /usr/bin/python3 lacks pytest, pytest-timeout or PyYAML (scripts/test-cluster up installs them)"
        );
        eprintln!(
            "SKIPPED: /usr/bin/python3 lacks pytest, pytest-timeout or PyYAML; run scripts/test-cluster up"
        );
        return;
    }
    let out = Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/stub-trtllm/selftest.sh"
        ))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(", 0 failure(s)"), "{text}");
}
