//! Extraction: from a case's artifacts directory (pipeline) or from loose files
//! (`perf-run extract --junit-xml … --log …`) to a `CaseResult`.
//!
//! Artifacts layout (DESIGN.md, reference §7.1), any part may be missing:
//! `results.xml`, `results-<ROLE>.xml`, `slurm-<jobid>.log`, `logs/<role>.log`,
//! `<case_name>/trtllm-benchmark.<server_idx>.<client_idx>.log`, `<case_name>/*.log`,
//! `sysinfo/*.txt`, `perf_run_exit`.
//!
//! Client logs are the primary metric source; without one, the result blocks of the case's
//! JUnit `<system-out>` are used in order.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, Utc};

use super::classify::{Evidence, classify};
use super::junit::{JunitCase, JunitError, JunitStatus, bracket_of, read_junit, read_junit_each};
use super::metrics::{Block, BlockMode, MetricConfig, ScanOutput, scan_file};
use super::model::{
    CaseContext, CaseResult, ClientMeta, ClientResult, JunitVerdict, MetricSource, ServerMeta,
    SysInfo, UNKNOWN,
};
use super::validity::{ClientId, judge};

/// Lines of a client log kept to explain a missing result.
const LOG_TAIL: usize = 3;

/// What was gathered for a case before classification.
#[derive(Debug, Default)]
struct Gathered {
    clients: Vec<ClientResult>,
    junit: Option<JunitVerdict>,
    junit_status: Option<JunitStatus>,
    suite_timestamp: Option<String>,
    worker_failures: Vec<String>,
    /// (signature, where)
    oom: Option<(String, String)>,
    /// pytest-timeout's banner and the log it was seen in.
    pytest_timeout: Option<String>,
    marker_exit: Option<i32>,
    warnings: Vec<String>,
    /// Why there is no client at all.
    no_clients_why: Option<String>,
    any_evidence: bool,
}

