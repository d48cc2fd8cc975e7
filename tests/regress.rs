//! `perf-run regress` and `perf-run compare` through the real binary against a real SQLite
//! history built with `perf-run upload --source-metric-csv … --start-time … --commit …` (no
//! database host: the upload records into `$PERF_RUN_HOME/history.db`).
//!
//! The generated history: one upload a day for 30 days (`run-d00` … `run-d29`, commits
//! `c00` … `c29`) with
//! - `step`: output-token throughput 1000 (±0.3 %), falling 15 % to 850 from day 25 on;
//! - `noise`: output-token throughput 1000 with 2 % Gaussian noise (a fixed seed);
//! - `few`: only on the last 3 days.
//!
//! `cargo test --test regress -- --nocapture` prints every verdict line.

#[path = "report_support/mod.rs"]
mod report_support;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use assert_cmd::Command;
use chrono::{Duration, NaiveDate};
use predicates::prelude::*;
use serde_json::Value;

const HEADER: &str =
    "network_name,test_name,perf_metric,start_timestamp,end_timestamp,state,command,metric_type\n";
const DAYS: usize = 30;
const STEP_DAY: usize = 25;

fn perf_run(home: &Path) -> Command {
    let mut c = Command::cargo_bin("perf-run").unwrap();
    c.env("PERF_RUN_HOME", home)
        .env("USER", "tester")
        .env_remove("DB_HOST")
        .env_remove("DB_USER")
        .env_remove("DB_PASSWORD")
        .env_remove("DB_PORT")
        .env_remove("DB_SCHEMA")
        .env_remove("USE_TRT_PERF_DB");
    for (var, _) in perf_run::perfdb::runinfo::ENV_VARS {
        c.env_remove(var);
    }
    c
}

fn day(i: usize) -> String {
    let d = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap() + Duration::days(i as i64);
    format!("{} 10:00:00", d.format("%Y-%m-%d"))
}

fn row(test: &str, value: f64, metric: &str, start: &str) -> String {
    format!("{test},{test},{value:.3},{start},{start},valid,bench,{metric}\n")
}

/// Upload one long CSV as one run.
fn upload(home: &Path, body: &str, start: &str, commit: &str, run_key: &str, trtllm: &str) {
    let csv = home.join(format!("{run_key}.csv"));
    std::fs::write(&csv, body).unwrap();
    perf_run(home)
        .args(["upload", "--source-metric-csv"])
        .arg(&csv)
        .args([
            "--start-time",
            start,
            "--commit",
            commit,
            "--run-key",
            run_key,
            "--trtllm",
            trtllm,
            "--gpu",
            "NVIDIA H100",
        ])
        .assert()
        .success();
}

/// A deterministic standard normal sequence (xorshift + Box–Muller).
struct Gauss(u64);

impl Gauss {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn next(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// The 30-day history, built once per process and copied into each test's home.
fn template() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Under cargo's scratch directory for tests, one per process (nextest runs every test
        // in a process of its own), replaced on the next run of the same pid.
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("regress-history-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut g = Gauss(0x9E37_79B9_7F4A_7C15);
        for i in 0..DAYS {
            let start = day(i);
            let mut body = HEADER.to_string();
            let level = if i >= STEP_DAY { 850.0 } else { 1000.0 };
            body.push_str(&row(
                "step",
                level * (1.0 + 0.003 * g.next()),
                "TOKEN_THROUGHPUT",
                &start,
            ));
            body.push_str(&row(
                "noise",
                1000.0 * (1.0 + 0.02 * g.next()),
                "TOKEN_THROUGHPUT",
                &start,
            ));
            if i >= DAYS - 3 {
                body.push_str(&row("few", 500.0, "TOKEN_THROUGHPUT", &start));
            }
            upload(
                &dir,
                &body,
                &start,
                &format!("c{i:02}"),
                &format!("run-d{i:02}"),
                "1.0",
            );
        }
        dir
    })
}

