//! `perf-run status`, `logs`, `cancel` and `doctor`.

use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::json;

use crate::cli::{DoctorArgs, LogsArgs, RunRefArgs, StatusArgs};
use crate::config::settings::{ClusterType, Settings, resolve};
use crate::error::{Exit, UserError};
use crate::journal::events::{Event, Journal, RunState, read_journal};
use crate::journal::spec::{CaseSpec, read_run_spec};
use crate::ops::run::{cluster_ref, connect, find_run};
use crate::output;
use crate::remote::{QUICK, Remote};
use crate::shell::sh;
use crate::slurm::{JobRecord, Scheduler, Slurm};

/// `perf-run status [RUN|JOBID]`.
pub async fn status(args: StatusArgs) -> Result<Exit> {
    let env = crate::config::process_env;
    if let Some(t) = &args.target
        && !t.is_empty()
        && t.chars().all(|c| c.is_ascii_digit())
        && !std::path::Path::new(t).exists()
    {
        let settings = resolve(&(&args.cluster).into(), &env)?;
        let remote = connect(&cluster_ref(&settings)).await?;
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
fn shown_exit(r: &JobRecord) -> Option<i32> {
    r.exit_code.filter(|_| r.state.is_final())
}

fn print_records(rows: &[(String, Option<JobRecord>, Option<String>)], json_out: bool) {
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

fn pick_case<'a>(cases: &'a [CaseSpec], want: Option<&str>) -> Result<&'a CaseSpec> {
    match want {
        None if cases.len() == 1 => Ok(&cases[0]),
        None => Err(UserError(format!(
            "this run has {} cases; choose one with --case INDEX or a part of its test id",
            cases.len()
        ))
        .into()),
        Some(w) => {
            if let Ok(i) = w.parse::<usize>()
                && let Some(c) = cases.iter().find(|c| c.case.index == i)
            {
                return Ok(c);
            }
            let hits: Vec<&CaseSpec> = cases
                .iter()
                .filter(|c| c.case.test_id.contains(w))
                .collect();
            match hits.len() {
                1 => Ok(hits[0]),
                0 => Err(UserError(format!(
                    "no case of this run matches `{w}`",
                    w = crate::error::escape_for_message(w)
                ))
                .into()),
                n => Err(UserError(format!(
                    "`{w}` matches {n} cases; be more specific",
                    w = crate::error::escape_for_message(w)
                ))
                .into()),
            }
        }
    }
}

/// The file of a role's log, relative to the job workspace: the srun logs live in the test's
/// per-case directory `<case>/`, where upstream's launch draft writes them.
fn role_log(role: Option<&str>, job_id: &str, test_id: &str) -> Result<String> {
    let case = test_id
        .split_once('[')
        .map(|(_, c)| c.trim_end_matches(']'))
        .unwrap_or(test_id);
    Ok(match role.map(|r| r.to_ascii_uppercase()) {
        None => crate::plan::workspace::batch_log(job_id),
        Some(r) if r == "BENCHMARK" || r == "AGGR" => crate::plan::workspace::batch_log(job_id),
        Some(r) if r == "DISAGG_SERVER" => format!("{case}/disagg_server.log"),
        Some(r) if r.starts_with("GEN_") => format!("{case}/gen_server_{}.log", &r[4..]),
        Some(r) if r.starts_with("CTX_") => format!("{case}/ctx_server_{}.log", &r[4..]),
        Some(r) => {
            return Err(UserError(format!(
                "role `{r}` is not known; use CTX_<i>, GEN_<i>, DISAGG_SERVER or BENCHMARK",
                r = crate::error::escape_for_message(&r)
            ))
            .into());
        }
    })
}

/// `perf-run logs [RUN] [--follow] [--role NAME]`.
pub async fn logs(args: LogsArgs) -> Result<Exit> {
    let rd = find_run(args.run.as_deref())?;
    let spec = read_run_spec(&rd)?;
    let state = RunState::from_entries(&read_journal(&rd.journal_path())?);
    let case = pick_case(&spec.cases, args.case.as_deref())?;
    let st = state
        .by_case
        .get(&case.case.case_dir)
        .cloned()
        .unwrap_or_default();
    let job_id = st.job_id.clone().ok_or_else(|| {
        UserError(format!(
            "{} was not submitted, so it has no log",
            case.case.test_id
        ))
    })?;
    let rel = role_log(args.role.as_deref(), &job_id, &case.case.test_id)?;
    let local = rd
        .case_dir(&case.case.case_dir)
        .join("artifacts")
        .join(&rel);
    if st.finished.is_some() && local.is_file() {
        let text =
            std::fs::read(&local).with_context(|| format!("cannot read {}", local.display()))?;
        output::data(String::from_utf8_lossy(&text));
        return Ok(Exit::Success);
    }
    let remote = connect(&spec.cluster).await?;
    let path = format!("{}/{rel}", case.case.remote_workspace);
    let result = if args.follow {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let marker =
            crate::plan::workspace::JobWorkspace(&case.case.remote_workspace).exit_marker();
        let script = crate::watch::stream::tail_script(
            &path,
            &marker,
            0,
            case.time_limit_s + 900,
            st.attempt,
        );
        let h = crate::watch::stream::start(&remote, "log".into(), &script, tx).await?;
        while let Some((_, m)) = rx.recv().await {
            match m {
                crate::watch::stream::StreamMsg::Line(l, _) => output::data(l),
                crate::watch::stream::StreamMsg::Ended => break,
            }
        }
        h.abort();
        Ok(Exit::Success)
    } else {
        let o = remote
            .exec(
                &format!("cat {}", sh(&[&path])),
                Duration::from_secs(300),
                true,
            )
            .await?;
        if o.success() {
            output::data(o.stdout_text());
            Ok(Exit::Success)
        } else {
            Err(UserError(format!(
                "the log {path} cannot be read yet: {}",
                o.stderr_summary()
            ))
            .into())
        }
    };
    remote.close().await;
    result
}

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

#[derive(Default)]
struct Checks {
    failed: usize,
    /// Every check as reported: (passed, what, detail).
    seen: Vec<(bool, String, String)>,
}

impl Checks {
    fn report(&mut self, ok: bool, what: &str, detail: &str) {
        self.seen.push((ok, what.to_string(), detail.to_string()));
        if ok {
            output::info(format!(
                "ok    {what}{}",
                if detail.is_empty() {
                    String::new()
                } else {
                    format!(": {detail}")
                }
            ));
        } else {
            self.failed += 1;
            output::error(format!("FAIL  {what}: {detail}"));
        }
    }
}

/// `perf-run doctor --cluster NAME`.
pub async fn doctor(args: DoctorArgs) -> Result<Exit> {
    let env = crate::config::process_env;
    let mut c = Checks::default();
    let settings = resolve(&(&args.cluster).into(), &env)?;
    // The doctor's test script carries these in #SBATCH lines: the same allowlist as `render`
    // (security review B5).
    if let Some(p) = &settings.partition {
        crate::render::check_sbatch_value("partition", p)?;
    }
    if let Some(a) = &settings.account {
        crate::render::check_sbatch_value("account", a)?;
    }
    let cref = cluster_ref(&settings);
    c.report(
        true,
        "cluster profile",
        &format!(
            "{} ({}, host {}, user {} from {}, work dir {})",
            settings.cluster_name.as_deref().unwrap_or("(none)"),
            cref.kind.as_str(),
            settings.host.as_deref().unwrap_or("-"),
            settings.user.as_deref().unwrap_or("-"),
            settings
                .origins
                .get("CLUSTER_USER")
                .map(|s| s.describe(
                    "--user",
                    "CLUSTER_USER",
                    settings.cluster_name.as_deref().unwrap_or("?")
                ))
                .unwrap_or_default(),
            settings.workdir
        ),
    );
    c.report(
        which::which("rsync").is_ok(),
        "rsync on this machine",
        "needed to sync files",
    );
    if cref.kind == ClusterType::Ssh {
        c.report(
            which::which("ssh").is_ok(),
            "ssh client on this machine",
            "",
        );
    }
    let remote = match connect(&cref).await {
        Ok(r) => {
            c.report(
                true,
                "connection (ssh reachable, host key known and matching)",
                &r.describe(),
            );
            r
        }
        Err(e) => {
            c.report(false, "connection", &format!("{e:#}"));
            return Ok(Exit::Infra);
        }
    };
    let tools = [
        "sbatch", "sacct", "squeue", "scontrol", "scancel", "srun", "sinfo", "rsync", "bash",
    ];
    let o = remote
        .exec(
            &format!(
                "for t in {}; do command -v \"$t\" >/dev/null || echo \"$t\"; done",
                tools.join(" ")
            ),
            QUICK,
            true,
        )
        .await;
    match o {
        Ok(o) => {
            let missing = o
                .stdout_text()
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>();
            c.report(
                missing.is_empty(),
                "Slurm tools and rsync on the login node",
                &if missing.is_empty() {
                    tools.join(", ")
                } else {
                    format!("missing: {}", missing.join(", "))
                },
            );
        }
        Err(e) => c.report(false, "Slurm tools on the login node", &format!("{e:#}")),
    }
    let wd = &settings.workdir;
    let o = remote
        .exec(
            &format!("mkdir -p {0} && test -w {0} && echo ok", sh(&[wd])),
            QUICK,
            true,
        )
        .await;
    c.report(
        o.as_ref().is_ok_and(|o| o.stdout_text().contains("ok")),
        "work directory writable",
        wd,
    );
    // sbatch --test-only of a trivial script with this profile's partition/account.
    let mut lines = vec![
        "#!/bin/bash".to_string(),
        "#SBATCH --nodes=1".into(),
        "#SBATCH --time=00:01:00".into(),
    ];
    if let Some(p) = &settings.partition {
        lines.push(format!("#SBATCH --partition={p}"));
    }
    if let Some(a) = &settings.account {
        lines.push(format!("#SBATCH --account={a}"));
    }
    if let Some(g) = settings.gpus_per_node_capacity {
        lines.push(format!("#SBATCH --gpus-per-node={g}"));
    }
    lines.push("true".into());
    let script = format!("{wd}/.perf-run-doctor.sh");
    let write = format!(
        "printf '%s\\n' {} > {}",
        lines.iter().map(|l| sh(&[l])).collect::<Vec<_>>().join(" "),
        sh(&[&script])
    );
    let written = remote
        .exec(&write, QUICK, true)
        .await
        .is_ok_and(|o| o.success());
    let sched = Slurm::new(&remote);
    scheduler_checks(
        &sched,
        &settings,
        written.then_some(script.as_str()),
        &mut c,
    )
    .await;
    remote.close().await;
    if c.failed == 0 {
        output::info("the cluster looks usable");
        Ok(Exit::Success)
    } else {
        output::error(format!("{} check(s) failed", c.failed));
        Ok(Exit::Infra)
    }
}

/// What the scheduler says about this profile's settings (through the [`Scheduler`] interface,
/// so the simulator can answer too): the partition, the account, accounting, and
/// `sbatch --test-only` of `script` (a trivial script with the profile's `#SBATCH` lines,
/// already on the login node; `None` when it could not be written).
async fn scheduler_checks<S: Scheduler>(
    sched: &S,
    settings: &Settings,
    script: Option<&str>,
    c: &mut Checks,
) {
    if let Some(p) = &settings.partition {
        match sched.partition_info(p).await {
            Ok(Some(line)) => c.report(true, "partition exists", &format!("{p}: {line}")),
            Ok(None) => c.report(
                false,
                "partition exists",
                &format!("Slurm knows no partition {p}"),
            ),
            Err(e) => c.report(false, "partition exists", &format!("{p}: {e}")),
        }
    }
    if let Some(a) = &settings.account {
        match sched.account_known(a).await {
            Ok(known) => c.report(
                known,
                "account exists",
                &if known {
                    a.clone()
                } else {
                    format!("the accounting database knows no account {a}")
                },
            ),
            Err(e) => c.report(false, "account exists", &format!("{a}: {e}")),
        }
    }
    let acct_ok = sched.accounting_answers().await.unwrap_or(false);
    c.report(
        acct_ok,
        "accounting (sacct)",
        if acct_ok {
            "answers"
        } else {
            "not available: perf-run will fall back to squeue/scontrol/sacct -c"
        },
    );
    match script {
        Some(script) => match sched.test_only(&settings.workdir, script).await {
            Ok(t) => c.report(true, "sbatch --test-only", t.lines().last().unwrap_or("")),
            Err(e) => c.report(false, "sbatch --test-only", &format!("{e:#}")),
        },
        None => c.report(
            false,
            "sbatch --test-only",
            "cannot write a test script to the work directory",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slurm::sim::{Outage, SimCluster, Timeline};

    fn site_settings(partition: &str, account: &str) -> Settings {
        let o = crate::config::settings::Overrides {
            cluster_type: Some("local".into()),
            workdir: Some("/w".into()),
            partition: Some(partition.into()),
            account: Some(account.into()),
            ..Default::default()
        };
        crate::config::settings::resolve_with(&o, &|_| None, &|_, _| Err("no ssh".into()))
            .expect("settings")
    }

    /// The doctor's scheduler checks go through the `Scheduler` interface: the simulated
    /// cluster answers them, with one call each.
    #[tokio::test]
    async fn doctor_asks_the_scheduler_about_partition_account_accounting_and_test_only() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("doctor.sh");
        let write = |p: &str, a: &str| {
            std::fs::write(
                &script,
                format!("#!/bin/bash\n#SBATCH --partition={p}\n#SBATCH --account={a}\ntrue\n"),
            )
            .unwrap();
        };
        let sim = SimCluster::new(Timeline::completes(1.0, 1.0));
        sim.set_site(&[("gpu", "gpu up 4 gpu:8")], &["perf"]);
        let script_s = script.to_str().unwrap();

        // Everything known: four passes, one call each.
        write("gpu", "perf");
        let mut c = Checks::default();
        scheduler_checks(&sim, &site_settings("gpu", "perf"), Some(script_s), &mut c).await;
        assert_eq!(c.failed, 0, "{:?}", c.seen);
        assert_eq!(c.seen[0].2, "gpu: gpu up 4 gpu:8");
        assert!(c.seen[3].2.contains("in partition gpu"), "{:?}", c.seen[3]);
        assert_eq!(sim.calls().total(), 4);

        // A partition and an account Slurm does not know: said, and sbatch refuses.
        write("cpu", "nobody");
        let mut c = Checks::default();
        scheduler_checks(
            &sim,
            &site_settings("cpu", "nobody"),
            Some(script_s),
            &mut c,
        )
        .await;
        let failed: Vec<&str> = c
            .seen
            .iter()
            .filter(|s| !s.0)
            .map(|s| s.1.as_str())
            .collect();
        assert_eq!(
            failed,
            ["partition exists", "account exists", "sbatch --test-only"]
        );
        assert!(
            c.seen[0].2.contains("knows no partition cpu"),
            "{:?}",
            c.seen[0]
        );
        assert!(c.seen[3].2.contains("Invalid partition"), "{:?}", c.seen[3]);

        // Accounting down: the account cannot be checked and the watcher's fallback is named.
        sim.outage(Outage::Accounting { from: 0.0, to: 1e9 });
        write("gpu", "perf");
        let mut c = Checks::default();
        scheduler_checks(&sim, &site_settings("gpu", "perf"), Some(script_s), &mut c).await;
        let failed: Vec<&str> = c
            .seen
            .iter()
            .filter(|s| !s.0)
            .map(|s| s.1.as_str())
            .collect();
        assert_eq!(failed, ["account exists", "accounting (sacct)"]);
        assert!(
            c.seen[1].2.contains("Problem talking to the database"),
            "{:?}",
            c.seen[1]
        );
        assert!(
            c.seen[2].2.contains("fall back to squeue"),
            "{:?}",
            c.seen[2]
        );

        // No script on the login node: test-only is a failure that says why.
        let mut c = Checks::default();
        scheduler_checks(&sim, &site_settings("gpu", "perf"), None, &mut c).await;
        assert!(
            c.seen
                .last()
                .unwrap()
                .2
                .contains("cannot write a test script"),
            "{:?}",
            c.seen
        );
    }

    #[test]
    fn no_exit_code_before_the_end() {
        let rec = |state: &str| {
            crate::slurm::parse_sacct(&format!("5|{state}|0:0||2026-01-01T00:00:00|2026-01-01T00:00:01|2026-01-01T00:00:02|1|n1|x\n"), crate::slurm::RecordSource::Sacct)
                .remove("5")
                .unwrap()
        };
        assert_eq!(shown_exit(&rec("PENDING")), None);
        assert_eq!(shown_exit(&rec("RUNNING")), None);
        assert_eq!(shown_exit(&rec("COMPLETED")), Some(0));
    }
}
