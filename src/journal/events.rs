//! The run journal: an append-only JSON-lines file. Every stage writes what it is about to do
//! and what it did, so `perf-run resume` can rebuild the run after a crash or `kill -9`
//! (reference anchors §5.1). Nothing secret is ever written here.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::JournalError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::plan::Mode;
use crate::slurm::JobRecord;

pub use crate::remote::cluster::ClusterRef;

/// One case of the run as recorded at the start.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CaseRef {
    pub index: usize,
    /// Directory name under `cases/` locally and under the remote run directory.
    pub case_dir: String,
    pub test_id: String,
    pub case_name: String,
    /// How the case runs; `None` for a test-list line that was never planned (written as
    /// `"unplanned"`, next to `single-agg`, `multi-agg` and `disagg`).
    #[serde(with = "case_mode")]
    pub mode: Option<Mode>,
    pub job_name: String,
    /// The job workspace on the cluster.
    pub remote_workspace: String,
    pub skip: Option<String>,
}

/// The `mode` recorded for a case that was never planned.
pub const UNPLANNED_MODE: &str = "unplanned";

impl CaseRef {
    /// The mode as run.json writes it: `single-agg`, `multi-agg`, `disagg` or `unplanned`.
    pub fn mode_name(&self) -> &'static str {
        self.mode.map_or(UNPLANNED_MODE, Mode::as_str)
    }
}

/// `CaseRef.mode`: a `plan::Mode`, or `"unplanned"` for `None`.
mod case_mode {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::{Mode, UNPLANNED_MODE};

    pub fn serialize<S: Serializer>(mode: &Option<Mode>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(mode.map_or(UNPLANNED_MODE, Mode::as_str))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Mode>, D::Error> {
        let word = String::deserialize(d)?;
        if word == UNPLANNED_MODE {
            return Ok(None);
        }
        Mode::deserialize(serde::de::value::StrDeserializer::<D::Error>::new(&word)).map(Some)
    }
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
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        let mut o = std::fs::OpenOptions::new();
        o.create(true).append(true);
        // Never append through a link planted under the journal's name (security review B4).
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.custom_flags(libc::O_NOFOLLOW);
        }
        let file = o.open(path).map_err(|error| JournalError::Open {
            path: path.to_path_buf(),
            error,
        })?;
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
    pub fn record(&self, event: Event) -> Result<(), JournalError> {
        let durable = !matches!(event, Event::LogOffset { .. } | Event::JobState { .. });
        let line = serde_json::to_string(&Entry {
            ts: Utc::now(),
            event,
        })
        .map_err(JournalError::Serialize)?;
        let mut f = self.file.lock().map_err(|_| JournalError::Poisoned)?;
        f.write_all(line.as_bytes())
            .and_then(|_| f.write_all(b"\n"))
            .map_err(|error| JournalError::Write {
                path: self.path.clone(),
                error,
            })?;
        if durable {
            f.sync_data().map_err(|error| JournalError::Sync {
                path: self.path.clone(),
                error,
            })?;
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
                crate::error::chain(&e).trim_end_matches('.')
            ));
        }
    }
}

