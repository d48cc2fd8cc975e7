//! `summary.json`: the versioned machine-readable result of a run (schema in
//! docs/summary-json.md). The uploader later records where the results went with
//! `record_upload`, an atomic read-modify-write of the `upload` field.

use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

use super::OutputError;
use serde_json::{Map, Value, json};

use crate::results::model::{CaseResult, CaseStatus, ClientResult, JobInfo, MetricSource, RunInfo};

pub const SCHEMA: &str = "perf-run.summary";
pub const VERSION: u64 = 1;

pub fn write(
    w: &mut dyn Write,
    out_dir: &Path,
    run: &RunInfo,
    cases: &[CaseResult],
) -> io::Result<()> {
    let mut out = SummaryWriter::new(w, out_dir)?;
    for case in cases {
        out.case(case)?;
    }
    out.finish(run).map(|_| ())
}

/// Streaming writer: the cases are written as they come; `run`, `totals`, `units` and
/// `upload` follow them (JSON readers do not care about member order, and this way nothing
/// but a few counters is kept in memory).
pub struct SummaryWriter<W: Write> {
    w: W,
    out_dir: PathBuf,
    cases: usize,
    counts: [usize; 5],
    units: Map<String, Value>,
}

impl<W: Write> SummaryWriter<W> {
    pub fn new(mut w: W, out_dir: &Path) -> io::Result<Self> {
        write!(
            w,
            "{{\n  \"schema\": {},\n  \"version\": {VERSION},\n  \"generator\": {},\n  \"cases\": [",
            Value::from(SCHEMA),
            Value::from(format!("perf-run {}", env!("CARGO_PKG_VERSION")))
        )?;
        Ok(SummaryWriter {
            w,
            out_dir: out_dir.to_path_buf(),
            cases: 0,
            counts: [0; 5],
            units: Map::new(),
        })
    }

    pub fn case(&mut self, case: &CaseResult) -> io::Result<()> {
        if self.cases > 0 {
            self.w.write_all(b",")?;
        }
        self.w.write_all(b"\n    ")?;
        let text = serde_json::to_string_pretty(&case_json(&self.out_dir, case))?;
        self.w.write_all(indent(&text, 4).as_bytes())?;
        self.cases += 1;
        let i = match case.status {
            CaseStatus::Passed => 0,
            CaseStatus::Failed => 1,
            CaseStatus::Invalid => 2,
            CaseStatus::Skipped => 3,
            CaseStatus::NotRun => 4,
        };
        self.counts[i] += 1;
        for client in &case.clients {
            for m in &client.metrics {
                if !self.units.contains_key(&m.info.name) {
                    self.units
                        .insert(m.info.name.clone(), Value::String(m.info.unit.clone()));
                }
            }
        }
        Ok(())
    }

    /// Write the closing members and hand back the writer (flushed).
    pub fn finish(mut self, run: &RunInfo) -> io::Result<W> {
        self.w
            .write_all(if self.cases > 0 { b"\n  ],\n" } else { b"],\n" })?;
        let c = self.counts;
        let rest = [
            ("run", run_json(run)),
            (
                "totals",
                json!({
                    "cases": self.cases,
                    "passed": c[0],
                    "failed": c[1],
                    "invalid": c[2],
                    "skipped": c[3],
                    "not_run": c[4],
                }),
            ),
            ("units", Value::Object(std::mem::take(&mut self.units))),
            ("upload", Value::Null),
        ];
        for (i, (key, value)) in rest.iter().enumerate() {
            let text = serde_json::to_string_pretty(value)?;
            let sep = if i + 1 < rest.len() { "," } else { "" };
            writeln!(self.w, "  \"{key}\": {}{sep}", indent(&text, 2))?;
        }
        self.w.write_all(b"}\n")?;
        self.w.flush()?;
        Ok(self.w)
    }
}

/// Indent every line but the first (JSON strings never hold a raw line break).
fn indent(text: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    text.replace('\n', &format!("\n{pad}"))
}

