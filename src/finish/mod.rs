//! The end of a run: extract results from the collected artifacts, write CSV/JSON/JUnit,
//! upload, print the human summary, and choose the exit code. Runs on every exit path
//! (success, failure, timeout, cancel, Ctrl-C), so Jenkins always gets a report.

pub mod exit;
pub mod store;
pub mod verdicts;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::error::Exit;
use crate::journal::RunDir;
use crate::journal::events::{Event, Journal, read_journal};
use crate::journal::spec::RunSpec;
use crate::output;
use crate::perfdb::settings::DbOverrides;
use crate::plan::ServerPlan;
use crate::results::{self, CaseContext, ClientMeta, JobInfo, MetricConfig, RunInfo, ServerMeta};
use crate::slurm::JobRecord;
use crate::watch::job::CaseResult as JobOutcome;
use crate::watch::signals::Interrupt;

pub struct FinalizeInput<'a> {
    pub rd: &'a RunDir,
    pub spec: &'a RunSpec,
    pub journal: &'a Journal,
    pub results: &'a BTreeMap<String, JobOutcome>,
    pub interrupted: Option<Interrupt>,
    pub scheduler_summary: String,
    pub scheduler_calls: u64,
    pub ssh_connects: u64,
    pub wall: Duration,
    pub upload: bool,
    pub db: &'a DbOverrides,
    /// `--gate`: a gating regression under `pre_merge` exits 6; `None` and `post_merge` warn.
    pub gate: Option<crate::judge::Stage>,
    /// The threshold stage the run's numbers are judged with (`verdicts::stage_of`).
    pub stage: crate::judge::Stage,
}

