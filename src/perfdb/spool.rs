//! The spool: uploads that could not reach the database wait here, one JSON file each, with
//! the complete plan (values, not file paths to re-read) and why they are waiting.
//! `perf-run upload --spool` retries them all; it takes a lock so that cron and the next
//! Jenkins job can both run it safely, and the run key makes a retry of something that did
//! get in a no-op (DESIGN.md "Nothing lost").
//!
//! Layout: `<spool>/upload-<first 16 hex of sha256(run key)>.json`. The same run spooled
//! twice replaces its entry. Entries are written atomically (temp file + rename). No
//! password or DB setting is stored; the retry uses the settings it is run with.

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::plan::UploadPlan;

pub const SCHEMA: &str = "perf-run.spool";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpoolEntry {
    pub schema: String,
    pub version: u32,
    /// When the upload was first spooled (RFC 3339).
    pub created: String,
    /// The database it was meant for, for information only (`user@host:port/schema`).
    pub target: String,
    pub attempts: u32,
    pub last_attempt: String,
    pub last_error: String,
    pub force_reupload: bool,
    pub plan: UploadPlan,
}

pub fn entry_path(dir: &Path, run_key: &str) -> PathBuf {
    let h = hex::encode(Sha256::digest(run_key.as_bytes()));
    dir.join(format!("upload-{}.json", &h[..16]))
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The reason an entry carries while its upload runs; it stays if the upload is interrupted.
pub const IN_FLIGHT: &str = "the upload was interrupted before it finished (perf-run was stopped, killed or crashed while writing); nothing of it was committed unless a retry finds it already uploaded";

/// After a failed (rolled-back) attempt: record `reason` in the entry; when the attempt was
/// already counted by its in-flight entry, do not count it again.
pub fn save_failed(
    dir: &Path,
    plan: &UploadPlan,
    target: &str,
    reason: &str,
    force_reupload: bool,
    counted: bool,
) -> std::io::Result<PathBuf> {
    let path = save(dir, plan, target, reason, force_reupload)?;
    if counted && let Ok(mut e) = load(&path) {
        e.attempts = e.attempts.saturating_sub(1).max(1);
        write_entry(&path, &e)?;
    }
    Ok(path)
}

/// Save (or update) the spool entry of `plan`. Returns its path.
pub fn save(
    dir: &Path,
    plan: &UploadPlan,
    target: &str,
    reason: &str,
    force_reupload: bool,
) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = entry_path(dir, &plan.run_key);
    let (created, attempts) = match load(&path) {
        Ok(old) => (old.created, old.attempts + 1),
        Err(_) => (now(), 1),
    };
    let entry = SpoolEntry {
        schema: SCHEMA.into(),
        version: 1,
        created,
        target: target.into(),
        attempts,
        last_attempt: now(),
        last_error: reason.into(),
        force_reupload,
        plan: plan.clone(),
    };
    write_entry(&path, &entry)?;
    Ok(path)
}

pub fn write_entry(path: &Path, entry: &SpoolEntry) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(entry)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    // Private to the user: a plan carries links and logs that may hold tokens.
    crate::fsutil::write_atomic_with(path, 0o600, |w| w.write_all(&bytes))
}

pub fn load(path: &Path) -> Result<SpoolEntry, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))?;
    let e: SpoolEntry =
        serde_json::from_str(&text).map_err(|e| format!("it is not a spool entry: {e}"))?;
    if e.schema != SCHEMA {
        return Err(format!("its schema is {:?}, not {SCHEMA:?}", e.schema));
    }
    Ok(e)
}

/// Pending entries, oldest name first.
pub fn pending(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("upload-") && n.ends_with(".json"))
        })
        .collect();
    v.sort_by_key(|p| {
        load(p)
            .map(|e| e.created)
            .unwrap_or_else(|_| String::from("~"))
    });
    Ok(v)
}

/// An exclusive, non-blocking lock on the spool directory, held while retrying.
pub struct SpoolLock {
    _file: File,
}

pub enum LockState {
    Got(SpoolLock),
    Busy,
}

pub fn lock(dir: &Path) -> std::io::Result<LockState> {
    std::fs::create_dir_all(dir)?;
    let mut o = std::fs::OpenOptions::new();
    o.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NOFOLLOW);
    }
    let file = o.open(dir.join(".retry.lock"))?;
    if try_flock(&file)? {
        Ok(LockState::Got(SpoolLock { _file: file }))
    } else {
        Ok(LockState::Busy)
    }
}

#[cfg(unix)]
fn try_flock(f: &File) -> std::io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock on a valid, open file descriptor owned by `f`; released when it closes.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(err)
    }
}

#[cfg(not(unix))]
fn try_flock(_f: &File) -> std::io::Result<bool> {
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perfdb::plan::{PlanInputs, PlanOptions, build_plan};

    fn plan() -> UploadPlan {
        build_plan(
            &PlanInputs {
                metric_csv: Path::new(env!("CARGO_MANIFEST_DIR")).join(
                    "tests/fixtures/trtllm/results/perf_script_test_results.disagg_sample_truncated.csv",
                ),
                ..Default::default()
            },
            &PlanOptions::default(),
        )
        .unwrap()
    }

    #[test]
    fn save_replace_load_list() {
        let dir = tempfile::tempdir().unwrap();
        let p = plan();
        let a = save(dir.path(), &p, "u@h:1/s", "refused", false).unwrap();
        let b = save(dir.path(), &p, "u@h:1/s", "refused again", false).unwrap();
        assert_eq!(a, b, "same run key, same entry");
        let e = load(&a).unwrap();
        assert_eq!(e.attempts, 2);
        assert_eq!(e.last_error, "refused again");
        assert_eq!(e.plan, p);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&a).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "spool entries are private: {mode:o}");
        }
        assert_eq!(pending(dir.path()).unwrap(), vec![a]);
        assert!(pending(&dir.path().join("none")).unwrap().is_empty());
    }

    #[test]
    fn lock_is_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock(dir.path()).unwrap();
        assert!(matches!(first, LockState::Got(_)));
        // flock locks are per open file description: a second open conflicts.
        assert!(matches!(lock(dir.path()).unwrap(), LockState::Busy));
        drop(first);
        assert!(matches!(lock(dir.path()).unwrap(), LockState::Got(_)));
    }
}
