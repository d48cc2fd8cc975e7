//! Benchmark (issue #9, item 4): one watcher over 10, 100 and 1,000 concurrent jobs on the
//! in-process Slurm (`perf_run::slurm::sim`), on a paused tokio clock: the jobs' 30–60 virtual
//! minutes pass in a moment, and what is measured is the watcher's own work. Per size it
//! prints the scheduler calls per poll cycle (the target: 1, plus a `squeue` only for a job that
//! may have been requeued), the jobs each poll asked about, the process's CPU time (watcher and
//! simulator together) per poll and per loop turn, and the resident memory before and after.
//! Each job's end is one poll (the confirmation right after its marker), batched when ends
//! coincide; the safety polls between are one call for every job.
//!
//! The jobs: pending 0–60 s, running 30–60 min printing a line every 5 min; 3 % fail, 2 % are
//! requeued once after a node failure, 1 % end in TIMEOUT. Every job is submitted at once
//! (`--max-jobs` = the number of jobs).
//!
//! Run: `cargo bench --bench watch_scale`. `PERF_RUN_BENCH_JOBS=10,100` picks the sizes.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use perf_run::journal::events::{CaseRef, Journal};
use perf_run::slurm::Scheduler;
use perf_run::slurm::sim::{Phase, SimCluster, Timeline};
use perf_run::watch::driver::Driver;
use perf_run::watch::job::{CaseJob, WatchConfig};

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// User + system CPU seconds of this process so far.
fn cpu_s() -> f64 {
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF needs nothing else.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn timeline(i: usize) -> Timeline {
    let run_s = 1800.0 + (i % 31) as f64 * 60.0;
    let lines: Vec<String> = (0..(run_s / 300.0) as usize)
        .map(|k| format!("concurrency point {k} done"))
        .collect();
    let running = Phase::Running {
        secs: run_s,
        lines: lines.clone(),
    };
    let pend = Phase::Pending {
        reason: "Resources".into(),
        secs: (i % 61) as f64,
    };
    let end = |state: &str, code: i32, marker: Option<i32>| Phase::Ends {
        state: state.into(),
        exit_code: code,
        marker,
    };
    Timeline(match i % 100 {
        0..=2 => vec![pend, running, end("FAILED", 1, Some(1))],
        3 | 4 => vec![
            pend,
            Phase::Running {
                secs: 600.0,
                lines: lines[..2].to_vec(),
            },
            Phase::Requeued {
                state: "NODE_FAIL".into(),
                marker: None,
            },
            Phase::Pending {
                reason: "BeginTime".into(),
                secs: 120.0,
            },
            running,
            end("COMPLETED", 0, Some(0)),
        ],
        5 => vec![pend, running, end("TIMEOUT", 0, Some(143))],
        _ => vec![pend, running, end("COMPLETED", 0, Some(0))],
    })
}

struct Figures {
    jobs: usize,
    wall: Duration,
    user_cpu: f64,
    virtual_s: f64,
    polls: usize,
    max_ids: usize,
    sacct: u64,
    squeue: u64,
    cycles: u64,
    rss_before: u64,
    rss_after: u64,
    completed: usize,
}

fn run(jobs: usize) -> Figures {
    // The run directory on tmpfs when there is one: the journal's fsyncs (one per submission
    // and per end, for resume) are the disk's cost, not the watcher's.
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("temp dir");
    let rss_before = rss_kib("VmRSS:");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    rt.block_on(async {
        let cluster = SimCluster::new(Timeline::completes(1.0, 1.0));
        for i in 0..jobs {
            cluster.script(&format!("/c{i:04}-"), timeline(i));
        }
        let remote = cluster.login_node();
        let journal = Journal::open(&dir.path().join("journal.jsonl")).expect("journal");
        let queue: VecDeque<CaseJob> = (0..jobs)
            .map(|i| {
                let case_dir = format!("c{i:04}-bench");
                CaseJob {
                    local_dir: dir.path().join("cases").join(&case_dir),
                    case: CaseRef {
                        index: i,
                        case_dir: case_dir.clone(),
                        test_id: format!("perf/test_perf_sanity.py::test_e2e[bench-{i}]"),
                        case_name: format!("bench-{i}"),
                        mode: Some(perf_run::plan::Mode::SingleAgg),
                        job_name: format!("perf-run-bench-{i:04}"),
                        remote_workspace: format!("/sim/run/cases/{case_dir}"),
                        skip: None,
                    },
                    time_limit_s: 4 * 3600,
                }
            })
            .collect();
        let cfg = WatchConfig {
            follow: false,
            max_pending: None,
            poll_min: Duration::from_secs(10),
            poll_max: Duration::from_secs(300),
            heartbeat: Duration::from_secs(300),
            max_jobs: jobs,
            detach: false,
            marker_grace: Duration::from_secs(45),
            max_restarts: 2,
        };
        let (_tx, mut rx) = tokio::sync::watch::channel(None);
        let driver = Driver {
            remote: &remote,
            sched: &cluster,
            journal: &journal,
            cfg,
            started: tokio::time::Instant::now(),
        };
        let v0 = tokio::time::Instant::now();
        let t0 = Instant::now();
        let c0 = cpu_s();
        let out = driver
            .drive(queue, Vec::new(), &mut rx)
            .await
            .expect("the watcher failed");
        let wall = t0.elapsed();
        let user_cpu = cpu_s() - c0;
        let polls = cluster.polls();
        let calls = cluster.calls();
        Figures {
            jobs,
            wall,
            user_cpu,
            virtual_s: v0.elapsed().as_secs_f64(),
            polls: polls.len(),
            max_ids: polls.iter().copied().max().unwrap_or(0),
            sacct: calls.sacct.load(Ordering::Relaxed),
            squeue: calls.squeue.load(Ordering::Relaxed) + calls.scontrol.load(Ordering::Relaxed),
            cycles: out.cycles,
            rss_before,
            rss_after: rss_kib("VmRSS:"),
            completed: out.results.values().filter(|r| r.record.is_some()).count(),
        }
    })
}

fn main() {
    perf_run::output::set_quiet(true);
    let sizes: Vec<usize> = std::env::var("PERF_RUN_BENCH_JOBS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10, 100, 1000]);
    println!("watch_scale: one watcher, every job submitted at once, on the simulated Slurm");
    println!(
        "{:>6} {:>9} {:>7} {:>11} {:>12} {:>8} {:>8} {:>12} {:>12} {:>12} {:>14}",
        "jobs",
        "virtual",
        "polls",
        "calls/poll",
        "max ids/poll",
        "wall",
        "CPU",
        "CPU/poll",
        "CPU/turn",
        "turns",
        "RSS MiB"
    );
    for n in sizes {
        let f = run(n);
        assert_eq!(f.completed, f.jobs, "every job ends with a record");
        let per_poll = (f.sacct + f.squeue) as f64 / f.polls.max(1) as f64;
        println!(
            "{:>6} {:>8.0}s {:>7} {:>11.2} {:>12} {:>7.2}s {:>7.2}s {:>10.2}ms {:>10.1}µs {:>12} {:>6.1}→{:.1}",
            f.jobs,
            f.virtual_s,
            f.polls,
            per_poll,
            f.max_ids,
            f.wall.as_secs_f64(),
            f.user_cpu,
            f.user_cpu * 1e3 / f.polls.max(1) as f64,
            f.user_cpu * 1e6 / f.cycles.max(1) as f64,
            f.cycles,
            f.rss_before as f64 / 1024.0,
            f.rss_after as f64 / 1024.0,
        );
        println!(
            "       sacct {} · squeue/scontrol {} (only for jobs that may have been requeued)",
            f.sacct, f.squeue
        );
    }
}
