//! `run.json`, the run's spec: what a resume needs besides the journal (no secrets). Written
//! once by `run`/`submit` (`ops::run`), read by every command that continues or inspects a run.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::JournalError;
use super::RunDir;
use super::events::{CaseRef, ClusterRef};

/// `run.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSpec {
    pub run_id: String,
    pub created: chrono::DateTime<chrono::Utc>,
    pub cluster: ClusterRef,
    pub cases: Vec<CaseSpec>,
    pub upload: bool,
    pub trtllm_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseSpec {
    #[serde(flatten)]
    pub case: CaseRef,
    pub time_limit_s: u64,
}

pub fn read_run_spec(rd: &RunDir) -> Result<RunSpec, JournalError> {
    let p = rd.root.join("run.json");
    let text = std::fs::read_to_string(&p).map_err(|error| JournalError::ReadFile {
        path: p.clone(),
        error,
    })?;
    serde_json::from_str(&text).map_err(|e| JournalError::Damaged {
        path: p,
        why: e.to_string(),
    })
}
