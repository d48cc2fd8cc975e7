//! `perf-run upload`: results → TRT_perf (reference §9), three ways:
//! `perf-run upload RUN` (a collected run directory), `perf-run upload --source-metric-csv …`
//! (the `trt_perf_parser.py` flags), and `perf-run upload --spool` (retry pending uploads).
use std::path::PathBuf;

use anyhow::Result;

use crate::cli::UploadArgs;
use crate::cli::upload::YesNo;
use crate::error::{Exit, UserError};
use crate::ops::exit::exit_code;
use crate::output;
use crate::perfdb::error::sentence;
use crate::perfdb::{self, DbSettings, RunInfoArgs, SourceFiles, UploadOptions, UploadOutcome};

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

/// Map the flags (and the run-info environment variables, which a flag overrides) to upload
/// options (everything but the database settings).
pub fn options_from_args(args: &UploadArgs) -> UploadOptions {
    UploadOptions {
        env: perfdb::runinfo::from_env(&env),
        info: RunInfoArgs {
            tensorrt: args.tensorrt.clone(),
            trtllm: args.trtllm.clone(),
            driver: args.driver.clone(),
            gpu: args.gpu.clone(),
            cuda: args.cuda.clone(),
            os: args.os.clone(),
            cpu: args.cpu.clone(),
            sm_clock: args.sm_clock.clone(),
            mem_clock: args.mem_clock.clone(),
            start_time: args.start_time.clone(),
            end_time: args.end_time.clone(),
            commit: args.commit.clone(),
            commit_time: args.commit_time.clone(),
            link: args.link.clone(),
            notes: args.notes.clone(),
            hostname: args.hostname.clone(),
            ip: args.ip.clone(),
        },
        framework: args.framework.clone(),
        run_key: args.run_key.clone(),
        force_reupload: args.force_reupload,
        dry_run: args.write_db == YesNo::No || args.dry_run,
        sources: SourceFiles {
            metric_csv: args.source_metric_csv.clone(),
            properties: args.source_properties.clone(),
            gpu_monitoring: args.source_gpu_monitoring.clone(),
            junit_xml: args.junit_xml.clone(),
        },
    }
}

/// `RUN` is a directory, or the name of one under the runs home.
fn resolve_run_dir(run: &str) -> Result<PathBuf, UserError> {
    let direct = PathBuf::from(run);
    if direct.is_dir() {
        return Ok(direct);
    }
    let home = perfdb::settings::runs_home(&env);
    let under = home.join(run);
    if under.is_dir() {
        return Ok(under);
    }
    Err(UserError(format!(
        "{run:?} is neither a run directory nor a run id under {}; pass the path of a collected run.",
        home.display()
    )))
}

pub async fn run(args: UploadArgs) -> Result<Exit> {
    let db = crate::perfdb::settings::DbOverrides::try_from(&args.db)?;
    let settings = DbSettings::resolve(&db, &env)?;
    if args.spool {
        if args.run.is_some() || args.source_metric_csv.is_some() {
            return Err(UserError(
                "--spool retries the pending uploads of the spool directory and takes no RUN or --source-metric-csv; run those uploads separately.".into(),
            )
            .into());
        }
        return retry(&settings).await;
    }
    let opts = options_from_args(&args);
    let run_dir = match &args.run {
        Some(run) => Some(resolve_run_dir(run)?),
        None if args.source_metric_csv.is_some() => None,
        None => {
            return Err(UserError(
                "Nothing to upload: give a run directory (perf-run upload RUN), the legacy flags (--source-metric-csv FILE …), or --spool to retry pending uploads.".into(),
            )
            .into());
        }
    };
    let plan = match &run_dir {
        Some(d) => perfdb::plan_for_run_dir(d, &opts)?,
        None => perfdb::plan_for_files(&opts)?,
    };
    if !opts.dry_run && !args.no_history {
        let recorded = crate::history::record::record_plan(
            &crate::history::default_path(),
            &plan,
            run_dir.as_deref(),
        )
        .await;
        if settings.host.is_none() {
            // Without a database the history is the one place the run goes: its failure is
            // the command's failure.
            let r = recorded?;
            output::info(format!(
                "Recorded {}; no database host is set (--DB-host or DB_HOST), so only the local history was written.",
                r.describe()
            ));
            return Ok(Exit::Success);
        }
        match recorded {
            Ok(r) => output::info(format!("Recorded {}.", r.describe())),
            Err(e) => output::warn(format!(
                "The run was not recorded into the local history ({}); the upload to the database goes ahead.",
                sentence(&format!("{e:#}")).trim_end_matches('.')
            )),
        }
    }
    let upload = perfdb::upload_prepared(&plan, &settings, &opts);
    // SIGTERM/SIGINT/SIGHUP: drop the connection (the server rolls the transaction back); the
    // entry written before connecting stays in the spool for `upload --spool`.
    let mut sigs = crate::watch::signals::install_doing("stopping the upload")?;
    let outcome = tokio::select! {
        r = upload => r?,
        sig = crate::watch::signals::first(&mut sigs) => {
            output::warn(format!(
                "{} received: the upload was stopped and rolled back; it waits in {} (retry with `perf-run upload --spool`).",
                sig.name(),
                settings.spool_dir.display()
            ));
            return Ok(exit_code(Some(sig), [], false, false));
        }
    };
    Ok(report(&settings, &outcome))
}

