//! `perf_script_test_results.csv`: the long format of reference §7.2 (one metric per row),
//! exactly the columns `trt_perf_parser.py` reads (§9.2), so the legacy uploader works on
//! perf-run output unchanged.
//!
//! How the uploader's rules (§9.2) see our rows:
//! * `network_name` = `perf_sanity[<case>-<server>-<client>]_bs:<max_batch_size>_con:<concurrency>`.
//!   The batch-size rule tries `(bs:|maxbs:)(\d+)` first, so `bs:N` decides the batch size —
//!   and `bs:0` (the uploader's own "unknown") when the plan did not say, which stops the later
//!   loose rules (`[-_/]b(\d+)`, `batch(\d+)`) from reading e.g. `_b200` in a config name as a
//!   batch size. The bracket holds the JUnit bracket (case name), so the uploader's log lookup
//!   ("JUnit bracket is a substring of test_name's bracket") finds the case's `<system-out>`.
//!   It is deterministic (no time, no run id) so re-runs hit the same TRT_perf `cases` row, and
//!   at most 150 characters (the `cases.network` column, §9.3): longer names keep their start
//!   and end with `~<8 hex of sha256>`.
//! * `command` = `perf_sanity_benchmark <precision flag> --model=<model> --concurrency=N …`. The
//!   uploader's precision rule ([`crate::trtperf::rules::precision`], case-sensitive substrings
//!   in a fixed order: float16/fp16 → FP16, int8, bf16, fp32, fp8, fp4/nvfp4, else TF32, or
//!   FP32 on a pre-Ampere GPU) would let a model name with another precision's token in it
//!   (say `…-fp8-…` on an fp4 server) win; `command` is therefore checked with that same
//!   function and the model is left out when it would change what the uploader reads. No
//!   precision known → no flag.
//! * `state`: `valid` for a trustworthy client of a passed/invalid case, `invalid` for an
//!   untrustworthy measurement, `failed` for every row of a failed case (timeout, crash, …).
//!   The uploader skips only `failed` rows; perf-run's own uploader also skips `invalid`.

use std::io::{self, Write};

use sha2::{Digest, Sha256};

use super::{csv_time, num};
use crate::results::model::{CaseResult, CaseStatus, ClientResult, RunInfo, Validity};
use crate::trtperf::rules;

/// The header, in order (reference §7.2, as in the real sample).
pub const HEADER: [&str; 17] = [
    "network_name",
    "network_hash",
    "sm_clk",
    "mem_clk",
    "gpu_idx",
    "perf_case_name",
    "test_name",
    "original_test_name",
    "perf_metric",
    "total_time__sec",
    "start_timestamp",
    "end_timestamp",
    "state",
    "command",
    "threshold",
    "absolute_threshold",
    "metric_type",
];

/// `cases.network` is varchar(150) (§9.3).
const MAX_NETWORK: usize = 150;

pub fn write(w: &mut dyn Write, run: &RunInfo, cases: &[CaseResult]) -> io::Result<()> {
    let mut out = LongCsv::new(w, run)?;
    for case in cases {
        out.case(case)?;
    }
    out.finish()
}

/// Streaming writer: header first, then the rows of one case at a time.
pub struct LongCsv<W: Write> {
    out: csv::Writer<W>,
    started: chrono::DateTime<chrono::Utc>,
    finished: Option<chrono::DateTime<chrono::Utc>>,
    /// The GPU the uploader will see (`device_product_name` of session_properties.csv),
    /// which its precision rule needs (pre-Ampere → FP32).
    gpu: String,
}

impl<W: Write> LongCsv<W> {
    pub fn new(w: W, run: &RunInfo) -> io::Result<Self> {
        let mut out = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(w);
        out.write_record(HEADER)?;
        Ok(LongCsv {
            out,
            started: run.started,
            finished: run.finished,
            gpu: rules::gpu_name(&run.sysinfo.gpu),
        })
    }

