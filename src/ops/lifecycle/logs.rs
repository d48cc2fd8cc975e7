use crate::cli::LogsArgs;
use crate::error::{Exit, UserError};
use crate::journal::events::{RunState, read_journal};
use crate::journal::find_run;
use crate::journal::spec::{CaseSpec, read_run_spec};
use crate::output;
use crate::remote::Remote;
use crate::remote::connect;
use crate::shell::sh;
use anyhow::{Context, Result};
use std::time::Duration;

pub(super) fn pick_case<'a>(cases: &'a [CaseSpec], want: Option<&str>) -> Result<&'a CaseSpec> {
    match want {
        None if cases.len() == 1 => Ok(&cases[0]),
        None => Err(UserError(format!(
            "this run has {} cases; choose one with --case INDEX or a part of its test id",
            cases.len()
        ))
        .into()),
        Some(w) => {
            if let Ok(i) = w.parse::<usize>()
                && let Some(c) = cases.iter().find(|c| c.case.index == i)
            {
                return Ok(c);
            }
            let hits: Vec<&CaseSpec> = cases
                .iter()
                .filter(|c| c.case.test_id.contains(w))
                .collect();
            match hits.len() {
                1 => Ok(hits[0]),
                0 => Err(UserError(format!(
                    "no case of this run matches `{w}`",
                    w = crate::error::escape_for_message(w)
                ))
                .into()),
                n => Err(UserError(format!(
                    "`{w}` matches {n} cases; be more specific",
                    w = crate::error::escape_for_message(w)
                ))
                .into()),
            }
        }
    }
}

/// The file of a role's log, relative to the job workspace: the srun logs live in the test's
/// per-case directory `<case>/`, where upstream's launch draft writes them.
pub(super) fn role_log(role: Option<&str>, job_id: &str, test_id: &str) -> Result<String> {
    let case = test_id
        .split_once('[')
        .map(|(_, c)| c.trim_end_matches(']'))
        .unwrap_or(test_id);
    Ok(match role.map(|r| r.to_ascii_uppercase()) {
        None => crate::plan::workspace::batch_log(job_id),
        Some(r) if r == "BENCHMARK" || r == "AGGR" => crate::plan::workspace::batch_log(job_id),
        Some(r) if r == "DISAGG_SERVER" => format!("{case}/disagg_server.log"),
        Some(r) if r.starts_with("GEN_") => format!("{case}/gen_server_{}.log", &r[4..]),
        Some(r) if r.starts_with("CTX_") => format!("{case}/ctx_server_{}.log", &r[4..]),
        Some(r) => {
            return Err(UserError(format!(
                "role `{r}` is not known; use CTX_<i>, GEN_<i>, DISAGG_SERVER or BENCHMARK",
                r = crate::error::escape_for_message(&r)
            ))
            .into());
        }
    })
}

/// `perf-run logs [RUN] [--follow] [--role NAME]`.
pub async fn logs(args: LogsArgs) -> Result<Exit> {
    let rd = find_run(args.run.as_deref())?;
    let spec = read_run_spec(&rd)?;
    let state = RunState::from_entries(&read_journal(&rd.journal_path())?);
    let case = pick_case(&spec.cases, args.case.as_deref())?;
    let st = state
        .by_case
        .get(&case.case.case_dir)
        .cloned()
        .unwrap_or_default();
    let job_id = st.job_id.clone().ok_or_else(|| {
        UserError(format!(
            "{} was not submitted, so it has no log",
            case.case.test_id
        ))
    })?;
    let rel = role_log(args.role.as_deref(), &job_id, &case.case.test_id)?;
    let local = rd
        .case_dir(&case.case.case_dir)
        .join("artifacts")
        .join(&rel);
    if st.finished.is_some() && local.is_file() {
        let text =
            std::fs::read(&local).with_context(|| format!("cannot read {}", local.display()))?;
        output::data(String::from_utf8_lossy(&text));
        return Ok(Exit::Success);
    }
    let remote = connect(&spec.cluster).await?;
    let path = format!("{}/{rel}", case.case.remote_workspace);
    let result = if args.follow {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let marker =
            crate::plan::workspace::JobWorkspace(&case.case.remote_workspace).exit_marker();
        let script = crate::watch::stream::tail_script(
            &path,
            &marker,
            0,
            case.time_limit_s + 900,
            st.attempt,
        );
        let h = crate::watch::stream::start(&remote, "log".into(), &script, tx).await?;
        while let Some((_, m)) = rx.recv().await {
            match m {
                crate::watch::stream::StreamMsg::Line(l, _) => output::data(l),
                crate::watch::stream::StreamMsg::Ended => break,
            }
        }
        h.abort();
        Ok(Exit::Success)
    } else {
        let o = remote
            .exec(
                &format!("cat {}", sh(&[&path])),
                Duration::from_secs(300),
                true,
            )
            .await?;
        if o.success() {
            output::data(o.stdout_text());
            Ok(Exit::Success)
        } else {
            Err(UserError(format!(
                "the log {path} cannot be read yet: {}",
                o.stderr_summary()
            ))
            .into())
        }
    };
    remote.close().await;
    result
}
