use super::*;

use std::path::{Path, PathBuf};

/// What pytest-timeout prints when a test overruns its `--timeout` (both methods).
pub(super) const PYTEST_TIMEOUT_BANNER: &str = "+++++++++++++++++++ Timeout +++++++++++++++++++";

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

pub(super) fn loose_ctx(test_id: String, case_name: String, mode: Option<&str>) -> CaseContext {
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

pub(super) fn loose_case(
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
pub(super) fn client_from_log(
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

pub(super) fn no_block_why(shown: &str, scan: &ScanOutput) -> String {
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
