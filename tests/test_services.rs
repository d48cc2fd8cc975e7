//! Smoke tests of the wiring between `.ci/run`, `scripts/test-cluster` and the test binaries:
//! the services' settings reach the tests through the environment, and the services answer the
//! way a cluster profile for them says (`slurm-login`, user `perfci`, partition `debug`,
//! 4 nodes x 4 GPUs). The module names put them in the nextest groups `cluster` and `db`
//! (`.config/nextest.toml`).
//!
//! Without the settings (`eval "$(scripts/test-cluster env)"` not done) they skip, except under
//! `CI=true`, where a missing setting is a broken `.ci/run` and fails.

use std::process::{Command, Stdio};

/// The value of a `PERFCI_*` setting, or `None` when the services' settings are not loaded.
fn setting(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(value) => Some(value),
        Err(_) if std::env::var("CI").as_deref() == Ok("true") => panic!(
            "{name} is not set although CI=true: .ci/run must run \
             'eval \"$(scripts/test-cluster env)\"' before the tests"
        ),
        Err(_) => {
            eprintln!(
                "skipped: {name} is not set; start the services with \
                 'scripts/test-cluster up' and load them with 'eval \"$(scripts/test-cluster env)\"'"
            );
            None
        }
    }
}

/// Run a command with no stdin; return its stdout, or panic with its stderr.
fn run(cmd: &mut Command) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("could not start {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("command output is UTF-8")
}

/// `ssh <alias> <one pre-quoted command string>`, the way perf-run calls the login node.
fn ssh(alias: &str, remote_command: &str) -> String {
    run(Command::new("ssh").args(["-n", alias, remote_command]))
}

mod cluster {
    use super::*;

    #[test]
    fn ssh_alias_logs_in_as_the_test_user_with_a_writable_workdir() {
        let (Some(alias), Some(user), Some(workdir)) = (
            setting("PERFCI_SSH_ALIAS"),
            setting("PERFCI_USER"),
            setting("PERFCI_WORKDIR"),
        ) else {
            return;
        };
        let out = ssh(
            &alias,
            &format!("id -un && test -d '{workdir}' && test -w '{workdir}' && echo writable"),
        );
        assert_eq!(out, format!("{user}\nwritable\n"));
    }

    #[test]
    fn partition_has_the_advertised_nodes_and_gpus() {
        let (Some(alias), Some(partition), Some(nodes), Some(gpus)) = (
            setting("PERFCI_SSH_ALIAS"),
            setting("PERFCI_SLURM_PARTITION"),
            setting("PERFCI_SLURM_NODES"),
            setting("PERFCI_GPUS_PER_NODE"),
        ) else {
            return;
        };
        let out = ssh(&alias, &format!("sinfo -h -N -p '{partition}' -o '%N %G'"));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines.len().to_string(),
            nodes,
            "nodes in {partition}: {out}"
        );
        for line in lines {
            assert!(
                line.ends_with(&format!("gpu:{gpus}")),
                "node without {gpus} GPUs: {line}"
            );
        }
    }
}

mod db {
    use super::*;

    #[test]
    fn test_user_can_create_and_drop_a_database_of_its_own() {
        let (Some(host), Some(port), Some(user), Some(pass), Some(db)) = (
            setting("PERFCI_MYSQL_HOST"),
            setting("PERFCI_MYSQL_PORT"),
            setting("PERFCI_MYSQL_USER"),
            setting("PERFCI_MYSQL_PASS"),
            setting("PERFCI_MYSQL_DB"),
        ) else {
            return;
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .subsec_nanos();
        let test_db = format!("{db}_t_{}_{nanos}", std::process::id());
        let sql = format!(
            "CREATE DATABASE `{test_db}`; CREATE TABLE `{test_db}`.t (i INT); \
             INSERT INTO `{test_db}`.t VALUES (42); SELECT i FROM `{test_db}`.t; \
             DROP DATABASE `{test_db}`;"
        );
        // The password goes through the environment, never argv.
        let out = run(Command::new("mariadb")
            .env("MYSQL_PWD", pass)
            .args(["--protocol=TCP", "-h", &host, "-P", &port, "-u", &user])
            .args(["-N", "-B", "-e", &sql]));
        assert_eq!(out, "42\n");
    }
}
