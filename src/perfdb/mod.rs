//! TRT_perf uploader: results of a run → the `runs`, `cases` and `perf_result` tables of the
//! TRT_perf MySQL database behind the TRTPerf page (reference §9).
//!
//! Flow: [`plan::build_plan`] reads the files (pure, no network) → [`db::upload_plan`] writes
//! the plan in one transaction, idempotent by run key → on any database failure the plan goes
//! to the [`spool`] and the caller gets [`UploadOutcome::Spooled`] (exit code 5, "results
//! kept, upload pending"); `perf-run upload --spool` ([`retry_spool`]) retries.
//!
//! Entry points for the pipeline: [`upload_run_dir`], [`DbSettings::resolve`],
//! [`settings::upload_wanted`].

pub mod db;
pub mod error;
pub mod junit;
pub mod plan;
pub mod rows;
mod run_row;
pub mod runinfo;
pub mod runkey;
pub mod settings;
pub mod spool;
pub mod sqltext;
pub mod summary;
pub mod text;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub use error::StoreError;
pub use plan::{PlanInputs, PlanOptions, RunInfoArgs, UploadPlan};
pub use settings::{DbSettings, PasswordSource, upload_wanted};

use crate::output;

/// What happened to one upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadOutcome {
    /// Inserted as run `run_id`, with `rows` `perf_result` rows.
    Uploaded {
        run_id: u64,
        link: String,
        rows: usize,
    },
    /// This run key is already in the database as run `run_id`; nothing was inserted.
    AlreadyUploaded { run_id: u64, link: String },
    /// The legacy uploader already wrote this run (same start time, commit and cases, no
    /// run key) as run `run_id`; nothing was inserted. `--force` inserts it anyway.
    LegacyDuplicate { run_id: u64, link: String },
    /// The database could not be written; the upload waits in spool entry `entry`.
    Spooled { entry: PathBuf, reason: String },
    /// `--write-db no`: the statements were printed, nothing was sent.
    DryRun,
}

/// Input files given explicitly (`--source-*`, `--junit-xml`); with a run directory they
/// override its standard files.
#[derive(Debug, Clone, Default)]
pub struct SourceFiles {
    pub metric_csv: Option<PathBuf>,
    pub properties: Option<PathBuf>,
    pub gpu_monitoring: Option<PathBuf>,
    pub junit_xml: Option<PathBuf>,
}

/// Everything about one upload except the database settings.
#[derive(Debug, Clone, Default)]
pub struct UploadOptions {
    /// Run information flags (`--driver`, `--link`, …; reference §9.1).
    pub info: RunInfoArgs,
    /// The same values from the environment (`TRT_VERSION`, `GIT_COMMIT`, …;
    /// [`runinfo::from_env`]); a flag wins.
    pub env: RunInfoArgs,
    /// `--framework`: force `cases.format` instead of deriving it from the data.
    pub framework: Option<String>,
    /// `--run-key`: use this idempotency key instead of the derived one.
    pub run_key: Option<String>,
    /// `--force-reupload`: insert even if the run key is already in the database.
    pub force_reupload: bool,
    /// `--write-db no`: print what would be written, connect to nothing.
    pub dry_run: bool,
    pub sources: SourceFiles,
}

fn check_file(what: &'static str, p: &Path) -> Result<PathBuf, StoreError> {
    if p.is_file() {
        Ok(p.to_path_buf())
    } else {
        Err(StoreError::MissingInput {
            what,
            path: p.to_path_buf(),
        })
    }
}

fn apply_sources(mut inputs: PlanInputs, s: &SourceFiles) -> Result<PlanInputs, StoreError> {
    if let Some(p) = &s.metric_csv {
        inputs.metric_csv = check_file("metric CSV (--source-metric-csv)", p)?;
    }
    if let Some(p) = &s.properties {
        inputs.properties = Some(check_file("properties CSV (--source-properties)", p)?);
    }
    if let Some(p) = &s.gpu_monitoring {
        inputs.gpu_monitoring = Some(check_file(
            "GPU monitoring CSV (--source-gpu-monitoring)",
            p,
        )?);
    }
    if let Some(p) = &s.junit_xml {
        inputs.junit = vec![check_file("JUnit file (--junit-xml)", p)?];
    }
    Ok(inputs)
}

