//! `perf-run upload` as a black box, without a database: refusals, help, dry-run rendering and
//! secret redaction, input errors. Nothing here connects anywhere (the DB host points at a
//! name that cannot resolve, so an accidental connection attempt would show up as exit 5).

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

const SECRET: &str = "Sup3r-Secret-Pw-7781";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/trtllm/results/perf_script_test_results.disagg_sample_truncated.csv")
}

fn perf_run(home: &Path) -> Command {
    let mut c = Command::cargo_bin("perf-run").unwrap();
    c.env("PERF_RUN_HOME", home)
        .env("DB_HOST", "db-host-that-must-not-be-contacted.invalid")
        .env("DB_USER", "tester")
        .env("DB_PASSWORD", SECRET)
        .env_remove("DB_PORT")
        .env_remove("DB_SCHEMA")
        .env_remove("TRTPERF_URL");
    c
}

#[test]
fn password_on_the_command_line_is_refused_with_a_reason() {
    let home = tempfile::tempdir().unwrap();
    for args in [
        vec!["upload", "--DB-password", "hunter2-on-argv", "--spool"],
        vec!["upload", "--DB-password=hunter2-on-argv", "--spool"],
    ] {
        perf_run(home.path())
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("--db-password is refused"))
            .stderr(predicate::str::contains("ps"))
            .stderr(predicate::str::contains("DB_PASSWORD"))
            .stderr(predicate::str::contains("--db-password-file"))
            .stderr(predicate::str::contains("hunter2-on-argv").not())
            .stdout(predicate::str::is_empty());
    }
}

#[test]
fn help_never_prints_environment_values() {
    let home = tempfile::tempdir().unwrap();
    let out = perf_run(home.path())
        .env("DB_HOST", "secret-db-host.example")
        .env("DB_SCHEMA", "secret_schema_name")
        .args(["upload", "--help"])
        .assert()
        .success()
        .get_output()
        .clone();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--db-host"), "{text}");
    assert!(text.contains("--db-password-file"), "{text}");
    assert!(
        !text.contains("--db-password "),
        "the refused flag is hidden: {text}"
    );
    assert!(
        !text.contains("--DB-"),
        "the legacy spellings are hidden aliases: {text}"
    );
    for leaked in [
        SECRET,
        "secret-db-host.example",
        "secret_schema_name",
        "tester",
    ] {
        assert!(!text.contains(leaked), "help shows {leaked}: {text}");
    }
    // The main help lists the variables by name only.
    let out = perf_run(home.path())
        .arg("--help")
        .assert()
        .success()
        .get_output()
        .clone();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("DB_PASSWORD"));
    assert!(!text.contains(SECRET));
}

#[test]
fn dry_run_prints_statements_and_no_secret() {
    let home = tempfile::tempdir().unwrap();
    let out = perf_run(home.path())
        .args(["upload", "--write-db", "no", "--source-metric-csv"])
        .arg(fixture())
        .args([
            "--link",
            &format!("https://ci-user:{SECRET}@jenkins.example/job/7?token=abc123"),
            "--notes",
            &format!("the password {SECRET} must not show"),
            "--commit",
            "deadbeef",
        ])
        .assert()
        .success()
        .get_output()
        .clone();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "{stdout}\n{stderr}"
    );
    assert!(!stdout.contains("abc123"), "{stdout}");
    assert!(stdout.contains("https://ci-user:<redacted>@jenkins.example/job/7?token=<redacted>"));
    assert!(
        stdout.contains("password from DB_PASSWORD, never shown"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Rows per table: runs 1; cases up to 3"),
        "{stdout}"
    );
    assert!(stdout.contains("perf_result 3"), "{stdout}");
    assert!(stdout.contains("INSERT INTO `runs`"));
    assert!(stdout.contains("INSERT INTO `cases`"));
    assert!(stdout.contains("INSERT INTO `perf_result`"));
    assert!(stdout.contains("START TRANSACTION;") && stdout.contains("COMMIT;"));
    assert!(stdout.contains(
        "'PYTORCH', 'test_benchmark[disagg_perf_file:deepseek-r1-fp4_015_8k1k_dep:16_bs:64_mtp:0_ccbackend:ucx]_con:1075', 64, 'FP4', 'disagg_benchmark --model=deepseek-r1-fp4 --fp4 --concurrency=1075'"
    ), "{stdout}");
    assert!(
        stdout.contains(r#"'{"disagg_server_ttft": "1122.63", "disagg_server_e2el": "22521.71"}'"#)
    );
    // no connection attempt, no spool entry
    assert!(!home.path().join("spool").exists());
}

#[test]
fn dry_run_works_without_any_database_setting() {
    // `--write-db no` (trt_perf_parser.py's flag) and its plain alias `--dry-run`.
    for flags in [&["--write-db", "no"][..], &["--dry-run"][..]] {
        let home = tempfile::tempdir().unwrap();
        let mut c = Command::cargo_bin("perf-run").unwrap();
        c.env("PERF_RUN_HOME", home.path())
            .env_remove("DB_HOST")
            .env_remove("DB_USER")
            .env_remove("DB_PASSWORD")
            .arg("upload")
            .args(flags)
            .arg("--source-metric-csv")
            .arg(fixture())
            .assert()
            .success()
            .stdout(predicate::str::contains("password not set"));
    }
}

#[test]
fn missing_settings_are_named_and_not_spooled() {
    let home = tempfile::tempdir().unwrap();
    let mut c = Command::cargo_bin("perf-run").unwrap();
    c.env("PERF_RUN_HOME", home.path())
        .env("DB_HOST", "h")
        .env("DB_USER", "u")
        .env_remove("DB_PASSWORD")
        .args(["upload", "--source-metric-csv"])
        .arg(fixture())
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "No database password is configured",
        ));
    assert!(!home.path().join("spool").exists());
}