/// Print what happened and choose the exit code.
pub fn report(settings: &DbSettings, outcome: &UploadOutcome) -> Exit {
    match outcome {
        UploadOutcome::Uploaded { run_id, link, rows } => {
            output::info(format!(
                "Uploaded run {run_id} to {} with {rows} perf_result row(s).",
                settings.target()
            ));
            output::data(format!("TRTPerf: {link}"));
            Exit::Success
        }
        UploadOutcome::AlreadyUploaded { run_id, link } => {
            output::info(format!(
                "This run is already uploaded as run {run_id} in {}; nothing was inserted (use --force-reupload to insert it again anyway).",
                settings.target()
            ));
            output::data(format!("TRTPerf: {link}"));
            Exit::Success
        }
        UploadOutcome::Spooled { entry, reason } => {
            output::warn(format!(
                "The upload did not reach the database: {}",
                sentence(reason)
            ));
            output::warn(format!(
                "Nothing is lost: the upload is kept in {}; run `perf-run upload --spool` to retry every pending upload (safe from cron or the next job).",
                entry.display()
            ));
            exit_code(None, [], false, true)
        }
        UploadOutcome::LegacyDuplicate { run_id, link } => {
            output::error(perfdb::legacy_duplicate_message(
                *run_id,
                &settings.target(),
            ));
            output::data(format!("TRTPerf: {link}"));
            Exit::Usage
        }
        UploadOutcome::DryRun => Exit::Success,
    }
}

async fn retry(settings: &DbSettings) -> Result<Exit> {
    let r = perfdb::retry_spool(settings).await?;
    if r.busy {
        output::info(format!(
            "Another perf-run is retrying the spool {} right now; nothing to do.",
            settings.spool_dir.display()
        ));
        return Ok(Exit::Success);
    }
    if r.done.is_empty() && r.pending.is_empty() {
        output::info(format!(
            "No upload is pending in {}.",
            settings.spool_dir.display()
        ));
        return Ok(Exit::Success);
    }
    for (entry, outcome) in &r.done {
        match outcome {
            UploadOutcome::Uploaded { run_id, link, rows } => {
                output::info(format!(
                    "Uploaded {} as run {run_id} ({rows} perf_result rows).",
                    entry.display()
                ));
                output::data(format!("TRTPerf: {link}"));
            }
            UploadOutcome::AlreadyUploaded { run_id, link } => {
                output::info(format!(
                    "{} was already uploaded as run {run_id}; removed it from the spool.",
                    entry.display()
                ));
                output::data(format!("TRTPerf: {link}"));
            }
            _ => {}
        }
    }
    for (entry, reason) in &r.pending {
        output::warn(format!(
            "Still pending: {}: {}",
            entry.display(),
            sentence(reason)
        ));
    }
    if r.pending.is_empty() {
        output::info(format!("All {} pending upload(s) are done.", r.done.len()));
        Ok(Exit::Success)
    } else {
        output::warn(format!(
            "{} upload(s) done, {} still pending in {}; the results are kept, retry later with `perf-run upload --spool`.",
            r.done.len(),
            r.pending.len(),
            settings.spool_dir.display()
        ));
        Ok(exit_code(None, [], false, true))
    }
}