/// Extract one case of a pipeline run from its (local copy of the) job workspace.
///
/// Missing, empty, truncated or malformed files are not errors: they become reasons and
/// warnings on the result. The `Result` is for the unexpected only.
pub fn extract_case(ctx: &CaseContext, metrics: &MetricConfig) -> anyhow::Result<CaseResult> {
    let mut g = Gathered::default();
    if ctx.skipped.is_some() {
        return Ok(finish_case(ctx, g));
    }
    let dir = ctx.artifacts_dir.as_deref().filter(|d| d.is_dir());
    let Some(dir) = dir else {
        if let Some(d) = &ctx.artifacts_dir
            && ctx.job.is_some()
        {
            g.warnings.push(format!(
                "the artifacts directory {} does not exist, so no result file could be read",
                d.display()
            ));
        }
        g.no_clients_why = Some("no artifacts were collected for this case".into());
        let planned = planned_clients(&ctx.servers);
        g.clients = planned
            .iter()
            .map(|id| {
                judge(
                    id,
                    None,
                    metrics,
                    MetricSource::Missing,
                    "no artifacts were collected",
                )
            })
            .collect();
        return Ok(finish_case(ctx, g));
    };

    g.marker_exit = read_marker(&dir.join(crate::plan::workspace::EXIT_MARKER));
    let case_dir = dir.join(&ctx.case_name);
    let case_dir = (!ctx.case_name.is_empty() && case_dir.is_dir()).then_some(case_dir);

    // JUnit: the BENCHMARK / aggregated report and the disagg worker reports.
    let mut junit_case: Option<(JunitCase, PathBuf)> = None;
    for path in junit_files(dir) {
        let role = role_of_junit(&path);
        let want = |name: &str, classname: &str| junit_matches(ctx, name, classname);
        match read_junit(&path, metrics, &want) {
            Ok(report) => {
                g.any_evidence = true;
                g.warnings.extend(report.warnings.iter().cloned());
                let mine = report
                    .cases
                    .into_iter()
                    .rfind(|c| junit_matches(ctx, &c.name, &c.classname));
                match (role, mine) {
                    (None, Some(c)) => junit_case = Some((c, path.clone())),
                    (Some(role), Some(c)) => {
                        if matches!(c.status, JunitStatus::Failed | JunitStatus::Error) {
                            let msg = c.message.as_deref().map(first_line).unwrap_or("no message");
                            g.worker_failures
                                .push(format!("worker {role} reported a failure: {msg}"));
                        }
                        if g.oom.is_none()
                            && let Some(sig) = oom_of_case(&c)
                        {
                            g.oom = Some((sig, rel(dir, &path)));
                        }
                    }
                    (None, None) => g.warnings.push(format!(
                        "{} has no test case for {}",
                        rel(dir, &path),
                        ctx.case_name
                    )),
                    (Some(_), None) => {}
                }
            }
            Err(e) => g
                .warnings
                .push(format!("{e}; its verdict and output are ignored")),
        }
    }

    // Client logs.
    let logs = case_dir.as_deref().map(client_logs).unwrap_or_default();
    if !logs.is_empty() {
        g.any_evidence = true;
    }
    let mut ids = planned_clients(&ctx.servers);
    for &(s, c) in logs.keys() {
        if !ids
            .iter()
            .any(|id| id.server_idx == s && id.client_idx == c)
        {
            ids.push(unplanned_id(&ctx.servers, s, c));
        }
    }
    let junit_blocks: Vec<Block> = junit_case
        .as_ref()
        .and_then(|(c, _)| c.out.as_ref())
        .map(|o| o.blocks.clone())
        .unwrap_or_default();
    let junit_path = junit_case.as_ref().map(|(_, p)| p.clone());
    if ids.is_empty() {
        for j in 0..junit_blocks.len() {
            ids.push(ClientId {
                server: "server0".into(),
                client: format!("client{j}"),
                server_idx: 0,
                client_idx: j,
                meta: None,
            });
        }
    }
    let mut next_block = 0usize;
    for id in &ids {
        if let Some(log) = logs.get(&(id.server_idx, id.client_idx)) {
            let (client, oom) = client_from_log(id, log, metrics, &rel(dir, log));
            if g.oom.is_none() {
                g.oom = oom.map(|s| (s, rel(dir, log)));
            }
            g.clients.push(client);
        } else if let (Some(block), Some(p)) = (junit_blocks.get(next_block), &junit_path) {
            next_block += 1;
            g.clients.push(judge(
                id,
                Some(block),
                metrics,
                MetricSource::JunitSystemOut(p.clone()),
                "",
            ));
        } else {
            let expected = format!(
                "{}/trtllm-benchmark.{}.{}.log",
                ctx.case_name, id.server_idx, id.client_idx
            );
            let why = if junit_path.is_some() {
                format!(
                    "there is no client log {expected} and no result block for it in the JUnit output"
                )
            } else {
                format!("there is no client log {expected} and no JUnit report")
            };
            g.clients
                .push(judge(id, None, metrics, MetricSource::Missing, &why));
        }
    }
    if g.clients.is_empty() {
        g.no_clients_why = Some(match (&case_dir, &junit_path) {
            (None, None) => format!(
                "no benchmark result was found: there is no output directory {}/ and no JUnit report",
                ctx.case_name
            ),
            (Some(_), None) => format!(
                "no benchmark result was found: {}/ has no trtllm-benchmark.*.log and there is no JUnit report",
                ctx.case_name
            ),
            (_, Some(p)) => format!(
                "no benchmark result was found: no client log under {}/ and no result block in {}",
                ctx.case_name,
                rel(dir, p)
            ),
        });
    }

    if let Some((c, path)) = &junit_case {
        g.junit_status = Some(c.status);
        g.suite_timestamp = c.suite_timestamp.clone();
        g.junit = Some(verdict_of(c, path));
        if g.oom.is_none()
            && let Some(sig) = oom_of_case(c)
        {
            g.oom = Some((sig, rel(dir, path)));
        }
    }

    // Out-of-memory signatures in the batch log, role logs and server logs.
    if g.oom.is_none() {
        let mut others = other_logs(dir);
        if let Some(cd) = &case_dir {
            others.extend(
                list_files(cd)
                    .into_iter()
                    .filter(|p| is_log(p) && parse_client_log_name(p).is_none()),
            );
        }
        for p in &others {
            g.any_evidence = true;
            if let Ok(Some(sig)) = find_signature(p, metrics.oom_signatures()) {
                g.oom = Some((sig, rel(dir, p)));
                break;
            }
        }
    }
    // pytest's per-test timeout (inside Slurm's limit, D8): the thread method prints this
    // banner, dumps the stacks and exits without a JUnit report.
    for p in other_logs(dir) {
        if let Ok(Some(_)) = find_signature(&p, &[PYTEST_TIMEOUT_BANNER.to_string()]) {
            g.pytest_timeout = Some(rel(dir, &p));
            break;
        }
    }
    Ok(finish_case(ctx, g))
}

/// What pytest-timeout prints when a test overruns its `--timeout` (both methods).
const PYTEST_TIMEOUT_BANNER: &str = "+++++++++++++++++++ Timeout +++++++++++++++++++";

/// Loose inputs for `perf-run extract`.
#[derive(Debug, Clone, Default)]
pub struct LooseInputs {
    pub junit: Vec<PathBuf>,
    pub logs: Vec<PathBuf>,
    /// "single-agg" | "multi-agg" | "disagg"; inferred from the case name when `None`.
    pub mode: Option<String>,
}

/// What `extract_loose` found.
#[derive(Debug, Clone, Default)]
pub struct LooseExtraction {
    pub cases: Vec<CaseResult>,
    /// Problems with the inputs as a whole (truncated JUnit, …).
    pub warnings: Vec<String>,
    /// Bytes read from the inputs.
    pub bytes: u64,
}

