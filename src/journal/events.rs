//! The run journal: an append-only JSON-lines file. Every stage writes what it is about to do
//! and what it did, so `perf-run resume` can rebuild the run after a crash or `kill -9`
//! (reference anchors §5.1). Nothing secret is ever written here.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::slurm::JobRecord;

/// Where the run executes (enough to reconnect on resume).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClusterRef {
    pub name: Option<String>,
    /// `ssh` or `local`.
    pub kind: String,
    pub host: Option<String>,
    /// The user the cluster sees (configured, or what the ssh config says).
    pub user: Option<String>,
    /// Whether `user` was configured for perf-run and is passed to ssh (`-l`). `false`: ssh's
    /// own config decides. Run directories written before this field passed `user`.
    #[serde(default = "yes")]
    pub user_configured: bool,
    /// `ssh -F`: the ssh config file of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_config: Option<std::path::PathBuf>,
    pub workdir: String,
}

fn yes() -> bool {
    true
}

/// One case of the run as recorded at the start.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CaseRef {
    pub index: usize,
    /// Directory name under `cases/` locally and under the remote run directory.
    pub case_dir: String,
    pub test_id: String,
    pub case_name: String,
    pub mode: String,
    pub job_name: String,
    /// The job workspace on the cluster.
    pub remote_workspace: String,
    pub skip: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run_id: String,
        version: String,
        cluster: ClusterRef,
        cases: Vec<CaseRef>,
        upload: bool,
    },
    Staged {
        checkout_synced: bool,
        files_transferred: u64,
        bytes_sent: u64,
        seconds: f64,
    },
    Skipped {
        case: String,
        reason: String,
    },
    SubmitIntent {
        case: String,
        script_sha256: String,
    },
    Submitted {
        case: String,
        job_id: String,
        batch_log: String,
    },
    SubmitFailed {
        case: String,
        error: String,
    },
    JobState {
        case: String,
        job_id: String,
        state: String,
        reason: Option<String>,
    },
    LogOffset {
        case: String,
        offset: u64,
    },
    MarkerSeen {
        case: String,
        exit_code: i32,
    },
    /// Slurm warned the batch script that the job's time limit is near (`--signal=B:USR1@N`).
    TimeLimitWarning {
        case: String,
        job_id: String,
        attempt: u32,
    },
    /// Slurm requeued the job: attempt `attempt` (1, 2, …; `SLURM_RESTART_COUNT`) follows the
    /// one that ended with `previous` (NODE_FAIL, PREEMPTED, REQUEUED, …) on `nodes`.
    Attempt {
        case: String,
        job_id: String,
        attempt: u32,
        previous: Option<String>,
        nodes: Option<String>,
        /// The batch log's byte offset where the new attempt's output starts (at most).
        offset: u64,
    },
    Finished {
        case: String,
        record: JobRecord,
    },
    CancelRequested {
        jobs: Vec<String>,
        why: String,
    },
    Detached,
    Collected {
        case: String,
        files: u64,
        missing: Vec<String>,
        error: Option<String>,
    },
    Extracted {
        results_dir: String,
    },
    Uploaded {
        db_run_id: u64,
        link: String,
    },
    UploadPending {
        reason: String,
        entry: Option<String>,
    },
    RunFinished {
        exit_code: i32,
        scheduler_calls: u64,
        ssh_connects: u64,
        wall_seconds: f64,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub ts: DateTime<Utc>,
    #[serde(flatten)]
    pub event: Event,
}

/// The journal file of a run, safe to share between tasks.
pub struct Journal {
    path: PathBuf,
    file: Mutex<std::fs::File>,
    /// A `note` failed and said so (reported once per run).
    warned: std::sync::atomic::AtomicBool,
}

