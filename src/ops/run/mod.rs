//! `perf-run run` / `submit` / `resume` / `wait`: the whole pipeline, and re-entering it from a
//! run directory.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::cli::{ResumeArgs, RunArgs};
use crate::error::{Exit, UserError};
use crate::finish::{FinalizeInput, finalize};
use crate::journal::events::{CaseRef, ClusterRef, Event, Journal, RunState, read_journal};
use crate::journal::find_run;
use crate::journal::{self, RunDir, write_atomic};
use crate::ops::render::{Prepared, prepare, print_prepared};
use crate::output;
use crate::perfdb::settings::DbOverrides;
use crate::remote::stage::stage_cases;
use crate::remote::{AnyRemote, Remote, connect};
use crate::slurm::{Scheduler, Slurm};
use crate::watch::driver::Driver;
use crate::watch::job::{CaseJob, CaseResult, WatchConfig, short_label};
use crate::watch::signals;

use crate::journal::spec::{CaseSpec, RunSpec, read_run_spec};

#[cfg(test)]
mod tests;

/// `perf-run run` (and `submit`, which is `run --detach`).
pub async fn run(mut args: RunArgs, force_detach: bool) -> Result<Exit> {
    let env = crate::config::process_env;
    let t0 = Instant::now();
    if force_detach {
        args.detach = true;
    }
    // Every setting is checked before anything touches the network: a password on the command
    // line, the database an upload needs, USE_TRT_PERF_DB, --max-pending.
    let db = DbOverrides::try_from(&args.db)?;
    let upload = crate::perfdb::upload_wanted(args.upload, args.no_upload, &env)?;
    if upload {
        crate::perfdb::DbSettings::resolve(&db, &env)?.require_complete()?;
    }
    let max_pending = parse_duration_opt(args.max_pending.as_deref())?;
    let watch_cfg = WatchConfig::from_env(&env)?;
    if args.dry_run {
        let render_args = crate::ops::render::with_scratch_output(&args.render, &env);
        let prep = prepare(&render_args, &journal::runs_home(&env), &env)?;
        print_prepared(&prep, args.render.json, args.render.show_files);
        output::info("dry run: nothing was copied, submitted or uploaded");
        return Ok(Exit::Success);
    }
    // For a real run the files always go into a run directory; --output-dir picks where the run
    // directories live.
    let mut render_args = args.render.clone();
    let home = render_args
        .output_dir
        .take()
        .unwrap_or_else(|| journal::runs_home(&env));
    let prep = prepare(&render_args, &home, &env)?;
    let rd = prep
        .run_dir
        .clone()
        .context("internal error: a run always has a run directory")?;
    let spec = write_run_spec(&prep, &rd, upload)?;
    let journal = Journal::open(&rd.journal_path())?;
    journal.record(Event::RunStarted {
        run_id: rd.run_id.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        cluster: spec.cluster.clone(),
        cases: spec.cases.iter().map(|c| c.case.clone()).collect(),
        upload,
    })?;
    output::info(format!(
        "run {} ({} case(s)) in {}",
        rd.run_id,
        spec.cases.len(),
        rd.root.display()
    ));
    let mut sigs = signals::install().context("cannot install signal handlers")?;
    // From here on every way out ends with results/, a JUnit file and a journal verdict.
    let before_submission = |reason: Option<String>, interrupted: Option<signals::Interrupt>| {
        let spec = &spec;
        let rd = &rd;
        let journal = &journal;
        let db = &db;
        async move {
            if let Some(r) = &reason {
                output::error(r);
            }
            let results = spec
                .cases
                .iter()
                .filter(|c| c.case.skip.is_none())
                .map(|c| {
                    (
                        c.case.case_dir.clone(),
                        CaseResult {
                            submit_error: reason.clone(),
                            not_submitted: reason.is_none(),
                            ..Default::default()
                        },
                    )
                })
                .collect();
            finalize(FinalizeInput {
                rd,
                spec,
                journal,
                results: &results,
                interrupted,
                scheduler_summary: "no job was submitted".into(),
                scheduler_calls: 0,
                ssh_connects: 0,
                wall: t0.elapsed(),
                upload: false,
                db,
                // Nothing ran, so there is nothing to judge.
                gate: None,
                stage: crate::judge::Stage::PostMerge,
            })
            .await
        }
    };
    let connected = tokio::select! {
        r = connect(&spec.cluster) => r.map_err(|e| format!("{e:#}")),
        sig = signals::first(&mut sigs) => return before_submission(None, Some(sig)).await,
    };
    let remote = match connected {
        Ok(r) => r,
        Err(e) => return before_submission(Some(e), None).await,
    };
    // Stage before anything is submitted; a failure or a signal here still ends in a verdict.
    let staged = tokio::select! {
        r = stage(&args, &prep, &rd, &journal, &remote) => r.map_err(|e| format!("{e:#}")),
        sig = signals::first(&mut sigs) => {
            remote.close().await;
            return before_submission(None, Some(sig)).await;
        }
    };
    if let Err(e) = staged {
        remote.close().await;
        return before_submission(Some(e), None).await;
    }
    let result = async {
        let mut queue = VecDeque::new();
        let mut pre = std::collections::BTreeMap::new();
        for c in &spec.cases {
            if let Some(why) = &c.case.skip {
                journal.record(Event::Skipped {
                    case: c.case.case_dir.clone(),
                    reason: why.clone(),
                })?;
                output::info(format!("{}: skipped ({why})", short_label(&c.case)));
                pre.insert(c.case.case_dir.clone(), CaseResult::default());
                continue;
            }
            queue.push_back(CaseJob {
                local_dir: rd.case_dir(&c.case.case_dir),
                case: c.case.clone(),
                time_limit_s: c.time_limit_s,
            });
        }
        let sched = Slurm::new(&remote);
        let mut cfg = watch_cfg;
        cfg.follow = args.follow;
        cfg.max_jobs = args.max_jobs.max(1);
        cfg.detach = args.detach;
        cfg.max_pending = max_pending;
        cfg.max_restarts = args.max_restarts;
        let driver = Driver {
            remote: &remote,
            sched: &sched,
            journal: &journal,
            cfg,
            started: tokio::time::Instant::now(),
        };
        let outcome = match driver.drive(queue, vec![], &mut sigs).await {
            Ok(o) => o,
            Err(e) => watcher_failed(&rd, &sched, e.into()).await,
        };
        if outcome.detached {
            output::info(format!(
                "submitted; finish later with `perf-run resume {}` ({})",
                rd.root.display(),
                sched.calls.summary()
            ));
            return Ok(Exit::Success);
        }
        let mut results = outcome.results;
        results.extend(pre);
        finalize(FinalizeInput {
            rd: &rd,
            spec: &spec,
            journal: &journal,
            results: &results,
            interrupted: outcome.interrupted,
            scheduler_summary: sched.calls.summary(),
            scheduler_calls: sched.calls.total(),
            ssh_connects: remote.stats().snapshot().0,
            wall: t0.elapsed(),
            upload,
            db: &db,
            gate: args.gate.map(Into::into),
            stage: crate::finish::verdicts::stage_of(
                args.gate.map(Into::into),
                args.render.select.stage.map(Into::into),
            ),
        })
        .await
    }
    .await;
    remote.close().await;
    result
}

