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
    t
}

/// `perf-run` with a clean, deterministic environment (no host CLUSTER_* leaking in).
pub fn perf_run() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("perf-run").unwrap();
    for (k, _) in std::env::vars() {
        if k.starts_with("CLUSTER_")
            || k.starts_with("PERF_TEST_")
            || k.starts_with("PERF_RUN_")
            || k.starts_with("DB_")
            || [
                "TRTLLM_DIR",
                "DOCKER_IMAGE",
                "MPI_TYPE",
                "EXTRA_SRUN_PARAMS",
                "USE_TRT_PERF_DB",
            ]
            .contains(&k.as_str())
        {
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