/// A home holding a copy of the template history (tests that write into it stay apart).
fn home() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    for f in ["history.db", "history.db-wal", "history.db-shm"] {
        let src = template().join(f);
        if src.is_file() {
            std::fs::copy(&src, home.path().join(f)).unwrap();
        }
    }
    home
}

fn regress_json(home: &Path, args: &[&str], code: i32) -> Vec<Value> {
    let out = perf_run(home)
        .args(["regress", "--json"])
        .args(args)
        .assert()
        .code(code)
        .get_output()
        .clone();
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("regress --json prints JSON");
    for j in v.as_array().unwrap() {
        eprintln!("{} {}: {}", j["test_name"], j["verdict"], j["explanation"]);
    }
    v.as_array().expect("a JSON array").clone()
}

fn only<'a>(v: &'a [Value], test: &str) -> &'a Value {
    let found: Vec<&Value> = v.iter().filter(|j| j["test_name"] == test).collect();
    assert_eq!(found.len(), 1, "one verdict for {test} in {v:#?}");
    found[0]
}

#[test]
fn a_clean_step_down_is_a_regression_that_fails_the_pre_merge_gate() {
    let home = home();
    let v = regress_json(
        home.path(),
        &["-k", "step", "--stage", "pre_merge"],
        6, // Exit::Regression
    );
    assert_eq!(v.len(), 1);
    let j = &v[0];
    // The CLI contract, field by field.
    assert_eq!(j["test_name"], "step");
    assert_eq!(j["network_name"], "step");
    assert_eq!(j["metric"], "token_throughput");
    assert_eq!(j["verdict"], "regression");
    let latest = j["latest"].as_f64().expect("latest is a number");
    assert!((latest - 850.0).abs() < 10.0, "latest {latest}");
    let baseline = j["baseline"].as_f64().expect("baseline is a number");
    assert!((baseline - 1000.0).abs() < 10.0, "baseline {baseline}");
    assert_eq!(j["threshold_pct"].as_f64(), Some(10.0), "pre-merge floor");
    let cv = j["cv_pct"].as_f64().expect("cv_pct is a number");
    assert!(cv > 0.0 && cv < 2.0, "cv {cv}");
    let n = j["n"].as_u64().expect("n is a count");
    assert!(n >= 5, "n {n}");
    let cps = j["change_points"].as_array().expect("change_points array");
    let cp = cps
        .iter()
        .find(|c| c["commit"] == format!("c{STEP_DAY:02}"))
        .unwrap_or_else(|| panic!("a change point at commit c{STEP_DAY:02}: {cps:#?}"));
    assert_eq!(cp["start_time"], "2026-10-26T10:00:00Z");
    let d = cp["delta_pct"].as_f64().expect("delta_pct");
    assert!((d + 15.0).abs() < 1.5, "delta {d}");
    let p = cp["p_value"].as_f64().expect("p_value");
    assert!(p <= 0.001, "p {p}");
    let e = j["explanation"].as_str().expect("explanation");
    assert!(e.contains("fell"), "{e}");
    assert!(
        e.contains(&format!("c{:02}", STEP_DAY - 1)),
        "commit range: {e}"
    );
    assert_eq!(j["gating"], true);

    // Post-merge reports the same regression but does not fail.
    let v = regress_json(home.path(), &["-k", "step", "--stage", "post_merge"], 0);
    assert_eq!(only(&v, "step")["verdict"], "regression");
    assert_eq!(only(&v, "step")["threshold_pct"].as_f64(), Some(5.0));
}

#[test]
fn pure_noise_at_2_percent_passes_the_gate() {
    let home = home();
    let v = regress_json(home.path(), &["-k", "noise", "--stage", "pre_merge"], 0);
    let j = only(&v, "noise");
    assert_ne!(j["verdict"], "regression", "{j:#}");
    assert_ne!(j["verdict"], "suspect", "{j:#}");
    let cv = j["cv_pct"].as_f64().unwrap();
    assert!(cv > 0.5 && cv < 4.0, "cv of 2 % noise: {cv}");
}

