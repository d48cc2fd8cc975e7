//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixtures() -> PathBuf {
    repo().join("tests/fixtures/trtllm")
}

fn copy_into(src: &Path, dst_dir: &Path) {
    std::fs::create_dir_all(dst_dir).unwrap();
    std::fs::copy(src, dst_dir.join(src.file_name().unwrap())).unwrap();
}

/// A TensorRT-LLM-shaped tree in the current layout (G3) holding the real fixture configs,
/// unchanged.
pub fn g3_tree() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let f = fixtures().join("perf-sanity");
    for e in std::fs::read_dir(f.join("aggregated")).unwrap() {
        copy_into(
            &e.unwrap().path(),
            &t.path().join("tests/scripts/perf-sanity/aggregated"),
        );
    }
    for e in std::fs::read_dir(f.join("disaggregated")).unwrap() {
        copy_into(
            &e.unwrap().path(),
            &t.path().join("tests/scripts/perf-sanity/disaggregated"),
        );
    }
    std::fs::create_dir_all(t.path().join("tests/integration/defs/perf")).unwrap();
    // The plan checks that the test module exists in the checkout.
    std::fs::write(
        t.path()
            .join("tests/integration/defs/perf/test_perf_sanity.py"),
        "",
    )
    .unwrap();
    t
}

/// The legacy layout (G1) the Jenkins glue targets, with the legacy disagg fixture.
pub fn g1_tree() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let f = fixtures().join("perf-sanity");
    for e in std::fs::read_dir(f.join("aggregated")).unwrap() {
        copy_into(
            &e.unwrap().path(),
            &t.path().join("tests/scripts/perf-sanity"),
        );
    }
    for e in std::fs::read_dir(f.join("disagg-legacy")).unwrap() {
        copy_into(
            &e.unwrap().path(),
            &t.path()
                .join("tests/integration/defs/perf/disagg/test_configs/disagg/perf"),
        );
    }
    std::fs::write(
        t.path()
            .join("tests/integration/defs/perf/test_perf_sanity.py"),
        "",
    )
    .unwrap();
    t
}

/// `perf-run` with a clean, deterministic environment (no host CLUSTER_* leaking in).
/// A setting of the host's environment that must not reach a perf-run under test (cluster,
/// database, checkout, CI provenance): every test harness removes these.
pub fn is_host_setting(k: &str) -> bool {
    k.starts_with("CLUSTER_")
        || k.starts_with("PERF_TEST_")
        || k.starts_with("PERF_RUN_")
        || k.starts_with("DB_")
        || [
            "TRTLLM_DIR",
            "TRTLLM_WHEEL",
            "TRTLLM_DISAGG_CT_PRECHECK",
            "DOCKER_IMAGE",
            "MPI_TYPE",
            "EXTRA_SRUN_PARAMS",
            "USE_TRT_PERF_DB",
            "BUILD_URL",
            "GIT_COMMIT",
        ]
        .contains(&k)
        || perf_run::perfdb::runinfo::ENV_VARS
            .iter()
            .any(|(var, _)| *var == k)
}

pub fn perf_run() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("perf-run").unwrap();
    for (k, _) in std::env::vars() {
        if is_host_setting(&k) {
            c.env_remove(k);
        }
    }
    c.env("CLUSTER_USER", "ci").env(
        "PERF_RUN_HOME",
        std::env::temp_dir().join("perf-run-test-home"),
    );
    c.current_dir(repo());
    c
}

/// The settings of the project's test services (`scripts/test-cluster up`), from the
/// environment or from `/tmp/perfci-svc/env`.
#[derive(Debug, Clone)]
pub struct Services {
    pub mysql_host: String,
    pub mysql_port: String,
    pub mysql_user: String,
    pub mysql_pass: String,
    pub state: String,
}

/// The value of `key` in the services' env file (`export NAME='value'` lines).
pub fn env_file_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let l = l.trim().strip_prefix("export ").unwrap_or(l.trim());
        l.split_whitespace().find_map(|part| {
            part.strip_prefix(&format!("{key}="))
                .map(|v| v.trim_matches('\'').trim_matches('"').to_string())
        })
    })
}