fn run_json(run: &RunInfo) -> Value {
    json!({
        "run_id": run.run_id,
        "started": run.started.to_rfc3339(),
        "finished": run.finished.map(|t| t.to_rfc3339()),
        "cluster": run.cluster,
        "hostname": run.hostname,
        "ip": run.ip,
        "user": run.user,
        "trtllm_commit": run.trtllm_commit,
        "trtllm_branch": run.trtllm_branch,
        "commit_time": run.commit_time,
        "build_url": run.build_url,
        "artifacts_url": run.artifacts_url,
        "sysinfo": {
            "gpu": run.sysinfo.gpu,
            "gpu_count": run.sysinfo.gpu_count,
            "driver": run.sysinfo.driver,
            "cuda": run.sysinfo.cuda,
            "os": run.sysinfo.os,
            "cpu": run.sysinfo.cpu,
            "tensorrt": run.sysinfo.tensorrt,
            "trtllm_checkout_version": run.sysinfo.trtllm_checkout,
            "trtllm_installed_version": run.sysinfo.trtllm_installed,
            "trtllm_installed_location": run.sysinfo.trtllm_location,
        },
    })
}

fn case_json(out_dir: &Path, c: &CaseResult) -> Value {
    json!({
        "test_id": c.test_id,
        "case_name": c.case_name,
        "mode": c.mode,
        "status": c.status.as_str(),
        "failure_class": c.failure_class.map(|f| f.as_str()),
        "reasons": c.reasons,
        "warnings": c.warnings,
        "job": c.job.as_ref().map(job_json),
        "junit": c.junit.as_ref().map(|j| json!({
            "status": j.status,
            "time_s": j.time_s,
            "message": j.message,
            "file": relative(out_dir, &j.file),
        })),
        "exit_marker": c.marker_exit,
        "start": c.start.map(|t| t.to_rfc3339()),
        "end": c.end.map(|t| t.to_rfc3339()),
        "duration_s": c.duration_s,
        "clients": c.clients.iter().map(|cl| client_json(out_dir, cl)).collect::<Vec<_>>(),
        "artifacts": c.artifacts_dir.as_ref().map(|d| relative(out_dir, d)),
    })
}

fn job_json(j: &JobInfo) -> Value {
    json!({
        "job_id": j.job_id,
        "state": j.state,
        "cancelled_by": j.cancelled_by,
        "exit_code": j.exit_code,
        "signal": j.signal,
        "reason": j.reason,
        "submit": j.submit.map(|t| t.to_rfc3339()),
        "start": j.start.map(|t| t.to_rfc3339()),
        "end": j.end.map(|t| t.to_rfc3339()),
        "elapsed_s": j.elapsed_s,
        "node_list": j.node_list,
        "restarts": j.restarts,
        "restart_states": j.restart_states,
        "restart_nodes": j.restart_nodes,
        "lost_s": j.lost_s,
        "suspended_s": j.suspended_s,
    })
}

fn client_json(out_dir: &Path, c: &ClientResult) -> Value {
    let mut metrics = Map::new();
    for m in &c.metrics {
        metrics.insert(m.info.name.clone(), json!(m.value));
    }
    let source = match &c.source {
        MetricSource::ClientLog(p) => json!({"kind": "client_log", "path": relative(out_dir, p)}),
        MetricSource::JunitSystemOut(p) => {
            json!({"kind": "junit_system_out", "path": relative(out_dir, p)})
        }
        MetricSource::Missing => json!({"kind": "missing", "path": null}),
    };
    json!({
        "server": c.server,
        "client": c.client,
        "validity": c.validity.as_str(),
        "reasons": c.reasons,
        "warnings": c.warnings,
        "concurrency": c.concurrency,
        "iterations": c.iterations,
        "isl": c.isl,
        "osl": c.osl,
        "model": c.model,
        "counts": {
            "total_requests": c.counts.total_requests,
            "successful_requests": c.counts.successful_requests,
            "failed_requests": c.counts.failed_requests,
            "generated_tokens": c.counts.generated_tokens,
            "num_prompts": c.counts.num_prompts,
        },
        "source": source,
        "metrics": metrics,
    })
}

/// `path` relative to `base` (both made absolute first, no file system access), with `/`.
pub fn relative(base: &Path, path: &Path) -> String {
    let abs = |p: &Path| -> PathBuf { std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()) };
    let (b, p) = (normalise(&abs(base)), normalise(&abs(path)));
    let common = b.iter().zip(p.iter()).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return path.display().to_string();
    }
    let mut parts: Vec<String> = Vec::new();
    for _ in common..b.len() {
        parts.push("..".into());
    }
    for c in &p[common..] {
        parts.push(c.clone());
    }
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

fn normalise(p: &Path) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str().to_string_lossy().into_owned()),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Reading it back.

