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

mod loose;
pub use loose::*;
mod files;
pub use files::*;
#[cfg(test)]
mod tests;

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
/// warnings on the result, so extraction always gives a result.
pub fn extract_case(ctx: &CaseContext, metrics: &MetricConfig) -> CaseResult {
    let mut g = Gathered::default();
    if ctx.skipped.is_some() {
        return finish_case(ctx, g);
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
        return finish_case(ctx, g);
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
    finish_case(ctx, g)
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
