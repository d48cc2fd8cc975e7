use super::*;

use crate::cli::RegressArgs;
use crate::error::{Exit, UserError, escape_for_message};
use crate::history::{Acceptance, HistoryStore, SeriesFilter};
use crate::output;
use anyhow::Result;
use chrono::Utc;

/// `perf-run regress --accept -k EXPR [--metric M] --since TIME --reason TEXT`.
pub(super) async fn accept(args: RegressArgs) -> Result<Exit> {
    let Some(k) = args.k.as_deref().filter(|k| !k.trim().is_empty()) else {
        return Err(UserError(
            "--accept needs -k EXPR naming the series whose new level is accepted, so that no change is ever accepted for every series by accident.".into(),
        )
        .into());
    };
    let Some(since) = args.since.as_deref() else {
        return Err(UserError(
            "--accept needs --since TIME: from when the new level counts (use the change point's start time that `perf-run regress` shows).".into(),
        )
        .into());
    };
    let since = parse_since(since)?;
    let Some(reason) = args
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
    else {
        return Err(UserError(
            "--accept needs --reason TEXT saying why the change is intended; the reason is recorded with the acceptance and quoted in every verdict that uses it.".into(),
        )
        .into());
    };
    let filter = SeriesFilter {
        k_expr: parse_k(Some(k))?,
        metric: clean_metric(args.metric.as_deref()),
        ..Default::default()
    };
    let sources = Sources::open(args.local_only, &args.db).await?;
    if sources.is_empty() {
        return Err(UserError(format!(
            "The history {} is empty, so there is no series to accept a change of; nothing was accepted.",
            sources.path.display()
        ))
        .into());
    }
    let series = sources.read(&filter).await?;
    if series.is_empty() {
        return Err(sources
            .no_match(&filter, Some(k), None, "so nothing was accepted")
            .await);
    }
    let store = match &sources.store {
        Some(s) => s.clone(),
        None => HistoryStore::open(&sources.path).await?,
    };
    let who = std::env::var("USER").ok().filter(|u| !u.is_empty());
    let now = Utc::now();
    let mut done: Vec<Acceptance> = Vec::new();
    for s in &series {
        let a = Acceptance {
            key: s.key.clone(),
            since,
            reason: reason.to_string(),
            accepted_by: who.clone(),
            accepted_at: now,
        };
        store.accept(&a).await?;
        if !s.points.iter().any(|p| p.valid && p.time >= since) {
            output::warn(format!(
                "{} {} has no valid point since {} yet; the acceptance applies once points are measured.",
                s.key.test_name,
                s.key.metric,
                since.format("%Y-%m-%d %H:%M:%S UTC")
            ));
        }
        done.push(a);
    }
    if args.json {
        output::data(serde_json::to_string_pretty(&done)?);
    } else {
        let lines: Vec<String> = done
            .iter()
            .map(|a| {
                format!(
                    "accepted  {} · {} [{}{}{}] since {}",
                    a.key.test_name,
                    a.key.metric,
                    if a.key.gpu_type.is_empty() {
                        "unknown GPU"
                    } else {
                        a.key.gpu_type.as_str()
                    },
                    if a.key.gpu_count > 0 {
                        format!(" × {}", a.key.gpu_count)
                    } else {
                        String::new()
                    },
                    if a.key.cluster.is_empty() {
                        String::new()
                    } else {
                        format!(", {}", a.key.cluster)
                    },
                    a.since.format("%Y-%m-%d %H:%M:%S UTC")
                )
            })
            .collect();
        output::data(lines.join("\n"));
    }
    output::info(format!(
        "Accepted the level since {} as the new normal of {} series (by {}, reason: “{}”), recorded in {}; their baseline now starts there.",
        since.format("%Y-%m-%d %H:%M:%S UTC"),
        done.len(),
        who.as_deref().unwrap_or("an unknown user"),
        escape_for_message(reason),
        store.path().display()
    ));
    Ok(Exit::Success)
}