/// A loose input that cannot be used at all.
#[derive(Debug, thiserror::Error)]
pub enum LooseError {
    #[error(transparent)]
    Junit(#[from] JunitError),
    #[error("the log file {path} does not exist")]
    MissingLog { path: PathBuf },
    #[error("there is nothing to extract: give --junit-xml FILE and/or --log FILE…")]
    Nothing,
}

/// Extract from JUnit files and client logs given on the command line.
///
/// Each JUnit `<testcase>` is a case; logs are grouped into cases by the directory that holds
/// them (the per-test output directory `<case_name>/` of §7.1) and joined to the JUnit case of
/// the same name, whose verdict they then share. Logs named `trtllm-benchmark.<s>.<c>.log`
/// give server/client indices; other names are clients of `server0` in the order given.
pub fn extract_loose(
    inputs: &LooseInputs,
    metrics: &MetricConfig,
) -> Result<LooseExtraction, LooseError> {
    let mut cases = Vec::new();
    let done = extract_loose_each(inputs, metrics, &mut |c| cases.push(c))?;
    Ok(LooseExtraction {
        cases,
        warnings: done.warnings,
        bytes: done.bytes,
    })
}

/// What `extract_loose_each` saw besides the cases.
#[derive(Debug, Clone, Default)]
pub struct LooseSummary {
    pub cases: usize,
    pub warnings: Vec<String>,
    pub bytes: u64,
}

/// Like `extract_loose`, but hands each case to `on_case` as soon as it is complete, so a
/// JUnit file with any number of test cases is processed in flat memory.
pub fn extract_loose_each(
    inputs: &LooseInputs,
    metrics: &MetricConfig,
    on_case: &mut dyn FnMut(CaseResult),
) -> Result<LooseSummary, LooseError> {
    if inputs.junit.is_empty() && inputs.logs.is_empty() {
        return Err(LooseError::Nothing);
    }
    for p in &inputs.logs {
        if !p.is_file() {
            return Err(LooseError::MissingLog { path: p.clone() });
        }
    }
    let mut out = LooseSummary::default();

    // Group logs by their directory.
    let mut groups: Vec<(String, Vec<PathBuf>)> = Vec::new();
    for p in &inputs.logs {
        let name = p
            .parent()
            .and_then(|d| d.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "logs".to_string());
        match groups.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => v.push(p.clone()),
            None => groups.push((name, vec![p.clone()])),
        }
    }

    // Each JUnit test case becomes a case as soon as it is read.
    let mut used_groups = vec![false; groups.len()];
    for path in &inputs.junit {
        let mut bytes = 0u64;
        let mut n = 0usize;
        let report = read_junit_each(path, metrics, &|_, _| true, &mut |jc: JunitCase| {
            let case_name = jc.bracket().unwrap_or(&jc.name).to_string();
            let gi = groups.iter().position(|(n, _)| *n == case_name);
            let logs = gi.map(|i| {
                used_groups[i] = true;
                groups[i].1.as_slice()
            });
            let ctx = loose_ctx(jc.node_id(), case_name, inputs.mode.as_deref());
            on_case(loose_case(
                &ctx,
                Some((&jc, path)),
                logs,
                metrics,
                &mut bytes,
            ));
            n += 1;
        })?;
        out.cases += n;
        out.bytes += report.bytes + bytes;
        out.warnings.extend(report.warnings);
    }
    for (i, (name, logs)) in groups.iter().enumerate() {
        if used_groups[i] {
            continue;
        }
        let test_id = if name.starts_with("aggr") || name.starts_with("disagg") {
            format!("perf/test_perf_sanity.py::test_e2e[{name}]")
        } else {
            name.clone()
        };
        let ctx = loose_ctx(test_id, name.clone(), inputs.mode.as_deref());
        on_case(loose_case(&ctx, None, Some(logs), metrics, &mut out.bytes));
        out.cases += 1;
    }
    Ok(out)
}

fn loose_ctx(test_id: String, case_name: String, mode: Option<&str>) -> CaseContext {
    let mode = mode
        .map(str::to_string)
        .unwrap_or_else(|| infer_mode(&case_name));
    CaseContext {
        test_id,
        case_name,
        mode,
        ..CaseContext::default()
    }
}

/// `disagg` when the case prefix says so (reference §3), else `single-agg` (a log cannot tell
/// a multi-node aggregated server from a single-node one; pass `--mode` to say).
pub fn infer_mode(case_name: &str) -> String {
    let prefix = case_name.split('-').next().unwrap_or_default();
    if prefix.contains("disagg") {
        "disagg".into()
    } else {
        "single-agg".into()
    }
}

fn loose_case(
    ctx: &CaseContext,
    junit: Option<(&JunitCase, &PathBuf)>,
    logs: Option<&[PathBuf]>,
    metrics: &MetricConfig,
    bytes: &mut u64,
) -> CaseResult {
    let mut g = Gathered {
        any_evidence: true,
        ..Gathered::default()
    };
    if let Some(logs) = logs {
        let mut other = 0usize;
        let mut seen = std::collections::HashSet::new();
        for p in logs {
            let id = match parse_client_log_name(p) {
                Some((s, c)) if seen.insert((s, c)) => unplanned_id(&[], s, c),
                _ => {
                    let stem = p
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_else(|| format!("client{other}"));
                    other += 1;
                    ClientId {
                        server: "server0".into(),
                        client: stem,
                        server_idx: 0,
                        client_idx: other - 1,
                        meta: None,
                    }
                }
            };
            *bytes += std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
            let (client, oom) = client_from_log(&id, p, metrics, &p.display().to_string());
            if g.oom.is_none() {
                g.oom = oom.map(|s| (s, p.display().to_string()));
            }
            g.clients.push(client);
        }
    } else if let Some((jc, path)) = junit {
        let blocks = jc.out.as_ref().map(|o| o.blocks.as_slice()).unwrap_or(&[]);
        for (j, b) in blocks.iter().enumerate() {
            let id = ClientId {
                server: "server0".into(),
                client: format!("client{j}"),
                server_idx: 0,
                client_idx: j,
                meta: None,
            };
            g.clients.push(judge(
                &id,
                Some(b),
                metrics,
                MetricSource::JunitSystemOut(path.clone()),
                "",
            ));
        }
        if g.clients.is_empty() {
            g.no_clients_why = Some(format!(
                "no benchmark result was found: the JUnit output of {} has no result block",
                jc.name
            ));
        }
    }
    if let Some((jc, path)) = junit {
        g.junit_status = Some(jc.status);
        g.suite_timestamp = jc.suite_timestamp.clone();
        g.junit = Some(verdict_of(jc, path));
        if g.oom.is_none()
            && let Some(sig) = oom_of_case(jc)
        {
            g.oom = Some((sig, path.display().to_string()));
        }
    }
    finish_case(ctx, g)
}

