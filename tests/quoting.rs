//! The quoting contract, proven with real bash: arbitrary strings (quotes, `$(...)`, backticks,
//! newlines, unicode) survive the escape function and the whole rendered script unchanged, and
//! nothing in them is executed.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use perf_run::cli::{ClusterArgs, ConnectionArgs, RenderArgs, SelectArgs};
use perf_run::ops::render::prepare;
use perf_run::shell::quote_word;
use proptest::prelude::*;

/// Run a bash script, return stdout bytes.
fn bash(script: &str) -> Vec<u8> {
    let mut child = Command::new("bash")
        .arg("-s")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "bash failed: {}\n--- script ---\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn nasty() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "'",
        "\"",
        "$(touch /tmp/perf-run-pwned)",
        "`id`",
        "\n",
        "\r",
        "\t",
        " ",
        "\\",
        "$HOME",
        "${IFS}",
        "!!",
        "*",
        "~",
        "{a,b}",
        ";",
        "&&",
        "|",
        ">",
        "<",
        "#",
        "é",
        "日本",
        "\u{a0}",
        "\u{1b}[31m",
        "%1",
        "=",
        "-",
        "[x]",
        "\u{7f}",
        "\u{2028}",
    ]);
    prop_oneof![
        prop::collection::vec(pieces, 0..8).prop_map(|v| v.concat()),
        "\\PC{0,40}",
        any::<String>().prop_map(|s| s.replace('\0', "")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn any_string_round_trips_through_bash(s in nasty()) {
        let script = format!("printf '%s' {}\n", quote_word(&s));
        prop_assert!(!quote_word(&s).contains('\n'), "a quoted word never spans lines");
        prop_assert_eq!(bash(&script), s.as_bytes().to_vec());
        prop_assert!(!std::path::Path::new("/tmp/perf-run-pwned").exists());
    }
}

/// Render a real plan whose model-storage path is `m<s>` and an `--env` value is `s`, then source the
/// generated prefix and eval the generated pytest command with `pytest` replaced by a function
/// that prints what it sees.
fn render_and_eval(s: &str) -> (Vec<u8>, Vec<u8>) {
    let tree = common::g3_tree();
    let out = tempfile::tempdir().unwrap();
    // The tp4 server is started through trtllm-llmapi-launch; give it one that just runs its
    // arguments, in a work directory of our own.
    let work = tempfile::tempdir().unwrap();
    let launcher = work
        .path()
        .join("TensorRT-LLM/tensorrt_llm/llmapi/trtllm-llmapi-launch");
    std::fs::create_dir_all(launcher.parent().unwrap()).unwrap();
    std::fs::write(&launcher, "#!/bin/bash\n\"$@\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&launcher, std::fs::Permissions::from_mode(0o755)).unwrap();
    let args = RenderArgs {
        select: SelectArgs {
            config: Some("deepseek_r1_fp4_v2_grace_blackwell".into()),
            server: Some("r1_fp4_v2_tp4_mtp3_1k1k".into()),
            trtllm_dir: Some(tree.path().to_path_buf()),
            ..Default::default()
        },
        cluster: ClusterArgs {
            conn: ConnectionArgs {
                cluster: Some("local-test".into()),
                clusters_file: Some(common::repo().join("configs/clusters.yaml")),
                workdir: Some(work.path().to_str().unwrap().to_string()),
                ..Default::default()
            },
            llm_data: Some(format!("m{s}")),
            ..Default::default()
        },
        output_dir: Some(out.path().to_path_buf()),
        json: false,
        show_files: false,
        env: vec![format!("PERF_RUN_PROBE={s}")],
        run_id: Some("prop".into()),
    };
    let env = |k: &str| (k == "CLUSTER_USER").then(|| "ci".to_string());
    let prep = prepare(&args, out.path(), &env).expect("renders");
    let prefix = out.path().join("slurm_launch_prefix.sh");
    let launch = std::fs::read_to_string(out.path().join("slurm_launch.sh")).unwrap();
    let cmd_line = launch
        .lines()
        .find(|l| l.starts_with("export pytestCommand="))
        .expect("a pytest command")
        .to_string();
    assert_eq!(prep.cases.len(), 1);
    let script = format!(
        "set -u\nsource {} >/dev/null\n{cmd_line}\npytest() {{ printf '%s' \"$LLM_MODELS_ROOT\"; }}\nexport -f pytest\nprintf '%s' \"$PERF_RUN_PROBE\" >&2\neval \"$pytestCommand\"\n",
        quote_word(prefix.to_str().unwrap())
    );
    let mut child = Command::new("bash")
        .arg("-s")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (o.stdout, o.stderr)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn rendered_scripts_carry_any_value_verbatim(s in nasty()) {
        let (stdout, stderr) = render_and_eval(&s);
        prop_assert_eq!(stdout, format!("m{s}").into_bytes(), "LLM_MODELS_ROOT inside the pytest command");
        prop_assert_eq!(stderr, s.as_bytes().to_vec(), "--env value in the exports");
        prop_assert!(!std::path::Path::new("/tmp/perf-run-pwned").exists());
    }
}

#[test]
fn adversarial_examples_round_trip() {
    for s in [
        "a'b\"c$(touch /tmp/perf-run-pwned)`id`\nline2\r\t",
        "",
        "-rf /",
        "日本語 ☃ \u{1b}[0m",
        "=x",
        "~/x",
    ] {
        let (stdout, stderr) = render_and_eval(s);
        assert_eq!(stdout, format!("m{s}").as_bytes());
        assert_eq!(stderr, s.as_bytes());
    }
    assert!(!std::path::Path::new("/tmp/perf-run-pwned").exists());
}