    pub fn case(&mut self, case: &CaseResult) -> io::Result<()> {
        let out = &mut self.out;
        if matches!(case.status, CaseStatus::Skipped | CaseStatus::NotRun) {
            return Ok(());
        }
        let start = case.start.unwrap_or(self.started);
        let end = case.end.or(self.finished).unwrap_or(start);
        let total = case
            .duration_s
            .map(|d| format!("{d:.6}"))
            .unwrap_or_else(|| "0".into());
        let times = (total, csv_time(start), csv_time(end));
        if case.clients.is_empty() {
            // One row so a failed case is visible in the file; no metric, so no upload.
            let net = network_name(case, None);
            let cmd = command(case, None, &self.gpu);
            return row(out, &net, "", &times, "failed", &cmd, "");
        }
        for client in &case.clients {
            let net = network_name(case, Some(client));
            let cmd = command(case, Some(client), &self.gpu);
            let state = state_of(case, client);
            if client.metrics.is_empty() {
                row(out, &net, "", &times, state, &cmd, "")?;
            }
            for m in &client.metrics {
                let metric_type = m.info.metric_type_for(&case.mode);
                row(out, &net, &num(m.value), &times, state, &cmd, metric_type)?;
            }
        }
        Ok(())
    }

    pub fn finish(mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The underlying writer (after `flush`).
    pub fn into_inner(self) -> io::Result<W> {
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

fn row<W: Write>(
    out: &mut csv::Writer<W>,
    net: &str,
    value: &str,
    times: &(String, String, String),
    state: &str,
    cmd: &str,
    metric_type: &str,
) -> io::Result<()> {
    out.write_record([
        net,
        net,
        "",
        "",
        "",
        net,
        net,
        net,
        value,
        &times.0,
        &times.1,
        &times.2,
        state,
        cmd,
        "",
        "",
        metric_type,
    ])?;
    Ok(())
}

/// Row state (§7.2: valid | invalid | failed). A case stopped by its time limit keeps the
/// concurrency points that finished before it: their clients are valid rows (uploaded), while
/// the case itself stays `timeout`. A case failed by a regression verdict measured correctly:
/// its rows stay valid (uploaded and kept in the history), the case is `regression`.
pub fn state_of(case: &CaseResult, client: &ClientResult) -> &'static str {
    use crate::results::FailureClass;
    match case.status {
        CaseStatus::Failed
            if matches!(
                case.failure_class,
                Some(FailureClass::Timeout | FailureClass::Regression)
            ) && client.validity == Validity::Valid =>
        {
            "valid"
        }
        CaseStatus::Failed | CaseStatus::Skipped | CaseStatus::NotRun => "failed",
        CaseStatus::Passed | CaseStatus::Invalid => match client.validity {
            Validity::Valid => "valid",
            Validity::Invalid => "invalid",
        },
    }
}

/// See the module comment.
pub fn network_name(case: &CaseResult, client: Option<&ClientResult>) -> String {
    let mut base = case.case_name.clone();
    if base.is_empty() {
        base = case.test_id.clone();
    }
    let (bs, con) = match client {
        Some(c) => {
            if !base.ends_with(&format!("-{}", c.server)) {
                base.push('-');
                base.push_str(&c.server);
            }
            base.push('-');
            base.push_str(&c.client);
            let bs = case
                .server_meta(&c.server)
                .and_then(|s| s.max_batch_size)
                .unwrap_or(0);
            (bs, c.concurrency.unwrap_or(0))
        }
        None => (
            case.servers
                .first()
                .and_then(|s| s.max_batch_size)
                .unwrap_or(0),
            0,
        ),
    };
    // No `,` or newlines in a name a person will grep for.
    let base: String = base
        .chars()
        .map(|c| if c.is_control() || c == ',' { '_' } else { c })
        .collect();
    let suffix = format!("]_bs:{bs}_con:{con}");
    let prefix = "perf_sanity[";
    let room = MAX_NETWORK.saturating_sub(prefix.len() + suffix.len());
    let base = if base.chars().count() > room {
        let hash = hex::encode(Sha256::digest(base.as_bytes()));
        let keep: String = base.chars().take(room.saturating_sub(9)).collect();
        format!("{keep}~{}", &hash[..8])
    } else {
        base
    };
    format!("{prefix}{base}{suffix}")
}

/// The server's precision (or a model or case name) as the flag to write into `command`. This
/// is perf-run reading its own configuration, case-insensitively and fp4 first (`nvfp4`,
/// `FP4-v2`); what the uploader then reads from the command is [`rules::precision`].
fn precision_flag(text: &str) -> Option<&'static str> {
    let t = text.to_ascii_lowercase();
    let any = |keys: &[&str]| keys.iter().any(|k| t.contains(k));
    if any(&["fp4"]) {
        Some("--fp4")
    } else if any(&["fp8"]) {
        Some("--fp8")
    } else if any(&["int8"]) {
        Some("--int8")
    } else if any(&["bf16", "bfloat16"]) {
        Some("--bf16")
    } else if any(&["fp16", "float16"]) {
        Some("--fp16")
    } else if any(&["fp32", "float32"]) {
        Some("--fp32")
    } else {
        None
    }
}

/// See the module comment. `gpu` is the GPU the uploader will see.
pub fn command(case: &CaseResult, client: Option<&ClientResult>, gpu: &str) -> String {
    let server = client
        .and_then(|c| case.server_meta(&c.server))
        .or_else(|| case.servers.first());
    let model = server
        .map(|s| s.model.clone())
        .filter(|m| !m.trim().is_empty())
        .or_else(|| client.and_then(|c| c.model.clone()))
        .map(|m| {
            // The uploader strips paths; keep the model's own name.
            m.trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .chars()
                .map(|c| {
                    if c.is_whitespace() || c == ',' {
                        '_'
                    } else {
                        c
                    }
                })
                .collect::<String>()
        })
        .filter(|m| !m.is_empty());
    let precision = server
        .and_then(|s| s.precision.as_deref())
        .and_then(precision_flag)
        .or_else(|| model.as_deref().and_then(precision_flag))
        .or_else(|| precision_flag(&case.case_name));

    let mut tail = String::new();
    if let Some(c) = client {
        if let Some(v) = c.concurrency {
            tail.push_str(&format!(" --concurrency={v}"));
        }
        if let Some(v) = c.isl {
            tail.push_str(&format!(" --isl={v}"));
        }
        if let Some(v) = c.osl {
            tail.push_str(&format!(" --osl={v}"));
        }
        if let Some(v) = c.iterations {
            tail.push_str(&format!(" --iterations={v}"));
        }
    }
    if let Some(s) = server {
        tail.push_str(&format!(" --tp={} --ep={} --pp={}", s.tp, s.ep, s.pp));
    }
    let mut cmd = String::from("perf_sanity_benchmark");
    if let Some(flag) = precision {
        cmd.push(' ');
        cmd.push_str(flag);
    }
    let without_model = format!("{cmd}{tail}");
    let Some(model) = model else {
        return without_model;
    };
    let with_model = format!("{cmd} --model={model}{tail}");
    // The flag decides, or nothing does (TF32 / FP32 by GPU); the model may only stay when
    // the uploader reads the same precision with it.
    if rules::precision(&with_model, gpu) == rules::precision(&without_model, gpu) {
        with_model
    } else {
        without_model
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::model::{ServerMeta, Validity};

    fn case(name: &str, servers: Vec<ServerMeta>) -> CaseResult {
        CaseResult {
            test_id: format!("perf/test_perf_sanity.py::test_e2e[{name}]"),
            case_name: name.into(),
            mode: "single-agg".into(),
            status: CaseStatus::Passed,
            failure_class: None,
            reasons: vec![],
            warnings: vec![],
            job: None,
            junit: None,
            clients: vec![],
            servers,
            artifacts_dir: None,
            marker_exit: None,
            start: None,
            end: None,
            duration_s: None,
        }
    }

    fn client(server: &str, name: &str, con: Option<u64>) -> ClientResult {
        ClientResult {
            server: server.into(),
            client: name.into(),
            server_idx: 0,
            client_idx: 0,
            validity: Validity::Valid,
            reasons: vec![],
            warnings: vec![],
            metrics: vec![],
            counts: Default::default(),
            source: crate::results::model::MetricSource::Missing,
            concurrency: con,
            iterations: None,
            isl: None,
            osl: None,
            model: None,
        }
    }

    fn server(name: &str, model: &str, precision: Option<&str>, bs: Option<u64>) -> ServerMeta {
        ServerMeta {
            name: name.into(),
            model: model.into(),
            precision: precision.map(str::to_string),
            max_batch_size: bs,
            tp: 4,
            ep: 4,
            pp: 1,
            cp: 1,
            gpus: 4,
            clients: vec![],
        }
    }

    /// The uploader's batch-size rule (§9.2), the parts that matter for our names.
    fn uploader_batch_size(net: &str) -> String {
        let re = regex::Regex::new(r"(bs:|maxbs:)(\d+\+\d+)").expect("re");
        if re.is_match(net) {
            return "0".into();
        }
        let re = regex::Regex::new(r"(bs:|maxbs:)(\d+)").expect("re");
        if let Some(c) = re.captures(net) {
            return c[2].to_string();
        }
        for p in [
            r"[-_/]bs_(\d+)",
            r"[-_/]batch_size_(\d+)",
            r"[-_/]bs(\d+)",
            r"[-_/]b(\d+)",
            r"batch(\d+)",
        ] {
            if let Some(c) = regex::Regex::new(p).expect("re").captures(net) {
                return c[1].to_string();
            }
        }
        "0".into()
    }

    #[test]
    fn a_timeout_keeps_its_finished_points_as_valid_rows() {
        let mut c = case("aggr_upload-cfg-srv", vec![]);
        c.status = CaseStatus::Failed;
        c.failure_class = Some(crate::results::FailureClass::Timeout);
        let done = client("srv", "con4", Some(4));
        let mut cut = client("srv", "con8", Some(8));
        cut.validity = Validity::Invalid;
        assert_eq!(state_of(&c, &done), "valid");
        assert_eq!(state_of(&c, &cut), "failed");
        // Any other failure: no row of the case is uploaded.
        c.failure_class = Some(crate::results::FailureClass::TestFailed);
        assert_eq!(state_of(&c, &done), "failed");
    }

    #[test]
    fn network_name_carries_batch_size_and_concurrency() {
        let c = case(
            "aggr_upload-cfg_b200-srv",
            vec![server("srv", "m", None, Some(512))],
        );
        let net = network_name(&c, Some(&client("srv", "con8_iter10_1k1k", Some(8))));
        assert_eq!(
            net,
            "perf_sanity[aggr_upload-cfg_b200-srv-con8_iter10_1k1k]_bs:512_con:8"
        );
        assert_eq!(uploader_batch_size(&net), "512");
    }

    #[test]
    fn unknown_batch_size_is_zero_not_a_gpu_name() {
        let c = case("aggr_upload-cfg_b200", vec![]);
        let net = network_name(&c, Some(&client("server0", "client0", None)));
        assert_eq!(
            net,
            "perf_sanity[aggr_upload-cfg_b200-server0-client0]_bs:0_con:0"
        );
        assert_eq!(uploader_batch_size(&net), "0");
    }

    #[test]
    fn long_network_names_are_shortened_deterministically() {
        let long = format!("disagg_upload-e2e-{}", "x".repeat(200));
        let c = case(&long, vec![]);
        let a = network_name(&c, Some(&client("s", "c", Some(1))));
        let b = network_name(&c, Some(&client("s", "c", Some(1))));
        assert_eq!(a, b);
        assert!(a.len() <= 150, "{}", a.len());
        assert!(a.ends_with("]_bs:0_con:1"));
        assert!(a.contains('~'));
    }

    #[test]
    fn command_makes_the_uploader_find_the_precision() {
        for (precision, model, want) in [
            (Some("fp4"), "deepseek-r1-fp4", "FP4"),
            (Some("nvfp4"), "DeepSeek-R1-0528-FP4-v2", "FP4"),
            (Some("fp8"), "Llama-3.3-70B-FP8", "FP8"),
            (Some("bf16"), "llama-bf16", "BF16"),
            (Some("fp16"), "gpt", "FP16"),
            (Some("fp4"), "model-fp8-kv-int8", "FP4"),
            (None, "deepseek-r1-fp4", "FP4"),
        ] {
            let c = case(
                "aggr_upload-cfg",
                vec![server("s", model, precision, Some(8))],
            );
            let cmd = command(&c, Some(&client("s", "c", Some(4))), "GB200");
            assert_eq!(rules::precision(&cmd, "GB200"), want, "{cmd}");
        }
    }

    #[test]
    fn command_drops_a_misleading_model_name() {
        let c = case(
            "x",
            vec![server("s", "/models/model-fp8-kv-int8", Some("fp4"), None)],
        );
        let cmd = command(&c, Some(&client("s", "c", Some(4))), "GB200");
        assert_eq!(
            cmd,
            "perf_sanity_benchmark --fp4 --concurrency=4 --tp=4 --ep=4 --pp=1"
        );
        let c = case(
            "x",
            vec![server("s", "/models/DeepSeek-R1-FP4/", Some("fp4"), None)],
        );
        let cmd = command(&c, Some(&client("s", "c", Some(4))), "GB200");
        assert_eq!(
            cmd,
            "perf_sanity_benchmark --fp4 --model=DeepSeek-R1-FP4 --concurrency=4 --tp=4 --ep=4 --pp=1"
        );
    }

    #[test]
    fn precision_from_the_case_name_when_nothing_else() {
        let c = case("aggr_upload-deepseek_r1_fp4_v2_grace_blackwell", vec![]);
        let cmd = command(&c, Some(&client("server0", "client0", None)), "GB200");
        assert_eq!(cmd, "perf_sanity_benchmark --fp4");
        assert_eq!(rules::precision(&cmd, "GB200"), "FP4");
    }

    /// The cases where the writer's old copy of the rule (lower-cased, no GPU) and the
    /// uploader's disagreed: the model now stays exactly when the uploader reads the same
    /// precision with it.
    #[test]
    fn the_model_stays_when_the_uploader_reads_the_same_precision() {
        let cmd_for = |model: &str, precision: Option<&str>, gpu: &str| {
            let c = case("x", vec![server("s", model, precision, None)]);
            command(&c, Some(&client("s", "c", Some(4))), gpu)
        };
        // Upper-case tokens are not read by the (case-sensitive) uploader: kept.
        let cmd = cmd_for("Llama-3.3-70B-FP8", Some("fp4"), "GB200");
        assert_eq!(
            cmd,
            "perf_sanity_benchmark --fp4 --model=Llama-3.3-70B-FP8 --concurrency=4 --tp=4 --ep=4 --pp=1"
        );
        assert_eq!(rules::precision(&cmd, "GB200"), "FP4");
        // A lower-case token of another precision still misleads it: dropped.
        let cmd = cmd_for("llama-fp8", Some("fp4"), "GB200");
        assert!(!cmd.contains("--model"), "{cmd}");
        // On a pre-Ampere GPU with no precision known the uploader reads FP32 either way.
        let cmd = cmd_for("gpt", None, "Tesla V100-SXM2");
        assert!(cmd.contains("--model=gpt"), "{cmd}");
        assert_eq!(rules::precision(&cmd, "Tesla V100-SXM2"), "FP32");
    }
}
