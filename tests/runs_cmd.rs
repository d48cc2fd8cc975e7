//! `perf-run runs` and `perf-run runs prune`: every run directory with its state, verdict and
//! age; prune lists by default, removes only finished runs (and left-over renders) with --yes.

mod common;

use std::path::Path;

use common::perf_run;
use serde_json::Value;

/// A run directory whose journal says it started `days` ago and, when `exit` is given, finished.
fn fake_run(home: &Path, id: &str, days: i64, exit: Option<i32>) {
    let dir = home.join(id);
    std::fs::create_dir_all(&dir).unwrap();
    let ts = (chrono::Utc::now() - chrono::Duration::days(days)).to_rfc3339();
    let mut j = format!(
        "{{\"ts\":\"{ts}\",\"event\":\"run_started\",\"run_id\":\"{id}\",\"version\":\"0.1.0\",\"cluster\":{{\"name\":\"gb200\",\"kind\":\"ssh\",\"host\":\"h\",\"user\":\"u\",\"user_configured\":true,\"workdir\":\"/w\"}},\"cases\":[],\"upload\":false}}\n"
    );
    if let Some(code) = exit {
        j.push_str(&format!(
            "{{\"ts\":\"{ts}\",\"event\":\"run_finished\",\"exit_code\":{code},\"scheduler_calls\":2,\"ssh_connects\":1,\"wall_seconds\":1.0}}\n"
        ));
    }
    std::fs::write(dir.join("journal.jsonl"), j).unwrap();
}

fn runs(home: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    perf_run()
        .env("PERF_RUN_HOME", home)
        .arg("runs")
        .args(args)
        .assert()
}

#[test]
fn runs_lists_state_verdict_and_age_and_prune_keeps_what_is_live() {
    let home = tempfile::tempdir().unwrap();
    fake_run(home.path(), "old-passed", 20, Some(0));
    fake_run(home.path(), "old-failed", 30, Some(1));
    fake_run(home.path(), "old-interrupted", 40, None);
    fake_run(home.path(), "new-passed", 1, Some(0));
    std::fs::create_dir_all(home.path().join("a-render/cases/00-x")).unwrap();

    let out = runs(home.path(), &["--json"]).success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let by_id = |id: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|r| r["run_id"] == id)
            .unwrap_or_else(|| panic!("{id} not listed: {v}"))
            .clone()
    };
    assert_eq!(by_id("old-failed")["verdict"], "test failed");
    assert_eq!(by_id("old-failed")["state"], "finished");
    assert_eq!(
        by_id("old-interrupted")["state"],
        "in progress or interrupted"
    );
    assert_eq!(by_id("a-render")["state"], "render");
    assert!(by_id("old-passed")["age_s"].as_u64().unwrap() >= 20 * 86_400);
    let text = runs(home.path(), &[]).success();
    let text = String::from_utf8_lossy(&text.get_output().stdout).to_string();
    assert!(
        text.lines().nth(1).unwrap().starts_with("a-render"),
        "newest first:\n{text}"
    );

    // Without --yes nothing is removed.
    let dry = runs(home.path(), &["prune", "--older-than", "14d"]).success();
    let err = String::from_utf8_lossy(&dry.get_output().stderr).to_string();
    assert!(
        err.contains("would remove old-passed") && err.contains("add --yes"),
        "{err}"
    );
    assert!(home.path().join("old-passed").is_dir());

    runs(home.path(), &["prune", "--older-than", "14d", "--yes"]).success();
    assert!(!home.path().join("old-passed").exists());
    assert!(!home.path().join("old-failed").exists());
    assert!(
        home.path().join("old-interrupted").is_dir(),
        "a live or interrupted run stays"
    );
    assert!(
        home.path().join("new-passed").is_dir(),
        "younger than the limit"
    );

    let bad = runs(home.path(), &["prune", "--older-than", "two weeks"])
        .failure()
        .code(2);
    let err = String::from_utf8_lossy(&bad.get_output().stderr).to_string();
    assert!(err.contains("is not a duration"), "{err}");
}