/// The watcher stopped on an error that is not a signal (the journal cannot be written, the
/// connection is gone for good, …): cancel every job of this run that may still run — none may
/// burn GPU hours unwatched — and go on to the results with what is known. The cases whose end
/// was not seen become `infra` ("perf-run lost track of the job"), so the run still ends with
/// `results/`, a JUnit file and exit 4.
async fn watcher_failed<S: Scheduler>(
    rd: &RunDir,
    sched: &S,
    err: anyhow::Error,
) -> crate::watch::job::DriveOutcome {
    let state = read_journal(&rd.journal_path())
        .map(|e| RunState::from_entries(&e))
        .unwrap_or_default();
    let live: Vec<String> = state
        .by_case
        .values()
        .filter(|c| c.finished.is_none())
        .filter_map(|c| c.job_id.clone())
        .collect();
    // What the journal says ended keeps its record (and its collected artifacts).
    let results = state
        .by_case
        .iter()
        .filter_map(|(case, c)| {
            let record = c.finished.clone()?;
            Some((
                case.clone(),
                CaseResult {
                    record: Some(record),
                    marker_exit: c.marker_exit,
                    collected: c.collected,
                    ..Default::default()
                },
            ))
        })
        .collect();
    output::warn(format!(
        "perf-run could not go on watching the jobs ({}); {}",
        format!("{err:#}").trim_end_matches('.'),
        if live.is_empty() {
            "no job of this run is left in the queue; writing the results it has".to_string()
        } else {
            format!(
                "cancelling job(s) {} so nothing runs unwatched, then writing the results it has",
                live.join(", ")
            )
        }
    ));
    if let Err(e) = sched.cancel(&live).await {
        output::warn(format!(
            "the cancel failed too ({}); cancel job(s) {} by hand with scancel",
            format!("{e:#}").trim_end_matches('.'),
            live.join(", ")
        ));
    }
    crate::watch::job::DriveOutcome {
        results,
        interrupted: None,
        detached: false,
        cycles: 0,
    }
}

