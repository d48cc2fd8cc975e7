//! The run's `summary.json` (written by the results stage, `results::writers::summary`): read
//! the job and test ids for the run key with that stage's types, and record the upload in its
//! `"upload"` key (there too; unknown keys are kept as they are).

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::error::StoreError;
use crate::results::writers::summary::SummaryFile;

/// `summary.json` of a run directory, if there is one.
pub fn summary_path(run_dir: &Path) -> Option<PathBuf> {
    [
        run_dir.join("results").join("summary.json"),
        run_dir.join("summary.json"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// `(job ids, test ids)` from `cases[].job.job_id` and `cases[].test_id`, read with the
/// results stage's own reading of the file ([`SummaryFile`]).
pub fn read_ids(path: &Path) -> Result<(Vec<String>, Vec<String>), StoreError> {
    let text = std::fs::read_to_string(path).map_err(|source| StoreError::SummaryUnreadable {
        path: path.to_path_buf(),
        source,
    })?;
    let doc = SummaryFile::parse(&text).map_err(|source| StoreError::SummaryNotJson {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(doc.ids())
}

/// Set `"upload": {"run_id": N, "link": "...", "at": "<RFC3339>", "run_values": {...}}`
/// atomically (the results writer owns the format). A missing file is not an error
/// (flag-mode uploads have none).
pub fn record_upload(
    run_dir: &Path,
    run_id: u64,
    link: &str,
    run_values: Option<&Value>,
) -> anyhow::Result<Option<PathBuf>> {
    let Some(path) = summary_path(run_dir) else {
        return Ok(None);
    };
    crate::results::writers::summary::record_upload_with(&path, run_id, link, run_values)?;
    Ok(Some(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_patch() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("results")).unwrap();
        let p = dir.path().join("results/summary.json");
        std::fs::write(
            &p,
            r#"{"schema":"perf-run.summary","version":1,"run":{"run_id":"r1"},"cases":[{"test_id":"t1","job":{"job_id":"123"}},{"test_id":"t2","job":{"job_id":124}}],"upload":null}"#,
        )
        .unwrap();
        let (jobs, tests) = read_ids(&p).unwrap();
        assert_eq!(jobs, vec!["123", "124"]);
        assert_eq!(tests, vec!["t1", "t2"]);
        let written = record_upload(
            dir.path(),
            42,
            "http://x?run_ids=42",
            Some(&serde_json::json!({"tensorrt": {"value": "10.13", "source": "environment", "from": "TRT_VERSION"}})),
        )
        .unwrap();
        assert_eq!(written.as_deref(), Some(p.as_path()));
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(v["upload"]["run_id"], 42);
        assert_eq!(v["upload"]["link"], "http://x?run_ids=42");
        assert!(v["upload"]["at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(
            v["upload"]["run_values"]["tensorrt"]["source"],
            "environment"
        );
        assert_eq!(v["schema"], "perf-run.summary");
        // key order kept
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["schema", "version", "run", "cases", "upload"]);
        // no summary: skipped
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(record_upload(empty.path(), 1, "l", None).unwrap(), None);
    }
}
