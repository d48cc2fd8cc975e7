//! ssh as the user configured it: a cluster profile that names only the ssh alias
//! (`slurm-login` in the test services' ssh config, whose `User` is `perfci`) and no user.
//! perf-run must log in as the alias says (no `-l`, no `User=` of its own), and `{user}` in the
//! work directory must be `perfci` already in a dry run, not the local account name.
//!
//! A stand-in `ssh` first in PATH records every ssh command line and runs the real ssh.
//! Without the services (`scripts/test-cluster up`) the tests print a loud skip message and
//! pass, except under `CI=true`, where they fail.

mod common;

mod cluster {
    use std::path::{Path, PathBuf};

    use super::common::{env_file_value, perf_run, services, stub};

    const TINY: &str = "tiny_llama_fp8_grace_blackwell";

    struct Setup {
        _dir: tempfile::TempDir,
        profile: PathBuf,
        log: PathBuf,
        path: String,
        control: PathBuf,
    }

    /// The services' ssh config ($PERFCI_SSH_CONFIG, or the services' env file).
    fn ssh_config() -> String {
        std::env::var("PERFCI_SSH_CONFIG")
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| {
                let text = std::fs::read_to_string("/tmp/perfci-svc/env").unwrap_or_default();
                env_file_value(&text, "PERFCI_SSH_CONFIG")
            })
            .expect("PERFCI_SSH_CONFIG is set by the test services")
    }

    fn setup() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let real = which_ssh();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let log = dir.path().join("ssh.log");
        let wrapper = bin.join("ssh");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/bash\nprintf '%s\\n' \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
                log.display(),
                real.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        // No `user:`: the ssh alias alone decides who logs in.
        let profile = dir.path().join("clusters.yaml");
        std::fs::write(
            &profile,
            format!(
                "clusters:\n  alias-only:\n    host: slurm-login\n    ssh_config: {}\n    type: ssh\n    workdir: /home/{{user}}/perf-run\n    partition: debug\n    account: \"\"\n    docker_image: \"\"\n    mpi_type: none\n    gpus_per_node: 4\n    nodes: 4\n    gpu: TEST\n    time: \"00:10:00\"\n",
                ssh_config()
            ),
        )
        .unwrap();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let control = dir.path().join("c");
        Setup {
            _dir: dir,
            profile,
            log,
            path,
            control,
        }
    }

    fn which_ssh() -> PathBuf {
        std::env::var("PATH")
            .unwrap_or_default()
            .split(':')
            .map(|d| Path::new(d).join("ssh"))
            .find(|p| p.is_file())
            .expect("an ssh client")
    }

    /// perf-run `sub` with the alias-only profile, no CLUSTER_USER and a local name that is
    /// not the cluster's.
    fn perf_run_as(s: &Setup, sub: &[&str]) -> std::process::Output {
        perf_run()
            .env_remove("CLUSTER_USER")
            .env("USER", "not-perfci")
            .env("LOGNAME", "not-perfci")
            .env("PATH", &s.path)
            .env("PERF_RUN_SSH_CONTROL_DIR", &s.control)
            .args(sub)
            .arg("--clusters-file")
            .arg(&s.profile)
            .args(["--cluster", "alias-only"])
            .timeout(std::time::Duration::from_secs(120))
            .output()
            .unwrap()
    }

    fn ssh_lines(s: &Setup) -> Vec<String> {
        std::fs::read_to_string(&s.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn dry_run_work_dir_user_comes_from_the_ssh_config() {
        let Some(_svc) = services("ssh_user_dry_run") else {
            return;
        };
        let s = setup();
        let stub = stub();
        let o = perf_run_as(
            &s,
            &[
                "run",
                "--dry-run",
                "--trtllm-dir",
                stub.to_str().unwrap(),
                "--config",
                TINY,
                "--server",
                "tiny_llama_fp8_tp1",
            ],
        );
        let out = String::from_utf8_lossy(&o.stdout);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{err}");
        assert!(
            out.contains("export jobWorkspace=/home/perfci/perf-run/runs/"),
            "{out}"
        );
        assert!(!out.contains("not-perfci"), "{out}");
        // ssh was asked offline, with the same config file, and nothing connected.
        let lines = ssh_lines(&s);
        assert_eq!(
            lines,
            [format!("-F {} -G -- slurm-login", ssh_config())],
            "{lines:?}"
        );
    }

    #[test]
    fn ssh_logs_in_without_a_user_of_perf_runs_own() {
        let Some(_svc) = services("ssh_user_connect") else {
            return;
        };
        let s = setup();
        let o = perf_run_as(&s, &["doctor"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{err}");
        assert!(
            err.contains("user perfci from the ssh config"),
            "the origin of the user is recorded: {err}"
        );
        assert!(err.contains("work dir /home/perfci/perf-run"), "{err}");
        let lines = ssh_lines(&s);
        // The -G question, then the master connection (and maybe control commands).
        let master: Vec<&String> = lines.iter().filter(|l| !l.contains(" -G ")).collect();
        assert!(!master.is_empty(), "{lines:?}");
        for l in &master {
            assert!(!l.split_whitespace().any(|w| w == "-l"), "no -l: {l}");
            assert!(!l.contains("User="), "no User= option: {l}");
            assert!(!l.contains("perfci@") && !l.contains("not-perfci"), "{l}");
            assert!(
                l.contains(&format!("-F {}", ssh_config())),
                "same config: {l}"
            );
        }
    }
}
