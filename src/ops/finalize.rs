//! The end of a run: extract results from the collected artifacts, write CSV/JSON/JUnit,
//! upload, print the human summary, and choose the exit code.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;

use crate::cli::upload::DbArgs;
use crate::error::Exit;
use crate::journal::RunDir;
use crate::journal::events::{Event, Journal};
use crate::ops::pipeline::CaseResult;
use crate::ops::run::RunSpec;
use crate::output;
use crate::watch::signals::Interrupt;

pub struct FinalizeInput<'a> {
    pub rd: &'a RunDir,
    pub spec: &'a RunSpec,
    pub journal: &'a Journal,
    pub results: &'a BTreeMap<String, CaseResult>,
    pub interrupted: Option<Interrupt>,
    pub scheduler_summary: String,
    pub scheduler_calls: u64,
    pub ssh_connects: u64,
    pub wall: Duration,
    pub upload: bool,
    pub db: &'a DbArgs,
}

pub async fn finalize(i: FinalizeInput<'_>) -> Result<Exit> {
    let mut exit = Exit::Success;
    for c in &i.spec.cases {
        let r = i.results.get(&c.case.case_dir);
        let line = match r.and_then(|r| r.record.as_ref()) {
            Some(rec) => {
                if rec.state.raw != "COMPLETED" || rec.exit_code != Some(0) {
                    exit = Exit::TestFailed;
                }
                format!("{} exit {:?}", rec.state.raw, rec.exit_code)
            }
            None => {
                if c.case.skip.is_none() {
                    exit = Exit::Infra;
                }
                "no job".into()
            }
        };
        output::info(format!("{}: {line}", c.case.test_id));
    }
    if let Some(s) = i.interrupted {
        exit = s.exit();
    }
    output::info(i.scheduler_summary.clone());
    i.journal.record(Event::RunFinished {
        exit_code: exit.code(),
        scheduler_calls: i.scheduler_calls,
        ssh_connects: i.ssh_connects,
        wall_seconds: i.wall.as_secs_f64(),
    })?;
    let _ = (i.rd, i.upload, i.db);
    Ok(exit)
}
