//! The precedence rules of `resolve`, without the process environment or ssh.

use super::*;
use std::collections::HashMap;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let m: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| m.get(k).cloned()
}

/// `resolve` without asking the real ssh: its config "says" nothing.
fn res(o: &Overrides, env: Env) -> Result<Settings, ConfigError> {
    resolve_with(o, env, &|_, _| Err("no ssh in unit tests".into()))
}

fn builtin_args(cluster: Option<&str>) -> Overrides {
    Overrides {
        cluster: cluster.map(str::to_string),
        clusters_file: Some(PathBuf::from("configs/clusters.yaml")),
        ..Default::default()
    }
}

#[test]
fn stall_time_is_flag_then_env_then_600_and_bad_values_are_refused() {
    let base = builtin_args(Some("gb200"));
    let s = res(&base, &env_of(&[("USER", "me")])).unwrap();
    assert_eq!(s.stall_s, 600);
    let env = env_of(&[("USER", "me"), ("PERF_RUN_STALL_S", " 90 ")]);
    assert_eq!(res(&base, &env).unwrap().stall_s, 90);
    let flag = Overrides {
        stall_after: Some(5),
        ..base.clone()
    };
    assert_eq!(res(&flag, &env).unwrap().stall_s, 5, "the flag wins");
    for bad in ["0", "ten", "-3", "1.5", "604801"] {
        let pairs = [("USER", "me"), ("PERF_RUN_STALL_S", bad)];
        let env = env_of(&pairs);
        let e = res(&base, &env).unwrap_err().to_string();
        assert!(e.contains("PERF_RUN_STALL_S=`"), "{bad}: {e}");
    }
    let zero = Overrides {
        stall_after: Some(0),
        ..base
    };
    let e = res(&zero, &env_of(&[("USER", "me")]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("--stall-after 0"), "{e}");
}

#[test]
fn requeue_is_flag_then_profile_then_no() {
    let env = env_of(&[("USER", "me")]);
    let s = res(&builtin_args(Some("gb200")), &env).unwrap();
    assert!(!s.requeue, "default --no-requeue");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clusters.yaml");
    std::fs::write(
        &file,
        "clusters:\n  c:\n    host: h\n    workdir: /w\n    requeue: true\n",
    )
    .unwrap();
    let mut args = Overrides {
        cluster: Some("c".into()),
        clusters_file: Some(file),
        ..Default::default()
    };
    assert!(res(&args, &env).unwrap().requeue, "profile requeue: true");
    args.requeue = Some(false);
    assert!(!res(&args, &env).unwrap().requeue, "--no-requeue wins");
    args.requeue = Some(true);
    assert!(res(&args, &env).unwrap().requeue);
}

#[test]
fn flag_beats_env_beats_profile_beats_default() {
    let env = env_of(&[("CLUSTER_PARTITION", "from-env"), ("USER", "me")]);
    let mut args = builtin_args(Some("gb200"));
    let s = res(&args, &env).unwrap();
    assert_eq!(s.partition.as_deref(), Some("from-env"));
    assert_eq!(s.origins["CLUSTER_PARTITION"], Source::Env);
    // profile value
    assert_eq!(s.account.as_deref(), Some("coreai_comparch_trtllm"));
    assert_eq!(s.origins["CLUSTER_ACCOUNT"], Source::Profile);
    // flag wins
    args.partition = Some("from-flag".into());
    let s = res(&args, &env).unwrap();
    assert_eq!(s.partition.as_deref(), Some("from-flag"));
    assert_eq!(s.origins["CLUSTER_PARTITION"], Source::Flag);
    // default when nothing else
    let s = res(&builtin_args(None), &env_of(&[("USER", "u")])).unwrap();
    assert_eq!(s.partition.as_deref(), Some(DEFAULT_PARTITION));
    assert_eq!(s.origins["CLUSTER_PARTITION"], Source::Default);
    assert_eq!(s.module, DEFAULT_MODULE);
    assert_eq!(s.function, DEFAULT_FUNCTION);
    assert_eq!(s.prefix, None);
}

#[test]
fn empty_env_is_unset_but_empty_profile_is_nothing() {
    let env = env_of(&[("DOCKER_IMAGE", ""), ("USER", "u")]);
    let s = res(&builtin_args(Some("local-test")), &env).unwrap();
    assert_eq!(s.docker_image, None, "profile says \"\": no container");
    assert_eq!(s.account, None);
    assert_eq!(s.mpi_type, None, "mpi_type none means no --mpi");
    let s = res(&builtin_args(Some("gb200")), &env).unwrap();
    assert_eq!(s.docker_image.as_deref(), Some(DEFAULT_IMAGE));
}

#[test]
fn test_id_parts_from_env() {
    let env = env_of(&[
        ("PERF_TEST_MODULE", "perf/test_perf_qa.py"),
        ("PERF_TEST_FUNCTION", "test_x"),
        ("PERF_TEST_PREFIX", "disagg"),
        ("USER", "u"),
    ]);
    let s = res(&builtin_args(None), &env).unwrap();
    assert_eq!(s.module, "perf/test_perf_qa.py");
    assert_eq!(s.function, "test_x");
    assert_eq!(s.prefix.as_deref(), Some("disagg"));
    let sel = Overrides {
        prefix: Some("aggr".into()),
        ..builtin_args(None)
    };
    assert_eq!(res(&sel, &env).unwrap().prefix.as_deref(), Some("aggr"));
}

#[test]
fn workdir_user_placeholder() {
    let env = env_of(&[("CLUSTER_USER", "alice")]);
    let s = res(&builtin_args(Some("gb200")), &env).unwrap();
    assert_eq!(s.workdir, "/home/alice/jenkins_trtllm_perf");
    // Without CLUSTER_USER/USER the local account name from /etc/passwd is used.
    let s = res(&builtin_args(Some("gb200")), &env_of(&[])).unwrap();
    assert!(s.workdir.starts_with("/home/") && !s.workdir.contains("{user}"));
}

#[test]
fn user_from_the_ssh_config_unless_one_is_configured() {
    // The laptop case: ~/.ssh/config says `User alice` for the alias, the local name is bob.
    let asked = std::cell::RefCell::new(Vec::new());
    let ssh = |host: &str, cfg: Option<&Path>| {
        asked
            .borrow_mut()
            .push((host.to_string(), cfg.map(Path::to_path_buf)));
        Ok("alice".to_string())
    };
    let env = env_of(&[("USER", "bob")]);
    let s = resolve_with(&builtin_args(Some("gb200")), &env, &ssh).unwrap();
    assert_eq!(s.user.as_deref(), Some("alice"));
    assert_eq!(s.ssh_user, None, "nothing configured: no -l for ssh");
    assert_eq!(s.workdir, "/home/alice/jenkins_trtllm_perf");
    assert_eq!(s.origins["CLUSTER_USER"], Source::SshConfig);
    assert_eq!(
        asked.borrow().as_slice(),
        [("oci-hsg-cs-001-login-01".to_string(), None)]
    );
    // The same -F file perf-run gives ssh is given to `ssh -G`.
    asked.borrow_mut().clear();
    let env = env_of(&[("USER", "bob"), ("CLUSTER_SSH_CONFIG", "/x/ssh_config")]);
    let s = resolve_with(&builtin_args(Some("gb200")), &env, &ssh).unwrap();
    assert_eq!(s.ssh_config, Some(PathBuf::from("/x/ssh_config")));
    assert_eq!(asked.borrow()[0].1, Some(PathBuf::from("/x/ssh_config")));
    // A configured user (env, flag, profile) is passed to ssh and ssh is not asked.
    asked.borrow_mut().clear();
    let env = env_of(&[("USER", "bob"), ("CLUSTER_USER", "carol")]);
    let s = resolve_with(&builtin_args(Some("gb200")), &env, &ssh).unwrap();
    assert_eq!(s.user.as_deref(), Some("carol"));
    assert_eq!(s.ssh_user.as_deref(), Some("carol"));
    assert_eq!(s.origins["CLUSTER_USER"], Source::Env);
    let mut args = builtin_args(Some("local-test"));
    let s = resolve_with(&args, &env_of(&[("USER", "bob")]), &ssh).unwrap();
    assert_eq!(s.ssh_user.as_deref(), Some("perfci"));
    assert_eq!(s.origins["CLUSTER_USER"], Source::Profile);
    args.user = Some("dave".into());
    let s = resolve_with(&args, &env_of(&[]), &ssh).unwrap();
    assert_eq!(s.ssh_user.as_deref(), Some("dave"));
    assert_eq!(s.origins["CLUSTER_USER"], Source::Flag);
    assert!(asked.borrow().is_empty());
    // Cluster type local: no ssh at all, the local account.
    let s = resolve_with(
        &builtin_args(Some("gb300")),
        &env_of(&[("USER", "bob")]),
        &ssh,
    )
    .unwrap();
    assert_eq!(s.user.as_deref(), Some("bob"));
    assert_eq!(s.ssh_user, None);
    assert_eq!(s.origins["CLUSTER_USER"], Source::LocalAccount);
    assert!(asked.borrow().is_empty());
    // ssh cannot be asked (not installed, bad config): the local name, still no -l.
    let s = resolve_with(
        &builtin_args(Some("gb200")),
        &env_of(&[("USER", "bob")]),
        &|_, _| Err("no ssh".into()),
    )
    .unwrap();
    assert_eq!(s.user.as_deref(), Some("bob"));
    assert_eq!(s.ssh_user, None);
    assert_eq!(s.origins["CLUSTER_USER"], Source::LocalAccount);
}

#[test]
fn bad_values_are_explained() {
    let env = env_of(&[("CLUSTER_TYPE", "slurm"), ("USER", "u")]);
    let err = res(&builtin_args(None), &env).unwrap_err();
    let msg = format!("{err}");
    assert!(
        msg.contains("CLUSTER_TYPE") && msg.contains("slurm"),
        "{msg}"
    );
    let mut args = builtin_args(None);
    args.time = Some("soon".into());
    let err = res(&args, &env_of(&[("USER", "u")])).unwrap_err();
    assert!(format!("{err}").contains("soon"));
}

#[test]
fn install_is_flag_then_env_then_auto_and_a_wheel_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let wheel = dir.path().join("tensorrt_llm-1.0-py3-none-any.whl");
    std::fs::write(&wheel, "").unwrap();
    let with_wheel = Overrides {
        trtllm_wheel: Some(wheel.clone()),
        ..builtin_args(None)
    };
    let user = ("USER", "u");
    let s = res(&with_wheel, &env_of(&[user])).unwrap();
    assert_eq!(
        s.install,
        Some(Wheel {
            path: wheel.clone(),
            source: "--trtllm-wheel"
        })
    );
    // PERF_RUN_INSTALL=none keeps the image's own build; the flag wins over it.
    let pairs = [user, ("PERF_RUN_INSTALL", "none")];
    let none_env = env_of(&pairs);
    assert_eq!(res(&with_wheel, &none_env).unwrap().install, None);
    let auto_flag = Overrides {
        install: Some(InstallMode::Auto),
        ..with_wheel.clone()
    };
    assert!(res(&auto_flag, &none_env).unwrap().install.is_some());
    let e = res(&with_wheel, &env_of(&[user, ("PERF_RUN_INSTALL", "maybe")]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "PERF_RUN_INSTALL=`maybe` is not an install mode; use auto or none"
    );
    let missing = Overrides {
        trtllm_wheel: Some(dir.path().join("gone.whl")),
        ..builtin_args(None)
    };
    let e = res(&missing, &env_of(&[user])).unwrap_err().to_string();
    assert!(
        e.starts_with("--trtllm-wheel ") && e.contains("is not a wheel file"),
        "{e}"
    );
}