/// The services, or `None` after a loud skip message (a panic under `CI=true`).
pub fn services(what: &str) -> Option<Services> {
    let file = std::fs::read_to_string("/tmp/perfci-svc/env").unwrap_or_default();
    let get = |k: &str| {
        std::env::var(k)
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| env_file_value(&file, k))
    };
    let up = std::process::Command::new("bash")
        .arg(repo().join("scripts/test-cluster"))
        .arg("status")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    let s = (|| {
        Some(Services {
            mysql_host: get("PERFCI_MYSQL_HOST")?,
            mysql_port: get("PERFCI_MYSQL_PORT")?,
            mysql_user: get("PERFCI_MYSQL_USER")?,
            mysql_pass: get("PERFCI_MYSQL_PASS")?,
            state: get("PERFCI_STATE").unwrap_or_else(|| "/tmp/perfci-svc".into()),
        })
    })()
    .filter(|_| up);
    if s.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "CI=true but the test services are not running ({what} needs them); `scripts/test-cluster up` starts them"
            );
        }
        eprintln!(
            "\n*** SKIPPED {what}: the test services are not running; `sudo scripts/test-cluster up` starts them ***\n"
        );
    }
    s
}

/// A database of its own for one test, created from sql/trt_perf_schema.sql, dropped at the end.
pub struct TestDb {
    pub name: String,
    pub svc: Services,
}

impl TestDb {
    pub fn create(svc: &Services) -> TestDb {
        let name = format!("perfrun_t_{:08x}", rand_u32());
        let db = TestDb {
            name,
            svc: svc.clone(),
        };
        db.sql_on(None, &format!("CREATE DATABASE `{}`", db.name));
        let schema = std::fs::read_to_string(repo().join("sql/trt_perf_schema.sql")).unwrap();
        db.sql(&schema);
        db
    }

    fn sql_on(&self, database: Option<&str>, sql: &str) -> String {
        let mut c = std::process::Command::new("mariadb");
        c.args(["--protocol=TCP", "-N", "-B"])
            .arg(format!("-h{}", self.svc.mysql_host))
            .arg(format!("-P{}", self.svc.mysql_port))
            .arg(format!("-u{}", self.svc.mysql_user))
            .env("MYSQL_PWD", &self.svc.mysql_pass);
        if let Some(d) = database {
            c.arg(d);
        }
        c.arg("-e").arg(sql);
        let o = c.output().expect("the mariadb client runs");
        assert!(
            o.status.success(),
            "SQL failed: {}\n{sql}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).to_string()
    }

    /// Run SQL in this database; rows as tab-separated lines.
    pub fn sql(&self, sql: &str) -> String {
        self.sql_on(Some(&self.name.clone()), sql)
    }

    pub fn count(&self, table: &str) -> usize {
        self.sql(&format!("SELECT COUNT(*) FROM `{table}`"))
            .trim()
            .parse()
            .unwrap()
    }

    /// Env for perf-run: DB_* pointing at this database.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("DB_HOST".into(), self.svc.mysql_host.clone()),
            ("DB_PORT".into(), self.svc.mysql_port.clone()),
            ("DB_USER".into(), self.svc.mysql_user.clone()),
            ("DB_PASSWORD".into(), self.svc.mysql_pass.clone()),
            ("DB_SCHEMA".into(), self.name.clone()),
        ]
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.sql_on(None, &format!("DROP DATABASE IF EXISTS `{}`", self.name))
        }));
    }
}

pub fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish() as u32
}

/// The stand-in TensorRT-LLM checkout.
pub fn stub() -> PathBuf {
    repo().join("tests/stub-trtllm")
}

/// Read a run's summary.json (the only run under `home`).
pub fn only_run(home: &Path) -> PathBuf {
    let runs: Vec<PathBuf> = std::fs::read_dir(home)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("run.json").is_file())
        .collect();
    assert_eq!(
        runs.len(),
        1,
        "expected exactly one run under {}",
        home.display()
    );
    runs[0].clone()
}

pub fn summary(run: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("results/summary.json")).unwrap())
        .unwrap()
}