/// sacct prints local times without a zone (`2026-11-22T17:57:25`).
fn slurm_time(s: Option<&String>) -> Option<DateTime<Utc>> {
    let s = s?;
    let naive = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").ok()?;
    naive
        .and_local_timezone(chrono::Local)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

fn job_info(r: &JobRecord, our_reason: Option<&String>) -> JobInfo {
    let start = slurm_time(r.start.as_ref());
    let end = slurm_time(r.end.as_ref());
    JobInfo {
        job_id: r.job_id.clone(),
        state: r.state.base,
        // perf-run knows it cancelled the job (Slurm only names the uid perf-run runs as).
        cancelled_by: our_reason
            .map(|_| "perf-run".to_string())
            .or_else(|| r.state.cancelled_by.clone()),
        exit_code: r.exit_code,
        signal: r.signal,
        reason: our_reason.cloned().or_else(|| r.reason.clone()),
        submit: slurm_time(r.submit.as_ref()),
        start,
        end,
        elapsed_s: r
            .elapsed_s
            .map(|e| e as f64)
            .or_else(|| match (start, end) {
                (Some(a), Some(b)) => Some((b - a).num_milliseconds() as f64 / 1000.0),
                _ => None,
            }),
        node_list: r.node_list.clone(),
        restarts: r.restarts,
        restart_states: r.attempts.iter().map(|a| a.state.clone()).collect(),
        restart_nodes: {
            let mut nodes: Vec<&str> = Vec::new();
            for n in r.attempts.iter().filter_map(|a| a.node_list.as_deref()) {
                if !nodes.contains(&n) {
                    nodes.push(n);
                }
            }
            (!nodes.is_empty()).then(|| nodes.join(","))
        },
        lost_s: (!r.attempts.is_empty()).then(|| {
            r.attempts
                .iter()
                .map(|a| {
                    a.elapsed_s.map(|e| e as f64).unwrap_or_else(|| {
                        match (slurm_time(a.start.as_ref()), slurm_time(a.end.as_ref())) {
                            (Some(x), Some(y)) => (y - x).num_milliseconds() as f64 / 1000.0,
                            _ => 0.0,
                        }
                    })
                })
                .sum()
        }),
        suspended_s: r.suspended_s,
    }
}

fn server_meta(s: &ServerPlan) -> ServerMeta {
    ServerMeta {
        name: s.name.clone(),
        model: s.model.clone(),
        precision: s.precision.clone(),
        max_batch_size: s.max_batch_size,
        tp: s.tp,
        ep: s.ep,
        pp: s.pp,
        cp: s.cp,
        gpus: s.gpus,
        clients: s
            .clients
            .iter()
            .map(|c| ClientMeta {
                name: c.name.clone(),
                concurrency: c.concurrency,
                iterations: c.iterations,
                isl: c.isl,
                osl: c.osl,
            })
            .collect(),
    }
}

/// The plan's servers (from `plan.json`), for naming clients and the TRT_perf case key.
fn servers_of(case_dir: &Path) -> Vec<ServerMeta> {
    let Ok(text) = std::fs::read_to_string(case_dir.join("plan.json")) else {
        return vec![];
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return vec![];
    };
    let Ok(servers) = serde_json::from_value::<Vec<ServerPlan>>(v["servers"].clone()) else {
        return vec![];
    };
    // The benchmark talks to one endpoint per server config: in disagg, the gen server's
    // clients are the run's clients.
    servers
        .iter()
        .filter(|s| !s.clients.is_empty() || s.role == "aggr")
        .map(server_meta)
        .collect()
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let o = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn run_info(i: &FinalizeInput, cases: &[results::CaseResult]) -> RunInfo {
    let started = read_journal(&i.rd.journal_path())
        .ok()
        .and_then(|e| e.first().map(|x| x.ts))
        .unwrap_or(i.spec.created);
    let mut run = RunInfo::new(i.spec.run_id.clone(), started);
    run.finished = Some(Utc::now());
    run.cluster = i.spec.cluster.name.clone();
    run.user = i.spec.cluster.user.clone();
    run.hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string());
    run.build_url = std::env::var("BUILD_URL").ok().filter(|s| !s.is_empty());
    if let Some(trt) = &i.spec.trtllm_dir {
        run.trtllm_commit = git(trt, &["rev-parse", "--short", "HEAD"]);
        run.trtllm_branch = git(trt, &["rev-parse", "--abbrev-ref", "HEAD"]);
        run.commit_time = git(
            trt,
            &[
                "show",
                "-s",
                "--date=format:%Y-%m-%d %H:%M:%S",
                "--format=%cd",
            ],
        );
    }
    // System information recorded by the batch script on the first node of the first job.
    if let Some(dir) = cases
        .iter()
        .filter_map(|c| c.artifacts_dir.as_ref())
        .map(|d| d.join("sysinfo"))
        .find(|d| d.is_dir())
    {
        run.sysinfo = results::read_sysinfo(&dir);
        let si = &run.sysinfo;
        let known = |v: &str| v != crate::results::model::UNKNOWN;
        if known(&si.trtllm_installed)
            && known(&si.trtllm_checkout)
            && si.trtllm_installed != si.trtllm_checkout
        {
            crate::output::warn(format!(
                "the TensorRT-LLM the test ran with is {} ({}), but the checkout's tensorrt_llm/version.py says {}: the numbers belong to the installed build, not to the checkout",
                si.trtllm_installed, si.trtllm_location, si.trtllm_checkout
            ));
        }
    }
    run
}

/// Extract every case, whatever happened to it.
pub fn extract_all(
    rd: &RunDir,
    spec: &RunSpec,
    outcomes: &BTreeMap<String, JobOutcome>,
    metrics: &MetricConfig,
) -> Vec<results::CaseResult> {
    spec.cases
        .iter()
        .map(|c| {
            let o = outcomes.get(&c.case.case_dir).cloned().unwrap_or_default();
            let dir = rd.case_dir(&c.case.case_dir);
            let artifacts = dir.join("artifacts");
            let infra_error = if let Some(e) = &o.submit_error {
                Some(format!("the job was not submitted: {e}"))
            } else if o.not_submitted {
                Some("the run was interrupted before this case was submitted".to_string())
            } else if o.record.is_none() && c.case.skip.is_none() {
                Some("perf-run lost track of the job before it finished".to_string())
            } else {
                None
            };
            let ctx = CaseContext {
                test_id: c.case.test_id.clone(),
                case_name: c.case.case_name.clone(),
                mode: c.case.mode_name().to_string(),
                artifacts_dir: artifacts.is_dir().then_some(artifacts),
                job: o
                    .record
                    .as_ref()
                    .map(|r| job_info(r, o.cancelled_by_perf_run.as_ref())),
                skipped: c.case.skip.clone(),
                servers: servers_of(&dir),
                infra_error,
            };
            results::extract_case(&ctx, metrics)
        })
        .collect()
}

/// The exit code of a run or a resume ([`exit::exit_code`]). A regression fails
/// only the pre-merge gate; otherwise it is the JUnit failure and the summary's warning, and
/// the exit code says how the run itself went.
pub fn run_exit(
    cases: &[results::CaseResult],
    interrupted: Option<Interrupt>,
    upload_pending: bool,
    gate: Option<crate::judge::Stage>,
) -> Exit {
    exit::exit_code(
        interrupted,
        cases.iter().map(|c| (c.status, c.failure_class)),
        gate == Some(crate::judge::Stage::PreMerge),
        upload_pending,
    )
}

fn fmt_metric(c: &results::ClientResult, name: &str, label: &str, unit: &str) -> Option<String> {
    c.metric(name).map(|v| format!("{label} {v:.1}{unit}"))
}

/// The human summary: one line per case, then where everything is.
/// One line per client of a case: its label, validity and headline numbers (the run summary
/// and `perf-run extract` print the same lines).
pub fn client_lines(c: &results::CaseResult) -> Vec<String> {
    c.clients
        .iter()
        .map(|cl| {
            let parts: Vec<String> = [
                fmt_metric(cl, "token_throughput", "output", " tok/s"),
                fmt_metric(cl, "seq_throughput", "requests", " req/s"),
                fmt_metric(cl, "mean_ttft", "TTFT", " ms"),
                fmt_metric(cl, "mean_tpot", "TPOT", " ms"),
                fmt_metric(cl, "median_e2el", "median E2EL", " ms"),
                fmt_metric(
                    cl,
                    "mean_gen_worker_per_iter_device_step_time",
                    "gen step",
                    " ms",
                ),
            ]
            .into_iter()
            .flatten()
            .collect();
            format!(
                "{} ({}): {}",
                cl.label(),
                cl.validity.as_str(),
                if parts.is_empty() {
                    "no metrics".to_string()
                } else {
                    parts.join(", ")
                }
            )
        })
        .collect()
}

pub fn print_summary(cases: &[results::CaseResult], results_dir: &Path, link: Option<&str>) {
    let mut out = String::from("\nperf-run summary\n");
    for (i, c) in cases.iter().enumerate() {
        let class = c
            .failure_class
            .map(|f| format!(" [{}]", f.as_str()))
            .unwrap_or_default();
        let job = c
            .job
            .as_ref()
            .map(|j| {
                format!(
                    " job {} {}{}",
                    j.job_id,
                    j.state,
                    j.exit_code
                        .map(|e| format!(" exit {e}"))
                        .unwrap_or_default()
                )
            })
            .unwrap_or_default();
        out.push_str(&format!(
            "  [{i:02}] {:<8}{class}{job}  {}\n",
            c.status.as_str().to_uppercase(),
            c.test_id
        ));
        for line in client_lines(c) {
            out.push_str(&format!("         {line}\n"));
        }
        for r in c.reasons.iter().take(4) {
            out.push_str(&format!("         - {r}\n"));
        }
        if let Some(d) = &c.artifacts_dir {
            out.push_str(&format!("         artifacts: {}\n", d.display()));
        }
    }
    out.push_str(&format!("  results: {}\n", results_dir.display()));
    let report = results_dir.join("report.html");
    if report.is_file() {
        out.push_str(&format!("  report:  {}\n", report.display()));
    }
    if let Some(l) = link {
        out.push_str(&format!("  TRTPerf: {l}\n"));
    }
    crate::output::suspend_progress(|| eprint!("{out}"));
}

pub async fn finalize(i: FinalizeInput<'_>) -> Result<Exit> {
    let metrics = MetricConfig::builtin()?;
    let mut cases = extract_all(i.rd, i.spec, i.results, &metrics);
    let run = run_info(&i, &cases);
    let results_dir = i.rd.results_dir();
    results::write_outputs(&results_dir, &run, &cases)?;
    i.journal.note(Event::Extracted {
        results_dir: results_dir.display().to_string(),
    });
    // The history, the verdicts against it, and the report (issue #11). None of them can lose
    // the results written above: each failure is one warning.
    let verdicts = match crate::history::record::record_after_run(&i.rd.root).await {
        Some(rec) => verdicts::judge_run(&rec.run_key, i.stage).await,
        None => verdicts::RunVerdicts::default(),
    };
    if verdicts::apply(&mut cases, &verdicts.judgements) {
        results::write_outputs(&results_dir, &run, &cases)?;
    }
    match crate::report::write_for_run(&i.rd.root, &verdicts.series, &verdicts.judgements) {
        Ok(w) => output::detail(format!("wrote the report {}", w.html.display())),
        Err(e) => output::warn(format!(
            "the report was not written ({}); the results are unaffected",
            format!("{e:#}").trim_end_matches('.')
        )),
    }
    let mut interrupted = i.interrupted;
    let (link, upload_pending) = if i.upload && i.interrupted.is_none() {
        {
            let valid = cases
                .iter()
                .filter(|c| {
                    c.clients
                        .iter()
                        .any(|cl| cl.validity == results::Validity::Valid)
                })
                .count();
            let upload = store::upload_after_run(i.rd, i.journal, i.db, valid);
            match crate::watch::signals::subscribe() {
                None => upload.await,
                Some(mut rx) => tokio::select! {
                    r = upload => r,
                    sig = crate::watch::signals::first(&mut rx) => {
                        interrupted = Some(sig);
                        output::warn(format!(
                            "{}: the upload was stopped and rolled back; it waits in the spool (retry with `perf-run upload --spool`)",
                            sig.name()
                        ));
                        i.journal.note(Event::UploadPending {
                            reason: format!("{} during the upload", sig.name()),
                            entry: None,
                        });
                        (None, true)
                    }
                },
            }
        }
    } else {
        if i.upload {
            output::warn(
                "the run was interrupted: nothing was uploaded (upload later with `perf-run upload RUN`)",
            );
        }
        (None, false)
    };
    let exit = run_exit(&cases, interrupted, upload_pending, i.gate);
    print_summary(&cases, &results_dir, link.as_deref());
    let lines = verdicts::summary_lines(&verdicts.judgements);
    if !lines.is_empty() {
        crate::output::suspend_progress(|| eprintln!("{}", lines.join("\n")));
    }
    output::info(format!(
        "{}; {} ssh connection(s); {:.1} s",
        i.scheduler_summary,
        i.ssh_connects,
        i.wall.as_secs_f64()
    ));
    i.journal.note(Event::RunFinished {
        exit_code: exit.code(),
        scheduler_calls: i.scheduler_calls,
        ssh_connects: i.ssh_connects,
        wall_seconds: i.wall.as_secs_f64(),
    });
    Ok(exit)
}
