use crate::cli::RunRefArgs;
use crate::error::Exit;
use crate::journal::events::{Event, Journal, RunState, read_journal};
use crate::journal::find_run;
use crate::journal::spec::read_run_spec;
use crate::output;
use crate::remote::connect;
use crate::slurm::Slurm;
use anyhow::Result;

/// `perf-run cancel [RUN]`: one scancel for every job of the run that is not finished.
pub async fn cancel(args: RunRefArgs) -> Result<Exit> {
    let rd = find_run(args.run.as_deref())?;
    let spec = read_run_spec(&rd)?;
    let state = RunState::from_entries(&read_journal(&rd.journal_path())?);
    let ids: Vec<String> = state
        .by_case
        .values()
        .filter(|s| s.finished.is_none())
        .filter_map(|s| s.job_id.clone())
        .collect();
    if ids.is_empty() {
        output::info("no job of this run is waiting or running; nothing to cancel");
        return Ok(Exit::Success);
    }
    let journal = Journal::open(&rd.journal_path())?;
    journal.record(Event::CancelRequested {
        jobs: ids.clone(),
        why: "perf-run cancel".into(),
    })?;
    let remote = connect(&spec.cluster).await?;
    let sched = Slurm::new(&remote);
    let r = sched.cancel(&ids).await;
    remote.close().await;
    r?;
    output::info(format!(
        "cancelled job(s) {}; `perf-run resume {}` collects what they left",
        ids.join(", "),
        rd.root.display()
    ));
    Ok(Exit::Success)
}
