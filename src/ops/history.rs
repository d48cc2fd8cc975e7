//! `perf-run history`: the series of the local history (and of TRT_perf when a database is
//! configured), one block per series for people, a JSON array of `Series` for machines.

use anyhow::Result;

use crate::cli::HistoryArgs;
use crate::config::kexpr::KExpr;
use crate::error::{Exit, UserError};
use crate::history::{self, HistoryStore, Series, SeriesFilter};
use crate::output;
use crate::perfdb::DbSettings;
use crate::perfdb::settings::DbOverrides;

/// Newest points listed per series in the human view unless --limit says otherwise.
const SHOWN: usize = 5;

pub async fn run(args: HistoryArgs) -> Result<Exit> {
    let k_expr = match &args.k {
        Some(k) => Some(KExpr::parse(k).map_err(|e| {
            UserError(format!(
                "The -k expression is not valid: {}.",
                e.to_string().trim_end_matches('.')
            ))
        })?),
        None => None,
    };
    if args.limit == Some(0) {
        return Err(UserError("--limit must be at least 1.".into()).into());
    }
    let metric = args
        .metric
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_string);
    let env = crate::config::process_env;
    let db = if args.local_only {
        None
    } else {
        Some(DbSettings::resolve(
            &DbOverrides::try_from(&args.db)?,
            &env,
        )?)
    };
    let db = db.filter(|d| d.host.is_some());
    let path = history::default_path();
    let store = HistoryStore::open_if_exists(&path).await?;
    let local_empty = match &store {
        Some(s) => s.is_empty().await?,
        None => true,
    };
    if local_empty && db.is_none() {
        output::info(format!(
            "The history {} is empty: nothing has been recorded yet (`perf-run run` and `perf-run upload` record every run into it).",
            path.display()
        ));
        if args.json {
            output::data("[]");
        }
        return Ok(Exit::Success);
    }
    let filter = SeriesFilter {
        k_expr,
        metric: metric.clone(),
        last_points: args.limit,
        ..Default::default()
    };
    let read = history::read_series(store.as_ref(), db.as_ref(), &filter).await?;
    if let Some(e) = &read.trt_perf_error {
        output::warn(format!(
            "The TRT_perf database could not be read, so only the local history is shown: {}",
            e.trim_end()
        ));
    }
    if read.series.is_empty()
        && let Some(m) = &metric
    {
        let mut known = match &store {
            Some(s) => s.metrics().await?,
            None => Vec::new(),
        };
        if read.trt_perf_asked && read.trt_perf_error.is_none() {
            let all = SeriesFilter {
                metric: None,
                ..filter.clone()
            };
            if let Ok(r) = history::read_series(None, db.as_ref(), &all).await {
                known.extend(r.series.into_iter().map(|s| s.key.metric));
            }
        }
        known.sort();
        known.dedup();
        if !known.contains(m) {
            return Err(UserError(no_such_metric(m, &known, &path)).into());
        }
    }
    if read.series.is_empty() {
        output::info(match &args.k {
            Some(k) => format!(
                "No series matches -k `{}`{} in the history.",
                crate::error::escape_for_message(k),
                metric
                    .as_deref()
                    .map(|m| format!(" with metric {m}"))
                    .unwrap_or_default()
            ),
            None => "The history has no numeric points for this selection.".to_string(),
        });
    }
    if args.json {
        output::data(serde_json::to_string_pretty(&read.series)?);
    } else {
        let shown = args.limit.unwrap_or(SHOWN);
        let text: Vec<String> = read.series.iter().map(|s| block(s, shown)).collect();
        if !text.is_empty() {
            output::data(text.join("\n"));
        }
        output::info(format!(
            "{} series from {}{}.",
            read.series.len(),
            path.display(),
            if read.trt_perf_asked && read.trt_perf_error.is_none() {
                " and the TRT_perf database"
            } else {
                ""
            }
        ));
    }
    Ok(Exit::Success)
}

