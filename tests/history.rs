//! The local history through the real binary: `perf-run upload` records into
//! `$PERF_RUN_HOME/history.db` with or without a database, `perf-run history` reads it (and
//! TRT_perf, against the real MariaDB of the test services, in `mod db`).

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

/// Two tests of one case, a valid and an invalid client, and a failed test.
const CSV: &str = "network_name,test_name,perf_metric,start_timestamp,end_timestamp,state,command,metric_type\n\
perf_sanity[aggr-llama-srv-con4]_bs:64_con:4,perf_sanity[aggr-llama-srv-con4]_bs:64_con:4,875.5,2026-11-30 09:31:08,2026-11-30 09:31:09,valid,bench --con=4,TOKEN_THROUGHPUT\n\
perf_sanity[aggr-llama-srv-con4]_bs:64_con:4,perf_sanity[aggr-llama-srv-con4]_bs:64_con:4,15.1,2026-11-30 09:31:08,2026-11-30 09:31:09,valid,bench --con=4,FIRST_TOKEN_TIME\n\
perf_sanity[aggr-llama-srv-con8]_bs:64_con:8,perf_sanity[aggr-llama-srv-con8]_bs:64_con:8,0,2026-11-30 09:31:08,2026-11-30 09:31:09,invalid,bench --con=8,TOKEN_THROUGHPUT\n\
perf_sanity[aggr-deepseek-srv-con4]_bs:64_con:4,perf_sanity[aggr-deepseek-srv-con4]_bs:64_con:4,12.5,2026-11-30 09:31:08,2026-11-30 09:31:09,failed,bench --con=4,TOKEN_THROUGHPUT\n";

fn perf_run(home: &Path) -> Command {
    let mut c = Command::cargo_bin("perf-run").unwrap();
    c.env("PERF_RUN_HOME", home)
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

fn write_csv(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("perf_script_test_results.csv");
    std::fs::write(&p, body).unwrap();
    p
}

fn upload(home: &Path, csv: &Path, start: &str, commit: &str) -> assert_cmd::assert::Assert {
    perf_run(home)
        .args(["upload", "--source-metric-csv"])
        .arg(csv)
        .args([
            "--start-time",
            start,
            "--commit",
            commit,
            "--gpu",
            "NVIDIA H100",
        ])
        .assert()
}

fn history_json(home: &Path, extra: &[&str]) -> Vec<Value> {
    let out = perf_run(home)
        .args(["history", "--json"])
        .args(extra)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: Value = serde_json::from_slice(&out).expect("history --json prints JSON");
    v.as_array().expect("a JSON array").clone()
}

fn find<'a>(series: &'a [Value], test: &str, metric: &str) -> &'a Value {
    series
        .iter()
        .find(|s| s["key"]["test_name"] == test && s["key"]["metric"] == metric)
        .unwrap_or_else(|| panic!("no series {test} {metric} in {series:#?}"))
}