/// Read every event; a torn last line (power loss mid-write) is ignored, anything else that
/// does not parse is an error naming the line.
pub fn read_journal(path: &Path) -> Result<Vec<Entry>, JournalError> {
    let text = std::fs::read_to_string(path).map_err(|error| JournalError::Read {
        path: path.to_path_buf(),
        error,
    })?;
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
                return Err(JournalError::BadLine {
                    path: path.to_path_buf(),
                    line: i + 1,
                    why: e.to_string(),
                });
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
    use crate::config::settings::ClusterType;

    #[test]
    fn cluster_refs_of_older_runs_keep_passing_their_user() {
        let old: ClusterRef = serde_json::from_str(
            r#"{"name":"x","kind":"ssh","host":"h","user":"u","workdir":"/w"}"#,
        )
        .unwrap();
        assert!(old.user_configured);
        assert_eq!(old.ssh_config, None);
    }

    /// Lines as perf-run wrote them while `kind`, `mode` and `source` were strings: they read
    /// into the typed fields and write back the same words, so older runs still resume.
    #[test]
    fn journal_lines_of_older_runs_read_into_the_typed_fields() {
        let lines = [
            r#"{"ts":"2026-11-30T13:07:37.973614314Z","event":"run_started","run_id":"20261130-130737-ce69","version":"0.1.0","cluster":{"name":"local-test","kind":"ssh","host":"slurm-login","user":"perfci","user_configured":true,"workdir":"/home/perfci/perf-run"},"cases":[{"index":0,"case_dir":"00-a","test_id":"perf/test_perf_sanity.py::test_e2e[aggr_upload-a-b]","case_name":"aggr_upload-a-b","mode":"single-agg","job_name":"perf-run.x.00.a","remote_workspace":"/w/00-a","skip":null},{"index":1,"case_dir":"01-d","test_id":"perf/test_perf_sanity.py::test_e2e[disagg_upload-e2e-d]","case_name":"disagg_upload-e2e-d","mode":"disagg","job_name":"perf-run.x.01.d","remote_workspace":"/w/01-d","skip":null},{"index":2,"case_dir":"02-m","test_id":"t","case_name":"m","mode":"multi-agg","job_name":"j","remote_workspace":"/w/02-m","skip":null},{"index":3,"case_dir":"03-u","test_id":"not a test id","case_name":"u","mode":"unplanned","job_name":"","remote_workspace":"","skip":"perf-run cannot run this line: it is not a perf-sanity test id"}],"upload":false}"#,
            r#"{"ts":"2026-11-30T13:07:38Z","event":"run_started","run_id":"r","version":"0.1.0","cluster":{"name":null,"kind":"local","host":null,"user":null,"user_configured":false,"workdir":"/w"},"cases":[],"upload":true}"#,
            r#"{"ts":"2026-11-30T13:07:40.125364474Z","event":"finished","case":"00-a","record":{"job_id":"267","state":{"base":"CANCELLED","flags":[],"cancelled_by":null,"raw":"CANCELLED"},"exit_code":0,"signal":0,"reason":null,"submit":"2026-11-30T13:07:38","start":"2026-11-30T13:07:39","end":"2026-11-30T13:07:39","elapsed_s":null,"node_list":"n1","source":"squeue","restarts":0}}"#,
            r#"{"ts":"2026-11-30T16:25:31.500138838Z","event":"finished","case":"00-a","record":{"job_id":"181","state":{"base":"COMPLETED","flags":[],"cancelled_by":null,"raw":"COMPLETED"},"exit_code":0,"signal":0,"reason":null,"submit":"2026-11-30T16:25:29","start":"2026-11-30T16:25:30","end":"2026-11-30T16:25:31","elapsed_s":1,"node_list":"n1","source":"sacct","restarts":0,"suspended_s":0}}"#,
            r#"{"ts":"2026-11-30T16:25:31Z","event":"finished","case":"01-d","record":{"job_id":"182","state":{"base":"NODE_FAIL","flags":[],"cancelled_by":null,"raw":"NODE_FAIL"},"exit_code":null,"signal":null,"reason":null,"submit":null,"start":null,"end":null,"elapsed_s":null,"node_list":null,"source":"sacct -c","restarts":0}}"#,
            r#"{"ts":"2026-11-30T16:25:31Z","event":"finished","case":"02-m","record":{"job_id":"183","state":{"base":"OUT_OF_MEMORY","flags":[],"cancelled_by":null,"raw":"OUT_OF_MEMORY"},"exit_code":null,"signal":null,"reason":null,"submit":null,"start":null,"end":null,"elapsed_s":null,"node_list":null,"source":"scontrol","restarts":0}}"#,
            r#"{"ts":"2026-11-30T16:25:31Z","event":"finished","case":"02-m","record":{"job_id":"184","state":{"base":"FAILED","flags":[],"cancelled_by":null,"raw":"FAILED"},"exit_code":null,"signal":null,"reason":null,"submit":null,"start":null,"end":null,"elapsed_s":null,"node_list":null,"source":"perf-run","restarts":0}}"#,
        ];
        let entries: Vec<Entry> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        for (line, entry) in lines.iter().zip(&entries) {
            let again = serde_json::to_value(entry).unwrap();
            let before: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(again, before, "written back differently: {line}");
        }
        let Event::RunStarted { cluster, cases, .. } = &entries[0].event else {
            panic!("{:?}", entries[0].event)
        };
        assert_eq!(cluster.kind, ClusterType::Ssh);
        let modes: Vec<_> = cases.iter().map(|c| c.mode).collect();
        assert_eq!(
            modes,
            [
                Some(Mode::SingleAgg),
                Some(Mode::Disagg),
                Some(Mode::MultiAgg),
                None
            ]
        );
        assert_eq!(cases[3].mode_name(), "unplanned");
        let Event::RunStarted { cluster, .. } = &entries[1].event else {
            panic!("{:?}", entries[1].event)
        };
        assert_eq!(cluster.kind, ClusterType::Local);
        use crate::slurm::{BaseState, RecordSource};
        let finished: Vec<(RecordSource, BaseState)> = entries[2..]
            .iter()
            .map(|e| match &e.event {
                Event::Finished { record, .. } => (record.source, record.state.base),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            finished,
            [
                (RecordSource::Squeue, BaseState::Cancelled),
                (RecordSource::Sacct, BaseState::Completed),
                (RecordSource::JobComp, BaseState::NodeFail),
                (RecordSource::Scontrol, BaseState::OutOfMemory),
                (RecordSource::PerfRun, BaseState::Failed),
            ]
        );
        // A mode no perf-run ever wrote is an error, not a silent guess.
        let bad = lines[0].replace("\"multi-agg\"", "\"aggr\"");
        assert!(serde_json::from_str::<Entry>(&bad).is_err());
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
                kind: ClusterType::Local,
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
