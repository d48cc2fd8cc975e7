//! `perf-run run` checks every setting before it touches the network: a wrong value ends with
//! exit 2 and one sentence, no run directory, and no ssh attempt (the host here does not
//! resolve, so reaching the network would be exit 4).

mod common;

use common::perf_run;
use predicates::prelude::*;

fn run(home: &std::path::Path, env: &[(&str, &str)], extra: &[&str]) -> assert_cmd::assert::Assert {
    let mut c = perf_run();
    for k in [
        "USE_TRT_PERF_DB",
        "DB_HOST",
        "DB_USER",
        "DB_PASSWORD",
        "MPI_TYPE",
    ] {
        c.env_remove(k);
    }
    c.env("PERF_RUN_HOME", home)
        .envs(env.iter().copied())
        .args([
            "run",
            "--cluster",
            "local-test",
            "--host",
            "no-such-host.invalid",
        ])
        .args(["--trtllm-dir", "tests/stub-trtllm"])
        .args(["--config", "tiny_llama_fp8_grace_blackwell"])
        .args(["--server", "tiny_llama_fp8_tp1"])
        .args(extra)
        .assert()
}

fn refused(env: &[(&str, &str)], extra: &[&str], says: &str) {
    let home = tempfile::tempdir().unwrap();
    run(home.path(), env, extra)
        .code(2)
        .stderr(predicate::str::contains(says))
        .stderr(predicate::str::contains("ssh").not());
    assert_eq!(
        std::fs::read_dir(home.path())
            .map(|d| d.count())
            .unwrap_or(0),
        0,
        "a run directory was created"
    );
}

#[test]
fn upload_without_a_database_is_refused_before_submission() {
    refused(&[], &["--upload"], "No database host is configured");
    refused(
        &[("USE_TRT_PERF_DB", "true"), ("DB_HOST", "db")],
        &[],
        "No database user is configured",
    );
    refused(
        &[
            ("USE_TRT_PERF_DB", "1"),
            ("DB_HOST", "db"),
            ("DB_USER", "perf"),
        ],
        &[],
        "No database password is configured",
    );
}

#[test]
fn a_misspelt_use_trt_perf_db_is_refused_not_read_as_no() {
    refused(&[("USE_TRT_PERF_DB", "tru")], &[], "USE_TRT_PERF_DB=`tru`");
    refused(
        &[("USE_TRT_PERF_DB", "tru")],
        &["--dry-run"],
        "USE_TRT_PERF_DB=`tru`",
    );
}

#[test]
fn max_pending_and_mpi_are_checked_first_even_in_a_dry_run() {
    refused(
        &[],
        &["--max-pending", "banana"],
        "`banana` is not a duration",
    );
    refused(
        &[],
        &["--max-pending", "banana", "--dry-run"],
        "`banana` is not a duration",
    );
    refused(
        &[],
        &["--mpi", "pmiX"],
        "MPI_TYPE `pmiX` is not an srun MPI plugin",
    );
    refused(
        &[("MPI_TYPE", "pmix v4")],
        &["--dry-run"],
        "is not an srun MPI plugin",
    );
}

#[test]
fn pacing_durations_are_checked_not_silently_defaulted() {
    for bad in ["banana", "0", "-5", "inf", "1e30"] {
        refused(
            &[("PERF_RUN_POLL_MIN", bad)],
            &["--dry-run"],
            &format!("PERF_RUN_POLL_MIN=`{bad}` is not a number of seconds"),
        );
    }
    refused(
        &[("PERF_RUN_MARKER_GRACE", "soon")],
        &[],
        "PERF_RUN_MARKER_GRACE=`soon`",
    );
}

#[test]
fn valid_values_pass_the_checks() {
    let home = tempfile::tempdir().unwrap();
    for mpi in ["none", "pmi2", "pmix", "pmix_v4", "cray_shasta"] {
        run(
            home.path(),
            &[("USE_TRT_PERF_DB", "no")],
            &["--dry-run", "--mpi", mpi, "--max-pending", "30m"],
        )
        .success();
    }
}