/// `summary.json` as the later stages read it back: the uploader (`perfdb::summary`: the job
/// and test ids for its run key) and the report (`report::model`: runs, cases, clients,
/// units). One reader of the file, typed but tolerant: unknown members are ignored and missing
/// ones read as absent or empty, so files of older perf-run versions and hand-made ones read
/// too.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(default)]
pub struct SummaryFile {
    pub schema: Option<String>,
    pub version: Option<u64>,
    pub run: SummaryRun,
    pub totals: SummaryTotals,
    /// metric → `{"unit": …}` (see [`SummaryWriter`]).
    pub units: std::collections::BTreeMap<String, Value>,
    pub cases: Vec<SummaryCase>,
}

/// `run` (see `run_json`).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(default)]
pub struct SummaryRun {
    pub run_id: Option<String>,
    pub started: Option<chrono::DateTime<chrono::Utc>>,
    pub finished: Option<chrono::DateTime<chrono::Utc>>,
    pub cluster: Option<String>,
    pub hostname: Option<String>,
    pub user: Option<String>,
    pub trtllm_commit: Option<String>,
    pub trtllm_branch: Option<String>,
    pub build_url: Option<String>,
    pub sysinfo: std::collections::BTreeMap<String, Value>,
}

/// `totals`: cases by status.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SummaryTotals {
    pub cases: usize,
    pub passed: usize,
    pub failed: usize,
    pub invalid: usize,
    pub skipped: usize,
    pub not_run: usize,
}

/// One member of `cases` (see [`case_json`]).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(default)]
pub struct SummaryCase {
    /// As written; a number in an older or hand-made file reads as its text, anything else
    /// as "".
    #[serde(deserialize_with = "id_text")]
    pub test_id: String,
    pub case_name: String,
    pub mode: String,
    pub status: String,
    pub failure_class: Option<String>,
    pub reasons: Vec<String>,
    pub warnings: Vec<String>,
    pub job: Option<SummaryJob>,
    pub clients: Vec<SummaryClient>,
    /// Not written by version 1 today; read when a later writer adds it.
    pub servers: Vec<SummaryServer>,
}

/// `cases[].job` (see [`job_json`]).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(default)]
pub struct SummaryJob {
    pub job_id: Option<IdText>,
}

/// `cases[].clients[]`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(default)]
pub struct SummaryClient {
    pub server: String,
    pub client: String,
    pub validity: String,
    pub reasons: Vec<String>,
    pub concurrency: Option<u64>,
    pub iterations: Option<u64>,
    pub isl: Option<u64>,
    pub osl: Option<u64>,
    pub metrics: Map<String, Value>,
}

/// `cases[].servers[]` (a later writer's).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(default)]
pub struct SummaryServer {
    pub gpus: Option<u32>,
}

fn id_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let id: Option<IdText> = serde::Deserialize::deserialize(d)?;
    Ok(id.and_then(|i| i.text()).unwrap_or_default())
}

/// An id: a string as perf-run writes it, or a number (older or hand-made files); anything
/// else is no id.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(untagged)]
pub enum IdText {
    Text(String),
    Number(serde_json::Number),
    Other(serde::de::IgnoredAny),
}