impl Journal {
    pub fn open(path: &Path) -> Result<Journal> {
        let mut o = std::fs::OpenOptions::new();
        o.create(true).append(true);
        // Never append through a link planted under the journal's name (security review B4).
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.custom_flags(libc::O_NOFOLLOW);
        }
        let file = o
            .open(path)
            .with_context(|| format!("cannot open the run journal {}", path.display()))?;
        Ok(Journal {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            warned: std::sync::atomic::AtomicBool::new(false),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one event. Events that a resume depends on are flushed to disk (fsync).
    pub fn record(&self, event: Event) -> Result<()> {
        let durable = !matches!(event, Event::LogOffset { .. } | Event::JobState { .. });
        let line = serde_json::to_string(&Entry {
            ts: Utc::now(),
            event,
        })
        .context("cannot serialise a journal event")?;
        let mut f = self
            .file
            .lock()
            .map_err(|_| anyhow::anyhow!("the journal lock is poisoned"))?;
        f.write_all(line.as_bytes())
            .and_then(|_| f.write_all(b"\n"))
            .with_context(|| format!("cannot write the run journal {}", self.path.display()))?;
        if durable {
            f.sync_data()
                .with_context(|| format!("cannot sync the run journal {}", self.path.display()))?;
        }
        Ok(())
    }

    /// Record an event whose loss must not stop the run (progress, offsets, states, what
    /// happens after the job): a failure is reported — once per run, as a warning — and the
    /// run goes on to its results. Intent records that must be durable before acting use
    /// [`Journal::record`] and its error.
    pub fn note(&self, event: Event) {
        if let Err(e) = self.record(event)
            && !self.warned.swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            crate::output::warn(format!(
                "{}; perf-run goes on and writes the results, but `perf-run status` and `perf-run resume` will not see what happens from now on",
                format!("{e:#}").trim_end_matches('.')
            ));
        }
    }
}

/// Read every event; a torn last line (power loss mid-write) is ignored, anything else that
/// does not parse is an error naming the line.
pub fn read_journal(path: &Path) -> Result<Vec<Entry>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the run journal {}", path.display()))?;
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Entry>(l) {
            Ok(e) => out.push(e),
            Err(_) if i + 1 == lines.len() => {}
            Err(e) => {
                return Err(crate::error::UserError(format!(
                    "{}:{}: this journal line cannot be read ({e})",
                    path.display(),
                    i + 1
                ))
                .into());
            }
        }
    }
    Ok(out)
}

/// What the journal says about one case.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaseState {
    pub job_id: Option<String>,
    pub batch_log: Option<String>,
    pub intent: bool,
    pub submit_error: Option<String>,
    pub skipped: Option<String>,
    pub last_state: Option<String>,
    pub offset: u64,
    pub marker_exit: Option<i32>,
    pub finished: Option<JobRecord>,
    pub collected: bool,
    /// The job's current attempt (0 until Slurm requeues it).
    pub attempt: u32,
}

/// The run as the journal tells it.
#[derive(Debug, Clone, Default)]
pub struct RunState {
    pub run_id: Option<String>,
    pub cluster: Option<ClusterRef>,
    pub cases: Vec<CaseRef>,
    pub upload: bool,
    pub by_case: BTreeMap<String, CaseState>,
    pub detached: bool,
    pub cancel_requested: bool,
    pub extracted: bool,
    pub uploaded: Option<(u64, String)>,
    pub finished_exit: Option<i32>,
}