#[test]
fn too_few_points_are_insufficient_data() {
    let home = home();
    let v = regress_json(home.path(), &["-k", "few", "--stage", "pre_merge"], 0);
    let j = only(&v, "few");
    assert_eq!(j["verdict"], "insufficient_data");
    assert_eq!(j["latest"].as_f64(), Some(500.0));
    assert!(j["change_points"].as_array().unwrap().is_empty());
}

#[test]
fn the_human_view_puts_attention_first_and_counts_the_rest() {
    let home = home();
    let out = perf_run(home.path())
        .args(["regress", "--stage", "pre_merge"])
        .assert()
        .code(6)
        .stderr(predicate::str::contains(
            "The pre-merge gate fails: 1 gating metric",
        ))
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    println!("{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("regression        step [H100]: token_throughput fell"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("3 series judged (pre-merge): 1 regression, 0 suspect"),
        "{text}"
    );
    assert!(lines[1].contains("1 insufficient_data"), "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("insufficient_data few [H100]: ")),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("ok                noise [H100]: ")),
        "{text}"
    );
}

#[test]
fn a_past_run_is_judged_as_of_its_own_point() {
    let home = home();
    // The last run before the step: nothing to say.
    let v = regress_json(
        home.path(),
        &["run-d24", "-k", "step", "--stage", "pre_merge"],
        0,
    );
    assert_eq!(only(&v, "step")["verdict"], "ok");
    // The day the step lands: one breach, suspect.
    let v = regress_json(home.path(), &["run-d25", "-k", "step"], 0);
    assert_eq!(only(&v, "step")["verdict"], "suspect");
    // The day after: two in a row.
    let v = regress_json(
        home.path(),
        &["run-d26", "-k", "step", "--stage", "pre_merge"],
        6,
    );
    let j = only(&v, "step");
    assert_eq!(j["verdict"], "regression");
    assert!((j["latest"].as_f64().unwrap() - 850.0).abs() < 10.0);
    // A run whose own point is invalid is not judged on an older run's value.
    let start = day(DAYS);
    let mut body = HEADER.to_string();
    body.push_str(&format!(
        "step,step,0,{start},{start},invalid,bench,TOKEN_THROUGHPUT\n"
    ));
    body.push_str(&row("noise", 1000.0, "TOKEN_THROUGHPUT", &start));
    upload(home.path(), &body, &start, "c30", "run-bad", "1.0");
    let out = perf_run(home.path())
        .args(["regress", "run-bad", "--json"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "1 series of run run-bad (such as step token_throughput) have no valid measurement in it and are not judged",
        ))
        .get_output()
        .stdout
        .clone();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1, "{v:#}");
    assert_eq!(v[0]["test_name"], "noise");
    perf_run(home.path())
        .args(["regress", "run-bad", "-k", "step", "--json"])
        .assert()
        .success()
        .stdout("[]\n")
        .stderr(predicate::str::contains(
            "Run run-bad has no valid measurement in this selection, so there is nothing to judge.",
        ));
    // A run judges only the series it measured: run-d10 has no `few`.
    let v = regress_json(home.path(), &["run-d10"], 0);
    assert_eq!(v.len(), 2, "{v:#?}");
    assert!(v.iter().all(|j| j["test_name"] != "few"));
}

