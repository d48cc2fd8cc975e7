//! The generated batch script's way out, run by bash on this machine with stand-ins for
//! `srun` and `scontrol` (no cluster needed): what Slurm does at a time limit or `scancel`
//! is a SIGTERM to the script and its steps, then, KillWait seconds later, a SIGKILL to
//! whatever is left. The exit marker must exist by then, even when a step ignores SIGTERM.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn write_exe(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < end, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_exit_marker_is_written_before_slurm_kills_the_script() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let wd = t.path().join("wd");
    let st = Command::new(assert_cmd::cargo::cargo_bin("perf-run"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PERF_RUN_HOME", t.path().join("runs"))
        .args(["render", "--cluster", "local-test", "--workdir"])
        .arg(&wd)
        .args(["--trtllm-dir", "tests/stub-trtllm"])
        .args(["--config", "tiny_llama_fp8_grace_blackwell"])
        .args(["--server", "tiny_llama_fp8_tp1", "--output-dir"])
        .arg(&out)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "render failed");

    // A step that shrugs off SIGTERM (a worker stuck in a CUDA call, an srun waiting for its
    // tasks): only SIGKILL ends it.
    let bin = t.path().join("bin");
    fs::create_dir(&bin).unwrap();
    let started = t.path().join("step-started");
    write_exe(
        &bin.join("srun"),
        &format!(
            "#!/bin/bash\ntrap '' TERM\ntouch '{}'\nfor _ in $(seq 1 600); do sleep 0.1; done\n",
            started.display()
        ),
    );
    write_exe(&bin.join("scontrol"), "#!/bin/bash\necho n1\n");

    let child = Command::new("setsid")
        .arg("bash")
        .arg(out.join("slurm_launch.sh"))
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("SLURM_JOB_ID", "4242")
        .env("SLURM_JOB_NODELIST", "n1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the step to start", Duration::from_secs(20), || {
        started.exists()
    });
    let pid = child.id() as i32;
    // SAFETY: signals to the process group of a child we spawned (setsid made it a leader).
    unsafe { libc::kill(-pid, libc::SIGTERM) };
    // KillWait: 2 s here (5 s on the test cluster, 30 s by default).
    std::thread::sleep(Duration::from_secs(2));
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    let output = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stdout);

    let marker = fs::read_dir(wd.join("runs"))
        .unwrap()
        .flatten()
        .flat_map(|run| fs::read_dir(run.path()).unwrap().flatten())
        .map(|case| case.path().join("perf_run_exit"))
        .next()
        .expect("a job workspace");
    let text = fs::read_to_string(&marker).unwrap_or_else(|_| {
        panic!(
            "no exit marker {} after SIGTERM + KillWait; the script printed:\n{log}",
            marker.display()
        )
    });
    assert_eq!(text.split_whitespace().next(), Some("143"), "{text}");
    assert!(log.contains("PERF_RUN_EXIT code=143 job=4242"), "{log}");
}