impl RunState {
    pub fn from_entries(entries: &[Entry]) -> RunState {
        let mut s = RunState::default();
        for e in entries {
            match &e.event {
                Event::RunStarted {
                    run_id,
                    cluster,
                    cases,
                    upload,
                    ..
                } => {
                    s.run_id = Some(run_id.clone());
                    s.cluster = Some(cluster.clone());
                    s.cases = cases.clone();
                    s.upload = *upload;
                }
                Event::Skipped { case, reason } => {
                    s.by_case.entry(case.clone()).or_default().skipped = Some(reason.clone())
                }
                Event::SubmitIntent { case, .. } => {
                    s.by_case.entry(case.clone()).or_default().intent = true
                }
                Event::Submitted {
                    case,
                    job_id,
                    batch_log,
                } => {
                    let c = s.by_case.entry(case.clone()).or_default();
                    c.job_id = Some(job_id.clone());
                    c.batch_log = Some(batch_log.clone());
                }
                Event::SubmitFailed { case, error } => {
                    s.by_case.entry(case.clone()).or_default().submit_error = Some(error.clone())
                }
                Event::JobState { case, state, .. } => {
                    s.by_case.entry(case.clone()).or_default().last_state = Some(state.clone())
                }
                Event::LogOffset { case, offset } => {
                    let c = s.by_case.entry(case.clone()).or_default();
                    c.offset = c.offset.max(*offset);
                }
                Event::MarkerSeen { case, exit_code } => {
                    s.by_case.entry(case.clone()).or_default().marker_exit = Some(*exit_code)
                }
                // Shown as it happens; the file the script writes is collected with the results.
                Event::TimeLimitWarning { .. } => {}
                Event::Attempt { case, attempt, .. } => {
                    let c = s.by_case.entry(case.clone()).or_default();
                    if *attempt > c.attempt {
                        c.attempt = *attempt;
                        // The marker seen so far was the earlier attempt's.
                        c.marker_exit = None;
                    }
                }
                Event::Finished { case, record } => {
                    s.by_case.entry(case.clone()).or_default().finished = Some(record.clone())
                }
                Event::CancelRequested { .. } => s.cancel_requested = true,
                Event::Detached => s.detached = true,
                Event::Collected { case, .. } => {
                    s.by_case.entry(case.clone()).or_default().collected = true
                }
                Event::Extracted { .. } => s.extracted = true,
                Event::Uploaded { db_run_id, link } => {
                    s.uploaded = Some((*db_run_id, link.clone()))
                }
                Event::UploadPending { .. } | Event::Staged { .. } => {}
                Event::RunFinished { exit_code, .. } => s.finished_exit = Some(*exit_code),
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_refs_of_older_runs_keep_passing_their_user() {
        let old: ClusterRef = serde_json::from_str(
            r#"{"name":"x","kind":"ssh","host":"h","user":"u","workdir":"/w"}"#,
        )
        .unwrap();
        assert!(old.user_configured);
        assert_eq!(old.ssh_config, None);
    }

    #[test]
    fn journal_round_trip_and_fold() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("journal.jsonl");
        let j = Journal::open(&p).unwrap();
        j.record(Event::RunStarted {
            run_id: "r".into(),
            version: "0".into(),
            cluster: ClusterRef {
                name: None,
                kind: "local".into(),
                host: None,
                user: None,
                user_configured: false,
                ssh_config: None,
                workdir: "/w".into(),
            },
            cases: vec![],
            upload: false,
        })
        .unwrap();
        j.record(Event::SubmitIntent {
            case: "00-x".into(),
            script_sha256: "abc".into(),
        })
        .unwrap();
        j.record(Event::Submitted {
            case: "00-x".into(),
            job_id: "42".into(),
            batch_log: "/w/l".into(),
        })
        .unwrap();
        j.record(Event::LogOffset {
            case: "00-x".into(),
            offset: 100,
        })
        .unwrap();
        // a torn last line is ignored
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"{\"ts\":\"2026")
            .unwrap();
        let s = RunState::from_entries(&read_journal(&p).unwrap());
        assert_eq!(s.run_id.as_deref(), Some("r"));
        let c = &s.by_case["00-x"];
        assert_eq!(c.job_id.as_deref(), Some("42"));
        assert_eq!(c.offset, 100);
        assert!(c.finished.is_none());
        assert_eq!(c.attempt, 0);
    }

    #[test]
    fn a_requeue_moves_resume_to_the_next_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("journal.jsonl");
        let j = Journal::open(&p).unwrap();
        let case = || "00-x".to_string();
        j.record(Event::Submitted {
            case: case(),
            job_id: "42".into(),
            batch_log: "/w/l".into(),
        })
        .unwrap();
        j.record(Event::MarkerSeen {
            case: case(),
            exit_code: 143,
        })
        .unwrap();
        j.record(Event::Attempt {
            case: case(),
            job_id: "42".into(),
            attempt: 1,
            previous: Some("NODE_FAIL".into()),
            nodes: Some("n1".into()),
            offset: 900,
        })
        .unwrap();
        let s = RunState::from_entries(&read_journal(&p).unwrap());
        let c = &s.by_case["00-x"];
        assert_eq!(c.attempt, 1);
        assert_eq!(
            c.marker_exit, None,
            "attempt 0's marker is not the job's end"
        );
        // An older perf-run's journal line without the event still reads.
        let line = r#"{"ts":"2026-11-30T12:00:00Z","event":"attempt","case":"00-x","job_id":"42","attempt":2,"previous":null,"nodes":null,"offset":5}"#;
        let e: Entry = serde_json::from_str(line).unwrap();
        assert!(matches!(e.event, Event::Attempt { attempt: 2, .. }));
    }
}
