//! The help matches behaviour (issue #12 item 6): examples per subcommand, the exit-code table in
//! `run --help`, `--quiet`, `--color`, kebab-case database flags with hidden legacy aliases.

mod common;

use common::perf_run;

fn help(sub: &str) -> String {
    let out = perf_run().args([sub, "--help"]).assert().success();
    String::from_utf8_lossy(&out.get_output().stdout).to_string()
}

#[test]
fn subcommands_have_examples_and_run_has_the_exit_codes() {
    for sub in [
        "render", "run", "submit", "status", "logs", "resume", "doctor", "extract", "upload",
    ] {
        let h = help(sub);
        assert!(
            h.contains("Examples:\n  "),
            "{sub} --help has examples:\n{h}"
        );
        for line in h.lines() {
            assert!(
                line.chars().count() <= 100,
                "{sub}: a help line wider than 100 columns: {line}"
            );
        }
    }
    let run = help("run");
    for code in [
        "  0 ",
        "  1 ",
        "  2 ",
        "  3 ",
        "  4 ",
        "  5 ",
        "  6 ",
        "  7 ",
        "129 / 130 / 143",
    ] {
        assert!(
            run.contains(code),
            "run --help lists exit code {code}:\n{run}"
        );
    }
    assert!(run.contains("--gate pre_merge"), "{run}");
    // The README table and the help agree on the codes.
    let readme = std::fs::read_to_string(common::repo().join("README.md")).unwrap();
    for code in [
        "| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 4 |", "| 5 |", "| 6 |", "| 7 |",
    ] {
        assert!(readme.contains(code), "README exit-code table has {code}");
    }
}

#[test]
fn quiet_drops_progress_but_keeps_errors() {
    let home = tempfile::tempdir().unwrap();
    let loud = perf_run()
        .env("PERF_RUN_HOME", home.path())
        .args(["runs"])
        .assert()
        .success();
    assert!(
        !loud.get_output().stderr.is_empty(),
        "without -q a message is printed"
    );
    let quiet = perf_run()
        .env("PERF_RUN_HOME", home.path())
        .args(["-q", "runs"])
        .assert()
        .success();
    assert!(
        quiet.get_output().stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&quiet.get_output().stderr)
    );
    let err = perf_run()
        .env("PERF_RUN_HOME", home.path())
        .args(["--quiet", "status", "no-such-run"])
        .assert()
        .failure();
    let text = String::from_utf8_lossy(&err.get_output().stderr).to_string();
    assert!(
        text.contains("error:"),
        "an error is still printed with --quiet: {text}"
    );
    perf_run().args(["-q", "-v", "runs"]).assert().code(2);
}

#[test]
fn color_follows_the_flag_and_the_stream() {
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = perf_run();
        c.env("PERF_RUN_HOME", home.path()).args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.assert().success();
        String::from_utf8_lossy(&out.get_output().stderr).to_string()
    };
    // Not a terminal: no colour by default.
    assert!(!run(&["runs"], &[]).contains('\u{1b}'));
    assert!(run(&["--color", "always", "runs"], &[]).contains("\u{1b}["));
    assert!(!run(&["--color", "never", "runs"], &[("CLICOLOR_FORCE", "1")]).contains('\u{1b}'));
    // auto honours CLICOLOR_FORCE like other tools.
    assert!(run(&["runs"], &[("CLICOLOR_FORCE", "1")]).contains("\u{1b}["));
    // PERF_RUN_TIMESTAMPS=0 drops the line stamp without a terminal.
    assert!(run(&["runs"], &[]).starts_with('['));
    assert!(run(&["runs"], &[("PERF_RUN_TIMESTAMPS", "0")]).starts_with("perf-run:"));
}

#[test]
fn database_flags_are_kebab_case_and_the_legacy_spellings_still_work() {
    let h = help("upload");
    assert!(h.contains("--db-host"), "{h}");
    assert!(!h.contains("--DB-host"), "legacy spelling hidden: {h}");
    // The legacy spelling is accepted: the error is about the CSV, not the flag.
    let out = perf_run()
        .args([
            "upload",
            "--DB-host",
            "db.example",
            "--source-metric-csv",
            "/nonexistent.csv",
        ])
        .assert()
        .code(2);
    let text = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(text.contains("/nonexistent.csv"), "{text}");
}

#[test]
fn each_subcommand_shows_only_the_flags_it_uses() {
    for sub in ["status", "doctor"] {
        let h = help(sub);
        assert!(h.contains("--cluster <NAME>"), "{sub}: {h}");
        for unused in [
            "--image",
            "--time",
            "--mpi",
            "--templates",
            "--llm-data",
            "--extra-srun-params",
        ] {
            assert!(
                !h.contains(unused),
                "{sub} --help lists {unused}, which it ignores:\n{h}"
            );
        }
    }
    let submit = help("submit");
    for unused in ["--follow ", "--detach ", "--max-pending "] {
        assert!(
            !submit.contains(unused),
            "submit --help lists {unused}:\n{submit}"
        );
    }
    assert!(help("run").contains("--follow"));
    // `wait` is hidden, folded into `resume --no-upload`.
    let top = String::from_utf8_lossy(
        &perf_run()
            .arg("--help")
            .assert()
            .success()
            .get_output()
            .stdout,
    )
    .to_string();
    assert!(!top.contains("\n  wait "), "{top}");
    assert!(help("resume").contains("--no-upload"));
}