/// Scan one client log; the client result and any out-of-memory signature in it.
fn client_from_log(
    id: &ClientId,
    path: &Path,
    metrics: &MetricConfig,
    shown: &str,
) -> (ClientResult, Option<String>) {
    let source = MetricSource::ClientLog(path.to_path_buf());
    let size = std::fs::metadata(path).map(|m| m.len());
    if let Ok(0) = size {
        let why = format!("the client log {shown} is empty (0 bytes)");
        return (judge(id, None, metrics, source, &why), None);
    }
    match scan_file(path, metrics, BlockMode::Merge, LOG_TAIL) {
        Ok((scan, _stats)) => {
            let oom = scan.oom.as_ref().map(|(s, _)| s.clone());
            let why = no_block_why(shown, &scan);
            (judge(id, scan.blocks.first(), metrics, source, &why), oom)
        }
        Err(e) => {
            let why = format!("the client log {shown} could not be read: {e}");
            (judge(id, None, metrics, source, &why), None)
        }
    }
}

fn no_block_why(shown: &str, scan: &ScanOutput) -> String {
    let ends = scan
        .tail
        .last()
        .map(|l| format!("; its last line is `{}`", l.trim()))
        .unwrap_or_default();
    format!(
        "the client log {shown} ({} lines) has no `Serving Benchmark Result` block{ends}",
        scan.lines
    )
}

fn verdict_of(c: &JunitCase, path: &Path) -> JunitVerdict {
    let message = c
        .message
        .clone()
        .or_else(|| (!c.detail_tail.is_empty()).then(|| c.detail_tail.join("\n")));
    JunitVerdict {
        status: c.status.as_str().to_string(),
        time_s: c.time_s,
        message,
        file: path.to_path_buf(),
    }
}

fn oom_of_case(c: &JunitCase) -> Option<String> {
    c.oom.clone().or_else(|| {
        c.out
            .as_ref()
            .and_then(|o| o.oom.as_ref())
            .map(|(s, _)| s.clone())
    })
}

/// Classify and assemble.
fn finish_case(ctx: &CaseContext, g: Gathered) -> CaseResult {
    let measured = g.clients.iter().any(|c| !c.metrics.is_empty());
    let mut invalid: Vec<String> = g
        .clients
        .iter()
        .flat_map(|c| c.reasons.iter().cloned())
        .collect();
    if g.clients.is_empty() {
        if let Some(why) = &g.no_clients_why {
            invalid.push(why.clone());
        } else {
            invalid.push("no benchmark result was found".into());
        }
    }
    let oom = g.oom.as_ref().map(|(s, w)| (s.as_str(), w.as_str()));
    let verdict = classify(&Evidence {
        infra_error: ctx.infra_error.as_deref(),
        skipped: ctx.skipped.as_deref(),
        job: ctx.job.as_ref(),
        marker_exit: g.marker_exit,
        oom_signature: oom,
        pytest_timeout: g.pytest_timeout.as_deref(),
        junit_status: g.junit_status,
        junit_message: g.junit.as_ref().and_then(|j| j.message.as_deref()),
        worker_failures: &g.worker_failures,
        measured,
        invalid_reasons: &invalid,
        any_evidence: g.any_evidence,
    });
    let mut warnings = g.warnings;
    for c in &g.clients {
        warnings.extend(c.warnings.iter().cloned());
    }
    let job = ctx.job.as_ref();
    let junit_start = g.suite_timestamp.as_deref().and_then(parse_timestamp);
    let duration_s = job
        .and_then(|j| j.elapsed_s)
        .or_else(|| g.junit.as_ref().and_then(|j| j.time_s))
        .or_else(
            || match (job.and_then(|j| j.start), job.and_then(|j| j.end)) {
                (Some(s), Some(e)) => Some((e - s).num_milliseconds() as f64 / 1000.0),
                _ => None,
            },
        );
    let start = job.and_then(|j| j.start).or(junit_start);
    let end = job.and_then(|j| j.end).or_else(|| {
        let (s, d) = (start?, duration_s?);
        Some(s + chrono::Duration::milliseconds((d * 1000.0).round() as i64))
    });
    CaseResult {
        test_id: ctx.test_id.clone(),
        case_name: ctx.case_name.clone(),
        mode: ctx.mode.clone(),
        status: verdict.status,
        failure_class: verdict.class,
        reasons: verdict.reasons,
        warnings,
        job: ctx.job.clone(),
        junit: g.junit,
        clients: g.clients,
        servers: ctx.servers.clone(),
        artifacts_dir: ctx.artifacts_dir.clone(),
        marker_exit: g.marker_exit,
        start,
        end,
        duration_s,
    }
}

