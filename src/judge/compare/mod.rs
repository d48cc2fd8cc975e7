//! Two runs side by side (`perf-run compare RUN_A RUN_B`, issue #11 §3): per case and
//! metric both values, the change in percent, the noise band it must leave to mean
//! anything, and a provenance diff that says whether the comparison is fair. Pure: the
//! caller reads the runs (history store) and passes the measurements and the noise.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::history::{Direction, Provenance, SeriesKey};
use crate::judge::stats::median;
use crate::judge::verdict::{short_hash, value};

#[cfg(test)]
mod tests;

/// One measured value of one run (a case × metric on one setup).
#[derive(Debug, Clone, PartialEq)]
pub struct RunMeasurement {
    pub key: SeriesKey,
    pub value: f64,
    pub valid: bool,
    pub provenance: Provenance,
}

/// One run as `compare` sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSide {
    /// The run key (or any label the user gave), used in every sentence.
    pub run: String,
    pub measurements: Vec<RunMeasurement>,
}

/// Settings of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareOptions {
    /// The band, in percent, when the history knows no noise for a key. Default 5.
    pub floor_pct: f64,
    /// The band is this many cv when the history knows the noise. Default 3.
    pub noise_multiplier: f64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            floor_pct: 5.0,
            noise_multiplier: 3.0,
        }
    }
}

/// One provenance field that differs between the two sides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldDiff {
    /// `container_image`, `trtllm_version`, `config_hash`, `config_name`, `nodes`,
    /// `gpu_type`, `gpu_count` or `cluster`.
    pub field: String,
    pub a: Option<String>,
    pub b: Option<String>,
    /// Whether this difference makes the numbers unfair to compare (config, nodes, GPUs,
    /// cluster) rather than being what is compared (image, version).
    pub breaks_fairness: bool,
}

/// How a row changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Better,
    Worse,
    WithinNoise,
    /// A side is missing or invalid: no change is stated.
    NotCompared,
}

/// One case × metric of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompareRow {
    pub test_name: String,
    pub network_name: String,
    pub metric: String,
    /// The setup of run A (and of B when it is the same; `provenance_diff` shows otherwise).
    pub gpu_type: String,
    pub gpu_count: u32,
    pub cluster: String,
    pub direction: Direction,
    /// The values (the median when a run measured the key more than once).
    pub value_a: Option<f64>,
    pub value_b: Option<f64>,
    pub valid_a: bool,
    pub valid_b: bool,
    /// B vs A in percent of A.
    pub delta_pct: Option<f64>,
    /// ± this percent is noise.
    pub noise_band_pct: f64,
    /// `history` (3·cv of the key's history) or `floor` (no history known).
    pub band_source: String,
    pub beyond_noise: bool,
    pub change: Change,
    pub provenance_diff: Vec<FieldDiff>,
    /// No field of `provenance_diff` breaks fairness.
    pub fair: bool,
    /// One sentence on this row.
    pub note: String,
}

/// The whole comparison; serialises as the `--json` output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub run_a: String,
    pub run_b: String,
    pub rows: Vec<CompareRow>,
    /// Keys measured by only one run.
    pub only_in_a: Vec<SeriesKey>,
    pub only_in_b: Vec<SeriesKey>,
    /// The provenance differences of the runs as a whole.
    pub provenance_diff: Vec<FieldDiff>,
    /// Every row is fair.
    pub fair: bool,
    /// One or two sentences: what differs, whether it is fair, how many rows moved.
    pub summary: String,
}

/// Why two runs cannot be compared: one sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompareError {
    #[error(
        "Run {run} has no measurements in the history, so there is nothing to compare; check the run key with `perf-run history`."
    )]
    NoMeasurements { run: String },
    /// `sample_*`: one `<test name> <metric>` of each side, for the message.
    #[error(
        "Runs {run_a} and {run_b} have no case and metric in common ({run_a} has {only_a} such as {sample_a}; {run_b} has {only_b} such as {sample_b}), so there is nothing to compare."
    )]
    NothingInCommon {
        run_a: String,
        run_b: String,
        only_a: usize,
        only_b: usize,
        sample_a: String,
        sample_b: String,
    },
}