impl IdText {
    /// The id as text; `None` for an empty string or a value that is not an id.
    pub fn text(&self) -> Option<String> {
        match self {
            IdText::Text(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            IdText::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

impl SummaryFile {
    pub fn parse(text: &str) -> serde_json::Result<SummaryFile> {
        serde_json::from_str(text)
    }

    /// `(job ids, test ids)` of the cases, in order, those that have one.
    pub fn ids(&self) -> (Vec<String>, Vec<String>) {
        let jobs = self
            .cases
            .iter()
            .filter_map(|c| c.job.as_ref()?.job_id.as_ref()?.text())
            .collect();
        let tests = self
            .cases
            .iter()
            .map(|c| c.test_id.clone())
            .filter(|t| !t.is_empty())
            .collect();
        (jobs, tests)
    }
}

/// Record in `summary.json` that the results were uploaded (TRT_perf run id and link).
/// Atomic: the file is rewritten under a temporary name and renamed.
pub fn record_upload(summary_path: &Path, run_id: u64, link: &str) -> Result<(), OutputError> {
    record_upload_with(summary_path, run_id, link, None)
}

/// [`record_upload`], also recording under `upload.run_values` where each value of the
/// `runs` row came from (the uploader's `runinfo::run_values_json`).
pub fn record_upload_with(
    summary_path: &Path,
    run_id: u64,
    link: &str,
    run_values: Option<&Value>,
) -> Result<(), OutputError> {
    let text = std::fs::read_to_string(summary_path).map_err(|error| OutputError::Read {
        path: summary_path.to_path_buf(),
        error,
    })?;
    let mut doc: Value = serde_json::from_str(&text).map_err(|e| OutputError::NotASummary {
        why: format!(
            "{} is not valid JSON, so the upload cannot be recorded in it: {e}",
            summary_path.display()
        ),
    })?;
    let schema = doc.get("schema").and_then(Value::as_str);
    let version = doc.get("version").and_then(Value::as_u64);
    if schema != Some(SCHEMA) || version != Some(VERSION) {
        return Err(OutputError::NotASummary {
            why: format!(
                "{} is not a perf-run summary (schema {:?}, version {:?}; expected {SCHEMA:?} version {VERSION})",
                summary_path.display(),
                schema.unwrap_or("missing"),
                version
            ),
        });
    }
    let Some(obj) = doc.as_object_mut() else {
        return Err(OutputError::NotASummary {
            why: format!("{} does not hold a JSON object", summary_path.display()),
        });
    };
    let mut upload = json!({
        "run_id": run_id,
        "link": link,
        "at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    if let (Some(values), Some(u)) = (run_values, upload.as_object_mut()) {
        u.insert("run_values".into(), values.clone());
    }
    obj.insert("upload".into(), upload);
    super::write_atomic(summary_path, |w| {
        serde_json::to_writer_pretty(&mut *w, &doc)?;
        w.write_all(b"\n")
    })
    .map_err(|error| OutputError::Write {
        path: summary_path.to_path_buf(),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_summary_is_valid_json() {
        let run = RunInfo::new("r", chrono::Utc::now());
        let mut buf = Vec::new();
        write(&mut buf, Path::new("/out"), &run, &[]).expect("write");
        let v: Value = serde_json::from_slice(&buf).expect("valid JSON");
        assert_eq!(v["cases"], json!([]));
        assert_eq!(v["totals"]["cases"], 0);
        assert!(v["upload"].is_null());
    }

    /// What the writer writes reads back; older and hand-made files read too.
    #[test]
    fn summary_reads_back_typed_and_tolerant() {
        use crate::results::model::{CaseResult, CaseStatus, JobInfo};
        let run = RunInfo::new("r", chrono::Utc::now());
        let case = CaseResult {
            test_id: "perf/test_perf_sanity.py::test_e2e[a]".into(),
            case_name: "a".into(),
            mode: "single-agg".into(),
            status: CaseStatus::Passed,
            failure_class: None,
            reasons: vec![],
            warnings: vec![],
            job: Some(JobInfo {
                job_id: "4242".into(),
                ..Default::default()
            }),
            junit: None,
            clients: vec![],
            servers: vec![],
            artifacts_dir: None,
            marker_exit: None,
            start: None,
            end: None,
            duration_s: None,
        };
        let mut buf = Vec::new();
        write(&mut buf, Path::new("/out"), &run, &[case]).expect("write");
        let doc = SummaryFile::parse(std::str::from_utf8(&buf).expect("utf-8")).expect("reads");
        assert_eq!(doc.schema.as_deref(), Some(SCHEMA));
        assert_eq!(
            doc.ids(),
            (
                vec!["4242".to_string()],
                vec!["perf/test_perf_sanity.py::test_e2e[a]".to_string()]
            )
        );
        let old = r#"{"cases":[{"test_id":"t1","job":{"job_id":124}},{"test_id":"t2","job":null},{"test_id":" ","job":{"job_id":true}},{"job":{}},{}],"future":1}"#;
        let doc = SummaryFile::parse(old).expect("tolerant");
        assert_eq!(
            doc.ids(),
            (
                vec!["124".to_string()],
                vec!["t1".to_string(), "t2".to_string()]
            )
        );
        assert_eq!(
            SummaryFile::parse("{}").expect("empty").ids(),
            (vec![], vec![])
        );
        assert!(SummaryFile::parse("[1]").is_err());
    }

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative(Path::new("/a/b/out"), Path::new("/a/b/run/x")),
            "../run/x"
        );
        assert_eq!(
            relative(Path::new("/a/b"), Path::new("/a/b/c.log")),
            "c.log"
        );
        assert_eq!(relative(Path::new("/a/b"), Path::new("/a/b")), ".");
        assert_eq!(
            relative(Path::new("out"), Path::new("out/../run")),
            "../run"
        );
    }
}
