//! TRT_perf uploader against a real MariaDB (the project's test services, `scripts/test-cluster
//! up`). Each test creates its own `perfrun_t_<random>` database from sql/trt_perf_schema.sql
//! and drops it at the end. Without a database the tests are skipped loudly on a laptop and
//! fail when `CI=true`.

mod common;

mod db {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use perf_run::cli::upload::DbArgs;
    use perf_run::perfdb::{self, DbSettings, SourceFiles, UploadOptions, UploadOutcome, spool};
    use perf_run::trtperf::rules;
    use secrecy::ExposeSecret;
    use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
    use sqlx::{AssertSqlSafe, ConnectOptions, Row};

    const FIXTURE: &str =
        "tests/fixtures/trtllm/results/perf_script_test_results.disagg_sample_truncated.csv";

    #[derive(Clone, Debug)]
    struct MysqlEnv {
        host: String,
        port: u16,
        user: String,
        pass: String,
    }

    use super::common::env_file_value;

    fn mysql_env() -> Option<MysqlEnv> {
        let file = std::fs::read_to_string("/tmp/perfci-svc/env").unwrap_or_default();
        let get = |k: &str| {
            std::env::var(k)
                .ok()
                .filter(|v| !v.is_empty())
                .or_else(|| env_file_value(&file, k))
        };
        Some(MysqlEnv {
            host: get("PERFCI_MYSQL_HOST")?,
            port: get("PERFCI_MYSQL_PORT")?.parse().ok()?,
            user: get("PERFCI_MYSQL_USER")?,
            pass: get("PERFCI_MYSQL_PASS")?,
        })
    }

