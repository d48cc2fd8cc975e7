//! Real inputs for the report tests and benchmark: run directories whose `cases/*/plan.json`
//! come from `perf-run render` on the real fixture configs and whose `results/summary.json`
//! comes from `perf-run extract` on benchmark logs made from the real docs example output
//! (numbers scaled per concurrency), plus a history of generated series and verdicts.
#![allow(dead_code)]

#[path = "../common/mod.rs"]
mod host;

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Duration, Utc};
use perf_run::history::{Direction, Point, Provenance, Series, SeriesKey};
use perf_run::judge::{ChangePoint, Judgement, Verdict};

pub const DOCS: &str =
    include_str!("../fixtures/trtllm/benchmark-output/benchmark_serving_output_docs_example.txt");
pub const AGG: &str = "deepseek_r1_fp4_v2_grace_blackwell";
pub const DISAGG: &str =
    "gb200_deepseek-r1-fp4_1k1k_con1024_ctx1_dep4_gen1_dep8_eplb0_mtp0_ccb-UCX";
/// A test id no browser may ever run as markup.
pub const HOSTILE: &str = "aggr_upload-<script>alert(1)</script><img src=x onerror=alert(2)>";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_perf-run"))
}

/// `perf-run` with a clean environment (no host cluster or database settings).
pub fn perf_run(home: &Path) -> Command {
    let mut c = Command::new(bin());
    for (k, _) in std::env::vars() {
        if host::is_host_setting(&k) {
            c.env_remove(k);
        }
    }
    c.env("CLUSTER_USER", "ci")
        .env("PERF_RUN_HOME", home)
        .env("SOURCE_DATE_EPOCH", "1761872033")
        .current_dir(repo());
    c
}

fn ok(mut c: Command, what: &str) -> Vec<u8> {
    let out = c
        .output()
        .unwrap_or_else(|e| panic!("cannot run perf-run {what}: {e}"));
    assert!(
        out.status.success(),
        "perf-run {what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A TensorRT-LLM-shaped checkout holding the real fixture configs.
pub fn tree() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let f = repo().join("tests/fixtures/trtllm/perf-sanity");
    for (src, dst) in [
        ("aggregated", "tests/scripts/perf-sanity/aggregated"),
        ("disaggregated", "tests/scripts/perf-sanity/disaggregated"),
    ] {
        let d = t.path().join(dst);
        std::fs::create_dir_all(&d).unwrap();
        for e in std::fs::read_dir(f.join(src)).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(&p, d.join(p.file_name().unwrap())).unwrap();
        }
    }
    let m = t.path().join("tests/integration/defs/perf");
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(m.join("test_perf_sanity.py"), "").unwrap();
    t
}

/// One client's output: the docs example with numbers for `concurrency`, `scale` times as
/// fast; `failed` adds upstream's failure markers.
pub fn client_log(concurrency: u64, scale: f64, failed: bool) -> String {
    let c = concurrency as f64;
    let tput = 622.56 * c.powf(0.8) * scale;
    let tpot = 1.59 * (1.0 + c / 64.0) / scale;
    let mut t = DOCS.to_string();
    let set = |t: &mut String, label: &str, v: String| {
        let re = regex::Regex::new(&format!(r"({}:\s+)[0-9.]+", regex::escape(label))).unwrap();
        *t = re
            .replace(t, |m: &regex::Captures| format!("{}{v}", &m[1]))
            .into_owned();
    };
    set(
        &mut t,
        "Successful requests",
        format!("{}", concurrency * 10),
    );
    set(
        &mut t,
        "Request throughput (req/s)",
        format!("{:.2}", 0.61 * c.powf(0.8) * scale),
    );
    set(
        &mut t,
        "Output token throughput (tok/s)",
        format!("{tput:.2}"),
    );
    set(
        &mut t,
        "Total Token throughput (tok/s)",
        format!("{:.2}", 2.0 * tput),
    );
    set(
        &mut t,
        "Mean TTFT (ms)",
        format!("{:.2}", 12.83 * (1.0 + c / 32.0)),
    );
    set(&mut t, "Mean TPOT (ms)", format!("{tpot:.2}"));
    let mut out = format!(
        "Namespace(model='deepseek-r1-fp4', num_prompts={}, max_concurrency={concurrency}, random_input_len=1024, random_output_len=1024)\n{t}",
        concurrency * 10
    );
    if failed {
        out = out.replacen(
            "Benchmark duration",
            "Failed requests:                         3\nBenchmark duration",
            1,
        );
    }
    out
}