/// pytest writes `2025-10-31T00:53:53.123456` (local time, no zone) or with an offset.
fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    None
}

fn first_line(s: &str) -> &str {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or(s).trim()
}

/// The servers that run benchmark clients, in plan order; their position is the
/// `<server_idx>` of `trtllm-benchmark.<server_idx>.<client_idx>.log`. (A disagg plan may also
/// list its ctx/gen workers, which have no clients of their own.)
fn benchmarked(servers: &[ServerMeta]) -> Vec<&ServerMeta> {
    let with_clients: Vec<&ServerMeta> = servers.iter().filter(|s| !s.clients.is_empty()).collect();
    if with_clients.is_empty() {
        servers.iter().collect()
    } else {
        with_clients
    }
}

/// The plan's clients in run order (server by server, client by client).
fn planned_clients(servers: &[ServerMeta]) -> Vec<ClientId> {
    let mut ids = Vec::new();
    for (s, server) in benchmarked(servers).into_iter().enumerate() {
        for (c, client) in server.clients.iter().enumerate() {
            ids.push(ClientId {
                server: name_or(&server.name, || format!("server{s}")),
                client: name_or(&client.name, || format!("client{c}")),
                server_idx: s,
                client_idx: c,
                meta: Some(client.clone()),
            });
        }
    }
    ids
}

fn unplanned_id(servers: &[ServerMeta], s: usize, c: usize) -> ClientId {
    let server = benchmarked(servers).get(s).copied();
    let client: Option<&ClientMeta> = server.and_then(|sv| sv.clients.get(c));
    ClientId {
        server: server
            .map(|sv| name_or(&sv.name, || format!("server{s}")))
            .unwrap_or_else(|| format!("server{s}")),
        client: client
            .map(|cl| name_or(&cl.name, || format!("client{c}")))
            .unwrap_or_else(|| format!("client{c}")),
        server_idx: s,
        client_idx: c,
        meta: client.cloned(),
    }
}

fn name_or(name: &str, default: impl FnOnce() -> String) -> String {
    if name.trim().is_empty() {
        default()
    } else {
        name.to_string()
    }
}

/// Does a JUnit test case belong to this pipeline case?
fn junit_matches(ctx: &CaseContext, name: &str, classname: &str) -> bool {
    if !ctx.case_name.is_empty() && bracket_of(name) == Some(ctx.case_name.as_str()) {
        return true;
    }
    if ctx.test_id.is_empty() {
        return false;
    }
    let id = super::junit::node_id(classname, name);
    id == ctx.test_id || ctx.test_id.ends_with(&format!("::{name}"))
}

/// `results.xml` first, then `results-<ROLE>.xml` sorted.
fn junit_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = list_files(dir)
        .into_iter()
        .filter(|p| {
            let n = file_name(p);
            n == "results.xml" || (n.starts_with("results-") && n.ends_with(".xml"))
        })
        .collect();
    files.sort_by_key(|p| (file_name(p) != "results.xml", file_name(p)));
    files
}

/// `results-GEN_0.xml` → `GEN_0`; `results.xml` → None.
fn role_of_junit(p: &Path) -> Option<String> {
    let n = file_name(p);
    n.strip_prefix("results-")
        .and_then(|r| r.strip_suffix(".xml"))
        .map(str::to_string)
}

/// `trtllm-benchmark.<s>.<c>.log` → (s, c).
pub fn parse_client_log_name(p: &Path) -> Option<(usize, usize)> {
    let n = file_name(p);
    let mid = n.strip_prefix("trtllm-benchmark.")?.strip_suffix(".log")?;
    let (s, c) = mid.split_once('.')?;
    Some((s.parse().ok()?, c.parse().ok()?))
}

fn client_logs(case_dir: &Path) -> BTreeMap<(usize, usize), PathBuf> {
    list_files(case_dir)
        .into_iter()
        .filter_map(|p| parse_client_log_name(&p).map(|k| (k, p)))
        .collect()
}

/// The batch log and role logs.
fn other_logs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = list_files(dir)
        .into_iter()
        .filter(|p| {
            let n = file_name(p);
            (n.starts_with("slurm-") || n.starts_with("slurm_")) && is_log(p)
        })
        .collect();
    v.extend(
        list_files(&dir.join("logs"))
            .into_iter()
            .filter(|p| is_log(p)),
    );
    v
}