    /// No database: skip loudly on a laptop, fail under CI.
    fn absent(why: &str) -> Option<TestDb> {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "CI=true but the test MariaDB is not usable: {why}; run `scripts/test-cluster up` (it writes /tmp/perfci-svc/env)"
            );
        }
        eprintln!(
            "\n*** SKIPPED: {why}; run `scripts/test-cluster up` to run the TRT_perf database tests ***\n"
        );
        None
    }

    fn base_options(e: &MysqlEnv) -> MySqlConnectOptions {
        MySqlConnectOptions::new()
            .host(&e.host)
            .port(e.port)
            .username(&e.user)
            .password(&e.pass)
    }

    /// Connect, retrying for a while: the services may restart while another engineer tests.
    async fn try_connect(o: &MySqlConnectOptions) -> Result<MySqlConnection, String> {
        let mut last = String::new();
        for _ in 0..20 {
            match o.connect().await {
                Ok(c) => return Ok(c),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
        Err(last)
    }

    async fn connect_retry(o: &MySqlConnectOptions) -> MySqlConnection {
        match try_connect(o).await {
            Ok(c) => c,
            Err(e) => panic!("cannot connect to the test MariaDB: {e}"),
        }
    }

    struct TestDb {
        env: MysqlEnv,
        name: String,
        dropped: bool,
    }

    impl TestDb {
        async fn new() -> Option<TestDb> {
            let Some(env) = mysql_env() else {
                return absent("no test MariaDB (PERFCI_MYSQL_* unset and no /tmp/perfci-svc/env)");
            };
            let name = format!("perfrun_t_{:016x}", rand::random::<u64>());
            let mut c = match try_connect(&base_options(&env)).await {
                Ok(c) => c,
                Err(e) => {
                    return absent(&format!(
                        "the test MariaDB at {}:{} does not answer ({e})",
                        env.host, env.port
                    ));
                }
            };
            sqlx::raw_sql(AssertSqlSafe(format!(
                "CREATE DATABASE `{name}` CHARACTER SET utf8mb4"
            )))
            .execute(&mut c)
            .await
            .expect("create test database");
            let db = TestDb {
                env,
                name,
                dropped: false,
            };
            let mut c = db.conn().await;
            let schema = std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("sql/trt_perf_schema.sql"),
            )
            .unwrap();
            for stmt in split_sql(&schema) {
                sqlx::raw_sql(AssertSqlSafe(stmt))
                    .execute(&mut c)
                    .await
                    .expect("schema");
            }
            Some(db)
        }

        async fn conn(&self) -> MySqlConnection {
            connect_retry(&base_options(&self.env).database(&self.name)).await
        }

        async fn exec(&self, sql: &str) {
            let mut c = self.conn().await;
            sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
                .execute(&mut c)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }

        async fn count(&self, table: &str) -> i64 {
            let mut c = self.conn().await;
            sqlx::query(AssertSqlSafe(format!("SELECT COUNT(*) FROM `{table}`")))
                .fetch_one(&mut c)
                .await
                .unwrap()
                .get::<i64, _>(0)
        }

        fn settings(&self, spool_dir: &Path) -> DbSettings {
            let env = |k: &str| match k {
                "DB_HOST" => Some(self.env.host.clone()),
                "DB_PORT" => Some(self.env.port.to_string()),
                "DB_USER" => Some(self.env.user.clone()),
                "DB_PASSWORD" => Some(self.env.pass.clone()),
                "DB_SCHEMA" => Some(self.name.clone()),
                _ => None,
            };
            let args = DbArgs {
                spool_dir: Some(spool_dir.to_path_buf()),
                trtperf_url: Some("http://trtperf.test/trtperf".into()),
                db_connect_timeout: Some(10),
                ..Default::default()
            };
            DbSettings::resolve(&(&args).try_into().unwrap(), &env).unwrap()
        }

        /// The CLI with this database in its environment.
        fn cli(&self, home: &Path) -> Command {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_perf-run"));
            cmd.env("DB_HOST", &self.env.host)
                .env("DB_PORT", self.env.port.to_string())
                .env("DB_USER", &self.env.user)
                .env("DB_PASSWORD", &self.env.pass)
                .env("DB_SCHEMA", &self.name)
                .env("PERF_RUN_HOME", home)
                .env("TRTPERF_URL", "http://trtperf.test/trtperf")
                .env_remove("USE_TRT_PERF_DB")
                .env_remove("DB_SSL_MODE")
                .env_remove("DB_SSL_CA");
            // The run-info variables of a CI machine must not leak into the stored rows.
            for (var, _) in perfdb::runinfo::ENV_VARS {
                cmd.env_remove(var);
            }
            cmd
        }

        async fn drop_now(mut self) {
            let mut c = connect_retry(&base_options(&self.env)).await;
            let _ = sqlx::raw_sql(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS `{}`",
                self.name
            )))
            .execute(&mut c)
            .await;
            self.dropped = true;
        }
    }

    impl Drop for TestDb {
        fn drop(&mut self) {
            if self.dropped {
                return;
            }
            // A failed test: drop the database from a fresh runtime on another thread.
            let env = self.env.clone();
            let name = self.name.clone();
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    if let Ok(mut c) = base_options(&env).connect().await {
                        let _ = sqlx::raw_sql(AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS `{name}`"
                        )))
                        .execute(&mut c)
                        .await;
                    }
                });
            })
            .join();
        }
    }

    fn split_sql(text: &str) -> Vec<String> {
        let body: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        body.split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }

    fn fixture() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE)
    }

    /// A collected run directory in the pipeline's layout, with the real fixture CSV.
    fn make_run_dir(root: &Path, job: &str) -> PathBuf {
        let run = root.join(format!("run-{job}"));
        let results = run.join("results");
        std::fs::create_dir_all(&results).unwrap();
        std::fs::copy(fixture(), results.join("perf_script_test_results.csv")).unwrap();
        std::fs::write(
            results.join("session_properties.csv"),
            "username,start_timestamp,hostname,ip,nvidia_driver_version,nvidia_device_count,os_properties,cpu_properties,gpu_properties,trt_change_id,trt_branch,commit_timestamp,cuda_version,cublas_version,cudnn_version,end_timestamp\n\
             ci,2025-10-31 00:50:00 +0000,gb200-node-1,10.1.2.3,580.65.06,4,\"OrderedDict([('name', 'Ubuntu'), ('version', '24.04')])\",\"OrderedDict([('product_name', 'Grace')])\",\"OrderedDict([('device_product_name', 'NVIDIA GB200'), ('pci_device_id', 8867)])\",abc123,main,2025-10-30 12:00:00,12.9,12.9.1,9.10.2,2025-10-31 01:30:00 +0000\n",
        )
        .unwrap();
        std::fs::write(
            results.join("gpu_monitoring.csv"),
            "gpu_id,timestamp,gpu_clock__MHz,memory_clock__MHz\n0,t,1965,3996\n0,t,1965,3996\n0,t,2062,3996\n",
        )
        .unwrap();
        std::fs::write(
            results.join("summary.json"),
            format!(
                r#"{{"schema":"perf-run.summary","version":1,"run":{{"run_id":"run-{job}"}},"cases":[{{"test_id":"perf/test_perf_sanity.py::test_e2e[disagg_upload-x]","job":{{"job_id":"{job}"}}}}],"upload":null}}"#
            ),
        )
        .unwrap();
        let art = run.join("cases/000/artifacts");
        std::fs::create_dir_all(&art).unwrap();
        std::fs::write(
            art.join("results.xml"),
            r#"<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="2">
<testcase classname="perf.disagg.test_disagg" name="test_benchmark[disagg_perf_file:deepseek-r1-fp4_015_8k1k_dep:16_bs:64_mtp:0_ccbackend:UCX]" time="703.3"><system-out>Serving Benchmark Result &amp; UCX log
Median TTFT (ms): 1122.63</system-out></testcase>
<testcase classname="perf.disagg.test_disagg" name="test_benchmark[disagg_perf_file:deepseek-r1-fp4_001_1k1k_tep:8_bs:32_mtp:0_ccbackend:NIXL]" time="914.2"><system-out>NIXL log</system-out></testcase>
</testsuite></testsuites>"#,
        )
        .unwrap();
        run
    }

    fn opts() -> UploadOptions {
        UploadOptions {
            info: perfdb::RunInfoArgs {
                link: Some("https://jenkins.test/job/perf/42/".into()),
                commit: Some("0123456789abcdef".into()),
                notes: Some("nightly".into()),
                trtllm: Some("1.2.0rc2\nimport noise".into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn approx(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-3 * b.abs().max(1.0)
    }

    #[tokio::test]
    async fn full_upload_checked_row_by_row_then_again_inserts_nothing() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let tmp = tempfile::tempdir().unwrap();
        let run = make_run_dir(tmp.path(), "9001");
        let settings = db.settings(&tmp.path().join("spool"));

        let out = perfdb::upload_run_dir(&run, &settings, &opts())
            .await
            .unwrap();
        let UploadOutcome::Uploaded { run_id, link, rows } = out.clone() else {
            panic!("not uploaded: {out:?}")
        };
        assert_eq!(rows, 3);
        assert_eq!(
            link,
            format!(
                "http://trtperf.test/trtperf?req=get_html&run_ids={run_id}&baseline=--&target=--&drop_limit=5&time_limit=0.0&gap_limit=-999.9&only_show_drop=true"
            )
        );

        let mut c = db.conn().await;
        let r = sqlx::query("SELECT `driver`, `cpu`, `os`, `gpu`, `cuda`, `cudnn`, `cublas`, `graphic_freq`, `memory_freq`, `tensorrt`, `notes`, `cl`, `trtllm`, CAST(`start_time` AS CHAR), CAST(`end_time` AS CHAR), `link`, CAST(`commit_time` AS CHAR), `vbios` FROM `runs` WHERE `id` = ?")
            .bind(run_id)
            .fetch_one(&mut c)
            .await
            .unwrap();
        let s = |i: usize| r.get::<Option<String>, _>(i);
        assert_eq!(s(0).as_deref(), Some("580.65.06"), "driver from properties");
        assert_eq!(s(1).as_deref(), Some("Grace"));
        assert_eq!(s(2).as_deref(), Some("Ubuntu 24.04"));
        assert_eq!(s(3).as_deref(), Some("GB200"), "NVIDIA removed");
        assert_eq!(s(4).as_deref(), Some("12.9"));
        assert_eq!(s(5).as_deref(), Some("9.10.2"), "cudnn (NOT NULL) filled");
        assert_eq!(s(6).as_deref(), Some("12.9.1"));
        assert_eq!(
            s(7).as_deref(),
            Some("1965"),
            "most frequent monitored clock"
        );
        assert_eq!(s(8).as_deref(), Some("3996"));
        assert_eq!(s(9).as_deref(), Some(""));
        assert_eq!(s(10).as_deref(), Some("nightly"));
        assert_eq!(s(11).as_deref(), Some("0123456789abcdef"), "--commit wins");
        assert_eq!(s(12).as_deref(), Some("1.2.0rc2"), "first line of --trtllm");
        assert_eq!(s(13).as_deref(), Some("2025-10-31 00:50:00"));
        assert_eq!(s(14).as_deref(), Some("2025-10-31 01:30:00"));
        assert_eq!(s(15).as_deref(), Some("https://jenkins.test/job/perf/42/"));
        assert_eq!(
            s(16),
            None,
            "commit_time of the properties' commit abc123 is not the time of --commit"
        );
        assert_eq!(s(17), None);

        let cases = sqlx::query("SELECT `id`, `format`, `network`, `batchsize`, `precision`, `cmd` FROM `cases` ORDER BY `id`")
            .fetch_all(&mut c)
            .await
            .unwrap();
        assert_eq!(cases.len(), 3);
        assert_eq!(cases[0].get::<String, _>(1), "PYTORCH");
        assert_eq!(
            cases[0].get::<String, _>(2),
            "test_benchmark[disagg_perf_file:deepseek-r1-fp4_015_8k1k_dep:16_bs:64_mtp:0_ccbackend:ucx]_con:1075"
        );
        assert_eq!(cases[0].get::<u32, _>(3), 64);
        assert_eq!(cases[0].get::<String, _>(4), "FP4");
        assert_eq!(
            cases[0].get::<String, _>(5),
            "disagg_benchmark --model=deepseek-r1-fp4 --fp4 --concurrency=1075"
        );
        assert_eq!(cases[1].get::<u32, _>(3), 32);

        let results = sqlx::query("SELECT `UUID`, `run_id`, `case_id`, `gpu_time`, `total_time`, `build_time`, `throughput`, `perf_data`, `log`, `int8_vs_fp32`, `perf_baseline` FROM `perf_result` ORDER BY `id`")
            .fetch_all(&mut c)
            .await
            .unwrap();
        assert_eq!(results.len(), 3);
        let key: String = results[0].get(0);
        assert_eq!(key.len(), 64);
        let expected = [
            (
                703.296025,
                r#"{"disagg_server_ttft": "1122.63", "disagg_server_e2el": "22521.71"}"#,
                "Serving Benchmark Result & UCX log\nMedian TTFT (ms): 1122.63",
            ),
            (
                914.191629,
                r#"{"disagg_server_ttft": "213.4", "disagg_server_e2el": "7582.2"}"#,
                "NIXL log",
            ),
            (
                914.191629,
                r#"{"disagg_server_ttft": "138.13", "disagg_server_e2el": "7938.94"}"#,
                "NIXL log",
            ),
        ];
        for (i, row) in results.iter().enumerate() {
            assert_eq!(row.get::<String, _>(0), key, "one run key for every row");
            assert_eq!(u64::from(row.get::<u32, _>(1)), run_id);
            assert_eq!(row.get::<u32, _>(2), cases[i].get::<u32, _>(0));
            assert_eq!(row.get::<f32, _>(3), 0.0);
            assert!(approx(f64::from(row.get::<f32, _>(4)), expected[i].0));
            assert_eq!(row.get::<f32, _>(5), 0.0);
            assert_eq!(row.get::<f32, _>(6), 0.0);
            assert_eq!(row.get::<String, _>(7), expected[i].1);
            assert_eq!(row.get::<String, _>(8), expected[i].2);
            assert_eq!(row.get::<Option<f32>, _>(9), None);
            assert_eq!(row.get::<Option<String>, _>(10), None);
        }

        // summary.json records the upload
        let v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(run.join("results/summary.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(v["upload"]["run_id"], run_id);
        assert_eq!(v["upload"]["link"], link.as_str());

        // The same run again: "already uploaded", no new rows.
        let again = perfdb::upload_run_dir(&run, &settings, &opts())
            .await
            .unwrap();
        assert_eq!(
            again,
            UploadOutcome::AlreadyUploaded {
                run_id,
                link: link.clone()
            }
        );
        assert_eq!(db.count("runs").await, 1);
        assert_eq!(db.count("cases").await, 3);
        assert_eq!(db.count("perf_result").await, 3);

        // ... also through the CLI, which says so in a sentence.
        let out = db
            .cli(tmp.path())
            .args([
                "upload",
                run.to_str().unwrap(),
                "--link",
                "https://jenkins.test/job/perf/42/",
                "--commit",
                "0123456789abcdef",
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert!(
            err.contains(&format!("already uploaded as run {run_id}")),
            "{err}"
        );
        assert_eq!(db.count("perf_result").await, 3);

        // A new run of the same cases (other job id) reuses the cases and adds a run.
        let run2 = make_run_dir(tmp.path(), "9002");
        let out2 = perfdb::upload_run_dir(&run2, &settings, &opts())
            .await
            .unwrap();
        assert!(
            matches!(out2, UploadOutcome::Uploaded { rows: 3, .. }),
            "{out2:?}"
        );
        assert_eq!(db.count("runs").await, 2);
        assert_eq!(db.count("cases").await, 3, "cases are reused");
        assert_eq!(db.count("perf_result").await, 6);

        // --force-reupload inserts the same run key again, on purpose.
        let mut forced = opts();
        forced.force_reupload = true;
        let out3 = perfdb::upload_run_dir(&run, &settings, &forced)
            .await
            .unwrap();
        assert!(matches!(out3, UploadOutcome::Uploaded { .. }), "{out3:?}");
        assert_eq!(db.count("perf_result").await, 9);
        db.drop_now().await;
    }

    #[tokio::test]
    async fn compatibility_real_csv_via_legacy_flags() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let tmp = tempfile::tempdir().unwrap();
        let out = db
            .cli(tmp.path())
            .args(["upload", "--source-metric-csv"])
            .arg(fixture())
            .args([
                "--tensorrt",
                "10.13",
                "--driver",
                "580.65",
                "--gpu",
                "NVIDIA GB200",
                "--cuda",
                "12.9",
                "--os",
                "Ubuntu 24.04",
                "--cpu-name",
                "Grace",
                "--sm-clock",
                "1500",
                "--mem-clock",
                "3000",
                "--start-time",
                "2025-10-31 00:53:53",
                "--end-time",
                "2025-10-31 01:20:54",
                "--commit",
                "abc",
                "--commit-time",
                "2025-10-30 10:00:00",
                "--link",
                "https://ci/1",
                "--notes",
                "compat",
                "--hostname",
                "node",
                "--ip",
                "10.0.0.1",
                "--write-db",
                "yes",
                "--verbose",
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(
            stdout.starts_with("TRTPerf: http://trtperf.test/trtperf?req=get_html&run_ids="),
            "{stdout}"
        );
        let mut c = db.conn().await;
        let row = sqlx::query("SELECT c.`format`, c.`network`, c.`batchsize`, c.`precision`, c.`cmd`, p.`perf_data`, p.`gpu_time`, p.`total_time`, p.`throughput`, JSON_VALUE(p.`perf_data`, '$.disagg_server_ttft'), JSON_VALUE(p.`perf_data`, '$.disagg_server_e2el') FROM `perf_result` p JOIN `cases` c ON c.`id` = p.`case_id` WHERE c.`network` LIKE '%dep:16_bs:64%'")
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(
            row.get::<String, _>(0),
            "PYTORCH",
            "framework from the data, not ONNX"
        );
        assert_eq!(
            row.get::<String, _>(1),
            "test_benchmark[disagg_perf_file:deepseek-r1-fp4_015_8k1k_dep:16_bs:64_mtp:0_ccbackend:ucx]_con:1075"
        );
        assert_eq!(row.get::<u32, _>(2), 64);
        assert_eq!(row.get::<String, _>(3), "FP4");
        assert_eq!(
            row.get::<String, _>(4),
            "disagg_benchmark --model=deepseek-r1-fp4 --fp4 --concurrency=1075"
        );
        assert_eq!(
            row.get::<String, _>(5),
            r#"{"disagg_server_ttft": "1122.63", "disagg_server_e2el": "22521.71"}"#
        );
        assert_eq!(row.get::<f32, _>(6), 0.0);
        assert!(approx(f64::from(row.get::<f32, _>(7)), 703.296025));
        assert_eq!(row.get::<f32, _>(8), 0.0);
        assert_eq!(row.get::<String, _>(9), "1122.63");
        assert_eq!(row.get::<String, _>(10), "22521.71");
        let run = sqlx::query("SELECT `graphic_freq`, `memory_freq`, `gpu`, `cpu` FROM `runs`")
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(
            run.get::<String, _>(0),
            "1500",
            "clock flags are not blanked"
        );
        assert_eq!(run.get::<String, _>(1), "3000");
        assert_eq!(run.get::<String, _>(2), "GB200");
        assert_eq!(run.get::<String, _>(3), "Grace", "--cpu-name alias");
        db.drop_now().await;
    }

    #[tokio::test]
    async fn failure_between_statements_commits_nothing_and_names_the_row() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        // A real failure inside the transaction: the server refuses the 3rd perf_result row.
        db.exec(
            "CREATE TRIGGER `perfrun_fail` BEFORE INSERT ON `perf_result` FOR EACH ROW \
             IF NEW.`perf_data` LIKE '%INJECT-FAILURE%' THEN \
             SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected failure for the test'; END IF",
        )
        .await;
        let tmp = tempfile::tempdir().unwrap();
        let csv = tmp.path().join("m.csv");
        std::fs::write(
            &csv,
            "network_name,test_name,perf_metric,total_time__sec,state,command,metric_type\n\
             netA-bs:1,test_a,10,1,valid,bench --fp16,INFERENCE_TIME\n\
             netB-bs:2,test_b,20,1,valid,bench --fp16,INFERENCE_TIME\n\
             netC-bs:3,test_c,INJECT-FAILURE,1,valid,bench --fp16,NOTE\n\
             netD-bs:4,test_d,40,1,valid,bench --fp16,INFERENCE_TIME\n",
        )
        .unwrap();
        let settings = db.settings(&tmp.path().join("spool"));
        let o = UploadOptions {
            sources: SourceFiles {
                metric_csv: Some(csv.clone()),
                ..Default::default()
            },
            ..opts()
        };
        let out = perfdb::upload_files(&settings, &o).await.unwrap();
        let UploadOutcome::Spooled { entry, reason } = out else {
            panic!("expected a spooled upload, got {out:?}")
        };
        assert!(reason.contains("perf_result row 3 of 4"), "{reason}");
        assert!(reason.contains("test_c"), "{reason}");
        assert!(reason.contains("injected failure for the test"), "{reason}");
        assert!(reason.contains("rolled back"), "{reason}");
        assert_eq!(db.count("runs").await, 0, "nothing committed");
        assert_eq!(db.count("cases").await, 0, "nothing committed");
        assert_eq!(db.count("perf_result").await, 0, "nothing committed");
        assert!(entry.is_file());
        let e = spool::load(&entry).unwrap();
        assert_eq!(e.last_error, reason);

        // Fix the server, retry the spool: everything goes in at once.
        db.exec("DROP TRIGGER `perfrun_fail`").await;
        let rep = perfdb::retry_spool(&settings).await.unwrap();
        assert_eq!(rep.done.len(), 1, "{rep:?}");
        assert!(rep.pending.is_empty());
        assert!(!entry.exists());
        assert_eq!(db.count("runs").await, 1);
        assert_eq!(db.count("cases").await, 4);
        assert_eq!(db.count("perf_result").await, 4);
        db.drop_now().await;
    }

    #[tokio::test]
    async fn clear_messages_for_wrong_password_unknown_host_missing_column() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let tmp = tempfile::tempdir().unwrap();
        let base = db.settings(&tmp.path().join("spool"));
        let o = UploadOptions {
            sources: SourceFiles {
                metric_csv: Some(fixture()),
                ..Default::default()
            },
            ..opts()
        };

        let mut wrong = base.clone();
        wrong.password = Some(secrecy::SecretString::from("definitely-not-it".to_string()));
        let UploadOutcome::Spooled { reason, entry } =
            perfdb::upload_files(&wrong, &o).await.unwrap()
        else {
            panic!("expected spool")
        };
        assert!(reason.contains("refused the login of user"), "{reason}");
        assert!(reason.contains("password"), "{reason}");
        assert!(!reason.contains("definitely-not-it"));
        assert!(entry.is_file());

        let mut host = base.clone();
        host.host = Some("no-such-host.invalid".into());
        let UploadOutcome::Spooled { reason, .. } = perfdb::upload_files(&host, &o).await.unwrap()
        else {
            panic!("expected spool")
        };
        assert!(
            reason.contains("\"no-such-host.invalid\" does not resolve"),
            "{reason}"
        );

        db.exec("ALTER TABLE `runs` DROP COLUMN `commit_time`")
            .await;
        let UploadOutcome::Spooled { reason, .. } = perfdb::upload_files(&base, &o).await.unwrap()
        else {
            panic!("expected spool")
        };
        assert!(reason.contains("has no column `commit_time`"), "{reason}");
        assert!(reason.contains("`runs`"), "{reason}");

        let mut schema = base.clone();
        schema.schema = format!("{}_missing", db.name);
        let UploadOutcome::Spooled { reason, .. } =
            perfdb::upload_files(&schema, &o).await.unwrap()
        else {
            panic!("expected spool")
        };
        assert!(reason.contains("has no schema"), "{reason}");
        // One entry per run key: the four failures of the same run share one spool entry.
        assert_eq!(spool::pending(&base.spool_dir).unwrap().len(), 1);
        assert_eq!(db.count("runs").await, 0);
        db.drop_now().await;
    }

    #[tokio::test]
    async fn hostile_values_are_stored_verbatim() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let tmp = tempfile::tempdir().unwrap();
        let nasty = [
            "it's a \"quote\"",
            "back\\slash \\' \\\\",
            "unicode: 日本語 ✓ 😀 é",
            "'); DROP TABLE `runs`; --",
            "1' OR '1'='1",
            "line\nbreak\ttab",
        ];
        let csv = tmp.path().join("m.csv");
        let mut w = csv::Writer::from_path(&csv).unwrap();
        w.write_record([
            "network_name",
            "test_name",
            "perf_metric",
            "state",
            "command",
            "metric_type",
            "raw_result",
        ])
        .unwrap();
        for (i, n) in nasty.iter().enumerate() {
            w.write_record([
                &format!("net{i} {n}"),
                &format!("test_{i}[{n}]"),
                *n,
                "valid",
                &format!("bench {n}"),
                "WEIRD_METRIC",
                &format!("log {n}"),
            ])
            .unwrap();
        }
        w.flush().unwrap();
        let settings = db.settings(&tmp.path().join("spool"));
        let o = UploadOptions {
            info: perfdb::RunInfoArgs {
                notes: Some(nasty.join(" | ")),
                link: Some("https://ci/'; DROP TABLE cases; --".into()),
                commit: Some("ünï'\\".into()),
                ..Default::default()
            },
            sources: SourceFiles {
                metric_csv: Some(csv),
                ..Default::default()
            },
            ..Default::default()
        };
        let out = perfdb::upload_files(&settings, &o).await.unwrap();
        assert!(
            matches!(out, UploadOutcome::Uploaded { rows: 6, .. }),
            "{out:?}"
        );
        let mut c = db.conn().await;
        let run = sqlx::query("SELECT `notes`, `link`, `cl` FROM `runs`")
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(run.get::<String, _>(0), nasty.join(" | "));
        assert_eq!(
            run.get::<String, _>(1),
            "https://ci/'; DROP TABLE cases; --"
        );
        assert_eq!(run.get::<String, _>(2), "ünï'\\");
        let rows = sqlx::query("SELECT c.`network`, c.`cmd`, JSON_VALUE(p.`perf_data`, '$.weird_metric'), p.`log` FROM `perf_result` p JOIN `cases` c ON c.`id` = p.`case_id` ORDER BY p.`id`")
            .fetch_all(&mut c)
            .await
            .unwrap();
        assert_eq!(rows.len(), nasty.len());
        for (i, n) in nasty.iter().enumerate() {
            assert_eq!(
                rows[i].get::<String, _>(0),
                format!("net{i} {n}").to_lowercase()
            );
            assert_eq!(
                rows[i].get::<String, _>(1),
                rules::format_command(&format!("bench {n}"))
            );
            assert_eq!(
                rows[i].get::<String, _>(2),
                *n,
                "perf_data value round-trips"
            );
            assert_eq!(rows[i].get::<String, _>(3), format!("log {n}"));
        }
        // The tables are all still there.
        assert_eq!(db.count("runs").await, 1);
        assert_eq!(db.count("cases").await, 6);
        db.drop_now().await;
    }

    #[tokio::test]
    async fn spool_is_retried_after_the_server_comes_back() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let tmp = tempfile::tempdir().unwrap();
        let run = make_run_dir(tmp.path(), "777");
        // A port where nothing listens stands in for a server that is down.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let out = db
            .cli(tmp.path())
            .args([
                "upload",
                run.to_str().unwrap(),
                "--DB-port",
                &closed.to_string(),
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(5),
            "exit 5 = results kept, upload pending: {err}"
        );
        assert!(err.contains("connection refused"), "{err}");
        assert!(err.contains("perf-run upload --spool"), "{err}");
        let pending = spool::pending(&tmp.path().join("spool")).unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(db.count("runs").await, 0);

        // Still down: retry keeps it, exit 5 again.
        let out = db
            .cli(tmp.path())
            .args(["upload", "--spool", "--DB-port", &closed.to_string()])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(5),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(spool::load(&pending[0]).unwrap().attempts, 2);

        // Back up: the retry uploads and removes the entry; summary.json records it.
        let out = db
            .cli(tmp.path())
            .args(["upload", "--spool"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("TRTPerf: http://trtperf.test/"));
        assert!(!pending[0].exists(), "spool entry removed");
        assert_eq!(db.count("perf_result").await, 3);
        let v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(run.join("results/summary.json")).unwrap(),
        )
        .unwrap();
        assert!(v["upload"]["run_id"].as_u64().is_some(), "{v}");

        // Nothing pending any more; a second retry is a no-op.
        let out = db
            .cli(tmp.path())
            .args(["upload", "--spool"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert!(String::from_utf8_lossy(&out.stderr).contains("No upload is pending"));
        db.drop_now().await;
    }

    /// B10: an upload stopped by SIGTERM (or killed) while its transaction is open leaves a
    /// spool entry; `upload --spool` completes it, and nothing is committed twice.
    #[tokio::test]
    async fn an_interrupted_upload_waits_in_the_spool_and_is_committed_once() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        // A slow database: every result row takes 1.5 s, so the transaction is open for a while.
        db.exec("CREATE TRIGGER slow BEFORE INSERT ON perf_result FOR EACH ROW DO SLEEP(1.5)")
            .await;
        let tmp = tempfile::tempdir().unwrap();
        let run = make_run_dir(tmp.path(), "1010");
        let spool_dir = tmp.path().join("spool");
        for (sig, code) in [(libc::SIGTERM, Some(143)), (libc::SIGKILL, None)] {
            let child = db
                .cli(tmp.path())
                .args(["upload", run.to_str().unwrap()])
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            // Wait until the upload is inside its transaction (the entry is written first).
            let t0 = std::time::Instant::now();
            while spool::pending(&spool_dir).unwrap().is_empty() {
                assert!(t0.elapsed().as_secs() < 20, "no in-flight spool entry");
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            std::thread::sleep(std::time::Duration::from_millis(1500));
            // SAFETY: a child we spawned and have not reaped.
            unsafe { libc::kill(child.id() as i32, sig) };
            let out = child.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), code, "{err}");
            if code.is_some() {
                assert!(err.contains("perf-run upload --spool"), "{err}");
            }
            let pending = spool::pending(&spool_dir).unwrap();
            assert_eq!(pending.len(), 1, "one entry for the run: {err}");
            assert!(!spool::load(&pending[0]).unwrap().force_reupload);
            // Rolled back (the server notices the dropped connection).
            let t0 = std::time::Instant::now();
            while db.count("runs").await != 0 {
                assert!(
                    t0.elapsed().as_secs() < 20,
                    "the transaction was not rolled back"
                );
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
        db.exec("DROP TRIGGER slow").await;
        let out = db
            .cli(tmp.path())
            .args(["upload", "--spool"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert!(spool::pending(&spool_dir).unwrap().is_empty(), "{err}");
        assert_eq!(db.count("runs").await, 1);
        assert_eq!(db.count("perf_result").await, 3);
        // The same run again: already there, nothing inserted, no entry left behind.
        let out = db
            .cli(tmp.path())
            .args(["upload", run.to_str().unwrap()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert!(err.contains("already uploaded"), "{err}");
        assert_eq!(db.count("runs").await, 1);
        assert_eq!(db.count("perf_result").await, 3);
        assert!(spool::pending(&spool_dir).unwrap().is_empty());
        db.drop_now().await;
    }

    #[tokio::test]
    async fn concurrent_uploads_of_one_run_insert_it_once() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let tmp = tempfile::tempdir().unwrap();
        let run = make_run_dir(tmp.path(), "4242");
        let settings = db.settings(&tmp.path().join("spool"));
        let o = opts();
        let (a, b) = tokio::join!(
            perfdb::upload_run_dir(&run, &settings, &o),
            perfdb::upload_run_dir(&run, &settings, &o)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        let uploaded = [&a, &b]
            .iter()
            .filter(|o| matches!(o, UploadOutcome::Uploaded { .. }))
            .count();
        let already = [&a, &b]
            .iter()
            .filter(|o| matches!(o, UploadOutcome::AlreadyUploaded { .. }))
            .count();
        assert_eq!((uploaded, already), (1, 1), "{a:?} {b:?}");
        assert_eq!(db.count("perf_result").await, 3);
        db.drop_now().await;
    }

    #[tokio::test]
    async fn big_logs_are_split_across_statements_within_the_packet_size() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let tmp = tempfile::tempdir().unwrap();
        let csv = tmp.path().join("m.csv");
        let mut w = csv::Writer::from_path(&csv).unwrap();
        w.write_record([
            "network_name",
            "perf_metric",
            "command",
            "metric_type",
            "raw_result",
        ])
        .unwrap();
        // 40 rows × 1 MiB of log > the 16 MiB max_allowed_packet, plus one log over the cap.
        let mib = "L".repeat(1 << 20);
        for i in 0..40 {
            w.write_record([&format!("net{i}"), "1", "bench", "INFERENCE_TIME", &mib])
                .unwrap();
        }
        let huge = format!("HEAD{}TAIL", "x".repeat(6 << 20));
        w.write_record(["net-huge", "1", "bench", "INFERENCE_TIME", &huge])
            .unwrap();
        w.flush().unwrap();
        let settings = db.settings(&tmp.path().join("spool"));
        let o = UploadOptions {
            sources: SourceFiles {
                metric_csv: Some(csv),
                ..Default::default()
            },
            ..opts()
        };
        let out = perfdb::upload_files(&settings, &o).await.unwrap();
        assert!(
            matches!(out, UploadOutcome::Uploaded { rows: 41, .. }),
            "{out:?}"
        );
        let mut c = db.conn().await;
        let total: i64 = sqlx::query(
            "SELECT CAST(SUM(LENGTH(`log`)) AS SIGNED) FROM `perf_result` WHERE `log` LIKE 'L%'",
        )
        .fetch_one(&mut c)
        .await
        .unwrap()
        .get(0);
        assert_eq!(total, 40 << 20);
        let capped: String =
            sqlx::query("SELECT `log` FROM `perf_result` WHERE `log` LIKE 'HEAD%'")
                .fetch_one(&mut c)
                .await
                .unwrap()
                .get(0);
        assert!(capped.len() <= perfdb::plan::LOG_CAP + 200);
        assert!(capped.ends_with("TAIL"));
        assert!(capped.contains("perf-run left out"));
        db.drop_now().await;
    }

    // ---- issue 15: rows that agree with the legacy uploader ----------------------------

    /// `SELECT` every `runs` column perf-run writes (times as text) for one run.
    async fn run_columns(
        db: &TestDb,
        run_id: u64,
    ) -> std::collections::BTreeMap<String, Option<String>> {
        let cols = [
            "driver",
            "cpu",
            "os",
            "gpu",
            "cuda",
            "cudnn",
            "cublas",
            "graphic_freq",
            "memory_freq",
            "tensorrt",
            "notes",
            "cl",
            "trtllm",
            "start_time",
            "end_time",
            "link",
            "commit_time",
            "vbios",
        ];
        let list: Vec<String> = cols
            .iter()
            .map(|c| format!("CAST(`{c}` AS CHAR)"))
            .collect();
        let mut c = db.conn().await;
        let r = sqlx::query(AssertSqlSafe(format!(
            "SELECT {} FROM `runs` WHERE `id` = ?",
            list.join(", ")
        )))
        .bind(run_id)
        .fetch_one(&mut c)
        .await
        .unwrap();
        cols.iter()
            .enumerate()
            .map(|(i, c)| (c.to_string(), r.get::<Option<String>, _>(i)))
            .collect()
    }

    fn uploaded_run_id(out: &std::process::Output) -> u64 {
        let stdout = String::from_utf8_lossy(&out.stdout);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
        stdout
            .split("run_ids=")
            .nth(1)
            .and_then(|t| t.split('&').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no run id in {stdout:?} / {err}"))
    }

    /// A run directory whose session_properties.csv is written by perf-run's own writer.
    fn run_dir_with_written_props(root: &Path, job: &str) -> PathBuf {
        use perf_run::results::model::{RunInfo, SysInfo};
        let run = make_run_dir(root, job);
        let mut info = RunInfo::new(format!("run-{job}"), chrono::Utc::now());
        info.user = Some("ci".into());
        info.hostname = Some("gb200-node-1".into());
        info.trtllm_commit = Some("dd60747".into());
        info.trtllm_branch = Some("main".into());
        info.commit_time = Some("2026-11-22 19:23:33".into());
        info.sysinfo = SysInfo {
            gpu: "NVIDIA GB200".into(),
            driver: "580.65.06".into(),
            cuda: "13.0".into(),
            os: "Ubuntu 24.04.2 LTS".into(),
            cpu: "Intel(R) Xeon(R) Processor".into(),
            gpu_count: Some(4),
            ..Default::default()
        };
        let mut f = std::fs::File::create(run.join("results/session_properties.csv")).unwrap();
        perf_run::results::writers::session::write(&mut f, &info).unwrap();
        let text = std::fs::read_to_string(run.join("results/session_properties.csv")).unwrap();
        assert!(
            text.contains("OrderedDict({'product_name': 'Intel(R) Xeon(R) Processor'})"),
            "{text}"
        );
        run
    }

    /// Item 1: the properties file in the Python 3.12 form fills cpu, gpu and os when no flag
    /// gives them; the pre-3.12 form (make_run_dir) still reads too.
    #[tokio::test]
    async fn issue15_item1_properties_in_312_form_fill_cpu_gpu_os() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let tmp = tempfile::tempdir().unwrap();
        let run = run_dir_with_written_props(tmp.path(), "1501");
        let out = db
            .cli(tmp.path())
            .args(["upload", run.to_str().unwrap()])
            .env_remove("BUILD_URL")
            .env_remove("GIT_COMMIT")
            .output()
            .unwrap();
        let id = uploaded_run_id(&out);
        let r = run_columns(&db, id).await;
        assert_eq!(r["cpu"].as_deref(), Some("Intel(R) Xeon(R) Processor"));
        assert_eq!(r["gpu"].as_deref(), Some("GB200"));
        assert_eq!(r["os"].as_deref(), Some("Ubuntu 24.04.2 LTS"));
        assert_eq!(r["driver"].as_deref(), Some("580.65.06"));
        assert_eq!(r["cuda"].as_deref(), Some("13.0"));
        assert_eq!(r["cl"].as_deref(), Some("dd60747"));
        assert_eq!(
            r["commit_time"].as_deref(),
            Some("2026-11-22 19:23:33"),
            "cl is the properties' commit, so its commit time belongs to it"
        );

        // The pre-3.12 form is still read.
        let old = make_run_dir(tmp.path(), "1502");
        let out = db
            .cli(tmp.path())
            .args(["upload", old.to_str().unwrap()])
            .env_remove("BUILD_URL")
            .env_remove("GIT_COMMIT")
            .output()
            .unwrap();
        let id = uploaded_run_id(&out);
        let r = run_columns(&db, id).await;
        assert_eq!(r["cpu"].as_deref(), Some("Grace"));
        assert_eq!(r["gpu"].as_deref(), Some("GB200"));
        assert_eq!(r["os"].as_deref(), Some("Ubuntu 24.04"));
        db.drop_now().await;
    }

    /// Item 2: commit_time describes the commit stored in cl, never another one.
    #[tokio::test]
    async fn issue15_item2_commit_time_follows_the_recorded_commit() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let tmp = tempfile::tempdir().unwrap();
        let settings = db.settings(&tmp.path().join("spool"));
        // make_run_dir: properties commit abc123, commit_timestamp 2025-10-30 12:00:00.
        type Case<'a> = (
            &'a str,
            Option<&'a str>,
            Option<&'a str>,
            &'a str,
            Option<&'a str>,
        );
        let cases: [Case; 4] = [
            // (job, --commit, --commit-time, stored cl, stored commit_time)
            (
                "1511",
                Some("0123456789abcdef"),
                None,
                "0123456789abcdef",
                None,
            ),
            ("1512", None, None, "abc123", Some("2025-10-30 12:00:00")),
            (
                "1513",
                Some("ABC123"),
                None,
                "ABC123",
                Some("2025-10-30 12:00:00"),
            ),
            (
                "1514",
                Some("0123456789abcdef"),
                Some("2025-11-01 08:00:00"),
                "0123456789abcdef",
                Some("2025-11-01 08:00:00"),
            ),
        ];
        for (job, commit, commit_time, cl, want) in cases {
            let run = make_run_dir(tmp.path(), job);
            let o = UploadOptions {
                info: perfdb::RunInfoArgs {
                    link: Some(format!("https://jenkins.test/job/perf/{job}/")),
                    commit: commit.map(String::from),
                    commit_time: commit_time.map(String::from),
                    ..Default::default()
                },
                ..Default::default()
            };
            let out = perfdb::upload_run_dir(&run, &settings, &o).await.unwrap();
            let UploadOutcome::Uploaded { run_id, .. } = out else {
                panic!("{out:?}")
            };
            let r = run_columns(&db, run_id).await;
            assert_eq!(r["cl"].as_deref(), Some(cl), "job {job}");
            assert_eq!(r["commit_time"].as_deref(), want, "job {job}");
        }
        db.drop_now().await;
    }

    /// Item 3: runs.cublas is NULL when unknown (as the legacy uploader leaves it), and the
    /// properties' value when known.
    #[tokio::test]
    async fn issue15_item3_unknown_cublas_is_null() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let tmp = tempfile::tempdir().unwrap();
        let settings = db.settings(&tmp.path().join("spool"));
        let o = UploadOptions {
            sources: SourceFiles {
                metric_csv: Some(fixture()),
                ..Default::default()
            },
            ..opts()
        };
        let out = perfdb::upload_files(&settings, &o).await.unwrap();
        let UploadOutcome::Uploaded { run_id, .. } = out else {
            panic!("{out:?}")
        };
        let r = run_columns(&db, run_id).await;
        assert_eq!(r["cublas"], None, "no properties: NULL, not ''");
        assert_eq!(r["vbios"], None);
        assert_eq!(r["cudnn"].as_deref(), Some(""), "NOT NULL column: ''");
        let mut c = db.conn().await;
        let nulls: i64 = sqlx::query("SELECT COUNT(*) FROM `runs` WHERE `cublas` IS NULL")
            .fetch_one(&mut c)
            .await
            .unwrap()
            .get(0);
        assert_eq!(nulls, 1);

        let run = make_run_dir(tmp.path(), "1521");
        let out = perfdb::upload_run_dir(&run, &settings, &opts())
            .await
            .unwrap();
        let UploadOutcome::Uploaded { run_id, .. } = out else {
            panic!("{out:?}")
        };
        assert_eq!(
            run_columns(&db, run_id).await["cublas"].as_deref(),
            Some("12.9.1")
        );
        db.drop_now().await;
    }

    /// Item 4: the skip summary counts state=invalid apart from state=failed, and neither
    /// kind of row is stored.
    #[tokio::test]
    async fn issue15_item4_invalid_rows_are_counted_as_invalid() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let tmp = tempfile::tempdir().unwrap();
        let csv = tmp.path().join("m.csv");
        let mut text =
            String::from("network_name,test_name,perf_metric,state,command,metric_type\n");
        text.push_str("ok_bs:8,t_ok,12.5,valid,bench --fp8,INFERENCE_TIME\n");
        text.push_str("ok_bs:8,t_ok,4300.1,valid,bench --fp8,TOKEN_THROUGHPUT\n");
        text.push_str("fail_bs:8,t_fail,1,failed,bench --fp8,INFERENCE_TIME\n");
        for i in 0..2 {
            text.push_str(&format!(
                "inv{i}_bs:8,t_inv{i},1500,invalid,bench --fp8,INFERENCE_TIME\n"
            ));
        }
        text.push_str(",t_empty,1,valid,bench,INFERENCE_TIME\n");
        std::fs::write(&csv, text).unwrap();
        let out = db
            .cli(tmp.path())
            .args(["upload", "--source-metric-csv"])
            .arg(&csv)
            .args([
                "--link",
                "https://ci/15",
                "--commit",
                "c15",
                "--start-time",
                "2026-11-30 08:00:00",
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let id = uploaded_run_id(&out);
        assert!(
            err.contains("4 of 6 CSV rows are not uploaded (1 with state=failed, 2 with state=invalid, 1 incomplete or unusable)"),
            "{err}"
        );
        let mut c = db.conn().await;
        let rows = sqlx::query("SELECT c.`network`, p.`gpu_time`, p.`throughput`, p.`perf_data` FROM `perf_result` p JOIN `cases` c ON c.`id` = p.`case_id` WHERE p.`run_id` = ?")
            .bind(id)
            .fetch_all(&mut c)
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "only the valid case is stored");
        assert_eq!(rows[0].get::<String, _>(0), "ok_bs:8");
        assert!(approx(f64::from(rows[0].get::<f32, _>(1)), 12.5));
        assert!(approx(f64::from(rows[0].get::<f32, _>(2)), 4300.1));
        assert_eq!(
            rows[0].get::<String, _>(3),
            r#"{"run_time__msec": "12.5", "tokens_per__sec": "4300.1"}"#
        );
        assert_eq!(db.count("cases").await, 1);

        // Only invalid rows: nothing to upload, and the message says why.
        std::fs::write(
            &csv,
            "network_name,perf_metric,state,metric_type\nn,,invalid,INFERENCE_TIME\n",
        )
        .unwrap();
        let out = db
            .cli(tmp.path())
            .args(["upload", "--source-metric-csv"])
            .arg(&csv)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("0 have state=failed, 1 have state=invalid"),
            "{err}"
        );
        db.drop_now().await;
    }

    /// Write a run the way the legacy trt_perf_parser.py does (reference §9.3): no cudnn,
    /// cublas or vbios, format ONNX, UUID NULL. Strict mode needs a cudnn value, which the
    /// legacy script cannot give (legacy-interop review §5), so this uses ''.
    async fn legacy_insert(
        db: &TestDb,
        start: &str,
        cl: &str,
        cases: &[(&str, u32, &str, &str)],
    ) -> u64 {
        let mut c = db.conn().await;
        let run_id = sqlx::query("INSERT INTO `runs` (`driver`, `cpu`, `os`, `gpu`, `cuda`, `cudnn`, `graphic_freq`, `memory_freq`, `tensorrt`, `notes`, `cl`, `trtllm`, `start_time`, `end_time`, `link`) VALUES ('580.1', '', 'Ubuntu 24.04', 'GB200', '13.0', '', '', '', '10.13', 'legacy', ?, '1.3.0', ?, ?, 'http://ci/job/1')")
            .bind(cl)
            .bind(start)
            .bind(start)
            .execute(&mut c)
            .await
            .unwrap()
            .last_insert_id();
        for (network, bs, precision, cmd) in cases {
            let case_id = sqlx::query("INSERT INTO `cases` (`format`, `network`, `batchsize`, `precision`, `cmd`) VALUES ('ONNX', ?, ?, ?, ?)")
                .bind(network)
                .bind(bs)
                .bind(precision)
                .bind(cmd)
                .execute(&mut c)
                .await
                .unwrap()
                .last_insert_id();
            sqlx::query("INSERT INTO `perf_result` (`run_id`, `case_id`, `gpu_time`, `total_time`, `build_time`, `throughput`, `perf_data`, `int8_vs_fp32`, `int8_vs_fp16`, `fp16_vs_fp32`, `log`) VALUES (?, ?, 0, 0, 0, 0, '{}', NULL, NULL, NULL, '')")
                .bind(run_id)
                .bind(case_id)
                .execute(&mut c)
                .await
                .unwrap();
        }
        run_id
    }

    /// The migration guard: a run the legacy uploader already wrote (same start time, commit
    /// and cases, no run key) is not inserted again unless --force is given.
    #[tokio::test]
    async fn issue15_migration_guard_refuses_a_run_the_legacy_uploader_wrote() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let tmp = tempfile::tempdir().unwrap();
        // The fixture's three cases, as the legacy rules key them (format aside).
        let fixture_cases = [
            (
                "test_benchmark[disagg_perf_file:deepseek-r1-fp4_015_8k1k_dep:16_bs:64_mtp:0_ccbackend:ucx]_con:1075",
                64,
                "FP4",
                "disagg_benchmark --model=deepseek-r1-fp4 --fp4 --concurrency=1075",
            ),
            (
                "test_benchmark[disagg_perf_file:deepseek-r1-fp4_001_1k1k_tep:8_bs:32_mtp:0_ccbackend:nixl]_con:1",
                32,
                "FP4",
                "disagg_benchmark --model=deepseek-r1-fp4 --fp4 --concurrency=1",
            ),
        ];
        // Check the fixture's case keys first, so the test cannot pass by accident.
        let plan = perfdb::plan::build_plan(
            &perfdb::PlanInputs {
                metric_csv: fixture(),
                ..Default::default()
            },
            &perfdb::PlanOptions::default(),
        )
        .unwrap();
        let nets: Vec<&str> = plan
            .results
            .iter()
            .map(|r| r.case.network.as_str())
            .collect();
        assert_eq!(nets.len(), 3, "{nets:?}");
        let mut all: Vec<(String, u32, String, String)> = plan
            .results
            .iter()
            .map(|r| {
                (
                    r.case.network.clone(),
                    r.case.batchsize,
                    r.case.precision.clone(),
                    r.case.cmd.clone(),
                )
            })
            .collect();
        all.dedup();
        assert!(all.iter().any(|c| c.0 == fixture_cases[0].0), "{all:?}");
        let legacy_cases: Vec<(&str, u32, &str, &str)> = all
            .iter()
            .map(|(n, b, p, c)| (n.as_str(), *b, p.as_str(), c.as_str()))
            .collect();
        let start = "2025-10-31 00:53:53";
        let legacy_run = legacy_insert(&db, start, "abc123", &legacy_cases).await;
        // A legacy run of the same time and commit that lacks a case does not count.
        legacy_insert(&db, start, "abc123", &legacy_cases[..1]).await;
        let (runs, results) = (db.count("runs").await, db.count("perf_result").await);

        let upload = |extra: &[&str]| {
            let mut cmd = db.cli(tmp.path());
            cmd.args(["upload", "--source-metric-csv"])
                .arg(fixture())
                .args([
                    "--commit",
                    "abc123",
                    "--start-time",
                    start,
                    "--link",
                    "https://ci/job/1",
                ])
                .args(extra);
            cmd.output().unwrap()
        };
        let out = upload(&[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains(&format!("run {legacy_run} in ")) && err.contains("--force"),
            "{err}"
        );
        assert_eq!(db.count("runs").await, runs, "nothing inserted");
        assert_eq!(db.count("perf_result").await, results);

        // Another commit is another run: uploaded.
        let mut cmd = db.cli(tmp.path());
        let out = cmd
            .args(["upload", "--source-metric-csv"])
            .arg(fixture())
            .args([
                "--commit",
                "def456",
                "--start-time",
                start,
                "--link",
                "https://ci/job/2",
            ])
            .output()
            .unwrap();
        uploaded_run_id(&out);
        assert_eq!(db.count("runs").await, runs + 1);

        // --force inserts it anyway.
        let out = upload(&["--force"]);
        let id = uploaded_run_id(&out);
        assert_eq!(db.count("runs").await, runs + 2);
        let r = run_columns(&db, id).await;
        assert_eq!(r["cl"].as_deref(), Some("abc123"));
        assert_eq!(r["start_time"].as_deref(), Some(start));
        db.drop_now().await;
    }

    /// The run values from the seed's environment variables and the job's sysinfo files,
    /// with a flag still winning, and summary.json saying where each came from.
    #[tokio::test]
    async fn issue15_run_values_from_env_and_sysinfo_with_their_sources() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let tmp = tempfile::tempdir().unwrap();
        let run = make_run_dir(tmp.path(), "1531");
        let sys = run.join("cases/000/artifacts/sysinfo");
        std::fs::create_dir_all(&sys).unwrap();
        std::fs::write(sys.join("tensorrt_version.txt"), "10.13.2.6\n").unwrap();
        std::fs::write(sys.join("trtllm_installed_version.txt"), "1.3.0rc5\n").unwrap();
        let out = db
            .cli(tmp.path())
            .args(["upload", run.to_str().unwrap(), "--cuda", "13.1"])
            .env("GIT_COMMIT", "abc1234def")
            .env("BUILD_URL", "https://jenkins.test/job/perf/1531/")
            .env("DRIVER_VERSION", "590.10")
            .env("GPU_NAME", "NVIDIA B200")
            .env("CUDA_VERSION", "12.0")
            .env("OS_VERSION", "Rocky Linux 9")
            .env("TEST_START_TIME", "2026-11-30 07:00:00")
            .env_remove("TRT_VERSION")
            .env_remove("TRTLLM_VERSION")
            .output()
            .unwrap();
        let id = uploaded_run_id(&out);
        let r = run_columns(&db, id).await;
        assert_eq!(r["tensorrt"].as_deref(), Some("10.13.2.6"), "detected");
        assert_eq!(r["trtllm"].as_deref(), Some("1.3.0rc5"), "detected");
        assert_eq!(r["cl"].as_deref(), Some("abc1234def"), "GIT_COMMIT");
        assert_eq!(
            r["link"].as_deref(),
            Some("https://jenkins.test/job/perf/1531/")
        );
        assert_eq!(r["driver"].as_deref(), Some("590.10"));
        assert_eq!(r["gpu"].as_deref(), Some("B200"));
        assert_eq!(
            r["cuda"].as_deref(),
            Some("13.1"),
            "the flag wins over CUDA_VERSION"
        );
        assert_eq!(r["os"].as_deref(), Some("Rocky Linux 9"));
        assert_eq!(r["start_time"].as_deref(), Some("2026-11-30 07:00:00"));
        assert_eq!(r["cpu"].as_deref(), Some("Grace"), "properties");
        assert_eq!(
            r["commit_time"], None,
            "abc1234def is not the properties' commit"
        );

        let v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(run.join("results/summary.json")).unwrap(),
        )
        .unwrap();
        let rv = &v["upload"]["run_values"];
        let src = |col: &str| {
            (
                rv[col]["source"].as_str().unwrap_or("null").to_string(),
                rv[col]["from"].as_str().unwrap_or("").to_string(),
            )
        };
        assert_eq!(
            src("tensorrt"),
            ("detected".into(), "sysinfo/tensorrt_version.txt".into())
        );
        assert_eq!(
            src("trtllm"),
            (
                "detected".into(),
                "sysinfo/trtllm_installed_version.txt".into()
            )
        );
        assert_eq!(src("cl"), ("environment".into(), "GIT_COMMIT".into()));
        assert_eq!(src("cuda"), ("flag".into(), "--cuda".into()));
        assert_eq!(src("cpu").0, "session_properties");
        assert_eq!(src("graphic_freq").0, "gpu_monitoring");
        assert_eq!(rv["tensorrt"]["value"], "10.13.2.6");
        assert_eq!(rv["commit_time"]["source"], serde_json::Value::Null);

        // An environment variable loses to its flag.
        let run2 = make_run_dir(tmp.path(), "1532");
        let out = db
            .cli(tmp.path())
            .args(["upload", run2.to_str().unwrap(), "--tensorrt", "10.99"])
            .env("TRT_VERSION", "10.13")
            .env("TRTLLM_VERSION", "1.2.0\nnoise")
            .env("BUILD_URL", "https://jenkins.test/job/perf/1532/")
            .output()
            .unwrap();
        let id = uploaded_run_id(&out);
        let r = run_columns(&db, id).await;
        assert_eq!(r["tensorrt"].as_deref(), Some("10.99"));
        assert_eq!(
            r["trtllm"].as_deref(),
            Some("1.2.0"),
            "first line, from TRTLLM_VERSION"
        );

        // A malformed TEST_START_TIME is named in one sentence.
        let out = db
            .cli(tmp.path())
            .args(["upload", run2.to_str().unwrap(), "--write-db", "no"])
            .env("TEST_START_TIME", "yesterday")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("TEST_START_TIME \"yesterday\" is not a time"),
            "{err}"
        );
        db.drop_now().await;
    }

    /// perf-run's schema and upload work under MariaDB's strict sql_mode, where the legacy
    /// script's INSERT (no cudnn) fails.
    #[tokio::test]
    async fn issue15_strict_mode_server() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let mut c = db.conn().await;
        sqlx::raw_sql("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO'")
            .execute(&mut c)
            .await
            .unwrap();
        let legacy = sqlx::query("INSERT INTO `runs` (`driver`, `cpu`, `os`, `gpu`, `cuda`, `graphic_freq`, `memory_freq`, `tensorrt`, `notes`, `cl`, `trtllm`, `start_time`, `end_time`, `link`, `commit_time`) VALUES ('580.1', '', 'Ubuntu', 'GB200', '13.0', '', '', '10.13', '', 'abc', '1.3.0', '2026-11-30 08:00:00', '2026-11-30 08:10:00', 'l', '')")
            .execute(&mut c)
            .await;
        assert!(legacy.is_err(), "the legacy INSERT fails in strict mode");
        let global: String = sqlx::query("SELECT @@GLOBAL.sql_mode")
            .fetch_one(&mut c)
            .await
            .unwrap()
            .get(0);
        assert!(
            global.contains("STRICT_TRANS_TABLES"),
            "the test server is strict: {global}"
        );
        let tmp = tempfile::tempdir().unwrap();
        let run = make_run_dir(tmp.path(), "1541");
        let out = perfdb::upload_run_dir(&run, &db.settings(&tmp.path().join("spool")), &opts())
            .await
            .unwrap();
        assert!(
            matches!(out, UploadOutcome::Uploaded { rows: 3, .. }),
            "{out:?}"
        );
        db.drop_now().await;
    }

    /// `scripts/test-mariadb-private`: a throw-away MariaDB with TLS (self-signed certificate)
    /// and the ed25519 plugin; stopped and removed on drop.
    struct PrivateServer {
        dir: PathBuf,
        port: u16,
        ca: PathBuf,
        version: String,
    }

    impl PrivateServer {
        fn start(root: &Path) -> PrivateServer {
            let dir = root.join("mariadb");
            let port = {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                l.local_addr().unwrap().port()
            };
            let out = Command::new("bash")
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test-mariadb-private"))
                .arg("up")
                .arg(&dir)
                .arg(port.to_string())
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            assert!(
                out.status.success(),
                "scripts/test-mariadb-private up failed: {}{}",
                text,
                String::from_utf8_lossy(&out.stderr)
            );
            let get = |k: &str| super::common::env_file_value(&text, k).unwrap_or_default();
            PrivateServer {
                port,
                ca: PathBuf::from(get("PRIV_MYSQL_CA")),
                version: get("PRIV_MYSQL_VERSION"),
                dir,
            }
        }

        fn settings(&self, host: &str, user: &str, pass: &str, tls: &str, ca: bool) -> DbSettings {
            let ca_path = self.ca.display().to_string();
            let env = |k: &str| match k {
                "DB_HOST" => Some(host.to_string()),
                "DB_PORT" => Some(self.port.to_string()),
                "DB_USER" => Some(user.to_string()),
                "DB_PASSWORD" => Some(pass.to_string()),
                "DB_SCHEMA" => Some("perfrun".to_string()),
                "DB_SSL_MODE" => Some(tls.to_string()),
                "DB_SSL_CA" => ca.then(|| ca_path.clone()),
                _ => None,
            };
            let args = DbArgs {
                spool_dir: Some(self.dir.join("spool")),
                db_connect_timeout: Some(10),
                ..Default::default()
            };
            DbSettings::resolve(&(&args).try_into().unwrap(), &env).unwrap()
        }
    }

    impl Drop for PrivateServer {
        fn drop(&mut self) {
            let _ = Command::new("bash")
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test-mariadb-private"))
                .arg("down")
                .arg(&self.dir)
                .output();
        }
    }

    async fn ssl_cipher(c: &mut MySqlConnection) -> String {
        sqlx::query("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
            .fetch_one(&mut *c)
            .await
            .unwrap()
            .get::<String, _>(1)
    }

    /// TLS with a self-signed certificate (every --DB-ssl-mode), mysql_native_password users
    /// with and without REQUIRE SSL, an ed25519 user (refused in one sentence), and a whole
    /// upload over verified TLS, against a private MariaDB.
    #[tokio::test]
    async fn tls_and_login_plugins_on_a_private_server() {
        if mysql_env().is_none() {
            absent("no test services (PERFCI_MYSQL_* unset and no /tmp/perfci-svc/env)");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let srv = PrivateServer::start(tmp.path());
        assert!(srv.version.contains("MariaDB"), "{}", srv.version);

        // preferred (the default): TLS because the server offers it.
        let mut c = perfdb::db::connect(&srv.settings(
            "127.0.0.1",
            "native",
            "native-pw",
            "preferred",
            false,
        ))
        .await
        .unwrap();
        assert!(!ssl_cipher(&mut c).await.is_empty(), "preferred uses TLS");
        let mut c = perfdb::db::connect(&srv.settings(
            "127.0.0.1",
            "native",
            "native-pw",
            "disabled",
            false,
        ))
        .await
        .unwrap();
        assert_eq!(ssl_cipher(&mut c).await, "", "disabled: no TLS");

        // A REQUIRE SSL user: refused without TLS, accepted with it.
        let e = perfdb::db::connect(&srv.settings("127.0.0.1", "tls", "tls-pw", "disabled", false))
            .await
            .unwrap_err();
        assert!(matches!(e, perfdb::db::DbFailure::Login(_)), "{e}");
        let mut c =
            perfdb::db::connect(&srv.settings("127.0.0.1", "tls", "tls-pw", "required", false))
                .await
                .unwrap();
        assert!(!ssl_cipher(&mut c).await.is_empty());

        // Verification: the self-signed certificate is trusted only when given as the CA.
        let e =
            perfdb::db::connect(&srv.settings("127.0.0.1", "tls", "tls-pw", "verify-ca", false))
                .await
                .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("TLS connection") && msg.contains("verify-ca"),
            "{msg}"
        );
        let mut c =
            perfdb::db::connect(&srv.settings("127.0.0.1", "tls", "tls-pw", "verify-ca", true))
                .await
                .unwrap();
        assert!(!ssl_cipher(&mut c).await.is_empty());
        let mut c = perfdb::db::connect(&srv.settings(
            "localhost",
            "tls",
            "tls-pw",
            "verify-identity",
            true,
        ))
        .await
        .unwrap();
        assert!(!ssl_cipher(&mut c).await.is_empty());

        // ed25519: not supported by sqlx; one sentence that names the plugin and the way out.
        let e = perfdb::db::connect(&srv.settings("127.0.0.1", "ed", "ed-pw", "preferred", false))
            .await
            .unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, perfdb::db::DbFailure::Login(_)), "{msg}");
        assert!(
            msg.contains("client_ed25519") && msg.contains("mysql_native_password"),
            "{msg}"
        );

        // A whole upload over verified TLS, checked in the stored rows.
        let schema = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("sql/trt_perf_schema.sql"),
        )
        .unwrap();
        for stmt in split_sql(&schema) {
            sqlx::raw_sql(AssertSqlSafe(stmt))
                .execute(&mut c)
                .await
                .expect("schema");
        }
        let out = Command::new(env!("CARGO_BIN_EXE_perf-run"))
            .env("DB_HOST", "127.0.0.1")
            .env("DB_PORT", srv.port.to_string())
            .env("DB_USER", "tls")
            .env("DB_PASSWORD", "tls-pw")
            .env("DB_SCHEMA", "perfrun")
            .env("PERF_RUN_HOME", tmp.path())
            .env_remove("DB_SSL_MODE")
            .env_remove("DB_SSL_CA")
            .args(["upload", "--source-metric-csv"])
            .arg(fixture())
            .args([
                "--commit",
                "tls1",
                "--link",
                "https://ci/tls",
                "--DB-ssl-mode",
                "verify-ca",
                "--DB-ssl-ca",
            ])
            .arg(&srv.ca)
            .output()
            .unwrap();
        let id = uploaded_run_id(&out);
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM `perf_result` p JOIN `runs` r ON r.`id` = p.`run_id` WHERE r.`id` = ? AND r.`cl` = 'tls1' AND p.`UUID` IS NOT NULL")
            .bind(id)
            .fetch_one(&mut c)
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 3);
    }

    #[test]
    fn password_in_settings_is_not_in_debug() {
        let args = DbArgs::default();
        let s = DbSettings::resolve(&(&args).try_into().unwrap(), &|k: &str| {
            (k == "DB_PASSWORD").then(|| "pw-for-debug-test".to_string())
        })
        .unwrap();
        assert_eq!(
            s.password.as_ref().unwrap().expose_secret(),
            "pw-for-debug-test"
        );
        assert!(!format!("{s:?}").contains("pw-for-debug-test"));
    }
}
