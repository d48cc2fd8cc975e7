//! `perf-run report [RUN…] [--history] --output-dir DIR`: the report of one run, or a
//! comparison of several, as report.html + report.css + report.json (`crate::report`).
//!
//! The history comes through [`HistorySource`], so the report does not depend on how the
//! history is stored; [`run`] loads it from the local history store.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::cli::ReportArgs;
use crate::error::{Exit, UserError};
use crate::history::Series;
use crate::judge::Judgement;
use crate::output;
use crate::report::{self, ReportData};

/// Where `--history` gets the series and verdicts of the cases of some runs.
pub trait HistorySource {
    /// The series of every case of `run_dirs` (any metric), oldest point first, and the
    /// verdicts on them. An empty history is `Ok` with empty vectors, not an error.
    fn load(&self, run_dirs: &[PathBuf]) -> Result<(Vec<Series>, Vec<Judgement>)>;
}

/// Any function of the run directories is a history source.
impl<F> HistorySource for F
where
    F: Fn(&[PathBuf]) -> Result<(Vec<Series>, Vec<Judgement>)>,
{
    fn load(&self, run_dirs: &[PathBuf]) -> Result<(Vec<Series>, Vec<Judgement>)> {
        self(run_dirs)
    }
}

/// No history source: used when `--history` is not given (its `load` is never called then).
pub struct NoHistory;

impl HistorySource for NoHistory {
    fn load(&self, _run_dirs: &[PathBuf]) -> Result<(Vec<Series>, Vec<Judgement>)> {
        Err(UserError(
            "this report was built without a history source; run `perf-run report --history` to read the local history store.".into(),
        )
        .into())
    }
}

/// `perf-run report`: with `--history`, the local history of the runs' series, judged as of
/// each run (`ops::verdicts::history_for_runs`), loaded before the (synchronous) report.
pub async fn run(args: ReportArgs) -> Result<Exit> {
    if !args.history {
        return run_with(args, &NoHistory);
    }
    let began = std::time::Instant::now();
    let dirs = resolve_runs(&args.runs)?;
    let loaded =
        crate::finish::verdicts::history_for_runs(&dirs, crate::judge::Stage::PostMerge).await?;
    let source = move |_: &[PathBuf]| Ok(loaded.clone());
    write_report(&args, &dirs, &source, began)
}

/// `perf-run report` with an explicit history source (tests, other front ends).
pub fn run_with(args: ReportArgs, history: &dyn HistorySource) -> Result<Exit> {
    let began = std::time::Instant::now();
    let dirs = resolve_runs(&args.runs)?;
    write_report(&args, &dirs, history, began)
}

/// The run directories of `RUN…`, or the newest run.
fn resolve_runs(runs: &[String]) -> Result<Vec<PathBuf>> {
    if runs.is_empty() {
        return Ok(vec![resolve_run(None)?]);
    }
    runs.iter().map(|r| resolve_run(Some(r))).collect()
}

fn write_report(
    args: &ReportArgs,
    dirs: &[PathBuf],
    history: &dyn HistorySource,
    began: std::time::Instant,
) -> Result<Exit> {
    let data = if args.history {
        let (series, judgements) = history.load(dirs)?;
        ReportData::with_history(dirs, &series, &judgements)?
    } else {
        ReportData::from_runs(dirs, &[], &[])?
    };
    let written = report::write(&args.output_dir, &data)?;
    for n in &data.notes {
        output::warn(n);
    }
    output::info(format!(
        "report of {} run(s), {} case(s) in {:.2} s: open {}",
        data.runs.len(),
        data.cases.len(),
        began.elapsed().as_secs_f64(),
        written.html.display()
    ));
    output::detail(format!(
        "wrote {}",
        written
            .all()
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(Exit::Success)
}

/// `RUN` as `perf-run status` reads it (a run directory, or a run id under the runs home;
/// the newest run when omitted), plus what `perf-run extract` writes: a directory holding
/// `summary.json`, or the file itself.
pub fn resolve_run(arg: Option<&str>) -> Result<PathBuf> {
    if let Some(a) = arg {
        let p = Path::new(a);
        if !p.join("run.json").is_file() && report::model::summary_of(p).is_some() {
            return Ok(p.to_path_buf());
        }
    }
    Ok(crate::journal::find_run(arg)?.root)
}