impl CompareError {
    /// Both are about the runs the user named.
    pub fn exit(&self) -> crate::error::Exit {
        crate::error::Exit::Usage
    }
}

/// The measurements of one side merged by key.
struct Merged {
    key: SeriesKey,
    value: Option<f64>,
    valid: bool,
    provenance: Provenance,
}

fn merge_side(side: &RunSide) -> BTreeMap<SeriesKey, Merged> {
    let mut groups: BTreeMap<SeriesKey, Vec<&RunMeasurement>> = BTreeMap::new();
    for m in &side.measurements {
        groups.entry(m.key.clone()).or_default().push(m);
    }
    groups
        .into_iter()
        .map(|(k, ms)| {
            let vals: Vec<f64> = ms
                .iter()
                .filter(|m| m.valid && m.value.is_finite())
                .map(|m| m.value)
                .collect();
            let valid = !vals.is_empty();
            let value = if valid {
                median(&vals)
            } else {
                ms.iter().map(|m| m.value).find(|v| v.is_finite())
            };
            let provenance = ms
                .iter()
                .find(|m| m.valid)
                .or(ms.first())
                .map(|m| m.provenance.clone())
                .unwrap_or_default();
            (
                k.clone(),
                Merged {
                    key: k,
                    value,
                    valid,
                    provenance,
                },
            )
        })
        .collect()
}

/// The case part of a key: rows of two runs on different setups still pair by it.
fn case_of(k: &SeriesKey) -> (String, String, String) {
    (
        k.test_name.clone(),
        k.network_name.clone(),
        k.metric.clone(),
    )
}

fn diff_field(
    out: &mut Vec<FieldDiff>,
    field: &str,
    a: Option<String>,
    b: Option<String>,
    breaks: bool,
) {
    if a != b {
        let breaks_fairness = breaks && a.is_some() && b.is_some();
        out.push(FieldDiff {
            field: field.to_string(),
            a,
            b,
            breaks_fairness,
        });
    }
}

/// The provenance differences of two measurements, keys included.
pub fn provenance_diff(
    ka: &SeriesKey,
    a: &Provenance,
    kb: &SeriesKey,
    b: &Provenance,
) -> Vec<FieldDiff> {
    let mut out = Vec::new();
    diff_field(
        &mut out,
        "gpu_type",
        Some(ka.gpu_type.clone()),
        Some(kb.gpu_type.clone()),
        true,
    );
    diff_field(
        &mut out,
        "gpu_count",
        Some(ka.gpu_count.to_string()),
        Some(kb.gpu_count.to_string()),
        true,
    );
    diff_field(
        &mut out,
        "cluster",
        Some(ka.cluster.clone()),
        Some(kb.cluster.clone()),
        true,
    );
    diff_field(
        &mut out,
        "config_hash",
        a.config_hash.clone(),
        b.config_hash.clone(),
        true,
    );
    diff_field(
        &mut out,
        "nodes",
        a.nodes.map(|n| n.to_string()),
        b.nodes.map(|n| n.to_string()),
        true,
    );
    diff_field(
        &mut out,
        "config_name",
        a.config_name.clone(),
        b.config_name.clone(),
        false,
    );
    diff_field(
        &mut out,
        "container_image",
        a.container_image.clone(),
        b.container_image.clone(),
        false,
    );
    diff_field(
        &mut out,
        "trtllm_version",
        a.trtllm_version.clone(),
        b.trtllm_version.clone(),
        false,
    );
    out
}

fn show(d: &FieldDiff) -> String {
    let v = |x: &Option<String>| match x {
        Some(s) if d.field == "config_hash" => short_hash(s),
        Some(s) => s.clone(),
        None => "unknown".to_string(),
    };
    format!("{} {} vs {}", d.field, v(&d.a), v(&d.b))
}

