//! A run's verdicts: once its measurements are in the local history, judge every series this
//! run measured (`judge::judge_all`), mark the cases, and say it in the summary (issue #11
//! "Where verdicts show"). A `regression` of a gating metric makes its case `failed` with the
//! class `regression` (JUnit `<failure type="regression">` with the explanation; the rows stay
//! valid and are uploaded); `--gate pre_merge` turns it into exit 6, otherwise it warns.
//! Suspect, unstable and not-comparable verdicts are warnings on their case.

use crate::history::{HistoryStore, Series, SeriesFilter};
use crate::judge::{JudgeOptions, Judgement, Stage, Verdict, judge_all};
use crate::output;
use crate::results::{CaseResult, CaseStatus, FailureClass};

/// What the run's judgement produced: the series (for the report) and one verdict per series.
#[derive(Debug, Default)]
pub struct RunVerdicts {
    pub series: Vec<Series>,
    pub judgements: Vec<Judgement>,
}

/// The threshold stage of a run: the gate's, else the test-db stage the list was selected
/// with, else post-merge (the 5 % floor).
pub fn stage_of(gate: Option<Stage>, select: Option<Stage>) -> Stage {
    gate.or(select).unwrap_or(Stage::PostMerge)
}

/// Judge every series the recorded run `run_key` has a point in, against the local history.
/// A history that cannot be read is a warning: the run's results never depend on it.
pub async fn judge_run(run_key: &str, stage: Stage) -> RunVerdicts {
    let path = crate::history::default_path();
    let result = async {
        let Some(store) = HistoryStore::open_if_exists(&path).await? else {
            return Ok(RunVerdicts::default());
        };
        let filter = SeriesFilter {
            series_of_run: Some(run_key.to_string()),
            ..Default::default()
        };
        let read = crate::history::read_series(Some(&store), None, &filter).await;
        let accepted = store.acceptances(&filter).await;
        store.close().await;
        let series = read?.series;
        let judgements = judge_all(&series, &accepted?, &JudgeOptions::new(stage));
        anyhow::Ok(RunVerdicts { series, judgements })
    }
    .await;
    result.unwrap_or_else(|e| {
        output::warn(format!(
            "the run's numbers were not judged against the local history {} ({}); the results are unaffected",
            path.display(),
            format!("{e:#}").trim_end_matches('.')
        ));
        RunVerdicts::default()
    })
}

/// The history of the runs `dirs` for `perf-run report --history`: every series those runs
/// measured, each judged as of its run's start (a past run is judged as it was then). A run
/// that is not in the history (never recorded, or an `extract` directory) adds nothing.
pub async fn history_for_runs(
    dirs: &[std::path::PathBuf],
    stage: Stage,
) -> anyhow::Result<(Vec<Series>, Vec<Judgement>)> {
    let path = crate::history::default_path();
    let Some(store) = HistoryStore::open_if_exists(&path).await? else {
        return Ok((vec![], vec![]));
    };
    let opts = crate::perfdb::UploadOptions {
        env: crate::perfdb::runinfo::from_env(&crate::config::process_env),
        ..Default::default()
    };
    let mut seen = std::collections::HashSet::new();
    let (mut series, mut judgements) = (Vec::new(), Vec::new());
    for d in dirs {
        let Ok(rec) = crate::history::record::run_record_from_dir(d, &opts) else {
            continue;
        };
        let filter = SeriesFilter {
            series_of_run: Some(rec.run_key.clone()),
            ..Default::default()
        };
        let found = store.series(&filter).await?;
        let accepted = store.acceptances(&filter).await?;
        let mut o = JudgeOptions::new(stage);
        o.now = Some(rec.start_time);
        for s in found {
            if seen.insert(s.key.clone()) {
                judgements.push(crate::judge::judge(&s, &accepted, &o));
                series.push(s);
            }
        }
    }
    store.close().await;
    Ok((series, judgements))
}

/// The case a verdict belongs to (`report::model::owner_of`, as the report attaches it).
fn case_of(j: &Judgement, cases: &[CaseResult]) -> Option<usize> {
    crate::report::model::owner_of(
        &j.test_name,
        &j.network_name,
        cases
            .iter()
            .map(|c| (c.test_id.as_str(), c.case_name.as_str())),
    )
}

/// Mark the cases with their verdicts. Returns whether any case changed (the outputs are then
/// written again).
pub fn apply(cases: &mut [CaseResult], judgements: &[Judgement]) -> bool {
    let mut changed = false;
    for j in judgements {
        let Some(i) = case_of(j, cases) else {
            continue;
        };
        let c = &mut cases[i];
        match j.verdict {
            Verdict::Regression if j.gating => {
                let reason = format!("regression: {}", j.explanation);
                if c.status == CaseStatus::Passed {
                    c.status = CaseStatus::Failed;
                    c.failure_class = Some(FailureClass::Regression);
                    c.reasons.push(reason);
                } else {
                    c.warnings.push(reason);
                }
                changed = true;
            }
            Verdict::Regression | Verdict::Suspect | Verdict::Unstable | Verdict::NotComparable => {
                c.warnings
                    .push(format!("{}: {}", j.verdict.as_str(), j.explanation));
                changed = true;
            }
            Verdict::Ok | Verdict::Improved | Verdict::InsufficientData => {}
        }
    }
    changed
}

