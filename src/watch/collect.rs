//! Bringing a job's files home: wait for the batch script's exit marker of a job Slurm
//! already reports as ended, then copy the job workspace back (on every exit path).

use std::path::Path;
use std::time::Duration;

use crate::journal::events::{CaseRef, Event, Journal};
use crate::output;
use crate::plan::workspace;
use crate::remote::{QUICK, Remote};
use crate::watch::job::short_label;
use crate::watch::stream::{self};

/// Wait (at most `grace`) for the exit marker of a job Slurm reports as ended; its exit code.
pub async fn await_marker<R: Remote>(
    remote: &R,
    batch_log: &str,
    marker: &str,
    grace: Duration,
    attempt: u32,
) -> Option<i32> {
    let script = stream::marker_wait_script(batch_log, marker, grace.as_secs(), attempt);
    match remote.exec(&script, grace + QUICK, true).await {
        Ok(o) if o.success() => stream::marker_file_code(&o.stdout_text()),
        Ok(o) if o.code == Some(3) => {
            output::detail(format!(
                "no exit marker {marker} appeared within {}: the job was killed hard",
                humantime::format_duration(grace)
            ));
            None
        }
        Ok(_) => None,
        Err(e) => {
            output::detail(format!("cannot look for the exit marker {marker}: {e:#}"));
            None
        }
    }
}

/// Copy the job workspace back (every exit path). A missing file is recorded, not fatal.
pub async fn collect_case<R: Remote>(
    remote: &R,
    journal: &Journal,
    case: &CaseRef,
    local_dir: &Path,
    job_id: &str,
) -> bool {
    let dest = local_dir.join("artifacts");
    let res = remote
        .sync_from(
            &case.remote_workspace,
            &dest,
            &[],
            Duration::from_secs(1800),
        )
        .await;
    // Belt and braces to rsync's --safe-links: nothing under artifacts/ may lead out of it.
    let unsafe_links = crate::fsutil::remove_escaping_links(&dest);
    if !unsafe_links.is_empty() {
        output::warn(format!(
            "{}: removed {} symbolic link(s) from the collected files that pointed out of the job's workspace (first: {})",
            short_label(case),
            unsafe_links.len(),
            crate::error::escape_for_message(&unsafe_links[0].display().to_string())
        ));
    }
    let expected = [
        workspace::batch_log(job_id),
        "results.xml".to_string(),
        workspace::EXIT_MARKER.to_string(),
        format!("{}/gpu.txt", workspace::SYSINFO_DIR),
    ];
    let missing: Vec<String> = expected
        .iter()
        .filter(|f| !dest.join(f).exists())
        .cloned()
        .collect();
    let files = walk_count(&dest);
    let error = res.as_ref().err().map(|e| format!("{e:#}"));
    if let Some(e) = &error {
        output::warn(format!(
            "{}: collecting the job's files failed ({e}); what arrived is in {}",
            short_label(case),
            dest.display()
        ));
    } else if !missing.is_empty() {
        output::detail(format!(
            "{}: collected {files} files; not produced by the job: {}",
            short_label(case),
            missing.join(", ")
        ));
    }
    journal.note(Event::Collected {
        case: case.case_dir.clone(),
        files,
        missing,
        error: error.clone(),
    });
    error.is_none()
}

fn walk_count(dir: &Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                n += walk_count(&p);
            } else {
                n += 1;
            }
        }
    }
    n
}
