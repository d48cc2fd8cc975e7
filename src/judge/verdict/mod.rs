//! The verdict on one series: judged points, the baseline before them, noise, threshold and
//! the rules of issue #11 / peers.md §5.2, with an explanation a tired engineer can act on.
//! docs/verdicts.md numbers the rules (R1…R12); the comments below cite those numbers.
//!
//! Pure: the caller passes the series, the acceptances and the clock (`JudgeOptions::now`).

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use crate::history::{Acceptance, Direction, Provenance, Series, SeriesKey};
use crate::judge::changepoint::{ChangePointOptions, change_points_of};
use crate::judge::model::{ChangePoint, Judgement, Stage, Verdict};
use crate::judge::stats::{cv_pct, median};

mod days;
use days::*;
mod text;
pub(crate) use text::*;
#[cfg(test)]
mod tests;

/// The metrics that gate by default (R12): output-token and total-token throughput, under
/// the names perf-run uses (`configs/metrics.yaml` names and TRT_perf metric types; matched
/// without regard to case).
pub const DEFAULT_GATING_METRICS: [&str; 3] = [
    "token_throughput",
    "output_token_throughput",
    "total_token_throughput",
];

/// Everything the verdict engine can be told. `JudgeOptions::new(stage)` gives the
/// documented defaults (docs/verdicts.md).
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeOptions {
    /// Which gate the threshold floor follows (R7).
    pub stage: Stage,
    /// How many of the newest valid points are judged (R2). Default 5.
    pub judged_points: usize,
    /// Fewer baseline points (daily medians) than this is `insufficient_data` (R5). Default 5.
    pub min_baseline_points: usize,
    /// A stable segment shorter than this many days is judged but called short (R4). Default 7.
    pub min_segment_days: usize,
    /// At most this many daily medians of the stable segment form the baseline (R4). Default 30.
    pub max_segment_days: usize,
    /// Without a change point or acceptance, the baseline is this many days before the
    /// judged points (R4). Default 14.
    pub fallback_days: i64,
    /// Threshold floors in percent (R7). Defaults 10 % pre-merge, 5 % post-merge.
    pub pre_merge_floor_pct: f64,
    pub post_merge_floor_pct: f64,
    /// The threshold is at least this many cv (R7). Default 3.
    pub noise_multiplier: f64,
    /// A baseline cv above this (percent) makes the series `unstable` (R9). Default 10.
    pub unstable_cv_pct: f64,
    /// Metrics that gate (R12), matched without regard to case.
    pub gating_metrics: Vec<String>,
    /// Latencies (TTFT, TPOT, ITL, E2EL, …) gate too (R12). Default false.
    pub gate_latencies: bool,
    /// Change-point detection (R3).
    pub change_points: ChangePointOptions,
    /// Points later than this are ignored (judge the history as it was then, e.g. a past
    /// run). `None`: every point counts.
    pub now: Option<DateTime<Utc>>,
}

impl JudgeOptions {
    /// The defaults of docs/verdicts.md for `stage`.
    pub fn new(stage: Stage) -> JudgeOptions {
        JudgeOptions {
            stage,
            judged_points: 5,
            min_baseline_points: 5,
            min_segment_days: 7,
            max_segment_days: 30,
            fallback_days: 14,
            pre_merge_floor_pct: 10.0,
            post_merge_floor_pct: 5.0,
            noise_multiplier: 3.0,
            unstable_cv_pct: 10.0,
            gating_metrics: DEFAULT_GATING_METRICS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            gate_latencies: false,
            change_points: ChangePointOptions::default(),
            now: None,
        }
    }

    /// The threshold floor of the stage, in percent.
    pub fn floor_pct(&self) -> f64 {
        match self.stage {
            Stage::PreMerge => self.pre_merge_floor_pct,
            Stage::PostMerge => self.post_merge_floor_pct,
        }
    }

    /// Whether a metric gates under these options (R12).
    pub fn is_gating(&self, metric: &str) -> bool {
        self.gating_metrics
            .iter()
            .any(|g| g.eq_ignore_ascii_case(metric))
            || (self.gate_latencies && is_latency(metric))
    }
}

impl Default for JudgeOptions {
    /// Post-merge defaults.
    fn default() -> Self {
        JudgeOptions::new(Stage::PostMerge)
    }
}

