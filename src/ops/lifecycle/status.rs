use crate::cli::StatusArgs;
use crate::config::settings::resolve;
use crate::error::{Exit, UserError};
use crate::journal::events::{RunState, read_journal};
use crate::journal::find_run;
use crate::journal::spec::read_run_spec;
use crate::output;
use crate::remote::{ClusterRef, connect};
use crate::slurm::{JobRecord, Slurm};
use anyhow::Result;
use serde_json::json;

/// `perf-run status [RUN|JOBID]`.
pub async fn status(args: StatusArgs) -> Result<Exit> {
    let env = crate::config::process_env;
    if let Some(t) = &args.target
        && !t.is_empty()
        && t.chars().all(|c| c.is_ascii_digit())
        && !std::path::Path::new(t).exists()
    {
        let settings = resolve(&(&args.cluster).into(), &env)?;
        let remote = connect(&ClusterRef::of(&settings)).await?;
        let sched = Slurm::new(&remote);
        let recs = sched.poll(std::slice::from_ref(t), 7 * 86_400).await;
        remote.close().await;
        let recs = recs?;
        let Some(r) = recs.get(t) else {
            return Err(UserError(format!(
                "Slurm does not know job {t} (not in squeue, scontrol or accounting)"
            ))
            .into());
        };
        print_records(&[(t.clone(), Some(r.clone()), None)], args.json);
        return Ok(Exit::Success);
    }
    let rd = find_run(args.target.as_deref())?;
    let spec = read_run_spec(&rd)?;
    let state = RunState::from_entries(&read_journal(&rd.journal_path())?);
    let open: Vec<String> = spec
        .cases
        .iter()
        .filter_map(|c| state.by_case.get(&c.case.case_dir))
        .filter(|s| s.finished.is_none())
        .filter_map(|s| s.job_id.clone())
        .collect();
    let mut live = std::collections::BTreeMap::new();
    if !open.is_empty() {
        match connect(&spec.cluster).await {
            Ok(remote) => {
                let sched = Slurm::new(&remote);
                match sched.poll(&open, 7 * 86_400).await {
                    Ok(r) => live = r,
                    Err(e) => output::warn(format!(
                        "the scheduler did not answer ({e:#}); showing the journal"
                    )),
                }
                remote.close().await;
            }
            Err(e) => output::warn(format!(
                "cannot reach the cluster ({e:#}); showing the journal"
            )),
        }
    }
    let rows: Vec<(String, Option<JobRecord>, Option<String>)> = spec
        .cases
        .iter()
        .map(|c| {
            let st = state
                .by_case
                .get(&c.case.case_dir)
                .cloned()
                .unwrap_or_default();
            let rec = st
                .finished
                .clone()
                .or_else(|| st.job_id.as_ref().and_then(|id| live.get(id).cloned()));
            let note = if c.case.skip.is_some() {
                Some("skipped".to_string())
            } else if let Some(e) = &st.submit_error {
                Some(format!("not submitted: {e}"))
            } else if st.job_id.is_none() && state.finished_exit.is_some() {
                Some("not submitted: the run ended before it (see results/)".to_string())
            } else if st.job_id.is_none() {
                Some("not submitted yet".to_string())
            } else if rec.is_none() {
                Some(format!(
                    "job {} (last seen {})",
                    st.job_id.clone().unwrap_or_default(),
                    st.last_state.clone().unwrap_or_else(|| "SUBMITTED".into())
                ))
            } else {
                None
            };
            (c.case.test_id.clone(), rec, note)
        })
        .collect();
    print_records(&rows, args.json);
    if !args.json {
        let phase = if state.finished_exit.is_some() {
            "finished"
        } else if state.detached {
            "detached (finish with `perf-run resume`)"
        } else {
            "in progress or interrupted (`perf-run resume` picks it up)"
        };
        output::info(format!("run {}: {phase}", spec.run_id));
    }
    Ok(Exit::Success)
}

/// A job's exit code once it has ended; sacct prints `0:0` for jobs that are still pending or
/// running, which is no exit code at all.
pub(super) fn shown_exit(r: &JobRecord) -> Option<i32> {
    r.exit_code.filter(|_| r.state.is_final())
}

pub(super) fn print_records(rows: &[(String, Option<JobRecord>, Option<String>)], json_out: bool) {
    if json_out {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(id, r, note)| {
                json!({
                    "test_id": id,
                    "job_id": r.as_ref().map(|r| r.job_id.clone()),
                    "state": r.as_ref().map(|r| r.state.raw.clone()),
                    "final": r.as_ref().map(|r| r.state.is_final()),
                    "exit_code": r.as_ref().and_then(shown_exit),
                    "reason": r.as_ref().and_then(|r| r.reason.clone()),
                    "note": note,
                })
            })
            .collect();
        output::data(serde_json::to_string_pretty(&v).unwrap_or_default());
        return;
    }
    let mut out = String::new();
    for (id, r, note) in rows {
        match r {
            Some(r) => out.push_str(&format!(
                "{:<10} {:<22} exit {:<4} {}{}\n",
                r.job_id,
                r.state.raw,
                shown_exit(r)
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "-".into()),
                id,
                r.reason
                    .as_ref()
                    .filter(|x| !r.state.is_final() && x.as_str() != "None")
                    .map(|x| format!("  ({x})"))
                    .unwrap_or_default()
            )),
            None => out.push_str(&format!(
                "{:<10} {:<22} {:<9} {id}  {}\n",
                "-",
                "-",
                "",
                note.clone().unwrap_or_default()
            )),
        }
    }
    output::data(out);
}
