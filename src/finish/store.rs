//! The store stage of `perf-run run`: upload the run directory to TRT_perf when asked
//! (`--upload` or USE_TRT_PERF_DB=true). The results are already on disk; a failed upload
//! leaves a spool entry and exit code 5 ("results kept, upload pending").

use crate::journal::RunDir;
use crate::journal::events::{Event, Journal};
use crate::output;
use crate::perfdb::settings::DbOverrides;
use crate::perfdb::{self, DbSettings, UploadOptions, UploadOutcome};

/// Upload the run's results; returns the TRTPerf link and whether the upload is pending.
pub async fn upload_after_run(
    rd: &RunDir,
    journal: &Journal,
    db: &DbOverrides,
    valid_cases: usize,
) -> (Option<String>, bool) {
    if valid_cases == 0 {
        output::warn("no case produced a valid measurement, so nothing was uploaded to TRT_perf");
        return (None, false);
    }
    let env = crate::config::process_env;
    let settings = match DbSettings::resolve(db, &env) {
        Ok(s) => s,
        Err(e) => {
            output::error(format!("the upload cannot start: {e}"));
            journal.note(Event::UploadPending {
                reason: e.to_string(),
                entry: None,
            });
            return (None, true);
        }
    };
    // Run values: the environment (TRT_VERSION, GIT_COMMIT, BUILD_URL, …), then what the job
    // detected under sysinfo/ (read by `upload_run_dir`), then session_properties.csv.
    let opts = UploadOptions {
        env: perfdb::runinfo::from_env(&env),
        ..Default::default()
    };
    match perfdb::upload_run_dir(&rd.root, &settings, &opts).await {
        Ok(UploadOutcome::Uploaded { run_id, link, rows }) => {
            output::info(format!(
                "uploaded {rows} result row(s) to TRT_perf as run {run_id}"
            ));
            journal.note(Event::Uploaded {
                db_run_id: run_id,
                link: link.clone(),
            });
            (Some(link), false)
        }
        Ok(UploadOutcome::AlreadyUploaded { run_id, link }) => {
            output::info(format!(
                "this run was already uploaded as TRT_perf run {run_id}"
            ));
            (Some(link), false)
        }
        Ok(UploadOutcome::Spooled { entry, reason }) => {
            output::error(format!(
                "the upload to TRT_perf failed ({reason}); the results are kept and the upload waits in {} (retry with `perf-run upload --spool`)",
                entry.display()
            ));
            journal.note(Event::UploadPending {
                reason,
                entry: Some(entry.display().to_string()),
            });
            (None, true)
        }
        Ok(UploadOutcome::LegacyDuplicate { run_id, link }) => {
            output::error(perfdb::legacy_duplicate_message(run_id, &settings.target()));
            (Some(link), false)
        }
        Ok(UploadOutcome::DryRun) => (None, false),
        Err(e) => {
            output::error(format!(
                "the upload to TRT_perf failed: {e:#}; the results are kept in {} (upload later with `perf-run upload {}`)",
                rd.results_dir().display(),
                rd.root.display()
            ));
            journal.note(Event::UploadPending {
                reason: format!("{e:#}"),
                entry: None,
            });
            (None, true)
        }
    }
}