#[test]
fn upload_without_a_database_records_the_history_and_exits_0() {
    let home = tempfile::tempdir().unwrap();
    let csv = write_csv(home.path(), CSV);
    upload(home.path(), &csv, "2026-11-01 10:00:00", "abc123")
        .success()
        .stderr(predicate::str::contains(
            "no database host is set (--DB-host or DB_HOST), so only the local history was written",
        ))
        .stderr(predicate::str::contains("4 measurement(s) (2 not valid)"));
    assert!(home.path().join("history.db").is_file());
    assert!(
        !home.path().join("spool").exists(),
        "nothing for a database was spooled"
    );

    let series = history_json(home.path(), &[]);
    assert_eq!(series.len(), 4, "{series:#?}");
    let tp = find(
        &series,
        "perf_sanity[aggr-llama-srv-con4]_bs:64_con:4",
        "token_throughput",
    );
    assert_eq!(tp["direction"], "higher_is_better");
    assert_eq!(tp["key"]["gpu_type"], "H100");
    assert_eq!(
        tp["key"]["network_name"],
        "perf_sanity[aggr-llama-srv-con4]_bs:64_con:4"
    );
    let p = &tp["points"][0];
    assert_eq!(p["value"], 875.5);
    assert_eq!(p["commit"], "abc123");
    assert_eq!(p["time"], "2026-11-01T10:00:00Z");
    assert_eq!(p["valid"], true);
    assert_eq!(p["source"], "local");
    assert_eq!(p["run_key"].as_str().unwrap().len(), 64);
    for field in [
        "config_hash",
        "config_name",
        "container_image",
        "trtllm_version",
        "nodes",
    ] {
        assert!(p["provenance"].get(field).is_some(), "provenance.{field}");
    }

    // The human view: the key, the statistics, the newest point.
    perf_run(home.path())
        .args([
            "history",
            "-k",
            "llama and con4",
            "--metric",
            "token_throughput",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "token_throughput (higher is better) · H100",
        ))
        .stdout(predicate::str::contains(
            "n=1 · min 875.50 · median 875.50 · max 875.50",
        ))
        .stdout(predicate::str::contains("2026-11-01 10:00  "))
        .stdout(predicate::str::contains("abc123"))
        .stdout(predicate::str::contains("deepseek").not());
}

#[test]
fn invalid_and_failed_rows_are_recorded_with_their_class() {
    let home = tempfile::tempdir().unwrap();
    let csv = write_csv(home.path(), CSV);
    upload(home.path(), &csv, "2026-11-01 10:00:00", "abc123").success();
    let series = history_json(home.path(), &["--metric", "token_throughput"]);
    assert_eq!(series.len(), 3);
    let invalid = find(
        &series,
        "perf_sanity[aggr-llama-srv-con8]_bs:64_con:8",
        "token_throughput",
    );
    assert_eq!(invalid["points"][0]["valid"], false);
    assert_eq!(invalid["points"][0]["value"], 0.0);
    assert_eq!(invalid["points"][0]["failure_class"], "invalid_measurement");
    let failed = find(
        &series,
        "perf_sanity[aggr-deepseek-srv-con4]_bs:64_con:4",
        "token_throughput",
    );
    assert_eq!(failed["points"][0]["valid"], false);
    assert_eq!(failed["points"][0]["value"], 12.5);
    assert_eq!(failed["points"][0]["failure_class"], "test_failed");
    perf_run(home.path())
        .args(["history", "-k", "con8"])
        .assert()
        .success()
        .stdout(predicate::str::contains("n=1 (1 invalid) · no valid point"))
        .stdout(predicate::str::contains("INVALID (invalid_measurement)"));

    // A file where no row can go to TRT_perf is still history (the uploader alone refuses it).
    let only_bad = tempfile::tempdir().unwrap();
    let csv = write_csv(
        only_bad.path(),
        "network_name,test_name,perf_metric,state,command,metric_type\nn1,t1,3,failed,c,TOKEN_THROUGHPUT\n",
    );
    upload(only_bad.path(), &csv, "2026-11-01 10:00:00", "abc").success();
    let s = history_json(only_bad.path(), &[]);
    assert_eq!(s[0]["points"][0]["valid"], false);
}

#[test]
fn recording_the_same_run_again_replaces_it() {
    let home = tempfile::tempdir().unwrap();
    let csv = write_csv(home.path(), CSV);
    upload(home.path(), &csv, "2026-11-01 10:00:00", "abc123").success();
    upload(home.path(), &csv, "2026-11-01 10:00:00", "abc123").success();
    let s = history_json(
        home.path(),
        &["-k", "llama and con4", "--metric", "token_throughput"],
    );
    assert_eq!(
        s[0]["points"].as_array().unwrap().len(),
        1,
        "same run key: one point"
    );

    // Another run (another start time and commit) is a second point, oldest first.
    let later = write_csv(home.path(), &CSV.replace("875.5", "900.25"));
    upload(home.path(), &later, "2026-11-02 10:00:00", "def456").success();
    let s = history_json(
        home.path(),
        &["-k", "llama and con4", "--metric", "token_throughput"],
    );
    let values: Vec<f64> = s[0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_f64().unwrap())
        .collect();
    assert_eq!(values, vec![875.5, 900.25]);
    let s = history_json(
        home.path(),
        &[
            "-k",
            "llama and con4",
            "--metric",
            "token_throughput",
            "--limit",
            "1",
        ],
    );
    assert_eq!(s[0]["points"][0]["commit"], "def456");
}

