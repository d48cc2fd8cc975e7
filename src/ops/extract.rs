//! `perf-run extract`: JUnit XML and benchmark logs → CSV, JSON, JUnit. (Owned by the results work.)

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::cli::ExtractArgs;
use crate::error::{Exit, UserError};
use crate::output;
use crate::results::{
    self, CaseStatus, LooseInputs, MetricConfig, OutputWriter, RunInfo, extract_loose_each,
    read_sysinfo,
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
        mode: args
            .mode
            .map(|m| crate::plan::Mode::from(m).as_str().to_string()),
    };
    let mut run = RunInfo::new(
        format!("extract-{}", started.format("%Y%m%dT%H%M%SZ")),
        started,
    );
    run.hostname = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty());
    run.user = std::env::var("USER").ok().filter(|u| !u.is_empty());
    run.build_url = std::env::var("BUILD_URL").ok().filter(|u| !u.is_empty());
    if let Some(dir) = sysinfo_dir(&args) {
        run.sysinfo = read_sysinfo(&dir);
    }

    // Cases stream from the readers straight into the writers: memory stays flat however
    // many cases the inputs hold.
    let columns = metrics.metrics().iter().map(|m| m.info.clone()).collect();
    let mut writer = OutputWriter::create(&args.output_dir, &run, columns)?;
    let mut write_error: Option<anyhow::Error> = None;
    let mut counts = [0usize; 5];
    let mut outcomes = Vec::new();
    let mut warnings = Warnings::default();
    let done = extract_loose_each(&inputs, &metrics, &mut |case| {
        if write_error.is_none()
            && let Err(e) = writer.add(&case)
        {
            write_error = Some(e.into());
        }
        counts[match case.status {
            CaseStatus::Passed => 0,
            CaseStatus::Invalid => 1,
            CaseStatus::Failed => 2,
            CaseStatus::Skipped => 3,
            CaseStatus::NotRun => 4,
        }] += 1;
        outcomes.push((case.status, case.failure_class));
        for w in &case.warnings {
            warnings.add(w);
        }
        report_case(&case);
    })
    .map_err(|e| UserError(e.to_string()))?;
    if let Some(e) = write_error {
        return Err(e);
    }
    for w in &done.warnings {
        warnings.add(w);
    }
    let finished = if std::env::var_os("SOURCE_DATE_EPOCH").is_some() {
        started
    } else {
        Utc::now()
    };
    let written = writer.finish(Some(finished))?;
    warnings.print(&written.summary_json);

    let secs = began.elapsed().as_secs_f64();
    let mb = done.bytes as f64 / 1e6;
    output::info(format!(
        "extracted {} case(s): {} passed, {} invalid, {} failed, {} skipped; read {:.1} MB in {:.2} s ({:.0} MB/s)",
        done.cases,
        counts[0],
        counts[1],
        counts[2],
        counts[3] + counts[4],
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
    Ok(crate::ops::exit::exit_code(None, outcomes, false, false))
}

/// The numbers of every case (the run summary's lines), and for a case that did not pass its
/// reasons.
fn report_case(c: &results::CaseResult) {
    output::info(format!("{} {}", c.test_id, c.status));
    for line in crate::finish::client_lines(c) {
        output::info(format!("  {line}"));
    }
    if matches!(c.status, CaseStatus::Passed) {
        return;
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
            "  - … and {} more in summary.json",
            c.reasons.len() - MAX_REASONS
        ));
    }
}

/// The first `MAX_WARNINGS` warnings, and how many more there were.
#[derive(Default)]
struct Warnings {
    shown: Vec<String>,
    more: usize,
}

impl Warnings {
    fn add(&mut self, w: &str) {
        if self.shown.len() < MAX_WARNINGS {
            self.shown.push(w.to_string());
        } else {
            self.more += 1;
        }
    }

    fn print(&self, summary: &Path) {
        for w in &self.shown {
            output::warn(w);
        }
        if self.more > 0 {
            output::warn(format!(
                "{} more warnings are in {}",
                self.more,
                summary.display()
            ));
        }
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