/// What differs between the generated runs.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub id: String,
    pub scale: f64,
    pub image: String,
    /// The aggregated case's concurrency-64 client prints the failure marker.
    pub invalid_client: bool,
    /// Add a case named [`HOSTILE`] (from a JUnit file) that failed.
    pub hostile: bool,
    /// Extra aggregated cases (`aggr_upload-extra-NNN`), for size.
    pub extra_cases: usize,
}

impl RunSpec {
    pub fn new(id: &str, scale: f64, image: &str) -> RunSpec {
        RunSpec {
            id: id.into(),
            scale,
            image: image.into(),
            invalid_client: false,
            hostile: false,
            extra_cases: 0,
        }
    }
}

pub const AGG_CONCURRENCY: [u64; 4] = [1, 8, 64, 256];
pub const DISAGG_CONCURRENCY: [u64; 3] = [4, 32, 128];

pub fn agg_case() -> String {
    format!("aggr_upload-{AGG}")
}
pub fn disagg_case() -> String {
    format!("disagg_upload-e2e-{DISAGG}")
}
pub fn test_id(case: &str) -> String {
    format!("perf/test_perf_sanity.py::test_e2e[{case}]")
}

/// Render one config into `<run>/cases/<NN>-<name>/` (real plan.json).
fn render_case(home: &Path, tree: &Path, run: &Path, nn: usize, config: &str, image: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = perf_run(home);
    c.env("DOCKER_IMAGE", image)
        .arg("render")
        .arg("--trtllm-dir")
        .arg(tree)
        .arg("--output-dir")
        .arg(tmp.path())
        .args(["--run-id", "r", "--cluster", "gb200", "--config", config]);
    ok(c, "render");
    let dst = run.join("cases").join(format!("{nn:02}-{config}"));
    std::fs::create_dir_all(&dst).unwrap();
    std::fs::copy(tmp.path().join("plan.json"), dst.join("plan.json")).unwrap();
}