#[test]
fn input_mistakes_exit_2_with_a_sentence() {
    let home = tempfile::tempdir().unwrap();
    perf_run(home.path())
        .arg("upload")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("Nothing to upload"));
    perf_run(home.path())
        .args(["upload", "--source-metric-csv", "/nonexistent/x.csv"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "/nonexistent/x.csv does not exist",
        ));
    perf_run(home.path())
        .args(["upload", "no-such-run"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "neither a run directory nor a run id",
        ));
    let wide = home.path().join("wide.csv");
    std::fs::write(&wide, "test_name,mean_ttft__ms\nx,1\n").unwrap();
    perf_run(home.path())
        .args(["upload", "--source-metric-csv"])
        .arg(&wide)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("long format"));
    perf_run(home.path())
        .args([
            "upload",
            "--write-db",
            "no",
            "--start-time",
            "last tuesday",
            "--source-metric-csv",
        ])
        .arg(fixture())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("YYYY-MM-DD HH:MM:SS"));
    perf_run(home.path())
        .args(["upload", "--spool", "--source-metric-csv"])
        .arg(fixture())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--spool retries"));
}

#[test]
fn failed_rows_are_reported_not_silently_skipped() {
    let home = tempfile::tempdir().unwrap();
    let csv = home.path().join("m.csv");
    std::fs::write(
        &csv,
        "network_name,test_name,perf_metric,state,command,metric_type\n\
         n1,t1,10,valid,c,INFERENCE_TIME\n\
         n2,t2,11,failed,c,INFERENCE_TIME\n\
         n3,t3,,valid,c,INFERENCE_TIME\n",
    )
    .unwrap();
    perf_run(home.path())
        .args(["upload", "--write-db", "no", "--source-metric-csv"])
        .arg(&csv)
        .assert()
        .success()
        .stderr(predicate::str::contains("2 of 3 CSV rows are not uploaded"))
        .stderr(predicate::str::contains(
            "line 3: t2 INFERENCE_TIME: the test failed (state=failed)",
        ))
        .stderr(predicate::str::contains(
            "line 4: t3 INFERENCE_TIME: perf_metric is empty",
        ))
        .stdout(predicate::str::contains("-- Not uploaded (2 CSV rows):"));
}

#[test]
fn empty_spool_is_a_quiet_success() {
    let home = tempfile::tempdir().unwrap();
    perf_run(home.path())
        .args(["upload", "--spool"])
        .assert()
        .success()
        .stderr(predicate::str::contains("No upload is pending"));
}

#[test]
fn run_directory_dry_run_uses_its_files() {
    let home = tempfile::tempdir().unwrap();
    let run = home.path().join("run-1");
    std::fs::create_dir_all(run.join("results")).unwrap();
    std::fs::copy(fixture(), run.join("results/perf_script_test_results.csv")).unwrap();
    std::fs::write(
        run.join("results/summary.json"),
        r#"{"schema":"perf-run.summary","version":1,"run":{"run_id":"run-1"},"cases":[{"test_id":"t","job":{"job_id":"55"}}],"upload":null}"#,
    )
    .unwrap();
    // by run id under PERF_RUN_HOME
    perf_run(home.path())
        .args(["upload", "run-1", "--write-db", "no"])
        .assert()
        .success()
        .stdout(predicate::str::contains("1 job id(s), 1 test id(s)"));
    let summary = std::fs::read_to_string(run.join("results/summary.json")).unwrap();
    assert!(
        summary.contains(r#""upload":null"#),
        "dry run does not touch summary.json"
    );
}

#[test]
fn db_flags_fit_into_run_and_resume() {
    use clap::CommandFactory;
    perf_run::cli::Cli::command().debug_assert();
    let home = tempfile::tempdir().unwrap();
    for sub in ["run", "resume", "submit"] {
        perf_run(home.path())
            .args([sub, "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains("--db-password-file"))
            .stdout(predicate::str::contains(SECRET).not());
    }
}