fn plan_options(opts: &UploadOptions) -> PlanOptions {
    PlanOptions {
        info: opts.info.clone(),
        env: opts.env.clone(),
        framework: opts.framework.clone(),
        run_key: opts.run_key.clone(),
    }
}

/// Upload a collected run directory (the pipeline's entry point). Reads
/// `RUN/results/perf_script_test_results.csv` (+ `session_properties.csv`,
/// `gpu_monitoring.csv`, `summary.json` when present) and the JUnit files under
/// `RUN/cases/*/artifacts/`; records the result in `summary.json`.
pub async fn upload_run_dir(
    run_dir: &Path,
    settings: &DbSettings,
    opts: &UploadOptions,
) -> Result<UploadOutcome> {
    let inputs = apply_sources(plan::run_dir_inputs(run_dir)?, &opts.sources)?;
    upload_inputs(&inputs, settings, opts).await
}

/// Upload the files named by `--source-*` (the `trt_perf_parser.py` way).
pub async fn upload_files(settings: &DbSettings, opts: &UploadOptions) -> Result<UploadOutcome> {
    let plan = plan_for_files(opts)?;
    upload_prepared(&plan, settings, opts).await
}

/// The plan of a run directory with every CSV row kept ([`plan::build_plan_all`]): what the
/// local history records and, after [`upload_prepared`]'s check, what TRT_perf gets.
pub fn plan_for_run_dir(run_dir: &Path, opts: &UploadOptions) -> Result<UploadPlan, StoreError> {
    let inputs = apply_sources(plan::run_dir_inputs(run_dir)?, &opts.sources)?;
    plan::build_plan_all(&inputs, &plan_options(opts))
}

/// The plan of the `--source-*` files with every CSV row kept ([`plan::build_plan_all`]).
pub fn plan_for_files(opts: &UploadOptions) -> Result<UploadPlan, StoreError> {
    let Some(csv) = &opts.sources.metric_csv else {
        return Err(StoreError::NoMetricCsv);
    };
    let inputs = apply_sources(
        PlanInputs {
            metric_csv: csv.clone(),
            ..Default::default()
        },
        &opts.sources,
    )?;
    plan::build_plan_all(&inputs, &plan_options(opts))
}

/// Build the plan from `inputs` and upload it (or print it for a dry run).
pub async fn upload_inputs(
    inputs: &PlanInputs,
    settings: &DbSettings,
    opts: &UploadOptions,
) -> Result<UploadOutcome> {
    let plan = plan::build_plan(inputs, &plan_options(opts))?;
    upload_prepared(&plan, settings, opts).await
}

/// Upload a plan from [`plan_for_run_dir`]/[`plan_for_files`] (or print it for a dry run):
/// refuses a plan with no uploadable row, as [`plan::build_plan`] does.
pub async fn upload_prepared(
    plan: &UploadPlan,
    settings: &DbSettings,
    opts: &UploadOptions,
) -> Result<UploadOutcome> {
    plan::check_uploadable(plan)?;
    report_plan_problems(plan, settings);
    if output::verbosity() >= 1 {
        let r = &plan.run;
        output::detail(sqltext::redact(
            &format!(
                "Run info: driver={:?} cuda={:?} cudnn={:?} tensorrt={:?} trtllm={:?} gpu={:?} sm_clock={:?} mem_clock={:?} cpu={:?} os={:?} commit={:?} commit_time={:?} start={:?} end={:?} link={:?} hostname={:?} ip={:?}",
                r.driver,
                r.cuda,
                r.cudnn,
                r.tensorrt,
                r.trtllm,
                r.gpu,
                r.graphic_freq,
                r.memory_freq,
                r.cpu,
                r.os,
                r.cl,
                r.commit_time,
                r.start_time,
                r.end_time,
                r.link,
                r.hostname,
                r.ip
            ),
            settings.password_text(),
        ));
        output::detail(format!(
            "{} CSV rows make {} perf_result rows; run key {} ({}).",
            plan.rows_used,
            plan.results.len(),
            plan.run_key,
            plan.run_key_origin
        ));
    }
    if opts.dry_run {
        output::data(sqltext::render_dry_run(plan, settings, opts.force_reupload));
        return Ok(UploadOutcome::DryRun);
    }
    // Missing host/user/password is a configuration mistake to fix, not a database failure:
    // exit 2 without spooling (the result files stay where they are).
    settings.require_complete()?;
    execute_plan(plan, settings, opts.force_reupload).await
}

