//! `perf-run extract`: JUnit XML and benchmark logs → CSV, JSON, JUnit. (Owned by the results work.)

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::cli::{ExtractArgs, ModeFilter};
use crate::error::{Exit, UserError};
use crate::output;
use crate::results::{
    self, CaseStatus, LooseInputs, MetricConfig, RunInfo, extract_loose, read_sysinfo,
    write_outputs,
};

/// At most this many warnings are printed one by one.
const MAX_WARNINGS: usize = 20;
/// At most this many reasons are printed per case.
const MAX_REASONS: usize = 5;

pub fn run(args: ExtractArgs) -> Result<Exit> {
    let began = Instant::now();
    let metrics = match &args.metrics {
        Some(path) => MetricConfig::from_file(path).map_err(|e| UserError(e.to_string()))?,
        None => MetricConfig::builtin()?,
    };
    if args.junit_xml.is_empty() && args.log.is_empty() {
        return Err(UserError(
            "there is nothing to extract: give --junit-xml FILE and/or --log FILE…".into(),
        )
        .into());
    }
    for p in &args.junit_xml {
        if !p.is_file() {
            return Err(UserError(format!("the JUnit file {} does not exist", p.display())).into());
        }
    }
    let started = start_time();
    let inputs = LooseInputs {
        junit: args.junit_xml.clone(),
        logs: args.log.clone(),
        mode: args.mode.map(|m| mode_name(m).to_string()),
    };
    let extraction = extract_loose(&inputs, &metrics).map_err(|e| UserError(e.to_string()))?;

    let mut run = RunInfo::new(
        format!("extract-{}", started.format("%Y%m%dT%H%M%SZ")),
        started,
    );
    run.finished = Some(if std::env::var_os("SOURCE_DATE_EPOCH").is_some() {
        started
    } else {
        Utc::now()
    });
    run.hostname = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty());
    run.user = std::env::var("USER").ok().filter(|u| !u.is_empty());
    run.build_url = std::env::var("BUILD_URL").ok().filter(|u| !u.is_empty());
    if let Some(dir) = sysinfo_dir(&args) {
        run.sysinfo = read_sysinfo(&dir);
    }

    let written = write_outputs(&args.output_dir, &run, &extraction.cases)?;

    let mut warnings: Vec<String> = extraction.warnings.clone();
    for c in &extraction.cases {
        warnings.extend(c.warnings.iter().cloned());
    }
    for w in warnings.iter().take(MAX_WARNINGS) {
        output::warn(w);
    }
    if warnings.len() > MAX_WARNINGS {
        output::warn(format!(
            "{} more warnings are in {}",
            warnings.len() - MAX_WARNINGS,
            written.summary_json.display()
        ));
    }
    for c in &extraction.cases {
        if matches!(c.status, CaseStatus::Passed) {
            continue;
        }
        let class = c
            .failure_class
            .map(|f| format!(" ({f})"))
            .unwrap_or_default();
        let say = |line: String| {
            if c.is_failure() {
                output::warn(line)
            } else {
                output::info(line)
            }
        };
        say(format!("{} {}{class}:", c.test_id, c.status));
        for r in c.reasons.iter().take(MAX_REASONS) {
            say(format!("  - {r}"));
        }
        if c.reasons.len() > MAX_REASONS {
            say(format!(
                "  - … and {} more in {}",
                c.reasons.len() - MAX_REASONS,
                written.summary_json.display()
            ));
        }
    }
    let count = |s: CaseStatus| extraction.cases.iter().filter(|c| c.status == s).count();
    let secs = began.elapsed().as_secs_f64();
    let mb = extraction.bytes as f64 / 1e6;
    output::info(format!(
        "extracted {} case(s): {} passed, {} invalid, {} failed, {} skipped; read {:.1} MB in {:.2} s ({:.0} MB/s)",
        extraction.cases.len(),
        count(CaseStatus::Passed),
        count(CaseStatus::Invalid),
        count(CaseStatus::Failed),
        count(CaseStatus::Skipped) + count(CaseStatus::NotRun),
        mb,
        secs,
        if secs > 0.0 { mb / secs } else { 0.0 }
    ));
    output::info(format!(
        "wrote {}",
        written
            .all()
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(results::exit_for(&extraction.cases))
}

fn mode_name(m: ModeFilter) -> &'static str {
    match m {
        ModeFilter::SingleAgg => "single-agg",
        ModeFilter::MultiAgg => "multi-agg",
        ModeFilter::Disagg => "disagg",
    }
}

/// `SOURCE_DATE_EPOCH` (reproducible outputs), else now.
fn start_time() -> DateTime<Utc> {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0))
        .unwrap_or_else(Utc::now)
}

fn sysinfo_dir(args: &ExtractArgs) -> Option<PathBuf> {
    if let Some(d) = &args.sysinfo {
        return Some(d.clone());
    }
    let first = args.junit_xml.first()?;
    let dir = first.parent().unwrap_or(Path::new("."));
    dir.join("sysinfo").is_dir().then(|| dir.to_path_buf())
}