#[test]
fn a_run_directory_upload_records_its_provenance() {
    let home = tempfile::tempdir().unwrap();
    let run = home.path().join("20261130-093107-b944");
    std::fs::create_dir_all(run.join("results")).unwrap();
    std::fs::create_dir_all(run.join("cases/00-a")).unwrap();
    write_csv(&run.join("results"), CSV);
    let cfg = home.path().join("llama.yaml");
    std::fs::write(&cfg, "server_configs: []\n").unwrap();
    std::fs::write(
        run.join("run.json"),
        r#"{"run_id":"20261130-093107-b944","cluster":{"name":"lab"},"cases":[{"case_dir":"00-a","test_id":"perf/t.py::test_e2e[aggr-llama-srv]","case_name":"aggr-llama-srv"}]}"#,
    )
    .unwrap();
    std::fs::write(
        run.join("cases/00-a/plan.json"),
        format!(
            r#"{{"config_name":"llama","config_path":"{}","total_gpus":4,"total_nodes":1,"srun_args":["--container-image=nvcr.io/x:1"],"servers":[]}}"#,
            cfg.display()
        ),
    )
    .unwrap();
    std::fs::write(
        run.join("results/summary.json"),
        r#"{"cases":[{"test_id":"perf/t.py::test_e2e[aggr-llama-srv]","status":"invalid","failure_class":"invalid_measurement","job":{"job_id":"6"}}],"run":{"run_id":"20261130-093107-b944","cluster":"lab","trtllm_commit":"ebc6777","started":"2026-11-30T09:31:07Z","sysinfo":{"gpu":"NVIDIA B200","gpu_count":8}}}"#,
    )
    .unwrap();
    perf_run(home.path())
        .args(["upload", "20261130-093107-b944"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "only the local history was written",
        ));
    let s = history_json(
        home.path(),
        &["--metric", "token_throughput", "-k", "llama and con4"],
    );
    assert_eq!(s[0]["key"]["cluster"], "lab");
    assert_eq!(s[0]["key"]["gpu_type"], "B200");
    assert_eq!(s[0]["key"]["gpu_count"], 4, "the case's GPUs");
    let p = &s[0]["points"][0];
    assert_eq!(p["commit"], "ebc6777");
    assert_eq!(p["provenance"]["config_name"], "llama");
    assert_eq!(p["provenance"]["container_image"], "nvcr.io/x:1");
    assert_eq!(p["provenance"]["nodes"], 1);
    assert_eq!(p["provenance"]["config_hash"].as_str().unwrap().len(), 64);
    // the deepseek row belongs to no case of run.json: the host's GPU count
    let d = history_json(home.path(), &["-k", "deepseek"]);
    assert_eq!(d[0]["key"]["gpu_count"], 8);
}

