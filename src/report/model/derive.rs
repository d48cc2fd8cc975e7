use super::*;

use crate::history::Series;
use crate::judge::Judgement;
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub(super) fn count_totals(cases: &[SummaryCase]) -> Totals {
    let mut t = Totals {
        cases: cases.len(),
        ..Totals::default()
    };
    for c in cases {
        match c.status.as_str() {
            "passed" => t.passed += 1,
            "failed" => t.failed += 1,
            "invalid" => t.invalid += 1,
            "skipped" => t.skipped += 1,
            _ => t.not_run += 1,
        }
    }
    t
}

/// Pareto points grouped by GPU count, with each run's frontier marked.
pub(super) fn pareto_groups(cases: &[CaseEntry], notes: &mut Vec<String>) -> Vec<ParetoGroup> {
    let mut groups: BTreeMap<u32, Vec<ParetoPoint>> = BTreeMap::new();
    let mut no_gpus = BTreeSet::new();
    let mut from_host = false;
    for case in cases {
        for (ri, cr) in case.runs.iter().enumerate() {
            let Some(cr) = cr else { continue };
            for cl in &cr.clients {
                let (Some(tput), Some(tpot)) =
                    (cl.metric(PARETO_THROUGHPUT), cl.metric(PARETO_TPOT))
                else {
                    continue;
                };
                if tpot <= 0.0 {
                    continue;
                }
                let Some(gpus) = cr.gpu_count.filter(|g| *g > 0) else {
                    no_gpus.insert(case.test_id.clone());
                    continue;
                };
                from_host |= cr.gpu_count_source.as_deref() == Some("host");
                groups.entry(gpus).or_default().push(ParetoPoint {
                    run: ri,
                    test_id: case.test_id.clone(),
                    client: cl.label(),
                    concurrency: cl.concurrency,
                    tokens_per_s_per_user: 1000.0 / tpot,
                    output_tokens_per_s_per_gpu: tput / f64::from(gpus),
                    valid: cl.valid(),
                    on_frontier: false,
                });
            }
        }
    }
    if !no_gpus.is_empty() {
        notes.push(format!(
            "{} case(s) are not in the Pareto chart because their GPU count is unknown (no plan.json and no sysinfo/gpu.txt): {}.",
            no_gpus.len(),
            no_gpus.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if from_host {
        notes.push(
            "Some GPU counts come from the host's GPU list (sysinfo/gpu.txt), not from a plan: they count the GPUs of one node."
                .into(),
        );
    }
    groups
        .into_iter()
        .map(|(gpu_count, mut points)| {
            mark_frontier(&mut points);
            ParetoGroup { gpu_count, points }
        })
        .collect()
}

/// Mark, per run, the valid points no other valid point of that run beats on both axes.
pub(super) fn mark_frontier(points: &mut [ParetoPoint]) {
    let runs: BTreeSet<usize> = points.iter().map(|p| p.run).collect();
    for run in runs {
        let mut idx: Vec<usize> = (0..points.len())
            .filter(|&i| points[i].run == run && points[i].valid)
            .collect();
        // Highest interactivity first; a point is on the frontier when its throughput beats
        // every point with at least its interactivity.
        idx.sort_by(|&a, &b| {
            points[b]
                .tokens_per_s_per_user
                .total_cmp(&points[a].tokens_per_s_per_user)
                .then(
                    points[b]
                        .output_tokens_per_s_per_gpu
                        .total_cmp(&points[a].output_tokens_per_s_per_gpu),
                )
        });
        let mut best = f64::NEG_INFINITY;
        for i in idx {
            if points[i].output_tokens_per_s_per_gpu > best {
                points[i].on_frontier = true;
                best = points[i].output_tokens_per_s_per_gpu;
            }
        }
    }
}

pub(super) fn provenance_diff(runs: &[RunEntry], cases: &[CaseEntry]) -> ProvenanceDiff {
    let common: Vec<&CaseEntry> = cases
        .iter()
        .filter(|c| c.runs.iter().all(Option::is_some))
        .collect();
    let mut rows = Vec::new();
    let mut row = |field: &str, must_match: bool, values: Vec<Option<String>>| {
        let first = &values[0];
        let differs = values.iter().any(|v| v != first);
        rows.push(ProvenanceRow {
            field: field.into(),
            values,
            differs,
            must_match,
        });
    };
    let per_run = |f: &dyn Fn(&RunEntry) -> Option<String>| runs.iter().map(f).collect();
    row(
        "container image",
        false,
        per_run(&|r| r.container_image.clone()),
    );
    row(
        "TensorRT-LLM version",
        false,
        per_run(&|r| r.trtllm_version.clone()),
    );
    row(
        "TensorRT-LLM commit",
        false,
        per_run(&|r| r.trtllm_commit.clone()),
    );
    row(
        "TensorRT-LLM branch",
        false,
        per_run(&|r| r.trtllm_branch.clone()),
    );
    row("TensorRT", false, per_run(&|r| r.tensorrt.clone()));
    row("GPU", true, per_run(&|r| r.gpu.clone()));
    row("cluster", true, per_run(&|r| r.cluster.clone()));
    row("nodes", true, per_run(&|r| r.nodes.clone()));
    row("driver", false, per_run(&|r| r.driver.clone()));
    row("CUDA", false, per_run(&|r| r.cuda.clone()));
    // Per case facts over the common cases: the GPU count and the config hash.
    let case_fact = |f: &dyn Fn(&CaseRun) -> Option<String>| -> Vec<Option<String>> {
        (0..runs.len())
            .map(|ri| {
                let vals: BTreeSet<String> = common
                    .iter()
                    .filter_map(|c| c.runs[ri].as_ref().and_then(f))
                    .collect();
                match vals.len() {
                    0 => None,
                    1 => vals.into_iter().next(),
                    _ => Some(
                        vals.into_iter()
                            .map(|v| short(&v))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
                }
            })
            .collect()
    };
    row(
        "GPUs per case",
        true,
        case_fact(&|c| c.gpu_count.map(|g| g.to_string())),
    );
    // The config hash is compared case by case: a differing config in any common case makes
    // the comparison unfair for that case.
    let changed_configs: Vec<&str> = common
        .iter()
        .filter(|c| {
            let hashes: Vec<Option<&String>> = c
                .runs
                .iter()
                .map(|r| r.as_ref().and_then(|r| r.config_hash.as_ref()))
                .collect();
            hashes.iter().all(Option::is_some) && hashes.iter().any(|h| *h != hashes[0])
        })
        .map(|c| c.test_id.as_str())
        .collect();
    let hash_known = common.iter().any(|c| {
        c.runs
            .iter()
            .all(|r| r.as_ref().is_some_and(|r| r.config_hash.is_some()))
    });
    rows.push(ProvenanceRow {
        field: "configs as planned".into(),
        values: (0..runs.len())
            .map(|_| {
                if !hash_known {
                    None
                } else if changed_configs.is_empty() {
                    Some("same content in every common case".into())
                } else {
                    Some(format!("{} case(s) differ", changed_configs.len()))
                }
            })
            .collect(),
        differs: !changed_configs.is_empty(),
        must_match: true,
    });
    let unfair: Vec<&str> = rows
        .iter()
        .filter(|r| r.must_match && r.differs)
        .map(|r| r.field.as_str())
        .collect();
    let changed: Vec<&str> = rows
        .iter()
        .filter(|r| !r.must_match && r.differs)
        .map(|r| r.field.as_str())
        .collect();
    let fair = unfair.is_empty() && !common.is_empty();
    let verdict = if common.is_empty() {
        "Not comparable: the runs have no case in common.".to_string()
    } else if !unfair.is_empty() {
        format!(
            "Not a fair comparison: {} differ(s) between the runs, so a difference in the numbers may come from the setup rather than the software.",
            unfair.join(", ")
        )
    } else if changed.is_empty() {
        format!(
            "Fair comparison of {} common case(s): same hardware, cluster and configs, and no software difference was recorded (differences are noise).",
            common.len()
        )
    } else {
        format!(
            "Fair comparison of {} common case(s): same hardware, cluster and configs; what changed is {}.",
            common.len(),
            changed.join(", ")
        )
    };
    ProvenanceDiff {
        rows,
        fair,
        verdict,
        common_cases: common.len(),
    }
}

pub(super) fn short(s: &str) -> String {
    if s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()) {
        s[..12].to_string()
    } else {
        s.to_string()
    }
}

pub(super) fn attach_history(
    cases: &mut [CaseEntry],
    series: &[Series],
    judgements: &[Judgement],
    notes: &mut Vec<String>,
) -> HistorySection {
    // The longest matching case name wins: `aggr_upload-cfg` must not take the series of
    // `aggr_upload-cfg-srv` (whose names also start with `[aggr_upload-cfg-`).
    let case_of = |test_name: &str, network_name: &str, cases: &[CaseEntry]| {
        owner_of(
            test_name,
            network_name,
            cases
                .iter()
                .map(|c| (c.test_id.as_str(), c.case_name.as_str())),
        )
    };
    let by_key: HashMap<crate::history::SeriesKey, &Judgement> =
        judgements.iter().map(|j| (j.key(), j)).collect();
    let mut with_series = BTreeSet::new();
    let mut entries = Vec::new();
    for s in series {
        let ci = case_of(&s.key.test_name, &s.key.network_name, cases);
        let judgement = by_key.get(&s.key).map(|j| (*j).clone());
        if judgement.is_some() {
            with_series.insert(s.key.clone());
        }
        entries.push(HistoryEntry {
            test_id: ci.map(|i| cases[i].test_id.clone()),
            series: s.clone(),
            judgement,
        });
    }
    let mut unmatched = 0usize;
    for j in judgements {
        match case_of(&j.test_name, &j.network_name, cases) {
            Some(ci) => cases[ci].verdicts.push(j.clone()),
            None => unmatched += 1,
        }
    }
    for c in cases.iter_mut() {
        c.verdicts
            .sort_by_key(|j| (verdict_rank(j.verdict), !j.gating));
    }
    if unmatched > 0 {
        notes.push(format!(
            "{unmatched} verdict(s) belong to series of no case in these runs; they are listed under History."
        ));
    }
    // Cases first in report order, then the rest; within a case by metric.
    let order: HashMap<&str, usize> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| (c.test_id.as_str(), i))
        .collect();
    entries.sort_by(|a, b| {
        let ka = a
            .test_id
            .as_deref()
            .and_then(|t| order.get(t))
            .copied()
            .unwrap_or(usize::MAX);
        let kb = b
            .test_id
            .as_deref()
            .and_then(|t| order.get(t))
            .copied()
            .unwrap_or(usize::MAX);
        ka.cmp(&kb).then_with(|| a.series.key.cmp(&b.series.key))
    });
    HistorySection {
        judgements_without_series: judgements
            .iter()
            .filter(|j| !with_series.contains(&j.key()))
            .count(),
        entries,
    }
}
