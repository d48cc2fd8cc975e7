//! Regression tests for the security review (`reference/reviews/security.md`), one per finding,
//! each built on the review's reproduction. B10 (interrupted uploads) is tested elsewhere.
//! None of these needs the test services: sbatch is a fake that records what it got.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::{perf_run, repo, stub};
use predicates::prelude::*;

const TINY: &str = "tiny_llama_fp8_grace_blackwell";
const SECRET: &str = "S3cretProbe";

/// A directory with a fake `sbatch` that records its arguments and environment and refuses.
fn fake_sbatch(dir: &Path) -> PathBuf {
    let bin = dir.join("fb");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("sbatch");
    std::fs::write(
        &script,
        format!(
            "#!/bin/bash\nprintf '%s\\n' \"$@\" > {0}/sbatch.args\nenv > {0}/sbatch.env\nexit 1\n",
            bin.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

fn path_with(bin: &Path) -> String {
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// `perf-run run --cluster-type local` of the tiny config against the fake sbatch.
fn local_run(t: &Path, bin: &Path, home: &Path) -> assert_cmd::Command {
    let mut c = perf_run();
    c.env("PATH", path_with(bin))
        .env("PERF_RUN_HOME", home)
        .args(["run", "--cluster-type", "local", "--workdir"])
        .arg(t.join("wd"))
        .arg("--trtllm-dir")
        .arg(stub())
        .args(["--config", TINY, "--no-upload"]);
    c
}

#[test]
fn b1_db_password_never_reaches_sbatch() {
    let t = tempfile::tempdir().unwrap();
    let bin = fake_sbatch(t.path());
    local_run(t.path(), &bin, &t.path().join("h"))
        .env("DB_PASSWORD", SECRET)
        .env("SBATCH_EXPORT_X_TOKEN", "tok-123")
        .env("MY_API_TOKEN", "tok-456")
        .env_remove("SBATCH_EXPORT")
        .assert()
        .stderr(predicate::str::contains("sbatch refused the job"));
    let env = std::fs::read_to_string(bin.join("sbatch.env")).unwrap();
    let args = std::fs::read_to_string(bin.join("sbatch.args")).unwrap();
    assert!(!env.contains(SECRET), "the password reached sbatch:\n{env}");
    assert!(!env.contains("tok-"), "a token reached sbatch:\n{env}");
    assert!(env.contains("PATH="), "{env}");
    let export = args
        .lines()
        .find(|l| l.starts_with("--export="))
        .unwrap_or_else(|| panic!("no --export in {args}"));
    assert!(
        export.contains("PATH") && !export.contains("DB_"),
        "{export}"
    );
    // The job's steps get the job's environment (the exports of the batch script).
    let script = args.lines().last().unwrap();
    let text = std::fs::read_to_string(script).unwrap();
    assert!(text.contains("export SLURM_EXPORT_ENV=ALL"), "{text}");
}

#[test]
fn b1_site_sbatch_export_is_respected() {
    let t = tempfile::tempdir().unwrap();
    let bin = fake_sbatch(t.path());
    local_run(t.path(), &bin, &t.path().join("h"))
        .env("DB_PASSWORD", SECRET)
        .env("SBATCH_EXPORT", "NONE")
        .env("SBATCH_PARTITION", "from-the-agent")
        .assert()
        .stderr(predicate::str::contains("sbatch refused the job"));
    let env = std::fs::read_to_string(bin.join("sbatch.env")).unwrap();
    let args = std::fs::read_to_string(bin.join("sbatch.args")).unwrap();
    assert!(env.contains("SBATCH_EXPORT=NONE"), "{env}");
    assert!(!env.contains("SBATCH_PARTITION"), "{env}");
    assert!(!env.contains(SECRET), "{env}");
    assert!(args.lines().any(|l| l == "--export=NONE"), "{args}");
}

#[test]
fn b3_extract_and_render_never_follow_a_planted_temp_link() {
    let t = tempfile::tempdir().unwrap();
    let victim = t.path().join("v");
    std::fs::write(&victim, "PRECIOUS").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = t.path().join("out");
    let o = t.path().join("o");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(&o).unwrap();
    let exe = assert_cmd::cargo::cargo_bin("perf-run");
    // The review's reproduction: the old temp names were `.<name>.tmp-<pid>`.
    let status = std::process::Command::new("bash")
        .arg("-c")
        .arg(r#"ln -s "$1" "$2/.summary.json.tmp-$$"; exec "$3" extract --log "$4" --output-dir "$2""#)
        .arg("bash")
        .arg(&victim)
        .arg(&out)
        .arg(&exe)
        .arg(repo().join(
            "tests/fixtures/trtllm/benchmark-output/benchmark_serving_output_docs_example.txt",
        ))
        .env("SOURCE_DATE_EPOCH", "1761872033")
        .status()
        .unwrap();
    assert!(status.success());
    let status = std::process::Command::new("bash")
        .arg("-c")
        .arg(r#"ln -s "$1" "$2/.slurm_launch.sh.tmp-$$"; exec "$3" render --trtllm-dir "$4" --config tiny_llama_fp8_grace_blackwell --cluster-type local --workdir /tmp/wd --output-dir "$2""#)
        .arg("bash")
        .arg(&victim)
        .arg(&o)
        .arg(&exe)
        .arg(stub())
        .env("PERF_RUN_HOME", t.path().join("h"))
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "PRECIOUS");
    let mode = std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the victim was chmod'ed");
    for f in [out.join("summary.json"), o.join("slurm_launch.sh")] {
        assert!(
            std::fs::symlink_metadata(&f).unwrap().file_type().is_file(),
            "{} is not a plain file",
            f.display()
        );
    }
    let mode = std::fs::metadata(o.join("slurm_launch.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
}

#[test]
fn b4_existing_run_id_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let bin = fake_sbatch(t.path());
    let home = t.path().join("H");
    let victim = t.path().join("victim");
    let vdir = t.path().join("vdir");
    std::fs::write(&victim, "").unwrap();
    std::fs::create_dir_all(&vdir).unwrap();
    std::fs::create_dir_all(home.join("jenkins-42")).unwrap();
    std::os::unix::fs::symlink(&victim, home.join("jenkins-42/journal.jsonl")).unwrap();
    std::os::unix::fs::symlink(&vdir, home.join("jenkins-42/cases")).unwrap();
    local_run(t.path(), &bin, &home)
        .args(["--run-id", "jenkins-42"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "run id `jenkins-42` is already taken",
        ))
        .stderr(predicate::str::contains("perf-run resume"));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "");
    assert_eq!(std::fs::read_dir(&vdir).unwrap().count(), 0);
    // The same --run-id twice (a Jenkins rebuild): the second is refused, the first untouched.
    local_run(t.path(), &bin, &home)
        .args(["--run-id", "dup1"])
        .assert()
        .stderr(predicate::str::contains("sbatch refused the job"));
    let journal = std::fs::read_to_string(home.join("dup1/journal.jsonl")).unwrap();
    local_run(t.path(), &bin, &home)
        .args(["--run-id", "dup1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("already taken"));
    assert_eq!(
        std::fs::read_to_string(home.join("dup1/journal.jsonl")).unwrap(),
        journal
    );
}

#[test]
fn b5_doctor_refuses_smuggled_sbatch_values() {
    let t = tempfile::tempdir().unwrap();
    let bin = fake_sbatch(t.path());
    for (var, value) in [
        (
            "CLUSTER_PARTITION",
            "debug\n#SBATCH --output=/root/.bashrc\ntouch PWN",
        ),
        ("CLUSTER_ACCOUNT", "acct --export=ALL,EVIL=1"),
    ] {
        perf_run()
            .env("PATH", path_with(&bin))
            .env(var, value)
            .args(["doctor", "--cluster-type", "local", "--workdir"])
            .arg(t.path().join("wd"))
            .assert()
            .code(2)
            .stderr(predicate::str::contains("cannot be used"))
            .stderr(predicate::str::contains("\n").count(1));
        assert!(!t.path().join("wd/.perf-run-doctor.sh").exists());
        assert!(!bin.join("sbatch.args").exists());
    }
}

/// A copy of the stub checkout with one disaggregated config edited by `edit`.
fn stub_with_disagg(edit: impl Fn(&str) -> String) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(stub())
        .arg(t.path().join("co"))
        .status()
        .unwrap();
    assert!(status.success());
    let dir = t.path().join("co/tests/scripts/perf-sanity/disaggregated");
    let src = dir.join("gb200_tiny-llama-fp8_1k1k_con8_ctx1_tp1_gen1_tp2_eplb0_mtp0_ccb-UCX.yaml");
    let text = std::fs::read_to_string(src).unwrap();
    std::fs::write(dir.join("hugegen.yaml"), edit(&text)).unwrap();
    t
}

#[test]
fn b6_huge_server_count_is_refused_before_planning() {
    let t = stub_with_disagg(|s| s.replace("num_gen_servers: 1", "num_gen_servers: 4294967295"));
    perf_run()
        .arg("render")
        .arg("--trtllm-dir")
        .arg(t.path().join("co"))
        .args(["--config", "hugegen", "--json"])
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("hardware.num_gen_servers"))
        .stderr(predicate::str::contains("more than the 1024 servers"));
}

#[test]
fn b7_numbers_never_wrap() {
    let t = tempfile::tempdir().unwrap();
    let list = t.path().join("l.txt");
    std::fs::write(
        &list,
        format!("perf/test_perf_sanity.py::test_e2e[aggr_upload-{TINY}] TIMEOUT (18446744073709551615)\n"),
    )
    .unwrap();
    let out = perf_run()
        .arg("render")
        .arg("--trtllm-dir")
        .arg(stub())
        .arg("--testlist")
        .arg(&list)
        .arg("--output-dir")
        .arg(t.path().join("o"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("TIMEOUT (18446744073709551615)") && err.contains("365 days"),
        "{err}"
    );
    let rendered = walk(&t.path().join("o"))
        .into_iter()
        .filter(|p| p.ends_with("slurm_launch.sh"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect::<String>();
    assert!(!rendered.contains("--timeout=60"), "{rendered}");
    for time in ["307445734561825861", "18446744073709551615:00"] {
        perf_run()
            .arg("render")
            .arg("--trtllm-dir")
            .arg(stub())
            .args(["--config", TINY, "--time", time])
            .arg("--output-dir")
            .arg(t.path().join("o2"))
            .assert()
            .code(2)
            .stderr(predicate::str::contains("at most 365 days"));
    }
    for (tp, pp) in [(65536, 65536), (65535, 65535)] {
        let t = stub_with_disagg(|s| {
            s.replacen(
                "tensor_parallel_size: 2",
                &format!("tensor_parallel_size: {tp}"),
                1,
            )
            .replacen(
                "pipeline_parallel_size: 1",
                &format!("pipeline_parallel_size: {pp}"),
                1,
            )
        });
        perf_run()
            .arg("render")
            .arg("--trtllm-dir")
            .arg(t.path().join("co"))
            .args(["--config", "hugegen", "--json"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("worker_config.gen"))
            .stderr(predicate::str::contains("more than the 65536"));
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn b8_deep_k_expression_is_one_line_error() {
    let k = format!("{}x{}", "(".repeat(20000), ")".repeat(20000));
    perf_run()
        .arg("render")
        .arg("--trtllm-dir")
        .arg(stub())
        .arg("--testlist")
        .arg(repo().join("tests/fixtures/trtllm/jenkins-testlists/debug_cases.txt"))
        .arg("-k")
        .arg(k)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("-k expression"))
        .stderr(predicate::str::contains("\n").count(1));
}

#[test]
fn b9_echoed_input_is_escaped_and_cut() {
    for args in [
        vec![
            "--config".to_string(),
            "nope\x1b[2J\x1b[31m\nperf-run: all good".to_string(),
        ],
        vec![
            "--config".to_string(),
            TINY.to_string(),
            "--cluster".to_string(),
            "x\x1b[31m\nline2".to_string(),
        ],
        vec!["--config".to_string(), "y".repeat(100_000)],
    ] {
        let out = perf_run()
            .arg("render")
            .arg("--trtllm-dir")
            .arg(stub())
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains('\x1b'), "{err:?}");
        assert_eq!(err.matches('\n').count(), 1, "{err:?}");
        assert!(err.len() < 2500, "{} bytes", err.len());
    }
    perf_run()
        .env("PERF_TEST_MODULE", "a\x1b[31m.py")
        .arg("render")
        .arg("--trtllm-dir")
        .arg(stub())
        .args(["--config", TINY])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("PERF_TEST_MODULE"))
        .stderr(predicate::str::contains("\\u{1b}"))
        .stderr(predicate::str::contains("\x1b").not());
}

fn upload_dry(csv: &str) -> assert_cmd::assert::Assert {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("m.csv");
    std::fs::write(&p, csv).unwrap();
    perf_run()
        .env("PERF_RUN_HOME", t.path())
        .args(["upload", "--write-db", "no", "--source-metric-csv"])
        .arg(&p)
        .assert()
}

#[test]
fn b11_ambiguous_or_negative_csv_values_are_not_uploaded() {
    upload_dry(
        "network_name,test_name,perf_metric,state,command,metric_type,perf_metric\n\
         n1,t1,1.0,valid,c,INFERENCE_TIME,999\n",
    )
    .code(2)
    .stderr(predicate::str::contains("`perf_metric` twice"));
    upload_dry(
        "network_name,test_name,perf_metric,state,command,metric_type\n\
         n1,t1,-5,valid,c,INFERENCE_TIME\n\
         n2,t2,7,valid,c,INFERENCE_TIME\n",
    )
    .success()
    .stderr(predicate::str::contains("line 2"))
    .stderr(predicate::str::contains("is negative"))
    .stdout(predicate::str::contains("-5.0").not());
}

#[test]
fn b12_unterminated_quote_is_a_syntax_error_with_its_line() {
    let mut csv =
        String::from("network_name,test_name,perf_metric,state,command,metric_type\nx,\"x\n");
    for _ in 0..200_000 {
        csv.push_str("filler line of the rest of the file\n");
    }
    upload_dry(&csv)
        .code(2)
        .stderr(predicate::str::contains("line 2"))
        .stderr(predicate::str::contains("never closed"));
}

#[test]
fn b13_percent_in_the_work_directory_is_refused() {
    let t = tempfile::tempdir().unwrap();
    perf_run()
        .arg("render")
        .arg("--trtllm-dir")
        .arg(stub())
        .args([
            "--config",
            TINY,
            "--workdir",
            "/scratch/%u/wd",
            "--output-dir",
        ])
        .arg(t.path().join("o"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("contains `%`"));
    assert!(!t.path().join("o/slurm_launch.sh").exists());
}

#[tokio::test]
async fn b2_collected_symlinks_never_lead_out_of_the_artifacts() {
    use perf_run::journal::events::{CaseRef, Journal};
    let t = tempfile::tempdir().unwrap();
    let secret = t.path().join("git-credentials");
    std::fs::write(&secret, "LOCALSECRET-lastline-789\n").unwrap();
    let xml = t.path().join("local.xml");
    std::fs::write(
        &xml,
        "<testsuite><system-out>LOCALSECRET-xml-456</system-out></testsuite>",
    )
    .unwrap();
    // The job workspace, as code under test leaves it.
    let ws = t.path().join("ws");
    std::fs::create_dir_all(ws.join("case")).unwrap();
    std::fs::write(ws.join("case/real.log"), "ok\n").unwrap();
    std::os::unix::fs::symlink(&secret, ws.join("case/trtllm-benchmark.1.0.log")).unwrap();
    std::os::unix::fs::symlink(&xml, ws.join("results.xml")).unwrap();
    std::os::unix::fs::symlink("../../git-credentials", ws.join("case/rel.log")).unwrap();
    std::os::unix::fs::symlink("real.log", ws.join("case/inside.log")).unwrap();
    let local = t.path().join("cases/00-x");
    std::fs::create_dir_all(&local).unwrap();
    let journal = Journal::open(&t.path().join("journal.jsonl")).unwrap();
    let case = CaseRef {
        index: 0,
        case_dir: "00-x".into(),
        test_id: "t".into(),
        case_name: "x".into(),
        mode: Some(perf_run::plan::Mode::SingleAgg),
        job_name: "j".into(),
        remote_workspace: ws.display().to_string(),
        skip: None,
    };
    let remote = perf_run::remote::LocalRemote::new();
    perf_run::watch::collect::collect_case(&remote, &journal, &case, &local, "1").await;
    let art = local.join("artifacts");
    assert!(art.join("case/real.log").is_file());
    for f in [
        "results.xml",
        "case/trtllm-benchmark.1.0.log",
        "case/rel.log",
    ] {
        assert!(
            std::fs::symlink_metadata(art.join(f)).is_err(),
            "{f} was collected"
        );
    }
    assert_eq!(
        std::fs::read_to_string(art.join("case/inside.log")).unwrap(),
        "ok\n"
    );
    let mut all = String::new();
    for p in walk(&art) {
        all.push_str(&std::fs::read_to_string(p).unwrap_or_default());
    }
    assert!(!all.contains("LOCALSECRET"), "{all}");
}
