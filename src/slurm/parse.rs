//! What Slurm's commands print, read: `sbatch --parsable`, `sacct -P`, `squeue -O`,
//! `scontrol show job -o`, and how slurmctld's live view is merged into accounting's.

use std::collections::BTreeMap;

use super::{AttemptRecord, JobRecord, JobState, RecordSource};

/// Parse `sbatch --parsable` output: `12345` or `12345;cluster`.
pub fn parse_parsable(stdout: &str) -> Option<String> {
    let line = stdout.lines().map(str::trim).rfind(|l| !l.is_empty())?;
    let id = line.split(';').next()?.trim();
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_digit() || c == '_')).then(|| id.to_string())
}

fn parse_exit(text: &str) -> (Option<i32>, Option<i32>) {
    let mut it = text.trim().split(':');
    let code = it.next().and_then(|c| c.trim().parse().ok());
    let sig = it.next().and_then(|c| c.trim().parse().ok());
    (code, sig)
}

fn nonempty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty() && t != "Unknown" && t != "None" && t != "N/A").then(|| t.to_string())
}

/// The job name slurmdbd shows until the job's own record reaches it (Slurm 22.05): a row with
/// it is a placeholder whose node list, times and exit code are not the job's yet (a 2-node job
/// shows `COMPLETED` on one node for a moment). perf-run's own jobs are never called that.
const PLACEHOLDER_NAME: &str = "allocation";

/// `sacct -P` rows: JobIDRaw|State|ExitCode|Reason|Submit|Start|End|ElapsedRaw|NodeList[|JobName[|Suspended]].
/// Steps, placeholder rows (see `PLACEHOLDER_NAME`) and final states without an end time are
/// left out: such a job counts as not (fully) in accounting yet. With `sacct -D` a requeued
/// job has one row per attempt, oldest first: the last is the job, the others its `attempts`.
pub fn parse_sacct(text: &str, source: RecordSource) -> BTreeMap<String, JobRecord> {
    let mut rows: BTreeMap<String, Vec<JobRecord>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('|').collect();
        if f.len() < 3 {
            continue;
        }
        let id = f[0].trim().to_string();
        if id.contains('.') {
            continue; // a step, not the allocation
        }
        if f.get(9).is_some_and(|n| n.trim() == PLACEHOLDER_NAME) {
            continue;
        }
        let (code, sig) = parse_exit(f[2]);
        let get = |i: usize| f.get(i).and_then(|s| nonempty(s));
        let state = JobState::parse(f[1]);
        let ended_attempt = state.is_final() || state.flags.iter().any(|x| x == "REQUEUED");
        if f.len() > 6 && ended_attempt && get(6).is_none() {
            // A final state without an end time: the job's start record reached slurmdbd
            // after the job ended, its completion record (end, exit code) not yet.
            continue;
        }
        let mut r = JobRecord::bare(&id, state, source);
        r.exit_code = code;
        r.signal = sig;
        r.reason = get(3);
        r.submit = get(4);
        r.start = get(5);
        r.end = get(6);
        r.elapsed_s = get(7).and_then(|e| e.parse().ok());
        r.node_list = get(8).filter(|n| n != "None assigned");
        r.suspended_s = get(10).and_then(|t| parse_runtime(&t));
        rows.entry(id).or_default().push(r);
    }
    let mut out = BTreeMap::new();
    for (id, mut attempts) in rows {
        let Some(mut last) = attempts.pop() else {
            continue;
        };
        last.restarts = attempts.len() as u32;
        last.attempts = attempts
            .into_iter()
            .map(|a| AttemptRecord {
                state: a.state.raw,
                start: a.start,
                end: a.end,
                elapsed_s: a.elapsed_s,
                node_list: a.node_list,
            })
            .collect();
        out.insert(id, last);
    }
    out
}

/// The squeue fields perf-run asks for (`-O`, `|`-separated). `exit_code` is the job's raw
/// wait status (`256` = exit code 1, `15` = killed by SIGTERM), so a finished job needs no
/// extra `scontrol` call for its exit code.
pub(super) const SQUEUE_FORMAT: &str = "JobID:|,State:|,exit_code:|,Reason:|,SubmitTime:|,StartTime:|,EndTime:|,NodeList:|,RestartCnt:|";