/// Print the rows that are not uploaded and other warnings (all of them with -v).
fn report_plan_problems(plan: &UploadPlan, settings: &DbSettings) {
    let redact = |s: &str| sqltext::redact(s, settings.password_text());
    for w in &plan.warnings {
        output::warn(redact(w));
    }
    if plan.skipped.is_empty() {
        return;
    }
    let (failed, invalid, other) = plan::skip_counts(&plan.skipped);
    output::warn(format!(
        "{} of {} CSV rows are not uploaded ({failed} with state=failed, {invalid} with state=invalid, {other} incomplete or unusable):",
        plan.skipped.len(),
        plan.skipped.len() + plan.rows_used,
    ));
    let show = if output::verbosity() >= 1 {
        plan.skipped.len()
    } else {
        20
    };
    for s in plan.skipped.iter().take(show) {
        output::warn(redact(&format!(
            "  {} line {}: {} {}: {}.",
            plan.metric_csv.display(),
            s.line,
            s.test_name,
            s.metric_type,
            s.reason
        )));
    }
    if plan.skipped.len() > show {
        output::warn(format!(
            "  … and {} more; run with --verbose to list them all.",
            plan.skipped.len() - show
        ));
    }
}

/// Write a plan to the database; on a database failure, spool it and say so.
pub async fn execute_plan(
    plan: &UploadPlan,
    settings: &DbSettings,
    force: bool,
) -> Result<UploadOutcome> {
    // The entry is written before connecting and removed after COMMIT, so a SIGTERM, a
    // kill -9 or a crash in between leaves it for `upload --spool`. It is saved without
    // --force-reupload: a retry of an upload that did commit is then a no-op (run key), so
    // nothing is committed twice.
    let in_flight = match spool::save(
        &settings.spool_dir,
        plan,
        &settings.target(),
        spool::IN_FLIGHT,
        false,
    ) {
        Ok(p) => Some(p),
        Err(e) => {
            output::warn(format!(
                "Could not write the spool entry in {} before uploading ({e}); an interrupted upload will not be retried by `perf-run upload --spool`.",
                settings.spool_dir.display()
            ));
            None
        }
    };
    match db::upload_plan(settings, plan, force).await {
        Ok(w) => {
            if let Some(p) = &in_flight
                && let Err(e) = std::fs::remove_file(p)
            {
                output::warn(format!(
                    "The upload is done, but its spool entry {} could not be removed ({e}); the next retry will find it already uploaded.",
                    p.display()
                ));
            }
            Ok(finish(plan, settings, w))
        }
        Err(f) => {
            let reason = sqltext::redact(&f.to_string(), settings.password_text());
            // Rolled back: this attempt is already counted by the in-flight entry.
            let entry = spool::save_failed(
                &settings.spool_dir,
                plan,
                &settings.target(),
                &reason,
                force,
                in_flight.is_some(),
            )
            .with_context(|| {
                format!(
                    "The upload failed ({reason}) and it could not be saved in the spool directory {}; the results are still in {}",
                    settings.spool_dir.display(),
                    plan.metric_csv.display()
                )
            })?;
            Ok(UploadOutcome::Spooled { entry, reason })
        }
    }
}

fn finish(plan: &UploadPlan, settings: &DbSettings, w: db::Written) -> UploadOutcome {
    let (run_id, outcome) = match w {
        db::Written::LegacyDuplicate { run_id } => {
            return UploadOutcome::LegacyDuplicate {
                run_id,
                link: settings.link_for(run_id),
            };
        }
        db::Written::Inserted { run_id, rows, .. } => (
            run_id,
            UploadOutcome::Uploaded {
                run_id,
                link: settings.link_for(run_id),
                rows,
            },
        ),
        db::Written::AlreadyThere { run_id } => (
            run_id,
            UploadOutcome::AlreadyUploaded {
                run_id,
                link: settings.link_for(run_id),
            },
        ),
    };
    if let Some(dir) = &plan.run_dir {
        let values = runinfo::run_values_json(&plan.run, &plan.run_sources);
        match summary::record_upload(dir, run_id, &settings.link_for(run_id), Some(&values)) {
            Ok(Some(p)) => output::detail(format!("Recorded the upload in {}.", p.display())),
            Ok(None) => {}
            Err(e) => output::warn(format!(
                "Run {run_id} is uploaded, but recording it in {}'s summary.json failed: {e}.",
                dir.display()
            )),
        }
    }
    outcome
}