/// The sentence for a metric that is not in the history, naming the closest ones.
pub fn no_such_metric(m: &str, known: &[String], path: &std::path::Path) -> String {
    if known.is_empty() {
        return format!(
            "There is no metric `{}` in the history {}, which has no metric at all yet.",
            crate::error::escape_for_message(m),
            path.display()
        );
    }
    let lower = m.to_ascii_lowercase();
    let mut scored: Vec<(f64, &String)> = known
        .iter()
        .map(|k| {
            let mut score = strsim::jaro_winkler(&lower, k);
            if k.contains(&lower) || lower.contains(k.as_str()) {
                score += 0.5;
            }
            (score, k)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let closest: Vec<&str> = scored.iter().take(3).map(|(_, k)| k.as_str()).collect();
    format!(
        "There is no metric `{}` in the history; the closest are {} (all {} are listed by `perf-run history --json`).",
        crate::error::escape_for_message(m),
        closest.join(", "),
        known.len()
    )
}

fn fmt_value(v: f64) -> String {
    if v.abs() >= 1000.0 {
        format!("{v:.1}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// One series for people: its key, how many points, min/median/max of the valid ones, and the
/// newest `shown` points with time, commit and source (invalid ones marked).
pub fn block(s: &Series, shown: usize) -> String {
    let k = &s.key;
    let mut out = format!("{}\n", k.test_name);
    if !k.network_name.eq_ignore_ascii_case(&k.test_name) {
        out.push_str(&format!("  network {}\n", k.network_name));
    }
    let better = match s.direction {
        history::Direction::HigherIsBetter => "higher is better",
        history::Direction::LowerIsBetter => "lower is better",
    };
    let gpu = if k.gpu_type.is_empty() {
        "unknown GPU".to_string()
    } else {
        k.gpu_type.clone()
    };
    let count = if k.gpu_count > 0 {
        format!(" × {}", k.gpu_count)
    } else {
        String::new()
    };
    let cluster = if k.cluster.is_empty() {
        String::new()
    } else {
        format!(" · cluster {}", k.cluster)
    };
    out.push_str(&format!(
        "  {} ({better}) · {gpu}{count}{cluster}\n",
        k.metric
    ));
    let mut valid: Vec<f64> = s
        .points
        .iter()
        .filter(|p| p.valid)
        .map(|p| p.value)
        .collect();
    valid.sort_by(f64::total_cmp);
    let invalid = s.points.len() - valid.len();
    let invalid_text = if invalid > 0 {
        format!(" ({invalid} invalid)")
    } else {
        String::new()
    };
    match (valid.first(), valid.last()) {
        (Some(lo), Some(hi)) => out.push_str(&format!(
            "  n={}{invalid_text} · min {} · median {} · max {}\n",
            s.points.len(),
            fmt_value(*lo),
            fmt_value(median(&valid)),
            fmt_value(*hi)
        )),
        _ => out.push_str(&format!(
            "  n={}{invalid_text} · no valid point\n",
            s.points.len()
        )),
    }
    for p in s.points.iter().rev().take(shown) {
        let commit = p
            .commit
            .as_deref()
            .map(|c| c.chars().take(10).collect::<String>())
            .unwrap_or_else(|| "-".into());
        let mut line = format!(
            "    {}  {:>12}  {commit}",
            p.time.format("%Y-%m-%d %H:%M"),
            fmt_value(p.value)
        );
        if p.source != "local" {
            line.push_str(&format!("  [{}]", p.source));
        }
        if !p.valid {
            line.push_str(&format!(
                "  INVALID{}",
                p.failure_class
                    .as_deref()
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default()
            ));
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_metrics_are_named() {
        let known = vec![
            "first_token_time".to_string(),
            "token_throughput".to_string(),
            "total_token_throughput".to_string(),
        ];
        let m = no_such_metric("token_thruput", &known, std::path::Path::new("h.db"));
        assert!(m.starts_with("There is no metric `token_thruput`"), "{m}");
        let closest = m.split("closest are ").nth(1).unwrap();
        assert!(closest.starts_with("token_throughput"), "{m}");
    }
}