#[test]
fn bad_inputs_are_one_sentence_each() {
    let home = tempfile::tempdir().unwrap();
    // Empty history: said, not an error; --json is an empty array.
    perf_run(home.path())
        .arg("history")
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "is empty: nothing has been recorded yet",
        ));
    assert_eq!(history_json(home.path(), &[]).len(), 0);
    assert!(
        !home.path().join("history.db").exists(),
        "reading does not create a history"
    );

    let csv = write_csv(home.path(), CSV);
    upload(home.path(), &csv, "2026-11-01 10:00:00", "abc123").success();
    perf_run(home.path())
        .args(["history", "--metric", "token_thruput"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "There is no metric `token_thruput` in the history; the closest are token_throughput",
        ));
    perf_run(home.path())
        .args(["history", "-k", "llama and ("])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("The -k expression is not valid"));
    perf_run(home.path())
        .args(["history", "--limit", "0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--limit must be at least 1"));
    perf_run(home.path())
        .args(["history", "-k", "nothing_like_this"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "No series matches -k `nothing_like_this`",
        ));

    // A long CSV with only its header: nothing to record, and no history file appears.
    let header_only = tempfile::tempdir().unwrap();
    let empty_csv = write_csv(
        header_only.path(),
        "network_name,test_name,perf_metric,state,command,metric_type\n",
    );
    perf_run(header_only.path())
        .args(["upload", "--source-metric-csv"])
        .arg(&empty_csv)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "Nothing to record: {} has no data rows, only its header.",
            empty_csv.display()
        )));
    assert!(!header_only.path().join("history.db").exists());

    // --no-history without a database: nothing to write anywhere, as before.
    let other = tempfile::tempdir().unwrap();
    perf_run(other.path())
        .args(["upload", "--no-history", "--source-metric-csv"])
        .arg(&csv)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("No database host is configured"));
    assert!(!other.path().join("history.db").exists());

    // A foreign file: one sentence naming it, for the reader and for upload.
    let foreign = tempfile::tempdir().unwrap();
    let db = foreign.path().join("history.db");
    std::fs::write(&db, "this is a text file, not a database\n").unwrap();
    for args in [
        vec!["history".to_string()],
        vec![
            "upload".to_string(),
            "--source-metric-csv".to_string(),
            csv.display().to_string(),
        ],
    ] {
        perf_run(foreign.path())
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(format!(
                "{} is not a perf-run history (the file is not an SQLite database)",
                db.display()
            )))
            .stderr(predicate::str::contains("panicked").not());
    }
    assert_eq!(
        std::fs::read_to_string(&db).unwrap(),
        "this is a text file, not a database\n",
        "a foreign file is never touched"
    );
}

/// TRT_perf as the second source, against the real MariaDB of the test services (skipped
/// loudly without it, failing under CI=true, like tests/perfdb_db.rs).
mod db {
    use super::*;
    use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
    use sqlx::{AssertSqlSafe, ConnectOptions};

    struct Maria {
        host: String,
        port: u16,
        user: String,
        pass: String,
        name: String,
    }

    fn env() -> Option<(String, u16, String, String)> {
        let file = std::fs::read_to_string("/tmp/perfci-svc/env").unwrap_or_default();
        let get = |k: &str| {
            std::env::var(k)
                .ok()
                .filter(|v| !v.is_empty())
                .or_else(|| common::env_file_value(&file, k))
        };
        Some((
            get("PERFCI_MYSQL_HOST")?,
            get("PERFCI_MYSQL_PORT")?.parse().ok()?,
            get("PERFCI_MYSQL_USER")?,
            get("PERFCI_MYSQL_PASS")?,
        ))
    }

    impl Maria {
        fn options(&self) -> MySqlConnectOptions {
            MySqlConnectOptions::new()
                .host(&self.host)
                .port(self.port)
                .username(&self.user)
                .password(&self.pass)
        }

        async fn conn(&self, db: bool) -> MySqlConnection {
            let o = if db {
                self.options().database(&self.name)
            } else {
                self.options()
            };
            let mut last = String::new();
            for _ in 0..20 {
                match o.connect().await {
                    Ok(c) => return c,
                    Err(e) => last = e.to_string(),
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            panic!("cannot connect to the test MariaDB: {last}");
        }

        async fn new() -> Option<Maria> {
            let Some((host, port, user, pass)) = env() else {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "CI=true but no test MariaDB; run `scripts/test-cluster up`"
                );
                eprintln!("\n*** SKIPPED: no test MariaDB; run `scripts/test-cluster up` ***\n");
                return None;
            };
            let m = Maria {
                host,
                port,
                user,
                pass,
                name: format!("perfrun_h_{:016x}", rand::random::<u64>()),
            };
            let mut c = m.conn(false).await;
            sqlx::raw_sql(AssertSqlSafe(format!(
                "CREATE DATABASE `{}` CHARACTER SET utf8mb4",
                m.name
            )))
            .execute(&mut c)
            .await
            .unwrap();
            let schema =
                std::fs::read_to_string(common::repo().join("sql/trt_perf_schema.sql")).unwrap();
            let body: String = schema
                .lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n");
            let mut c = m.conn(true).await;
            for stmt in body.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                sqlx::raw_sql(AssertSqlSafe(stmt.to_string()))
                    .execute(&mut c)
                    .await
                    .unwrap();
            }
            Some(m)
        }