/// A run directory `<root>/<id>` with real plans and an extracted `results/summary.json`.
pub fn make_run(root: &Path, tree: &Path, spec: &RunSpec) -> PathBuf {
    let home = root.join("home");
    let run = root.join(&spec.id);
    std::fs::create_dir_all(&run).unwrap();
    render_case(&home, tree, &run, 1, AGG, &spec.image);
    render_case(&home, tree, &run, 2, DISAGG, &spec.image);
    let logs = run.join("logs");
    let mut files = Vec::new();
    let mut write_case = |case: &str, conc: &[u64], invalid_at: Option<u64>| {
        let d = logs.join(case);
        std::fs::create_dir_all(&d).unwrap();
        for (i, c) in conc.iter().enumerate() {
            let p = d.join(format!("trtllm-benchmark.0.{i}.log"));
            std::fs::write(&p, client_log(*c, spec.scale, invalid_at == Some(*c))).unwrap();
            files.push(p);
        }
    };
    write_case(
        &agg_case(),
        &AGG_CONCURRENCY,
        spec.invalid_client.then_some(64),
    );
    write_case(&disagg_case(), &DISAGG_CONCURRENCY, None);
    for k in 0..spec.extra_cases {
        write_case(&format!("aggr_upload-extra-{k:03}"), &AGG_CONCURRENCY, None);
    }
    let sys = run.join("sysinfo");
    std::fs::create_dir_all(&sys).unwrap();
    std::fs::write(sys.join("gpu.txt"), "NVIDIA GB200\n".repeat(4)).unwrap();
    std::fs::write(
        sys.join("trtllm_installed_version.txt"),
        if spec.scale < 1.0 {
            "1.3.0rc1\n"
        } else {
            "1.2.0\n"
        },
    )
    .unwrap();
    let mut c = perf_run(&home);
    c.arg("extract").arg("--log").args(&files);
    if spec.hostile {
        let name = HOSTILE
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        let xml = format!(
            "<?xml version=\"1.0\"?>\n<testsuite name=\"pytest\" tests=\"1\"><testcase classname=\"perf.test_perf_sanity\" name=\"test_e2e[{name}]\" time=\"5\"><failure message=\"RuntimeError: &lt;b&gt;server&lt;/b&gt; died\">boom</failure></testcase></testsuite>\n"
        );
        let j = run.join("results.xml");
        std::fs::write(&j, xml).unwrap();
        c.arg("--junit-xml").arg(&j);
    }
    c.arg("--sysinfo")
        .arg(&sys)
        .arg("--output-dir")
        .arg(run.join("results"));
    // extract exits non-zero when a case failed or is invalid; the summary is what matters.
    let out = c.output().unwrap();
    assert!(
        run.join("results/summary.json").is_file(),
        "extract wrote no summary: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    run
}

/// The long-CSV network name of a client of a case extracted from logs
/// (`results::writers::long_csv::network_name`).
pub fn network_name(case: &str, i: usize, concurrency: u64) -> String {
    format!("perf_sanity[{case}-server0-client{i}]_bs:0_con:{concurrency}")
}

/// A series of `n` daily points ending now-ish, with a step of `step_pct` at `step_at`, every
/// 13th point invalid, and its verdict.
pub fn series(
    case: &str,
    i: usize,
    concurrency: u64,
    metric: &str,
    n: usize,
    step_at: usize,
    step_pct: f64,
) -> (Series, Judgement) {
    let t0 = DateTime::<Utc>::from_timestamp(1_754_000_000, 0).unwrap();
    let base = 1000.0 * (concurrency as f64).powf(0.8);
    let points: Vec<Point> = (0..n)
        .map(|k| {
            let noise = ((k * 7919) % 17) as f64 / 17.0 - 0.5;
            let level = if k >= step_at {
                base * (1.0 + step_pct / 100.0)
            } else {
                base
            };
            Point {
                time: t0 + Duration::days(k as i64),
                value: level * (1.0 + 0.01 * noise),
                commit: Some(format!("{:07x}", 0xabc000 + k)),
                commit_time: None,
                run_key: format!("run-{k}"),
                valid: k % 13 != 6,
                failure_class: (k % 13 == 6).then(|| "invalid_measurement".to_string()),
                source: "local".into(),
                provenance: Provenance::default(),
            }
        })
        .collect();
    let name = network_name(case, i, concurrency);
    let key = SeriesKey {
        test_name: name.clone(),
        network_name: name,
        metric: metric.into(),
        gpu_type: "NVIDIA GB200".into(),
        gpu_count: 4,
        cluster: "gb200".into(),
    };
    let stepped = step_at < n;
    let latest = points.last().map(|p| p.value);
    let j = Judgement {
        test_name: key.test_name.clone(),
        network_name: key.network_name.clone(),
        metric: key.metric.clone(),
        gpu_type: key.gpu_type.clone(),
        gpu_count: key.gpu_count,
        cluster: key.cluster.clone(),
        verdict: if stepped && step_pct < 0.0 {
            Verdict::Regression
        } else {
            Verdict::Ok
        },
        gating: true,
        latest,
        baseline: Some(base),
        delta_pct: latest.map(|l| (l - base) / base * 100.0),
        threshold_pct: 5.0,
        threshold_source: "post-merge floor 5 % > 3·cv (1.2 %)".into(),
        cv_pct: Some(0.4),
        n: 20,
        baseline_from: Some(points[step_at.min(n).saturating_sub(25)].time),
        baseline_to: Some(points[step_at.min(n).saturating_sub(1)].time),
        change_points: if stepped {
            vec![ChangePoint {
                start_time: points[step_at].time,
                index: step_at,
                commit: points[step_at].commit.clone(),
                previous_commit: points[step_at - 1].commit.clone(),
                delta_pct: step_pct,
                p_value: 1e-6,
                tentative: n - step_at < 3,
            }]
        } else {
            vec![]
        },
        explanation: if stepped && step_pct < 0.0 {
            format!(
                "{metric} fell {:.1} % below its baseline (median of 20 points); the threshold is 5 % (post-merge floor). The change started at commit {} <after {}>.",
                -step_pct,
                points[step_at].commit.clone().unwrap_or_default(),
                points[step_at - 1].commit.clone().unwrap_or_default()
            )
        } else {
            format!("{metric} is within 5 % of its baseline.")
        },
    };
    (
        Series {
            key,
            direction: Direction::of_metric(metric),
            points,
        },
        j,
    )
}