/// The verdict lines of the run summary: counts, then every verdict that needs a look.
pub fn summary_lines(judgements: &[Judgement]) -> Vec<String> {
    if judgements.is_empty() {
        return vec![];
    }
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for j in judgements {
        *counts.entry(j.verdict.as_str()).or_default() += 1;
    }
    if counts.len() == 1 && counts.contains_key(Verdict::InsufficientData.as_str()) {
        return vec![format!(
            "no verdicts yet: the local history ({}) has too few earlier points for the {} series of this run; they get verdicts once it holds runs from at least 5 earlier days (docs/verdicts.md)",
            crate::history::default_path().display(),
            judgements.len()
        )];
    }
    let counts: Vec<String> = counts.iter().map(|(v, n)| format!("{n} {v}")).collect();
    let mut lines = vec![format!(
        "verdicts against the history: {} series judged: {}",
        judgements.len(),
        counts.join(", ")
    )];
    let mut attention: Vec<&Judgement> = judgements
        .iter()
        .filter(|j| crate::judge::needs_attention(j) || j.verdict == Verdict::Improved)
        .collect();
    attention.sort_by_key(|j| match j.verdict {
        Verdict::Regression => 0,
        Verdict::Suspect => 1,
        Verdict::NotComparable => 2,
        Verdict::Unstable => 3,
        _ => 4,
    });
    for j in attention {
        lines.push(format!(
            "  {}{} {} {}: {}",
            j.verdict.as_str().to_uppercase(),
            if j.gating { "" } else { " (not gating)" },
            j.network_name,
            j.metric,
            j.explanation
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judgement(verdict: Verdict, gating: bool, test_name: &str) -> Judgement {
        Judgement {
            test_name: test_name.into(),
            network_name: test_name.into(),
            metric: "token_throughput".into(),
            gpu_type: "GB200".into(),
            gpu_count: 4,
            cluster: "c".into(),
            verdict,
            gating,
            latest: Some(90.0),
            baseline: Some(100.0),
            delta_pct: Some(-10.0),
            threshold_pct: 5.0,
            threshold_source: "post-merge floor".into(),
            cv_pct: Some(1.0),
            n: 10,
            baseline_from: None,
            baseline_to: None,
            change_points: vec![],
            explanation: "token_throughput fell 10.0 %".into(),
        }
    }

    fn case(name: &str, status: CaseStatus) -> CaseResult {
        CaseResult {
            test_id: format!("perf/test_perf_sanity.py::test_e2e[{name}]"),
            case_name: name.into(),
            mode: "single-agg".into(),
            status,
            failure_class: None,
            reasons: vec![],
            warnings: vec![],
            job: None,
            junit: None,
            clients: vec![],
            servers: vec![],
            artifacts_dir: None,
            marker_exit: None,
            start: None,
            end: None,
            duration_s: None,
        }
    }

    #[test]
    fn a_gating_regression_fails_its_case_and_the_longest_name_wins() {
        let mut cases = vec![
            case("aggr_upload-cfg", CaseStatus::Passed),
            case("aggr_upload-cfg-srv", CaseStatus::Passed),
        ];
        let j = judgement(
            Verdict::Regression,
            true,
            "perf_sanity[aggr_upload-cfg-srv-con8]_con:8",
        );
        assert!(apply(&mut cases, &[j]));
        assert_eq!(cases[0].status, CaseStatus::Passed);
        assert_eq!(cases[1].status, CaseStatus::Failed);
        assert_eq!(cases[1].failure_class, Some(FailureClass::Regression));
        assert!(cases[1].reasons[0].starts_with("regression: token_throughput fell"));
    }

    #[test]
    fn latency_regressions_and_suspects_only_warn_and_failed_cases_keep_their_class() {
        let mut cases = vec![
            case("a-s", CaseStatus::Passed),
            case("b-s", CaseStatus::Failed),
        ];
        cases[1].failure_class = Some(FailureClass::Timeout);
        let js = [
            judgement(Verdict::Regression, false, "x[a-s-c]"),
            judgement(Verdict::Suspect, true, "x[a-s-c]"),
            judgement(Verdict::Regression, true, "x[b-s-c]"),
            judgement(Verdict::Ok, true, "x[a-s-c]"),
        ];
        assert!(apply(&mut cases, &js));
        assert_eq!(cases[0].status, CaseStatus::Passed);
        assert_eq!(cases[0].warnings.len(), 2);
        assert_eq!(cases[1].failure_class, Some(FailureClass::Timeout));
        assert_eq!(cases[1].warnings.len(), 1);
        let lines = summary_lines(&js);
        assert!(lines[0].contains("4 series judged"), "{lines:?}");
        assert!(lines[1].starts_with("  REGRESSION "), "{lines:?}");
        assert!(!apply(
            &mut cases,
            &[judgement(Verdict::Ok, true, "x[a-s-c]")]
        ));
    }
}