        fn cli(&self, home: &Path) -> Command {
            let mut c = perf_run(home);
            c.env("DB_HOST", &self.host)
                .env("DB_PORT", self.port.to_string())
                .env("DB_USER", &self.user)
                .env("DB_PASSWORD", &self.pass)
                .env("DB_SCHEMA", &self.name)
                .env_remove("DB_SSL_MODE")
                .env_remove("DB_SSL_CA");
            c
        }

        async fn drop_db(&self) {
            let mut c = self.conn(false).await;
            let _ = sqlx::raw_sql(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS `{}`",
                self.name
            )))
            .execute(&mut c)
            .await;
        }
    }

    fn json(cmd: &mut Command) -> Vec<Value> {
        let out = cmd.assert().success().get_output().stdout.clone();
        serde_json::from_slice::<Value>(&out)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    fn sources(s: &Value) -> Vec<(f64, String)> {
        s["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["value"].as_f64().unwrap(),
                    p["source"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn trt_perf_is_a_second_source_merged_by_run_key() {
        let Some(m) = Maria::new().await else { return };
        let home = tempfile::tempdir().unwrap();
        let csv = write_csv(home.path(), CSV);
        let later = home.path().join("later.csv");
        std::fs::write(&later, CSV.replace("875.5", "900.25")).unwrap();
        let up = |csv: &Path, start: &str, commit: &str, extra: &[&str]| {
            m.cli(home.path())
                .args(["upload", "--source-metric-csv"])
                .arg(csv)
                .args([
                    "--start-time",
                    start,
                    "--commit",
                    commit,
                    "--gpu",
                    "NVIDIA H100",
                ])
                .args(extra)
                .assert()
                .success()
                .stderr(predicate::str::contains("Uploaded run"))
        };
        // Run 1 goes to both; run 2 only to TRT_perf.
        up(&csv, "2026-11-01 10:00:00", "abc123", &[])
            .stderr(predicate::str::contains("Recorded 4 measurement(s)"));
        up(&later, "2026-11-02 10:00:00", "def456", &["--no-history"])
            .stderr(predicate::str::contains("Recorded").not());

        let filter = ["-k", "llama and con4", "--metric", "token_throughput"];
        let merged = json(m.cli(home.path()).args(["history", "--json"]).args(filter));
        assert_eq!(merged.len(), 1, "{merged:#?}");
        assert_eq!(
            sources(&merged[0]),
            vec![(875.5, "local".into()), (900.25, "trt_perf".into())],
            "run 1 once (local wins), run 2 from TRT_perf, oldest first"
        );
        assert_eq!(merged[0]["key"]["gpu_type"], "H100");
        assert_eq!(merged[0]["points"][1]["commit"], "def456");

        let local = json(
            m.cli(home.path())
                .args(["history", "--json", "--local-only"])
                .args(filter),
        );
        assert_eq!(sources(&local[0]), vec![(875.5, "local".into())]);

        // A laptop without a local history but with the database sees TRT_perf's series.
        let empty = tempfile::tempdir().unwrap();
        let remote = json(m.cli(empty.path()).args(["history", "--json"]).args(filter));
        assert_eq!(remote.len(), 1);
        assert_eq!(
            sources(&remote[0]),
            vec![(875.5, "trt_perf".into()), (900.25, "trt_perf".into())]
        );
        assert_eq!(remote[0]["key"]["gpu_count"], 0);
        assert_eq!(remote[0]["direction"], "higher_is_better");
        // Invalid and failed rows never reached TRT_perf; the first-token time did.
        let all = json(m.cli(empty.path()).args(["history", "--json"]));
        let metrics: std::collections::BTreeSet<&str> = all
            .iter()
            .map(|s| s["key"]["metric"].as_str().unwrap())
            .collect();
        assert_eq!(
            metrics.into_iter().collect::<Vec<_>>(),
            vec!["first_token_time", "token_throughput"]
        );
        assert_eq!(all.len(), 2);

        // An unreachable database: one warning, the local history is still shown.
        perf_run(home.path())
            .env("DB_HOST", "127.0.0.1")
            .env("DB_PORT", "1")
            .env("DB_USER", "nobody")
            .env("DB_PASSWORD", "x")
            .args(["history", "--DB-connect-timeout", "3"])
            .args(filter)
            .assert()
            .success()
            .stderr(predicate::str::contains(
                "The TRT_perf database could not be read, so only the local history is shown",
            ))
            .stdout(predicate::str::contains("875.50"));
        m.drop_db().await;
    }
}

/// `perf-run run` on the real test cluster records every run, invalid ones too.
mod cluster {
    use super::common::{only_run, perf_run as cluster_cli, services, stub};
    use super::*;

    fn run(home: &Path, extra: &[&str]) -> (i32, String) {
        let out = cluster_cli()
            .env_remove("CLUSTER_USER")
            .env("PERF_RUN_HOME", home)
            .args(["run", "--cluster", "local-test", "--trtllm-dir"])
            .arg(stub())
            .args([
                "--config",
                "tiny_llama_fp8_grace_blackwell",
                "--server",
                "tiny_llama_fp8_tp1",
            ])
            .args(extra)
            .timeout(std::time::Duration::from_secs(600))
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    #[test]
    fn every_run_is_recorded_valid_or_not() {
        let Some(_svc) = services("history of runs") else {
            return;
        };
        let home = tempfile::tempdir().unwrap();
        let (code, err) = run(
            home.path(),
            &["--env", "PERF_RUN_STUB_FAIL=failed_requests"],
        );
        assert_eq!(code, 3, "an invalid measurement: {err}");
        assert!(
            !err.contains("not recorded into the local history"),
            "{err}"
        );
        let first = only_run(home.path());
        std::fs::rename(&first, home.path().join("first-run")).unwrap();
        let (code, err) = run(home.path(), &[]);
        assert_eq!(code, 0, "{err}");
        assert!(
            !err.contains("not recorded into the local history"),
            "{err}"
        );

        let all = history_json(home.path(), &["-k", "tiny_llama_fp8_tp1"]);
        let points: Vec<&Value> = all
            .iter()
            .flat_map(|s| s["points"].as_array().unwrap())
            .collect();
        let runs: std::collections::BTreeSet<&str> = points
            .iter()
            .map(|p| p["run_key"].as_str().unwrap())
            .collect();
        assert_eq!(runs.len(), 2, "both runs are in the history: {all:#?}");
        assert!(
            points
                .iter()
                .any(|p| p["valid"] == false && p["failure_class"] == "invalid_measurement"),
            "the invalid run's rows are kept as invalid: {all:#?}"
        );
        let tp = all
            .iter()
            .find(|s| s["key"]["metric"] == "token_throughput")
            .expect("a token_throughput series");
        assert_eq!(tp["key"]["cluster"], "local-test");
        assert_eq!(
            tp["key"]["gpu_count"], 4,
            "the GPUs the job held (plan.json total_gpus)"
        );
        let newest = tp["points"].as_array().unwrap().last().unwrap();
        assert_eq!(newest["value"], 875.75);
        assert_eq!(newest["valid"], true);
        assert_eq!(
            newest["provenance"]["config_name"],
            "tiny_llama_fp8_grace_blackwell"
        );
        assert_eq!(
            newest["provenance"]["config_hash"].as_str().unwrap().len(),
            64
        );
    }
}