/// Whether a metric name is a latency (TTFT, TPOT, ITL, E2EL or a `*_TIME` metric type).
pub fn is_latency(metric: &str) -> bool {
    let m = metric.to_ascii_lowercase();
    ["ttft", "tpot", "itl", "e2el", "latency"]
        .iter()
        .any(|k| m.contains(k))
        || m.ends_with("_time")
}

/// Whether a judgement fails the gate of `stage` (R12): pre-merge fails on a `regression`
/// of a gating metric; post-merge never fails (it warns, see [`needs_attention`]).
pub fn fails_gate(j: &Judgement, stage: Stage) -> bool {
    stage == Stage::PreMerge && j.gating && j.verdict == Verdict::Regression
}

/// Whether a judgement deserves a warning line: `regression`, `suspect`, `unstable` or
/// `not_comparable`.
pub fn needs_attention(j: &Judgement) -> bool {
    matches!(
        j.verdict,
        Verdict::Regression | Verdict::Suspect | Verdict::Unstable | Verdict::NotComparable
    )
}

/// The provenance fields that make two points not comparable (R8): the config content hash
/// and the node count, when both sides know them. (GPU type, GPU count and cluster are part
/// of the series key already; image and TensorRT-LLM version are what a regression test
/// compares, so they may differ.) Returns (field, this, other) for each difference.
pub fn incomparable_fields(a: &Provenance, b: &Provenance) -> Vec<(&'static str, String, String)> {
    let mut out = Vec::new();
    if let (Some(x), Some(y)) = (&a.config_hash, &b.config_hash)
        && x != y
    {
        out.push(("config hash", short_hash(x), short_hash(y)));
    }
    if let (Some(x), Some(y)) = (a.nodes, b.nodes)
        && x != y
    {
        out.push(("nodes", x.to_string(), y.to_string()));
    }
    out
}

fn comparable(a: &Provenance, b: &Provenance) -> bool {
    incomparable_fields(a, b).is_empty()
}

/// Judge every series; `accepted` may hold acceptances of any series (each series uses its own).
pub fn judge_all(
    series: &[Series],
    accepted: &[Acceptance],
    opts: &JudgeOptions,
) -> Vec<Judgement> {
    let mut by_key: HashMap<&SeriesKey, Vec<&Acceptance>> = HashMap::new();
    for a in accepted {
        by_key.entry(&a.key).or_default().push(a);
    }
    series
        .iter()
        .map(|s| {
            let acc = by_key.get(&s.key).map(Vec::as_slice).unwrap_or(&[]);
            judge_with(s, acc, opts)
        })
        .collect()
}

/// The verdict on one series (rules R1–R12 of docs/verdicts.md). Acceptances of other series
/// are ignored. Never panics; an empty or all-invalid series is `insufficient_data`.
pub fn judge(series: &Series, accepted: &[Acceptance], opts: &JudgeOptions) -> Judgement {
    let acc: Vec<&Acceptance> = accepted.iter().filter(|a| a.key == series.key).collect();
    judge_with(series, &acc, opts)
}

