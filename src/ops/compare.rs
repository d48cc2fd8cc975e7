//! `perf-run compare RUN_A RUN_B [--json]`: two runs side by side (`judge::compare`): per case
//! and metric both values, the delta, the noise band from the key's history, and a provenance
//! diff that says whether the comparison is fair.
//!
//! A run directory is read directly from its results (the same reader the history records
//! with), so comparing never writes the history and works before a run is recorded; a run key
//! (e.g. a `perf-run upload --source-metric-csv` upload) is read from the history.

use std::collections::{HashMap, HashSet};

use anyhow::Result;

use crate::cli::CompareArgs;
use crate::error::{Exit, UserError};
use crate::history::{SeriesFilter, SeriesKey};
use crate::judge::compare::{
    Change, CompareOptions, Comparison, RunMeasurement, RunSide, compare_runs,
};
use crate::judge::stats::cv_pct;
use crate::ops::regress::{ResolvedRun, RunSource, Sources, record_points, resolve_run};
use crate::output;

/// A key's history gives its noise only with at least this many valid points (the verdict
/// engine's minimum baseline); with fewer the band is the floor.
const MIN_NOISE_POINTS: usize = 5;

pub async fn run(args: CompareArgs) -> Result<Exit> {
    let sources = Sources::open(args.local_only, &args.db).await?;
    let a = resolve_run(&args.run_a, &sources).await?;
    let b = resolve_run(&args.run_b, &sources).await?;
    let same = match (&a.source, &b.source) {
        (RunSource::Dir { root: ra, .. }, RunSource::Dir { root: rb, .. }) => {
            ra.canonicalize().ok() == rb.canonicalize().ok()
        }
        (RunSource::Key, RunSource::Key) => a.run_key == b.run_key,
        _ => false,
    };
    if same {
        return Err(UserError(format!(
            "RUN_A and RUN_B are the same run ({}); give two different runs to compare.",
            a.label
        ))
        .into());
    }
    let side_a = side(&a, &sources).await?;
    let side_b = side(&b, &sources).await?;
    let noise = noise(&sources, &side_a, &side_b, &[&a.run_key, &b.run_key]).await?;
    let cmp = compare_runs(&side_a, &side_b, &noise, &CompareOptions::default())?;
    if args.json {
        output::data(serde_json::to_string_pretty(&cmp)?);
    } else {
        output::data(human(&cmp));
    }
    Ok(Exit::Success)
}

/// One run's measurements: from its directory, or from the history by run key.
async fn side(run: &ResolvedRun, sources: &Sources) -> Result<RunSide> {
    let measurements = match &run.source {
        RunSource::Dir { record, .. } => record_points(record)
            .into_iter()
            .map(|(key, p)| RunMeasurement {
                key,
                value: p.value,
                valid: p.valid,
                provenance: p.provenance,
            })
            .collect(),
        RunSource::Key => {
            let f = SeriesFilter {
                run_key: Some(run.run_key.clone()),
                ..Default::default()
            };
            let mut out = Vec::new();
            for s in sources.read(&f).await? {
                for p in s.points.into_iter().filter(|p| p.run_key == run.run_key) {
                    out.push(RunMeasurement {
                        key: s.key.clone(),
                        value: p.value,
                        valid: p.valid,
                        provenance: p.provenance,
                    });
                }
            }
            out
        }
    };
    Ok(RunSide {
        run: run.label.clone(),
        measurements,
    })
}

/// The cv (percent) of every key of the two runs that has a history: `stats::cv_pct` over the
/// series' valid values, the compared runs' own points left out (a real change between them
/// must not widen its own noise band).
async fn noise(
    sources: &Sources,
    a: &RunSide,
    b: &RunSide,
    own_runs: &[&String],
) -> Result<HashMap<SeriesKey, f64>> {
    let mut out = HashMap::new();
    if sources.is_empty() {
        return Ok(out);
    }
    let wanted: HashSet<&SeriesKey> = a
        .measurements
        .iter()
        .chain(b.measurements.iter())
        .map(|m| &m.key)
        .collect();
    for s in sources.read(&SeriesFilter::default()).await? {
        if !wanted.contains(&s.key) {
            continue;
        }
        let values: Vec<f64> = s
            .points
            .iter()
            .filter(|p| p.valid && p.value.is_finite() && !own_runs.contains(&&p.run_key))
            .map(|p| p.value)
            .collect();
        if values.len() < MIN_NOISE_POINTS {
            continue;
        }
        if let Some(cv) = cv_pct(&values) {
            out.insert(s.key, cv);
        }
    }
    Ok(out)
}

/// The human view: one line per case and metric (worse first), the provenance diff, the summary.
pub fn human(c: &Comparison) -> String {
    let rank = |ch: Change| match ch {
        Change::Worse => 0,
        Change::Better => 1,
        Change::NotCompared => 2,
        Change::WithinNoise => 3,
    };
    let mut rows: Vec<_> = c.rows.iter().collect();
    rows.sort_by_key(|r| rank(r.change));
    let mut out = format!("A = {}, B = {}\n", c.run_a, c.run_b);
    for r in rows {
        let tag = match r.change {
            Change::Worse => "worse",
            Change::Better => "better",
            Change::WithinNoise => "within noise",
            Change::NotCompared => "not compared",
        };
        out.push_str(&format!("{tag:<13} {}: {}\n", r.test_name, r.note));
    }
    if c.provenance_diff.is_empty() {
        out.push_str("Provenance: the same image, version, config and nodes on both sides.\n");
    } else {
        out.push_str("Provenance diff:\n");
        for d in &c.provenance_diff {
            let v = |x: &Option<String>| x.clone().unwrap_or_else(|| "unknown".into());
            out.push_str(&format!(
                "  {:<16} A {}  B {}  ({})\n",
                d.field,
                v(&d.a),
                v(&d.b),
                if d.breaks_fairness {
                    "makes the comparison unfair"
                } else {
                    "what is compared"
                }
            ));
        }
    }
    out.push_str(&c.summary);
    out.push('\n');
    out
}