/// The sentence for [`UploadOutcome::LegacyDuplicate`].
pub fn legacy_duplicate_message(run_id: u64, target: &str) -> String {
    format!(
        "Not uploaded: run {run_id} in {target} has the same start time, commit and cases and no run key, so the legacy trt_perf_parser.py already uploaded this run; let only one uploader write each job (see docs/upload.md, \"Migrating from trt_perf_parser.py\"), or pass --force to insert it a second time."
    )
}

/// What a spool retry did.
#[derive(Debug, Clone, Default)]
pub struct SpoolReport {
    /// (entry, outcome) for entries that are done (uploaded now or already there).
    pub done: Vec<(PathBuf, UploadOutcome)>,
    /// (entry, reason) for entries still pending.
    pub pending: Vec<(PathBuf, String)>,
    /// Another process holds the spool lock; nothing was tried.
    pub busy: bool,
}

/// Retry every pending upload in `settings.spool_dir`, oldest first, with these settings.
/// A done entry is deleted (and its run's summary.json updated); a failed one records the
/// new reason and stays. Stops trying after the first unreachable/refused connection.
pub async fn retry_spool(settings: &DbSettings) -> Result<SpoolReport> {
    let dir = &settings.spool_dir;
    let _lock = match spool::lock(dir)
        .with_context(|| format!("Cannot lock the spool directory {}", dir.display()))?
    {
        spool::LockState::Got(l) => l,
        spool::LockState::Busy => {
            return Ok(SpoolReport {
                busy: true,
                ..Default::default()
            });
        }
    };
    let entries = spool::pending(dir)
        .with_context(|| format!("Cannot list the spool directory {}", dir.display()))?;
    let mut report = SpoolReport::default();
    if entries.is_empty() {
        return Ok(report);
    }
    settings.require_complete()?;
    let mut conn_failure: Option<String> = None;
    for path in entries {
        let mut entry = match spool::load(&path) {
            Ok(e) => e,
            Err(why) => {
                report.pending.push((
                    path.clone(),
                    format!(
                        "the spool entry is unreadable ({why}); move it away after looking at it"
                    ),
                ));
                continue;
            }
        };
        let result = match &conn_failure {
            Some(reason) => Err(reason.clone()),
            None => match db::upload_plan(settings, &entry.plan, entry.force_reupload).await {
                Ok(w) => Ok(w),
                Err(f) => {
                    let reason = sqltext::redact(&f.to_string(), settings.password_text());
                    if matches!(f, db::DbFailure::Unreachable(_) | db::DbFailure::Login(_)) {
                        conn_failure = Some(reason.clone());
                    }
                    Err(reason)
                }
            },
        };
        match result {
            Ok(db::Written::LegacyDuplicate { run_id }) => {
                let reason = legacy_duplicate_message(run_id, &settings.target())
                    + " Remove this spool entry, or upload the run again with --force.";
                keep_pending(&path, &mut entry, &reason);
                report.pending.push((path, reason));
            }
            Ok(w) => {
                let outcome = finish(&entry.plan, settings, w);
                if let Err(e) = std::fs::remove_file(&path) {
                    output::warn(format!(
                        "The upload of {} is done, but its spool entry could not be removed ({e}); the next retry will find it already uploaded.",
                        path.display()
                    ));
                }
                report.done.push((path, outcome));
            }
            Err(reason) => {
                keep_pending(&path, &mut entry, &reason);
                report.pending.push((path, reason));
            }
        }
    }
    Ok(report)
}

/// A spool entry that stays pending: one more attempt, when, and why.
fn keep_pending(path: &std::path::Path, entry: &mut spool::SpoolEntry, reason: &str) {
    entry.attempts += 1;
    entry.last_attempt = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    entry.last_error = reason.to_string();
    if let Err(e) = spool::write_entry(path, entry) {
        output::warn(format!(
            "Could not update the spool entry {} ({e}); it stays pending.",
            path.display()
        ));
    }
}