/// Where the baseline starts and why.
enum Anchor<'a> {
    None,
    ChangePoint(&'a ChangePoint),
    Accepted(&'a Acceptance),
}

fn judge_with(series: &Series, accepted: &[&Acceptance], opts: &JudgeOptions) -> Judgement {
    let key = &series.key;
    let metric = key.metric.as_str();
    let floor = opts.floor_pct();
    let stage_name = match opts.stage {
        Stage::PreMerge => "pre-merge",
        Stage::PostMerge => "post-merge",
    };
    let mut j = Judgement {
        test_name: key.test_name.clone(),
        network_name: key.network_name.clone(),
        metric: key.metric.clone(),
        gpu_type: key.gpu_type.clone(),
        gpu_count: key.gpu_count,
        cluster: key.cluster.clone(),
        verdict: Verdict::InsufficientData,
        gating: opts.is_gating(metric),
        latest: None,
        baseline: None,
        delta_pct: None,
        threshold_pct: floor,
        threshold_source: format!("{stage_name} floor"),
        cv_pct: None,
        n: 0,
        baseline_from: None,
        baseline_to: None,
        change_points: Vec::new(),
        explanation: String::new(),
    };

    // R1: valid, finite points up to `now`, oldest first.
    let mut order: Vec<usize> = (0..series.points.len()).collect();
    if !series.points.is_sorted_by_key(|p| p.time) {
        order.sort_by_key(|&i| series.points[i].time);
    }
    let in_time = |i: &usize| opts.now.is_none_or(|now| series.points[*i].time <= now);
    let valid: Vec<usize> = order
        .iter()
        .copied()
        .filter(in_time)
        .filter(|&i| series.points[i].valid && series.points[i].value.is_finite())
        .collect();
    let invalid_total = order.iter().filter(|i| in_time(i)).count() - valid.len();
    if valid.is_empty() {
        let in_range = order.iter().filter(|i| in_time(i)).count();
        j.explanation = if series.points.is_empty() {
            format!("{metric} has no history yet, so there is nothing to judge.")
        } else if in_range == 0 {
            format!(
                "{metric} has no point at or before {}, so there is nothing to judge.",
                opts.now.map(day).unwrap_or_default()
            )
        } else {
            format!(
                "{metric} has no valid measurement to judge ({} point{} in the history, none valid); invalid points are never judged.",
                invalid_total,
                plural(invalid_total)
            )
        };
        return j;
    }

    // R3: change points over the valid points.
    let cps = change_points_of(series, &valid, &opts.change_points);
    j.change_points = cps.iter().map(|(_, c)| c.clone()).collect();

    // R2: the judged points.
    let jw = opts.judged_points.max(1).min(valid.len());
    let first_j = valid.len() - jw;
    let latest_pos = valid.len() - 1;
    let latest = &series.points[valid[latest_pos]];
    j.latest = Some(latest.value);

    // R4 / R10: where the baseline starts.
    let acceptance = accepted
        .iter()
        .filter(|a| a.since <= latest.time)
        .max_by_key(|a| a.since)
        .copied();
    let acc_pos = acceptance.map(|a| valid.partition_point(|&i| series.points[i].time < a.since));
    let cp_anchor = cps
        .iter()
        .filter(|(pos, c)| *pos < first_j && !c.tentative)
        .max_by_key(|(pos, _)| *pos);
    let mut anchor = Anchor::None;
    let mut start = 0usize;
    if let Some((pos, c)) = cp_anchor {
        anchor = Anchor::ChangePoint(c);
        start = *pos;
    }
    // An acceptance that starts inside the judged points (or at the first of them) makes the
    // points since it the baseline, judged ones included (R10).
    let mut judged_from = first_j;
    let mut inside_accepted = false;
    if let (Some(a), Some(pos)) = (acceptance, acc_pos)
        && pos >= start
    {
        anchor = Anchor::Accepted(a);
        start = pos;
        if pos >= first_j {
            inside_accepted = true;
            judged_from = pos.min(latest_pos);
        }
    }

    let base_positions: Vec<usize> = if inside_accepted {
        (start..valid.len()).collect()
    } else {
        match anchor {
            Anchor::None => {
                let first_time = series.points[valid[first_j]].time;
                let from = first_time - Duration::days(opts.fallback_days);
                (0..first_j)
                    .filter(|&p| series.points[valid[p]].time >= from)
                    .collect()
            }
            _ => (start..first_j).collect(),
        }
    };
    // R4: a sparse series widens the 14-day fallback to the newest daily medians before the
    // judged points.
    let mut widened = false;
    let base_positions = if matches!(anchor, Anchor::None)
        && days_of(series, &base_positions, &valid).len() < opts.min_baseline_points
        && first_j > base_positions.len()
    {
        widened = true;
        (0..first_j).collect()
    } else {
        base_positions
    };

    // R8: only points comparable with the latest one form the baseline.
    let latest_prov = &latest.provenance;
    let (same, other): (Vec<usize>, Vec<usize>) = base_positions
        .iter()
        .partition(|&&p| comparable(&series.points[valid[p]].provenance, latest_prov));
    let days = keep_newest(days_of(series, &same, &valid), opts.max_segment_days.max(1));
    let left_out = other.len();

    let anchor_text = match anchor {
        Anchor::None if widened => format!(
            "no change point; the {} days before the judged points held too few runs, so the baseline is the newest daily medians before them",
            opts.fallback_days
        ),
        Anchor::None => String::new(),
        Anchor::ChangePoint(c) => format!(
            "the baseline starts at the change point of {} ({}, {}, p {})",
            day(c.start_time),
            commit_range(c),
            signed_pct(c.delta_pct),
            p_text(c.p_value)
        ),
        Anchor::Accepted(a) => format!(
            "the baseline starts at the change accepted from {}{} (\"{}\")",
            day(a.since),
            a.accepted_by
                .as_deref()
                .map(|b| format!(" by {b}"))
                .unwrap_or_default(),
            a.reason
        ),
    };

    if days.len() < opts.min_baseline_points {
        let all_days = days_of(series, &base_positions, &valid).len();
        if !other.is_empty() && all_days >= opts.min_baseline_points {
            // R8: there would be a baseline, but not with this provenance.
            let diffs = other
                .iter()
                .flat_map(|&p| {
                    incomparable_fields(latest_prov, &series.points[valid[p]].provenance)
                })
                .fold(Vec::<(&str, String, String)>::new(), |mut acc, d| {
                    if !acc.contains(&d) {
                        acc.push(d);
                    }
                    acc
                });
            let what = diffs
                .iter()
                .map(|(f, mine, theirs)| format!("{f} {mine} (baseline: {theirs})"))
                .collect::<Vec<_>>()
                .join(", ");
            j.verdict = Verdict::NotComparable;
            j.n = days.len();
            j.explanation = format!(
                "{metric} {} cannot be judged: the latest point has {what}, and only {} of the {} baseline point{} share its setup (at least {} needed).",
                value(latest.value),
                days.len(),
                all_days,
                plural(all_days),
                opts.min_baseline_points
            );
            return j;
        }
        j.verdict = Verdict::InsufficientData;
        j.n = days.len();
        let why = match anchor {
            Anchor::None => format!(
                "only {} baseline point{} in the {} days before the judged points",
                days.len(),
                plural(days.len()),
                opts.fallback_days
            ),
            _ if inside_accepted => format!(
                "{anchor_text}, and only {} point{} {} been measured since",
                days.len(),
                plural(days.len()),
                if days.len() == 1 { "has" } else { "have" }
            ),
            _ => format!(
                "{anchor_text}, and only {} point{} of that level came before the judged ones",
                days.len(),
                plural(days.len())
            ),
        };
        j.explanation = format!(
            "{metric} {} is not judged: {why}; at least {} are needed.",
            value(latest.value),
            opts.min_baseline_points
        );
        return j;
    }

    // R5 / R6: the baseline and its noise.
    let medians: Vec<f64> = days.iter().map(|d| d.median).collect();
    let base_points: usize = days.iter().map(|d| d.points).sum();
    let (Some(b), Some(cv)) = (median(&medians), cv_pct(&medians)) else {
        j.verdict = Verdict::InsufficientData;
        j.n = days.len();
        j.explanation = format!(
            "{metric} {} is not judged: its baseline median is 0, so no relative change can be stated.",
            value(latest.value)
        );
        return j;
    };
    let from = days.first().map(|d| d.first);
    let to = days.last().map(|d| d.last);
    j.baseline = Some(b);
    j.cv_pct = Some(cv);
    j.n = days.len();
    j.baseline_from = from;
    j.baseline_to = to;
    let delta = |v: f64| 100.0 * (v - b) / b.abs();
    let d_latest = delta(latest.value);
    j.delta_pct = Some(d_latest);

    // R7: the threshold.
    let noise = opts.noise_multiplier * cv;
    let mult = trim_num(opts.noise_multiplier);
    let (thr, source) = if noise > floor {
        (
            noise,
            format!("{mult}·cv ({noise:.1} %) > {stage_name} floor {floor:.1} %"),
        )
    } else {
        (
            floor,
            format!("{stage_name} floor; noise {mult}·cv = {noise:.1} %"),
        )
    };
    j.threshold_pct = thr;
    j.threshold_source = source.clone();

    let worse = |d: f64| match series.direction {
        Direction::HigherIsBetter => d < -thr,
        Direction::LowerIsBetter => d > thr,
    };
    let better = |d: f64| match series.direction {
        Direction::HigherIsBetter => d > thr,
        Direction::LowerIsBetter => d < -thr,
    };

    // Sentence 1: the number against its baseline.
    let verb = if d_latest > 0.0 {
        "rose"
    } else if d_latest < 0.0 {
        "fell"
    } else {
        "held"
    };
    let over = if base_points == days.len() {
        format!("{} point{}", days.len(), plural(days.len()))
    } else {
        format!("{} daily medians of {} points", days.len(), base_points)
    };
    let window = match (from, to) {
        (Some(f), Some(t)) if day(f) == day(t) => day(f),
        (Some(f), Some(t)) => format!("{}..{}", day(f), day(t)),
        _ => String::new(),
    };
    let mut s1 = format!(
        "{metric} {verb} {:.1} % ({} vs baseline median {} over {over}, {window}); threshold {thr:.1} % ({source})",
        d_latest.abs(),
        value(latest.value),
        value(b)
    );

    // Judged points comparable with the latest (R2, R8).
    let judged: Vec<usize> = (judged_from..valid.len())
        .filter(|&p| comparable(&series.points[valid[p]].provenance, latest_prov))
        .collect();

    // R9: too noisy to judge.
    let mut tail: Vec<String> = Vec::new();
    if cv > opts.unstable_cv_pct {
        j.verdict = Verdict::Unstable;
        s1.push_str(&format!(
            "; the baseline is too noisy (cv {cv:.1} % > {:.0} %) for a verdict: reported, never gating.",
            opts.unstable_cv_pct
        ));
    } else if worse(d_latest) {
        // R11: one breach is suspect; two in a row or a breaching rerun is a regression.
        let prev = judged.iter().rev().nth(1).copied();
        let prev_breach = prev.is_some_and(|p| worse(delta(series.points[valid[p]].value)));
        let rerun = latest.commit.as_ref().and_then(|c| {
            judged[..judged.len().saturating_sub(1)]
                .iter()
                .rev()
                .map(|&p| &series.points[valid[p]])
                .find(|p| p.commit.as_ref() == Some(c) && worse(delta(p.value)))
        });
        if prev_breach {
            j.verdict = Verdict::Regression;
            s1.push_str("; two judged points in a row breached it.");
        } else if let Some(r) = rerun {
            j.verdict = Verdict::Regression;
            s1.push_str(&format!(
                "; a rerun of the same commit ({}, {}) breached it too.",
                short_hash(r.commit.as_deref().unwrap_or("")),
                day(r.time)
            ));
        } else {
            j.verdict = Verdict::Suspect;
            s1.push_str("; one judged point breached it: a suspect until a rerun or the next run confirms or clears it.");
        }
    } else if better(d_latest) {
        j.verdict = Verdict::Improved;
        s1.push_str("; better than the threshold.");
    } else {
        j.verdict = Verdict::Ok;
        s1.push_str("; within the threshold.");
    }

    // Sentence 2: change points, the baseline's start, exemptions.
    if inside_accepted || !matches!(anchor, Anchor::None) {
        tail.push(anchor_text);
    }
    if inside_accepted {
        tail.push("the accepted level includes the judged points".to_string());
    }
    for (pos, c) in &cps {
        if *pos >= first_j && !inside_accepted {
            tail.push(format!(
                "change point {} ({}, {}, p {}{}) inside the judged points is the event being judged",
                day(c.start_time),
                commit_range(c),
                signed_pct(c.delta_pct),
                p_text(c.p_value),
                if c.tentative { ", tentative" } else { "" }
            ));
        }
    }
    if days.len() < opts.min_segment_days && !matches!(anchor, Anchor::None) {
        tail.push(format!(
            "the stable segment is short ({} day{} < {})",
            days.len(),
            plural(days.len()),
            opts.min_segment_days
        ));
    }
    if left_out > 0 {
        tail.push(format!(
            "{left_out} baseline point{} with another setup left out",
            plural(left_out)
        ));
    }
    if invalid_total > 0 {
        tail.push(format!(
            "{invalid_total} invalid point{} never used",
            plural(invalid_total)
        ));
    }
    if !j.gating && matches!(j.verdict, Verdict::Regression | Verdict::Suspect) {
        tail.push(format!("{metric} is reported only and does not gate"));
    }
    let mut text = s1;
    if !tail.is_empty() {
        let mut s2 = tail.join("; ");
        if let Some(first) = s2.get(..1) {
            let up = first.to_uppercase();
            s2.replace_range(..1, &up);
        }
        text.push(' ');
        text.push_str(&s2);
        text.push('.');
    }
    j.explanation = text;
    j
}