#[test]
fn accepting_the_step_makes_it_the_baseline() {
    let home = home();
    // Refusals first: one sentence each, exit 2, nothing recorded.
    perf_run(home.path())
        .args(["regress", "--accept", "-k", "step", "--since", "2026-10-26"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--accept needs --reason TEXT"));
    perf_run(home.path())
        .args([
            "regress",
            "--accept",
            "-k",
            "nothing_like_this",
            "--since",
            "2026-10-26",
            "--reason",
            "x",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "No series matches -k `nothing_like_this`",
        ))
        .stderr(predicate::str::contains("so nothing was accepted"));
    perf_run(home.path())
        .args([
            "regress",
            "--accept",
            "--since",
            "2026-10-26",
            "--reason",
            "x",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--accept needs -k EXPR"));
    perf_run(home.path())
        .args([
            "regress", "--accept", "-k", "step", "--since", "soon", "--reason", "x",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--since `soon` is not a time"));
    regress_json(home.path(), &["-k", "step", "--stage", "pre_merge"], 6);

    let out = perf_run(home.path())
        .args([
            "regress",
            "--accept",
            "-k",
            "step",
            "--metric",
            "token_throughput",
            "--since",
            "2026-10-26 10:00:00",
            "--reason",
            "new default batch size",
            "--json",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "as the new normal of 1 series (by tester, reason: “new default batch size”)",
        ))
        .get_output()
        .stdout
        .clone();
    let acc: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(acc[0]["key"]["test_name"], "step");
    assert_eq!(acc[0]["since"], "2026-10-26T10:00:00Z");
    assert_eq!(acc[0]["accepted_by"], "tester");

    let v = regress_json(home.path(), &["-k", "step", "--stage", "pre_merge"], 0);
    let j = only(&v, "step");
    assert_eq!(j["verdict"], "ok", "{j:#}");
    assert!((j["baseline"].as_f64().unwrap() - 850.0).abs() < 10.0);
    assert!(
        j["explanation"]
            .as_str()
            .unwrap()
            .contains("new default batch size"),
        "{j:#}"
    );
    // The other series are untouched.
    let v = regress_json(home.path(), &["-k", "noise"], 0);
    assert_ne!(only(&v, "noise")["verdict"], "regression");
}

#[test]
fn bad_input_is_one_sentence_each() {
    let home = home();
    perf_run(home.path())
        .args(["regress", "--metric", "token_thruput"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "There is no metric `token_thruput` in the history; the closest are token_throughput",
        ));
    perf_run(home.path())
        .args(["regress", "-k", "nothing_like_this"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "No series matches -k `nothing_like_this` in the history",
        ));
    perf_run(home.path())
        .args(["regress", "run-d10", "-k", "few"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "No series that run run-d10 measured matches -k `few` in the history",
        ));
    perf_run(home.path())
        .args(["regress", "no-such-run"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("There is no run `no-such-run`"));
    perf_run(home.path())
        .args(["compare", "run-d01", "no-such-run"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("There is no run `no-such-run`"));
    perf_run(home.path())
        .args(["regress", "-k", "step and ("])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("The -k expression is not valid"));

    // An empty history: nothing to judge, said once, exit 0; JSON is an empty array.
    let empty = tempfile::tempdir().unwrap();
    perf_run(empty.path())
        .args(["regress", "--stage", "pre_merge"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "is empty, so there is nothing to judge yet",
        ));
    perf_run(empty.path())
        .args(["regress", "--json"])
        .assert()
        .success()
        .stdout("[]\n");
    perf_run(empty.path())
        .args(["compare", "a-run", "b-run"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("(which is empty)"));

    // A foreign file: refused, never modified.
    let foreign = tempfile::tempdir().unwrap();
    let db = foreign.path().join("history.db");
    std::fs::write(&db, "this is a spreadsheet, not a history\n").unwrap();
    for args in [
        vec!["regress"],
        vec![
            "regress",
            "--accept",
            "-k",
            "x",
            "--since",
            "2026-01-01",
            "--reason",
            "r",
        ],
        vec!["compare", "a", "b"],
    ] {
        perf_run(foreign.path())
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("is not a perf-run history"))
            .stderr(predicate::str::contains("panicked").not());
    }
    assert_eq!(
        std::fs::read_to_string(&db).unwrap(),
        "this is a spreadsheet, not a history\n"
    );
}

#[test]
fn compare_two_runs_gives_deltas_noise_bands_and_the_provenance_diff() {
    let home = home();
    let a = "2026-11-02 10:00:00";
    let b = "2026-11-03 10:00:00";
    let mut body_a = HEADER.to_string();
    body_a.push_str(&row("cmp_llama", 1000.0, "TOKEN_THROUGHPUT", a));
    body_a.push_str(&row("cmp_llama", 20.0, "FIRST_TOKEN_TIME", a));
    body_a.push_str(&row("noise", 1000.0, "TOKEN_THROUGHPUT", a));
    upload(home.path(), &body_a, a, "ca", "cmp-a", "1.0");
    let mut body_b = HEADER.to_string();
    body_b.push_str(&row("cmp_llama", 880.0, "TOKEN_THROUGHPUT", b));
    body_b.push_str(&row("cmp_llama", 20.4, "FIRST_TOKEN_TIME", b));
    body_b.push_str(&row("noise", 1010.0, "TOKEN_THROUGHPUT", b));
    upload(home.path(), &body_b, b, "cb", "cmp-b", "1.1");

    let out = perf_run(home.path())
        .args(["compare", "cmp-a", "cmp-b", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let c: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(c["run_a"], "cmp-a");
    assert_eq!(c["run_b"], "cmp-b");
    let rows = c["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{c:#}");
    let find = |t: &str, m: &str| {
        rows.iter()
            .find(|r| r["test_name"] == t && r["metric"] == m)
            .unwrap_or_else(|| panic!("row {t} {m} in {c:#}"))
    };
    let tp = find("cmp_llama", "token_throughput");
    assert_eq!(tp["value_a"].as_f64(), Some(1000.0));
    assert_eq!(tp["value_b"].as_f64(), Some(880.0));
    assert!((tp["delta_pct"].as_f64().unwrap() + 12.0).abs() < 1e-6);
    assert_eq!(tp["noise_band_pct"].as_f64(), Some(5.0));
    assert_eq!(tp["band_source"], "floor");
    assert_eq!(tp["beyond_noise"], true);
    assert_eq!(tp["change"], "worse");
    assert_eq!(tp["fair"], true);
    let ttft = find("cmp_llama", "first_token_time");
    assert!((ttft["delta_pct"].as_f64().unwrap() - 2.0).abs() < 1e-6);
    assert_eq!(ttft["change"], "within_noise");
    // `noise` has 30 days of history: its band is 3·cv of it, not the floor.
    let nz = find("noise", "token_throughput");
    assert_eq!(nz["band_source"], "history");
    let band = nz["noise_band_pct"].as_f64().unwrap();
    assert!(band > 1.5 && band < 12.0, "band {band}");
    assert_eq!(nz["change"], "within_noise");
    // Provenance: the version differs, which is what is compared; the comparison is fair.
    let diff = c["provenance_diff"].as_array().unwrap();
    let v = diff
        .iter()
        .find(|d| d["field"] == "trtllm_version")
        .unwrap_or_else(|| panic!("trtllm_version in {diff:#?}"));
    assert_eq!(v["a"], "1.0");
    assert_eq!(v["b"], "1.1");
    assert_eq!(v["breaks_fairness"], false);
    assert_eq!(c["fair"], true);
    assert!(
        c["summary"]
            .as_str()
            .unwrap()
            .contains("the comparison is fair"),
        "{c:#}"
    );

    let out = perf_run(home.path())
        .args(["compare", "cmp-a", "cmp-b"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    println!("{text}");
    let first = text.lines().nth(1).unwrap();
    assert!(
        first.starts_with("worse         cmp_llama: token_throughput A 1000 vs B 880 (−12.0 %, worse beyond noise)"),
        "{text}"
    );
    assert!(
        text.contains("  trtllm_version   A 1.0  B 1.1  (what is compared)"),
        "{text}"
    );

    // Two runs with nothing in common: one sentence, exit 2.
    let mut body_c = HEADER.to_string();
    body_c.push_str(&row("other_case", 5.0, "TOKEN_THROUGHPUT", b));
    upload(home.path(), &body_c, b, "cc", "cmp-c", "1.1");
    perf_run(home.path())
        .args(["compare", "cmp-a", "cmp-c"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "Runs cmp-a and cmp-c have no case and metric in common",
        ))
        .stderr(predicate::str::contains("so there is nothing to compare"));
    perf_run(home.path())
        .args(["compare", "cmp-a", "cmp-a"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("are the same run"));
}

/// Run directories (real plans from `perf-run render`, results from `perf-run extract`): a run
/// is read from its results directly, by run id or directory, recorded or not.
#[test]
fn run_directories_are_compared_and_judged_by_run_id() {
    use report_support::{AGG, DISAGG, RunSpec, agg_case, disagg_case, make_run, test_id, tree};
    let root = tempfile::tempdir().unwrap();
    let t = tree();
    let a = make_run(
        root.path(),
        t.path(),
        &RunSpec::new("run-a", 1.0, "nvcr.io/nvidia/tensorrt-llm/release:1.2.0"),
    );
    let b = make_run(
        root.path(),
        t.path(),
        &RunSpec::new("run-b", 0.9, "nvcr.io/nvidia/tensorrt-llm/release:1.3.0rc1"),
    );
    // run.json lists the cases and their directories, as `perf-run run` writes it.
    let run_json = serde_json::json!({
        "cases": [
            {"test_id": test_id(&agg_case()), "case_dir": format!("01-{AGG}")},
            {"test_id": test_id(&disagg_case()), "case_dir": format!("02-{DISAGG}")},
        ]
    });
    for r in [&a, &b] {
        std::fs::write(r.join("run.json"), run_json.to_string()).unwrap();
    }
    // Nothing is recorded: compare reads both results directly (PERF_RUN_HOME = root, so
    // `run-a` is a run id) and writes no history.
    let out = perf_run(root.path())
        .args(["compare", "run-a"])
        .arg(&b)
        .arg("--json")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(
        !root.path().join("history.db").exists(),
        "compare wrote a history"
    );
    let c: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(c["run_a"], "run-a");
    assert_eq!(c["run_b"], "run-b");
    let rows = c["rows"].as_array().unwrap();
    assert!(rows.len() >= 7, "{c:#}");
    let tp: Vec<&Value> = rows
        .iter()
        .filter(|r| r["metric"] == "token_throughput")
        .collect();
    let metrics: Vec<&Value> = rows.iter().map(|r| &r["metric"]).collect();
    assert!(!tp.is_empty(), "{metrics:?}");
    for r in &tp {
        let d = r["delta_pct"].as_f64().unwrap();
        assert!((d + 10.0).abs() < 0.5, "0.9 times as fast: {d} in {r:#}");
        assert_eq!(r["change"], "worse");
        assert_eq!(r["band_source"], "floor");
    }
    let fields: Vec<&str> = c["provenance_diff"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["container_image"], "the image is what differs");
    assert_eq!(c["fair"], true, "{c:#}");

    // regress RUN on a run nobody recorded: its own points, judged (too few to say more).
    let v = regress_json(root.path(), &["run-b", "--metric", "token_throughput"], 0);
    assert!(!v.is_empty());
    assert!(
        v.iter().all(|j| j["verdict"] == "insufficient_data"),
        "{v:#?}"
    );

    // A directory with results but no journal is a run too.
    std::fs::remove_file(b.join("run.json")).unwrap();
    let out = perf_run(root.path())
        .args(["compare", "run-a"])
        .arg(&b)
        .arg("--json")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let c2: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(c2["run_b"], "run-b");
    assert_eq!(c2["rows"].as_array().unwrap().len(), rows.len());
    std::fs::write(b.join("run.json"), run_json.to_string()).unwrap();

    // Recorded (perf-run upload RUN): the same run resolves to its history key, once.
    perf_run(root.path())
        .arg("upload")
        .arg(&b)
        .assert()
        .success();
    let v = regress_json(root.path(), &["run-b", "--metric", "token_throughput"], 0);
    assert_eq!(v.len(), tp.len(), "{v:#?}");
    for j in &v {
        assert_eq!(j["verdict"], "insufficient_data");
        assert!((j["latest"].as_f64().unwrap()) > 0.0);
    }
}