/// Compare run B against run A. `noise_cv_pct` gives, per key, the cv (percent) of its
/// history when known (the band is then ±`noise_multiplier`·cv, else ±`floor_pct`). Rows
/// pair by the full key first; rows left over pair by case and metric when that is
/// unambiguous (a run on another GPU type or cluster), and are then marked unfair.
///
/// Errors (one sentence each): a run with no measurements, or two runs with no case and
/// metric in common.
pub fn compare_runs(
    a: &RunSide,
    b: &RunSide,
    noise_cv_pct: &HashMap<SeriesKey, f64>,
    opts: &CompareOptions,
) -> Result<Comparison, CompareError> {
    for side in [a, b] {
        if side.measurements.is_empty() {
            return Err(CompareError::NoMeasurements {
                run: side.run.to_string(),
            });
        }
    }
    let ma = merge_side(a);
    let mut mb = merge_side(b);

    // Pair by full key, then by case and metric when unambiguous on both sides.
    let mut pairs: Vec<(Merged, Merged)> = Vec::new();
    let mut left_a: Vec<Merged> = Vec::new();
    for (k, x) in ma {
        match mb.remove(&k) {
            Some(y) => pairs.push((x, y)),
            None => left_a.push(x),
        }
    }
    let mut count_a: HashMap<(String, String, String), usize> = HashMap::new();
    for x in &left_a {
        *count_a.entry(case_of(&x.key)).or_default() += 1;
    }
    let mut by_case_b: HashMap<(String, String, String), Vec<SeriesKey>> = HashMap::new();
    for k in mb.keys() {
        by_case_b.entry(case_of(k)).or_default().push(k.clone());
    }
    let mut only_in_a = Vec::new();
    for x in left_a {
        let c = case_of(&x.key);
        let unique_b = by_case_b
            .get(&c)
            .filter(|v| v.len() == 1)
            .map(|v| v[0].clone());
        match unique_b {
            Some(kb) if count_a.get(&c) == Some(&1) => {
                if let Some(y) = mb.remove(&kb) {
                    pairs.push((x, y));
                }
            }
            _ => only_in_a.push(x.key),
        }
    }
    let only_in_b: Vec<SeriesKey> = mb.into_keys().collect();

    if pairs.is_empty() {
        let sample = |v: &[SeriesKey]| {
            v.first()
                .map(|k| format!("{} {}", k.test_name, k.metric))
                .unwrap_or_default()
        };
        return Err(CompareError::NothingInCommon {
            run_a: a.run.to_string(),
            run_b: b.run.to_string(),
            only_a: only_in_a.len(),
            only_b: only_in_b.len(),
            sample_a: sample(&only_in_a),
            sample_b: sample(&only_in_b),
        });
    }

    let mut rows: Vec<CompareRow> = pairs
        .into_iter()
        .map(|(x, y)| row(&x, &y, noise_cv_pct, opts))
        .collect();
    rows.sort_by(|r, s| {
        (&r.test_name, &r.network_name, &r.metric).cmp(&(&s.test_name, &s.network_name, &s.metric))
    });

    // Run-level provenance: every distinct difference of the rows.
    let mut provenance_diff: Vec<FieldDiff> = Vec::new();
    for r in &rows {
        for d in &r.provenance_diff {
            if !provenance_diff.contains(d) {
                provenance_diff.push(d.clone());
            }
        }
    }
    let fair = rows.iter().all(|r| r.fair);
    let worse = rows.iter().filter(|r| r.change == Change::Worse).count();
    let better = rows.iter().filter(|r| r.change == Change::Better).count();
    let not_compared = rows
        .iter()
        .filter(|r| r.change == Change::NotCompared)
        .count();
    let differs = if provenance_diff.is_empty() {
        "same setup and software".to_string()
    } else {
        provenance_diff
            .iter()
            .map(show)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let fairness = if fair {
        "the comparison is fair".to_string()
    } else {
        let unfair: Vec<String> = provenance_diff
            .iter()
            .filter(|d| d.breaks_fairness)
            .map(|d| d.field.clone())
            .collect();
        format!(
            "the comparison is NOT fair: {} differ{}",
            unfair.join(", "),
            if unfair.len() == 1 { "s" } else { "" }
        )
    };
    let mut summary = format!(
        "{} vs {}: {} row{} compared, {worse} worse and {better} better beyond noise",
        a.run,
        b.run,
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    );
    if not_compared > 0 {
        summary.push_str(&format!(
            ", {not_compared} with an invalid or missing value"
        ));
    }
    if !only_in_a.is_empty() || !only_in_b.is_empty() {
        summary.push_str(&format!(
            ", {} only in {} and {} only in {}",
            only_in_a.len(),
            a.run,
            only_in_b.len(),
            b.run
        ));
    }
    summary.push_str(&format!(". Provenance: {differs}; {fairness}."));

    Ok(Comparison {
        run_a: a.run.clone(),
        run_b: b.run.clone(),
        rows,
        only_in_a,
        only_in_b,
        provenance_diff,
        fair,
        summary,
    })
}

fn row(
    x: &Merged,
    y: &Merged,
    noise_cv_pct: &HashMap<SeriesKey, f64>,
    opts: &CompareOptions,
) -> CompareRow {
    let direction = Direction::of_metric(&x.key.metric);
    let cv = noise_cv_pct
        .get(&x.key)
        .or_else(|| noise_cv_pct.get(&y.key))
        .copied()
        .filter(|c| c.is_finite() && *c >= 0.0);
    let (band, band_source) = match cv {
        Some(c) => (opts.noise_multiplier * c, "history".to_string()),
        None => (opts.floor_pct, "floor".to_string()),
    };
    let diff = provenance_diff(&x.key, &x.provenance, &y.key, &y.provenance);
    let fair = diff.iter().all(|d| !d.breaks_fairness);
    let delta = match (x.valid, y.valid, x.value, y.value) {
        (true, true, Some(va), Some(vb)) if va != 0.0 => Some(100.0 * (vb - va) / va.abs()),
        _ => None,
    };
    let beyond = delta.is_some_and(|d| d.abs() > band);
    let change = match delta {
        None => Change::NotCompared,
        Some(_) if !beyond => Change::WithinNoise,
        Some(d) => match (direction, d > 0.0) {
            (Direction::HigherIsBetter, true) | (Direction::LowerIsBetter, false) => Change::Better,
            _ => Change::Worse,
        },
    };
    let band_text = match cv {
        Some(c) => format!(
            "noise band ±{band:.1} % ({}·cv {c:.1} % of its history)",
            trim(opts.noise_multiplier)
        ),
        None => format!("noise band ±{band:.1} % (floor: no history for this key)"),
    };
    let v = |m: &Merged| m.value.map(value).unwrap_or_else(|| "none".to_string());
    let mut note = match (change, delta) {
        (Change::NotCompared, _) => {
            let which: Vec<&str> = [(x.valid, "A"), (y.valid, "B")]
                .iter()
                .filter(|(ok, _)| !ok)
                .map(|(_, s)| *s)
                .collect();
            if which.is_empty() {
                format!(
                    "{} A {} vs B {}: no change can be stated from a zero value",
                    x.key.metric,
                    v(x),
                    v(y)
                )
            } else {
                format!(
                    "{} A {} vs B {}: run {} has no valid measurement, so no change is stated",
                    x.key.metric,
                    v(x),
                    v(y),
                    which.join(" and ")
                )
            }
        }
        (c, Some(d)) => format!(
            "{} A {} vs B {} ({}{:.1} %, {}): {band_text}",
            x.key.metric,
            v(x),
            v(y),
            if d < 0.0 { "−" } else { "+" },
            d.abs(),
            match c {
                Change::Better => "better beyond noise",
                Change::Worse => "worse beyond noise",
                _ => "within noise",
            }
        ),
        (_, None) => String::new(),
    };
    if !fair {
        let why: Vec<String> = diff
            .iter()
            .filter(|d| d.breaks_fairness)
            .map(show)
            .collect();
        note.push_str(&format!("; not a fair comparison: {}", why.join(", ")));
    }
    note.push('.');
    CompareRow {
        test_name: x.key.test_name.clone(),
        network_name: x.key.network_name.clone(),
        metric: x.key.metric.clone(),
        gpu_type: x.key.gpu_type.clone(),
        gpu_count: x.key.gpu_count,
        cluster: x.key.cluster.clone(),
        direction,
        value_a: x.value,
        value_b: y.value,
        valid_a: x.valid,
        valid_b: y.valid,
        delta_pct: delta,
        noise_band_pct: band,
        band_source,
        beyond_noise: beyond,
        change,
        provenance_diff: diff,
        fair,
        note,
    }
}

fn trim(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}