fn is_log(p: &Path) -> bool {
    file_name(p).ends_with(".log")
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Regular files in a directory, sorted by name; empty when it cannot be read.
fn list_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// A path for messages: relative to the artifacts directory when inside it.
fn rel(dir: &Path, p: &Path) -> String {
    p.strip_prefix(dir).unwrap_or(p).display().to_string()
}

/// `perf_run_exit`: `<exit code> <unix time>`.
fn read_marker(p: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(p).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// The first of `signatures` found in a file (streamed in chunks, any size).
pub fn find_signature(path: &Path, signatures: &[String]) -> io::Result<Option<String>> {
    if signatures.is_empty() {
        return Ok(None);
    }
    let finders: Vec<memchr::memmem::Finder<'_>> = signatures
        .iter()
        .map(|s| memchr::memmem::Finder::new(s.as_bytes()))
        .collect();
    let overlap = signatures.iter().map(|s| s.len()).max().unwrap_or(1) - 1;
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut kept = 0usize;
    loop {
        let n = match f.read(&mut buf[kept..]) {
            Ok(0) => return Ok(None),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let data = &buf[..kept + n];
        for (i, fd) in finders.iter().enumerate() {
            if fd.find(data).is_some() {
                return Ok(Some(signatures[i].clone()));
            }
        }
        let keep = overlap.min(data.len());
        let len = data.len();
        buf.copy_within(len - keep..len, 0);
        kept = keep;
    }
}

/// Read `sysinfo/{gpu,driver,cuda,os,cpu}.txt` (written by the batch script); a missing or
/// empty file gives "unknown". `gpu.txt` may list one GPU name per line (`nvidia-smi
/// --query-gpu=name`); the first name is used and the lines are counted.
pub fn read_sysinfo(dir: &Path) -> SysInfo {
    let d = if dir.join("sysinfo").is_dir() {
        dir.join("sysinfo")
    } else {
        dir.to_path_buf()
    };
    let read = |name: &str| -> Option<String> {
        let mut f = File::open(d.join(format!("{name}.txt"))).ok()?;
        let mut buf = Vec::new();
        // Never read more than a few KiB of a "one line" file.
        f.by_ref().take(16 * 1024).read_to_end(&mut buf).ok()?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let cleaned: Vec<String> = text
            .lines()
            .map(|l| l.chars().filter(|c| !c.is_control()).collect::<String>())
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        (!cleaned.is_empty()).then(|| cleaned.join("\n"))
    };
    let one_line = |v: Option<String>| -> String {
        v.and_then(|s| s.lines().next().map(str::to_string))
            .unwrap_or_else(|| UNKNOWN.to_string())
    };
    let gpu_raw = read("gpu");
    let gpu_count = gpu_raw.as_ref().map(|g| g.lines().count() as u32);
    // reference §7.3: gpu.txt has the GPU name with `_` for spaces.
    let gpu = one_line(gpu_raw).replace('_', " ");
    SysInfo {
        gpu,
        driver: one_line(read("driver")),
        cuda: one_line(read("cuda")),
        os: one_line(read("os")),
        cpu: one_line(read("cpu")),
        gpu_count,
        tensorrt: one_line(read("tensorrt_version")),
        trtllm_checkout: one_line(read("trtllm_version")),
        trtllm_installed: one_line(read("trtllm_installed_version")),
        trtllm_location: one_line(read("trtllm_installed_location")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::model::{CaseStatus, FailureClass, JobInfo, Validity};

    const DOCS: &str = include_str!(
        "../../tests/fixtures/trtllm/benchmark-output/benchmark_serving_output_docs_example.txt"
    );

    fn cfg() -> MetricConfig {
        MetricConfig::builtin().expect("built-in config")
    }

    fn ctx(dir: &Path) -> CaseContext {
        CaseContext {
            test_id: "perf/test_perf_sanity.py::test_e2e[aggr_upload-cfg-srv]".into(),
            case_name: "aggr_upload-cfg-srv".into(),
            mode: "single-agg".into(),
            artifacts_dir: Some(dir.to_path_buf()),
            job: Some(JobInfo {
                job_id: "77".into(),
                state: crate::slurm::BaseState::Completed,
                exit_code: Some(0),
                ..JobInfo::default()
            }),
            servers: vec![ServerMeta {
                name: "srv".into(),
                model: "deepseek-r1-fp4".into(),
                precision: Some("fp4".into()),
                max_batch_size: Some(512),
                tp: 4,
                ep: 4,
                pp: 1,
                cp: 1,
                gpus: 4,
                clients: vec![
                    ClientMeta {
                        name: "con8_iter10_1k1k".into(),
                        concurrency: 8,
                        iterations: 10,
                        isl: 1024,
                        osl: 1024,
                    },
                    ClientMeta {
                        name: "con64_iter10_1k1k".into(),
                        concurrency: 64,
                        iterations: 10,
                        isl: 1024,
                        osl: 1024,
                    },
                ],
            }],
            ..CaseContext::default()
        }
    }

    fn write(p: &Path, text: &str) {
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(p, text).expect("write");
    }

    #[test]
    fn complete_artifacts_pass() {
        let t = tempfile::tempdir().expect("tempdir");
        let case = t.path().join("aggr_upload-cfg-srv");
        write(&case.join("trtllm-benchmark.0.0.log"), DOCS);
        write(&case.join("trtllm-benchmark.0.1.log"), DOCS);
        write(&t.path().join("perf_run_exit"), "0 1730000000\n");
        let r = extract_case(&ctx(t.path()), &cfg()).expect("extract");
        assert_eq!(r.status, CaseStatus::Passed, "{:?}", r.reasons);
        assert_eq!(r.clients.len(), 2);
        assert_eq!(r.clients[1].client, "con64_iter10_1k1k");
        assert_eq!(r.clients[1].concurrency, Some(64));
        assert_eq!(r.marker_exit, Some(0));
    }

    #[test]
    fn missing_client_log_makes_it_invalid_with_the_expected_path() {
        let t = tempfile::tempdir().expect("tempdir");
        write(
            &t.path()
                .join("aggr_upload-cfg-srv/trtllm-benchmark.0.0.log"),
            DOCS,
        );
        let r = extract_case(&ctx(t.path()), &cfg()).expect("extract");
        assert_eq!(r.status, CaseStatus::Invalid);
        assert_eq!(r.failure_class, Some(FailureClass::InvalidMeasurement));
        assert!(
            r.reasons[0].contains("srv/con64_iter10_1k1k has no benchmark result: there is no client log aggr_upload-cfg-srv/trtllm-benchmark.0.1.log"),
            "{:?}",
            r.reasons
        );
    }

    #[test]
    fn junit_system_out_is_the_fallback() {
        let t = tempfile::tempdir().expect("tempdir");
        let out = format!("{DOCS}\n{}", DOCS.replace("0.61", "0.7"));
        let xml = format!(
            "<testsuites><testsuite name=\"pytest\" timestamp=\"2025-10-31T00:53:53\"><testcase classname=\"perf.test_perf_sanity\" name=\"test_e2e[aggr_upload-cfg-srv]\" time=\"60\"><system-out>{out}</system-out></testcase></testsuite></testsuites>"
        );
        write(&t.path().join("results.xml"), &xml);
        let mut c = ctx(t.path());
        c.job = Some(JobInfo {
            state: crate::slurm::BaseState::Completed,
            ..JobInfo::default()
        });
        let r = extract_case(&c, &cfg()).expect("extract");
        assert_eq!(r.status, CaseStatus::Passed, "{:?}", r.reasons);
        assert_eq!(r.clients[1].metric("seq_throughput"), Some(0.7));
        assert!(matches!(
            r.clients[0].source,
            MetricSource::JunitSystemOut(_)
        ));
        assert_eq!(r.duration_s, Some(60.0));
        assert_eq!(
            r.start.map(|s| s.to_rfc3339()),
            Some("2025-10-31T00:53:53+00:00".to_string())
        );
    }

    #[test]
    fn timeout_keeps_partial_metrics_but_is_a_timeout() {
        let t = tempfile::tempdir().expect("tempdir");
        write(
            &t.path()
                .join("aggr_upload-cfg-srv/trtllm-benchmark.0.0.log"),
            DOCS,
        );
        let mut c = ctx(t.path());
        c.job = Some(JobInfo {
            job_id: "9".into(),
            state: crate::slurm::BaseState::Timeout,
            ..JobInfo::default()
        });
        let r = extract_case(&c, &cfg()).expect("extract");
        assert_eq!(r.failure_class, Some(FailureClass::Timeout));
        assert_eq!(r.clients[0].validity, Validity::Valid);
        assert_eq!(r.clients[1].validity, Validity::Invalid);
    }

    #[test]
    fn oom_in_a_role_log_classifies_a_failed_job() {
        let t = tempfile::tempdir().expect("tempdir");
        write(
            &t.path().join("logs/GEN_0.log"),
            "loading\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2 GiB\n",
        );
        let mut c = ctx(t.path());
        c.job = Some(JobInfo {
            job_id: "9".into(),
            state: crate::slurm::BaseState::Failed,
            exit_code: Some(1),
            ..JobInfo::default()
        });
        let r = extract_case(&c, &cfg()).expect("extract");
        assert_eq!(r.failure_class, Some(FailureClass::Oom));
        assert!(r.reasons[0].contains("logs/GEN_0.log"), "{:?}", r.reasons);
    }

    #[test]
    fn worker_failure_from_role_junit() {
        let t = tempfile::tempdir().expect("tempdir");
        let case = t.path().join("aggr_upload-cfg-srv");
        write(&case.join("trtllm-benchmark.0.0.log"), DOCS);
        write(&case.join("trtllm-benchmark.0.1.log"), DOCS);
        write(
            &t.path().join("results-GEN_0.xml"),
            "<testsuite><testcase name=\"test_e2e[aggr_upload-cfg-srv]\"><failure message=\"worker crashed\"/></testcase></testsuite>",
        );
        let r = extract_case(&ctx(t.path()), &cfg()).expect("extract");
        assert_eq!(r.failure_class, Some(FailureClass::TestFailed));
        assert_eq!(
            r.reasons,
            ["worker GEN_0 reported a failure: worker crashed"]
        );
    }

    #[test]
    fn malformed_junit_is_a_warning_not_an_error() {
        let t = tempfile::tempdir().expect("tempdir");
        let case = t.path().join("aggr_upload-cfg-srv");
        write(&case.join("trtllm-benchmark.0.0.log"), DOCS);
        write(&case.join("trtllm-benchmark.0.1.log"), DOCS);
        write(
            &t.path().join("results.xml"),
            "<testsuite><testcase></testsuit>",
        );
        let r = extract_case(&ctx(t.path()), &cfg()).expect("extract");
        assert_eq!(r.status, CaseStatus::Passed);
        assert!(
            r.warnings.iter().any(|w| w.contains("not well-formed")),
            "{:?}",
            r.warnings
        );
    }

    #[test]
    fn empty_client_log_is_explained() {
        let t = tempfile::tempdir().expect("tempdir");
        let case = t.path().join("aggr_upload-cfg-srv");
        write(&case.join("trtllm-benchmark.0.0.log"), "");
        write(
            &case.join("trtllm-benchmark.0.1.log"),
            "Namespace(x=1)\nTraceback: boom\n",
        );
        let r = extract_case(&ctx(t.path()), &cfg()).expect("extract");
        assert_eq!(r.status, CaseStatus::Invalid);
        assert!(
            r.reasons[0].ends_with("is empty (0 bytes)"),
            "{:?}",
            r.reasons
        );
        assert!(
            r.reasons[1].contains(
                "has no `Serving Benchmark Result` block; its last line is `Traceback: boom`"
            ),
            "{:?}",
            r.reasons
        );
    }

    #[test]
    fn no_artifacts_and_no_job_is_not_run() {
        let mut c = ctx(Path::new("/nonexistent/perf-run-test"));
        c.job = None;
        let r = extract_case(&c, &cfg()).expect("extract");
        assert_eq!(r.status, CaseStatus::NotRun);
    }

    #[test]
    fn skipped_case_reads_nothing() {
        let mut c = ctx(Path::new("/nonexistent"));
        c.skipped = Some("nvbug 1".into());
        let r = extract_case(&c, &cfg()).expect("extract");
        assert_eq!(r.status, CaseStatus::Skipped);
        assert!(r.clients.is_empty());
    }

    #[test]
    fn infra_error_without_job() {
        let mut c = ctx(Path::new("/nonexistent"));
        c.job = None;
        c.infra_error = Some("sbatch: error: invalid partition".into());
        let r = extract_case(&c, &cfg()).expect("extract");
        assert_eq!(r.failure_class, Some(FailureClass::Infra));
    }

    #[test]
    fn signature_found_across_chunk_boundaries() {
        let t = tempfile::tempdir().expect("tempdir");
        let p = t.path().join("big.log");
        let mut text = "x".repeat((1 << 20) - 5);
        text.push_str("CUDA out of memory");
        write(&p, &text);
        let sigs = vec!["CUDA out of memory".to_string()];
        assert_eq!(
            find_signature(&p, &sigs).expect("read"),
            Some("CUDA out of memory".to_string())
        );
    }

    #[test]
    fn sysinfo_reads_files_and_defaults_to_unknown() {
        let t = tempfile::tempdir().expect("tempdir");
        write(
            &t.path().join("sysinfo/gpu.txt"),
            "NVIDIA_GB200\nNVIDIA_GB200\n",
        );
        write(&t.path().join("sysinfo/driver.txt"), "575.57.08\n");
        write(&t.path().join("sysinfo/cuda.txt"), "\n");
        let s = read_sysinfo(t.path());
        assert_eq!(s.gpu, "NVIDIA GB200");
        assert_eq!(s.gpu_count, Some(2));
        assert_eq!(s.driver, "575.57.08");
        assert_eq!(s.cuda, "unknown");
        assert_eq!(s.os, "unknown");
        assert_eq!(read_sysinfo(Path::new("/nonexistent")), SysInfo::default());
    }

    #[test]
    fn disagg_plan_with_worker_entries_maps_logs_to_the_benchmarked_server() {
        let t = tempfile::tempdir().expect("tempdir");
        write(
            &t.path()
                .join("disagg_upload-e2e-x/trtllm-benchmark.0.0.log"),
            DOCS,
        );
        let mut c = ctx(t.path());
        c.case_name = "disagg_upload-e2e-x".into();
        c.test_id = "perf/test_perf_sanity.py::test_e2e[disagg_upload-e2e-x]".into();
        c.mode = "disagg".into();
        let mut bench = c.servers[0].clone();
        bench.name = "disagg".into();
        bench.clients.truncate(1);
        let worker = |n: &str| ServerMeta {
            name: n.into(),
            clients: vec![],
            ..bench.clone()
        };
        c.servers = vec![worker("CTX_0"), worker("GEN_0"), bench];
        let r = extract_case(&c, &cfg()).expect("extract");
        assert_eq!(r.status, CaseStatus::Passed, "{:?}", r.reasons);
        assert_eq!(r.clients.len(), 1);
        assert_eq!(r.clients[0].label(), "disagg/con8_iter10_1k1k");
    }

    #[test]
    fn client_log_names_parse() {
        assert_eq!(
            parse_client_log_name(Path::new("a/trtllm-benchmark.2.13.log")),
            Some((2, 13))
        );
        assert_eq!(
            parse_client_log_name(Path::new("trtllm-benchmark.x.1.log")),
            None
        );
        assert_eq!(parse_client_log_name(Path::new("trtllm-serve.0.log")), None);
    }

    #[test]
    fn mode_is_inferred_from_the_case_prefix() {
        assert_eq!(infer_mode("disagg_upload-e2e-cfg"), "disagg");
        assert_eq!(infer_mode("aggr_upload-cfg-disagg_like"), "single-agg");
    }
}