/// Stage: the checkout (delta), the generated files and the wheel, over one connection.
async fn stage(
    args: &RunArgs,
    prep: &Prepared,
    rd: &RunDir,
    journal: &Journal,
    remote: &AnyRemote,
) -> Result<()> {
    let ts = Instant::now();
    let mut stats = crate::remote::SyncStats::default();
    let mut synced = false;
    if !args.no_sync {
        let trt = prep
            .settings
            .trtllm_dir
            .clone()
            .context("internal error: no checkout")?;
        let mut excludes: Vec<String> = [".git/", "__pycache__/", "*.pyc", ".pytest_cache/"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        excludes.extend(args.sync_exclude.iter().cloned());
        let remote_trt = format!(
            "{}/TensorRT-LLM",
            prep.settings.workdir.trim_end_matches('/')
        );
        output::info(format!(
            "syncing {} to {}:{remote_trt}",
            trt.display(),
            remote.describe()
        ));
        stats = remote
            .sync_to(
                &trt,
                &remote_trt,
                &excludes,
                true,
                Duration::from_secs(3600),
            )
            .await
            .context("staging the TensorRT-LLM checkout failed")?;
        synced = true;
    }
    let remote_run_dir = prep
        .cases
        .first()
        .map(|c| c.plan.paths.run_dir.clone())
        .context("internal error: no case")?;
    let mut s2 = stage_cases(remote, &rd.root.join("cases"), &remote_run_dir)
        .await
        .context("copying the generated scripts to the cluster failed")?;
    // The wheel to install, once per run (every case's plan names the same file).
    if let Some(install) = prep.cases.iter().find_map(|c| c.plan.install.as_ref()) {
        let local = rd.root.join("wheel");
        let w = stage_wheel(remote, install, &local, &remote_run_dir)
            .await
            .with_context(|| {
                format!(
                    "copying the wheel {} to the cluster failed",
                    install.local.display()
                )
            })?;
        output::info(format!(
            "staged the wheel {} ({}) for installation on every node",
            install.local.display(),
            install.source
        ));
        s2.files_transferred += w.files_transferred;
        s2.bytes_sent += w.bytes_sent;
    }
    journal.record(Event::Staged {
        checkout_synced: synced,
        files_transferred: stats.files_transferred + s2.files_transferred,
        bytes_sent: stats.bytes_sent + s2.bytes_sent,
        seconds: ts.elapsed().as_secs_f64(),
    })?;
    output::detail(format!(
        "staged in {:.1} s ({} files, {} bytes sent)",
        ts.elapsed().as_secs_f64(),
        stats.files_transferred + s2.files_transferred,
        stats.bytes_sent + s2.bytes_sent
    ));
    Ok(())
}

pub fn parse_duration_opt(s: Option<&str>) -> Result<Option<Duration>> {
    match s {
        None => Ok(None),
        Some(t) => humantime::parse_duration(t).map(Some).map_err(|e| {
            UserError(format!(
                "`{t}` is not a duration ({e}); use e.g. `30m`, `2h`, `90s`",
                t = crate::error::escape_for_message(t)
            ))
            .into()
        }),
    }
}

fn write_run_spec(prep: &Prepared, rd: &RunDir, upload: bool) -> Result<RunSpec> {
    let mut spec = RunSpec {
        run_id: rd.run_id.clone(),
        created: chrono::Utc::now(),
        cluster: ClusterRef::of(&prep.settings),
        upload,
        trtllm_dir: prep.settings.trtllm_dir.clone(),
        cases: prep
            .cases
            .iter()
            .map(|c| CaseSpec {
                time_limit_s: c.plan.time_seconds,
                case: CaseRef {
                    index: c.plan.case_index,
                    case_dir: c.plan.case_dir.clone(),
                    test_id: c.plan.test_id.clone(),
                    case_name: c.plan.case_name.clone(),
                    mode: Some(c.plan.mode),
                    job_name: c.plan.sbatch.job_name.clone(),
                    remote_workspace: c.plan.paths.job_workspace.clone(),
                    skip: c.plan.skip.clone(),
                },
            })
            .chain(prep.unplanned.iter().map(|u| CaseSpec {
                time_limit_s: 0,
                case: CaseRef {
                    index: u.index,
                    case_dir: u.case_dir.clone(),
                    test_id: u.test_id.clone(),
                    case_name: u.case_name.clone(),
                    mode: None,
                    job_name: String::new(),
                    remote_workspace: String::new(),
                    skip: Some(u.reason.clone()),
                },
            }))
            .collect(),
    };
    spec.cases.sort_by_key(|c| c.case.index);
    write_atomic(
        &rd.root.join("run.json"),
        &serde_json::to_vec_pretty(&spec).context("cannot serialise run.json")?,
    )?;
    Ok(spec)
}

/// `perf-run resume RUN` (and `wait`): re-attach to live jobs, pick up finished ones, submit
/// what never reached the scheduler, then finish the run. Never submits a case twice.
pub async fn resume(args: ResumeArgs, allow_upload: bool) -> Result<Exit> {
    let env = crate::config::process_env;
    let t0 = Instant::now();
    let db = DbOverrides::try_from(&args.db)?;
    let watch_cfg = WatchConfig::from_env(&env)?;
    let rd = find_run(args.run.as_deref())?;
    let spec = read_run_spec(&rd)?;
    let state = RunState::from_entries(&read_journal(&rd.journal_path())?);
    let journal = Journal::open(&rd.journal_path())?;
    output::info(format!(
        "resuming run {} in {}",
        spec.run_id,
        rd.root.display()
    ));
    let mut sigs = signals::install().context("cannot install signal handlers")?;
    let remote = connect(&spec.cluster).await?;
    let result = async {
        let sched = Slurm::new(&remote);
        let mut queue = VecDeque::new();
        let mut attach = Vec::new();
        let mut results = std::collections::BTreeMap::new();
        for c in &spec.cases {
            let job = CaseJob {
                local_dir: rd.case_dir(&c.case.case_dir),
                case: c.case.clone(),
                time_limit_s: c.time_limit_s,
            };
            let st = state
                .by_case
                .get(&c.case.case_dir)
                .cloned()
                .unwrap_or_default();
            if c.case.skip.is_some() || st.skipped.is_some() {
                results.insert(c.case.case_dir.clone(), CaseResult::default());
                continue;
            }
            match (&st.job_id, &st.finished) {
                (Some(id), Some(rec)) => {
                    let collected = st.collected
                        || crate::watch::collect::collect_case(
                            &remote,
                            &journal,
                            &c.case,
                            &job.local_dir,
                            id,
                        )
                        .await;
                    results.insert(
                        c.case.case_dir.clone(),
                        CaseResult {
                            record: Some(rec.clone()),
                            marker_exit: st.marker_exit,
                            collected,
                            ..Default::default()
                        },
                    );
                }
                (Some(id), None) => {
                    output::info(format!(
                        "{}: re-attaching to job {id}",
                        short_label(&c.case)
                    ));
                    if st.attempt > 0 {
                        output::info(format!(
                            "{}: job {id} was requeued by Slurm; following its attempt {} (or a later one)",
                            short_label(&c.case),
                            st.attempt
                        ));
                    }
                    attach.push((job, id.clone(), st.offset, st.attempt));
                }
                (None, _) if st.intent && st.submit_error.is_none() => {
                    // sbatch may or may not have happened before the crash: ask by job name.
                    match sched.find_by_name(&c.case.job_name).await? {
                        Some(id) => {
                            output::info(format!(
                                "{}: found job {id} submitted before the interruption",
                                short_label(&c.case)
                            ));
                            journal.record(Event::Submitted {
                                case: c.case.case_dir.clone(),
                                job_id: id.clone(),
                                batch_log: crate::plan::workspace::JobWorkspace(&c.case.remote_workspace).batch_log(&id),
                            })?;
                            attach.push((job, id, 0, 0));
                        }
                        None => queue.push_back(job),
                    }
                }
                (None, _) if st.submit_error.is_some() => {
                    results.insert(
                        c.case.case_dir.clone(),
                        CaseResult {
                            submit_error: st.submit_error.clone(),
                            ..Default::default()
                        },
                    );
                }
                (None, _) => queue.push_back(job),
            }
        }
        let mut cfg = watch_cfg;
        cfg.follow = args.follow;
        let driver = Driver {
            remote: &remote,
            sched: &sched,
            journal: &journal,
            cfg,
            started: tokio::time::Instant::now(),
        };
        let outcome = match driver.drive(queue, attach, &mut sigs).await {
            Ok(o) => o,
            Err(e) => watcher_failed(&rd, &sched, e.into()).await,
        };
        results.extend(outcome.results);
        finalize(FinalizeInput {
            rd: &rd,
            spec: &spec,
            journal: &journal,
            results: &results,
            interrupted: outcome.interrupted,
            scheduler_summary: sched.calls.summary(),
            scheduler_calls: sched.calls.total(),
            ssh_connects: remote.stats().snapshot().0,
            wall: t0.elapsed(),
            upload: allow_upload && spec.upload,
            db: &db,
            gate: args.gate.map(Into::into),
            stage: crate::finish::verdicts::stage_of(args.gate.map(Into::into), None),
        })
        .await
    }
    .await;
    remote.close().await;
    result
}

/// Put the wheel in `<run dir>/wheel/` on the cluster: a hard link (or a copy, across file
/// systems) in the local run directory, then one rsync of that directory.
async fn stage_wheel<R: crate::remote::Remote>(
    remote: &R,
    install: &crate::plan::InstallPlan,
    local_dir: &std::path::Path,
    remote_run_dir: &str,
) -> Result<crate::remote::SyncStats> {
    std::fs::create_dir_all(local_dir)
        .with_context(|| format!("cannot create {}", local_dir.display()))?;
    let name = install
        .local
        .file_name()
        .context("internal error: the wheel has no file name")?;
    let dst = local_dir.join(name);
    if !dst.exists() && std::fs::hard_link(&install.local, &dst).is_err() {
        std::fs::copy(&install.local, &dst)
            .with_context(|| format!("cannot copy {}", install.local.display()))?;
    }
    Ok(remote
        .sync_to(
            local_dir,
            &format!("{remote_run_dir}/wheel"),
            &[],
            false,
            Duration::from_secs(3600),
        )
        .await?)
}