/// Rows of `squeue -h -O SQUEUE_FORMAT`.
pub(super) fn parse_squeue(text: &str) -> BTreeMap<String, JobRecord> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('|').map(str::trim).collect();
        if f.len() < 2 || f[0].is_empty() {
            continue;
        }
        let get = |i: usize| f.get(i).and_then(|s| nonempty(s));
        let state = JobState::parse(f[1]);
        let (exit_code, signal) = match get(2).and_then(|w| w.parse::<i32>().ok()) {
            // The wait status means something only once the job has ended.
            Some(w) if state.is_final() => (Some((w >> 8) & 0xff), Some(w & 0x7f)),
            _ => (None, None),
        };
        let mut r = JobRecord::bare(f[0], state, RecordSource::Squeue);
        r.exit_code = exit_code;
        r.signal = signal;
        r.reason = get(3);
        r.submit = get(4);
        r.start = get(5);
        r.end = get(6);
        r.node_list = get(7);
        r.restarts = get(8).and_then(|n| n.parse().ok()).unwrap_or(0);
        out.insert(f[0].to_string(), r);
    }
    out
}

/// `scontrol show job -o ID` (one line of key=value words).
pub fn parse_scontrol(text: &str) -> Option<JobRecord> {
    let line = text.lines().find(|l| l.contains("JobId="))?;
    let mut kv = BTreeMap::new();
    for w in line.split_whitespace() {
        if let Some((k, v)) = w.split_once('=') {
            kv.insert(k, v);
        }
    }
    let (code, sig) = kv
        .get("ExitCode")
        .map(|e| parse_exit(e))
        .unwrap_or((None, None));
    let mut r = JobRecord::bare(
        kv.get("JobId")?,
        JobState::parse(kv.get("JobState").unwrap_or(&"")),
        RecordSource::Scontrol,
    );
    r.exit_code = code;
    r.signal = sig;
    r.reason = kv.get("Reason").and_then(|r| nonempty(r));
    r.submit = kv.get("SubmitTime").and_then(|r| nonempty(r));
    r.start = kv.get("StartTime").and_then(|r| nonempty(r));
    r.end = kv.get("EndTime").and_then(|r| nonempty(r));
    r.elapsed_s = kv.get("RunTime").and_then(|t| parse_runtime(t));
    r.node_list = kv.get("NodeList").and_then(|r| nonempty(r));
    r.restarts = kv.get("Restarts").and_then(|n| n.parse().ok()).unwrap_or(0);
    Some(r)
}

/// `RunTime=1-02:03:04` / `00:00:01` → seconds.
fn parse_runtime(t: &str) -> Option<u64> {
    let (days, rest) = match t.split_once('-') {
        Some((d, r)) => (d.parse::<u64>().ok()?, r),
        None => (0, t),
    };
    let v: Vec<u64> = rest
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let s = match v.as_slice() {
        [h, m, s] => h * 3600 + m * 60 + s,
        [m, s] => m * 60 + s,
        _ => return None,
    };
    Some(days * 86400 + s)
}

/// Fold slurmctld's view (`live`, from squeue) of a job into accounting's record `r`: a job
/// slurmctld holds again (requeued: PENDING, or RUNNING its next attempt), or has ended while
/// accounting still shows the requeue (`REQUEUED`, then cancelled while pending), takes
/// slurmctld's state, reason, times, nodes and restart count; the attempts accounting knows
/// are kept. A job both report as ended keeps accounting's fuller record, with the larger
/// restart count.
pub fn merge_live(r: &mut JobRecord, live: JobRecord) {
    let restarts = r.restarts.max(live.restarts);
    if !live.state.is_final() || !r.state.is_final() {
        let mut attempts = std::mem::take(&mut r.attempts);
        // Accounting's row is the attempt that ended (its next one is not in slurmdbd yet).
        if r.may_be_requeued() {
            attempts.push(AttemptRecord {
                state: r.state.raw.clone(),
                start: r.start.clone(),
                end: r.end.clone(),
                elapsed_s: r.elapsed_s,
                node_list: r.node_list.clone(),
            });
        }
        *r = live;
        r.attempts = attempts;
    }
    r.restarts = restarts;
}

/// sacct says accounting is not there (no slurmdbd, dbd down): use the fallbacks.
pub(super) fn accounting_unavailable(stderr: &str) -> bool {
    let s = stderr.to_lowercase();
    s.contains("accounting storage is disabled")
        || s.contains("slurmdbd")
        || s.contains("connection refused")
        || s.contains("unable to contact")
        || s.contains("problem talking to the database")
}
