//! The verdict engine on generated series (issue #11 "Done when": a real step change fails a
//! pre-merge gate, noise does not): step down and up, slow drift, noise at cv 2 % and 8 %
//! over 200 seeds each, single spikes, too few points, very noisy, acceptances, a change
//! point inside the judged points, provenance changes, invalid points, latencies.
//!
//! Run: `cargo test --test judge` (add `-- --nocapture` to see the explanations).

use chrono::{DateTime, Duration, TimeZone, Utc};
use perf_run::history::{Acceptance, Direction, Point, Provenance, Series, SeriesKey};
use perf_run::judge::{
    JudgeOptions, Judgement, Stage, Verdict, fails_gate, judge, judge_all, needs_attention,
    series_change_points,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const TPUT: &str = "token_throughput";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, 1, 2, 0, 0).single().unwrap()
}

fn key(metric: &str) -> SeriesKey {
    SeriesKey {
        test_name: "perf/test_perf_sanity.py::test_e2e[llama_8b-con64]".into(),
        network_name: "llama_8b-con64".into(),
        metric: metric.into(),
        gpu_type: "H100".into(),
        gpu_count: 8,
        cluster: "oci-hsg".into(),
    }
}

fn prov(hash: &str) -> Provenance {
    Provenance {
        config_hash: Some(hash.into()),
        config_name: Some("llama_8b.yaml".into()),
        container_image: Some("nvcr.io/trtllm:1".into()),
        trtllm_version: Some("1.2.0".into()),
        nodes: Some(1),
    }
}

/// One point a day, commit `c<i>`.
fn series(metric: &str, values: &[f64]) -> Series {
    Series {
        key: key(metric),
        direction: Direction::of_metric(metric),
        points: values
            .iter()
            .enumerate()
            .map(|(i, &v)| Point {
                time: t0() + Duration::days(i as i64),
                value: v,
                commit: Some(format!("c{i}")),
                commit_time: None,
                run_key: format!("run{i}"),
                valid: true,
                failure_class: None,
                source: "local".into(),
                provenance: prov("h1"),
            })
            .collect(),
    }
}

/// Gaussian noise by Box-Muller.
fn gauss(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Levels `(count, value)` with multiplicative noise of `cv` (fraction).
fn levels(seed: u64, parts: &[(usize, f64)], cv: f64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut v = Vec::new();
    for &(n, level) in parts {
        for _ in 0..n {
            v.push(level * (1.0 + cv * gauss(&mut rng)));
        }
    }
    v
}

fn post() -> JudgeOptions {
    JudgeOptions::new(Stage::PostMerge)
}

fn pre() -> JudgeOptions {
    JudgeOptions::new(Stage::PreMerge)
}

fn show(j: &Judgement) {
    println!("{:>17}  {}", j.verdict.as_str(), j.explanation);
}

#[test]
fn clean_step_down_is_a_regression_with_its_commit_range() {
    let s = series(TPUT, &levels(11, &[(57, 1000.0), (3, 880.0)], 0.015));
    let j = judge(&s, &[], &pre());
    show(&j);
    assert_eq!(j.verdict, Verdict::Regression);
    assert!(fails_gate(&j, Stage::PreMerge));
    assert!(!fails_gate(&j, Stage::PostMerge), "post-merge only warns");
    let b = j.baseline.unwrap();
    assert!((b - 1000.0).abs() < 15.0, "baseline {b}");
    assert!((j.delta_pct.unwrap() + 12.0).abs() < 4.0);
    assert_eq!(j.threshold_pct, 10.0);
    assert_eq!(j.n, 14, "the 14 days before the judged points");
    // The change point: first point of the new level, its commit range, confirmed (3 points).
    let cp = j.change_points.iter().find(|c| c.index == 57).unwrap();
    assert_eq!(cp.commit.as_deref(), Some("c57"));
    assert_eq!(cp.previous_commit.as_deref(), Some("c56"));
    assert!(cp.p_value <= 0.001 && cp.delta_pct < -8.0);
    assert!(!cp.tentative);
    assert!(
        j.explanation
            .contains("two judged points in a row breached it"),
        "{}",
        j.explanation
    );
    assert!(
        j.explanation.contains("commits c56..c57"),
        "{}",
        j.explanation
    );
    assert!(
        j.explanation
            .contains("inside the judged points is the event being judged")
    );

    // The day the step lands it is only a suspect; its change point is tentative.
    let s1 = series(TPUT, &levels(11, &[(57, 1000.0), (1, 880.0)], 0.015));
    let j1 = judge(&s1, &[], &pre());
    show(&j1);
    assert_eq!(j1.verdict, Verdict::Suspect);
    assert!(!fails_gate(&j1, Stage::PreMerge));
    assert!(
        j1.change_points
            .iter()
            .all(|c| c.index != 57 || c.tentative)
    );
}

#[test]
fn explanation_reads_as_documented() {
    // A noiseless baseline gives exact numbers.
    let mut v = vec![1000.0; 57];
    v.extend([880.0, 880.0, 880.0]);
    let j = judge(&series(TPUT, &v), &[], &post());
    assert_eq!(j.verdict, Verdict::Regression);
    assert_eq!(
        j.explanation,
        "token_throughput fell 12.0 % (880 vs baseline median 1000 over 14 points, \
         2026-10-12..2026-10-25); threshold 5.0 % (post-merge floor; noise 3·cv = 0.0 %); \
         two judged points in a row breached it. Change point 2026-10-28 (commits c56..c57, \
         −12.0 %, p ≈ 0) inside the judged points is the event being judged."
    );
}

#[test]
fn step_up_is_improved() {
    let s = series(TPUT, &levels(12, &[(55, 1000.0), (5, 1150.0)], 0.015));
    let j = judge(&s, &[], &pre());
    show(&j);
    assert_eq!(j.verdict, Verdict::Improved);
    assert!(!fails_gate(&j, Stage::PreMerge));
    assert!(j.delta_pct.unwrap() > 10.0);
}

#[test]
fn slow_drift_does_not_gate() {
    // −0.1 % a day for 90 days (−9 % in all) with 1 % noise.
    let mut rng = StdRng::seed_from_u64(13);
    let v: Vec<f64> = (0..90)
        .map(|i| 1000.0 * (1.0 - 0.001 * i as f64) * (1.0 + 0.01 * gauss(&mut rng)))
        .collect();
    for opts in [pre(), post()] {
        let j = judge(&series(TPUT, &v), &[], &opts);
        show(&j);
        assert_eq!(j.verdict, Verdict::Ok, "{}", j.explanation);
    }
}

fn noise_verdicts(cv: f64, opts: &JudgeOptions, seed0: u64) -> Vec<Judgement> {
    let all: Vec<Series> = (0..200)
        .map(|s| series(TPUT, &levels(seed0 + s, &[(90, 1000.0)], cv)))
        .collect();
    judge_all(&all, &[], opts)
}

fn tally(js: &[Judgement]) -> String {
    let mut counts = std::collections::BTreeMap::new();
    for j in js {
        *counts.entry(j.verdict.as_str()).or_insert(0) += 1;
    }
    format!("{counts:?}")
}

#[test]
fn noise_at_cv_2_percent_never_fails_a_gate() {
    for (name, opts) in [("pre-merge", pre()), ("post-merge", post())] {
        let js = noise_verdicts(0.02, &opts, 10_000);
        println!("cv 2 %, {name}: {}", tally(&js));
        assert!(
            js.iter().all(|j| j.verdict != Verdict::Regression),
            "{name}: {}",
            tally(&js)
        );
        assert!(js.iter().all(|j| !fails_gate(j, Stage::PreMerge)));
        assert!(js.iter().all(|j| j.verdict != Verdict::Unstable));
    }
}

#[test]
fn noise_at_cv_8_percent_never_fails_pre_merge() {
    let js = noise_verdicts(0.08, &pre(), 20_000);
    println!("cv 8 %, pre-merge: {}", tally(&js));
    assert_eq!(
        js.iter()
            .filter(|j| j.verdict == Verdict::Regression)
            .count(),
        0,
        "{}",
        tally(&js)
    );
    assert!(js.iter().all(|j| !fails_gate(j, Stage::PreMerge)));
    // The threshold follows the noise, not the 10 % floor.
    let wide = js.iter().filter(|j| j.threshold_pct > 10.0).count();
    assert!(wide > 150, "{wide} of 200 thresholds above the floor");
}

#[test]
fn single_spikes_are_suspect_at_most() {
    let base = levels(14, &[(60, 1000.0)], 0.015);
    // The newest point drops 30 %: one breach.
    let mut v = base.clone();
    v[59] = 700.0;
    let j = judge(&series(TPUT, &v), &[], &pre());
    show(&j);
    assert_eq!(j.verdict, Verdict::Suspect);
    assert!(needs_attention(&j), "a suspect is worth a warning line");
    // A spike inside the judged window, the newest point fine: ok.
    for at in [55, 57, 58] {
        let mut v = base.clone();
        v[at] = 700.0;
        let j = judge(&series(TPUT, &v), &[], &pre());
        assert_eq!(j.verdict, Verdict::Ok, "spike at {at}: {}", j.explanation);
        assert!(!needs_attention(&j));
    }
    // A spike in the baseline does not move the median.
    let mut v = base.clone();
    v[50] = 3000.0;
    let j = judge(&series(TPUT, &v), &[], &pre());
    assert_eq!(j.verdict, Verdict::Ok, "{}", j.explanation);
    assert!((j.baseline.unwrap() - 1000.0).abs() < 15.0);
}

#[test]
fn too_few_points_is_insufficient_data() {
    for n in [0, 1, 4, 9] {
        let v = levels(15, &[(n, 1000.0)], 0.01);
        let j = judge(&series(TPUT, &v), &[], &pre());
        show(&j);
        assert_eq!(j.verdict, Verdict::InsufficientData, "{n} points");
        assert!(!fails_gate(&j, Stage::PreMerge));
        assert!(!j.explanation.is_empty());
    }
    // 10 points: 5 judged, 5 baseline — judged.
    let j = judge(
        &series(TPUT, &levels(15, &[(10, 1000.0)], 0.01)),
        &[],
        &pre(),
    );
    assert_eq!(j.verdict, Verdict::Ok, "{}", j.explanation);
    assert_eq!(j.n, 5);
}

#[test]
fn very_noisy_is_unstable_and_never_gates() {
    let mut v = levels(16, &[(60, 1000.0)], 0.2);
    v[58] = 500.0;
    v[59] = 500.0;
    let j = judge(&series(TPUT, &v), &[], &pre());
    show(&j);
    assert_eq!(j.verdict, Verdict::Unstable);
    assert!(j.cv_pct.unwrap() > 10.0);
    assert!(!fails_gate(&j, Stage::PreMerge));
    assert!(j.explanation.contains("too noisy"), "{}", j.explanation);
    assert!(
        j.threshold_source.starts_with("3·cv (")
            && j.threshold_source.ends_with("> pre-merge floor 10.0 %"),
        "{}",
        j.threshold_source
    );
}

fn accept(metric: &str, since: DateTime<Utc>) -> Acceptance {
    Acceptance {
        key: key(metric),
        since,
        reason: "new default max_batch_size".into(),
        accepted_by: Some("alice".into()),
        accepted_at: since + Duration::days(3),
    }
}

#[test]
fn accepted_change_becomes_the_baseline() {
    // The step lands exactly on the first judged point: all five judged points are low.
    let v = levels(17, &[(55, 1000.0), (5, 850.0)], 0.01);
    let s = series(TPUT, &v);
    let j = judge(&s, &[], &pre());
    assert_eq!(j.verdict, Verdict::Regression, "{}", j.explanation);

    let since = s.points[55].time;
    let j = judge(&s, &[accept(TPUT, since)], &pre());
    show(&j);
    assert_eq!(j.verdict, Verdict::Ok, "{}", j.explanation);
    assert!((j.baseline.unwrap() - 850.0).abs() < 15.0);
    assert!(
        j.explanation.contains("accepted from 2026-10-26 by alice"),
        "{}",
        j.explanation
    );
    assert!(j.explanation.contains("new default max_batch_size"));

    // An acceptance of another series changes nothing.
    let j = judge(&s, &[accept("total_token_throughput", since)], &pre());
    assert_eq!(j.verdict, Verdict::Regression);
    // judge_all routes acceptances by key.
    let js = judge_all(std::slice::from_ref(&s), &[accept(TPUT, since)], &pre());
    assert_eq!(js[0].verdict, Verdict::Ok);

    // Accepted with only two points since: not enough to judge, and not a failure.
    let v = levels(17, &[(58, 1000.0), (2, 850.0)], 0.01);
    let s = series(TPUT, &v);
    let j = judge(&s, &[accept(TPUT, s.points[58].time)], &pre());
    show(&j);
    assert_eq!(j.verdict, Verdict::InsufficientData);
    assert!(
        j.explanation
            .contains("only 2 points have been measured since"),
        "{}",
        j.explanation
    );
}

#[test]
fn change_point_older_than_the_judged_window_becomes_the_baseline() {
    // The step is 10 points old: 5 points of the new level precede the judged ones.
    let v = levels(18, &[(50, 1000.0), (10, 850.0)], 0.01);
    let j = judge(&series(TPUT, &v), &[], &pre());
    show(&j);
    assert_eq!(j.verdict, Verdict::Ok, "{}", j.explanation);
    assert!((j.baseline.unwrap() - 850.0).abs() < 15.0);
    assert_eq!(j.n, 5);
    assert!(
        j.explanation
            .contains("The baseline starts at the change point of 2026-10-21")
    );
    assert!(
        j.explanation.contains("commits c49..c50"),
        "{}",
        j.explanation
    );
}

#[test]
fn change_point_inside_the_judged_window_is_not_the_baseline() {
    let v = levels(19, &[(56, 1000.0), (4, 850.0)], 0.01);
    let j = judge(&series(TPUT, &v), &[], &pre());
    show(&j);
    assert_eq!(j.verdict, Verdict::Regression);
    assert!(
        (j.baseline.unwrap() - 1000.0).abs() < 15.0,
        "baseline stays on the old level"
    );
    assert!(j.change_points.iter().any(|c| c.index == 56));
    assert!(
        j.explanation
            .contains("inside the judged points is the event being judged")
    );
}

#[test]
fn provenance_change_is_not_comparable_until_the_new_setup_has_a_baseline() {
    let v = levels(20, &[(60, 1000.0)], 0.01);
    let mut s = series(TPUT, &v);
    s.points[59].provenance.config_hash = Some("h2-new-config-hash".into());
    let j = judge(&s, &[], &pre());
    show(&j);
    assert_eq!(j.verdict, Verdict::NotComparable);
    assert!(!fails_gate(&j, Stage::PreMerge));
    assert!(
        j.explanation
            .contains("config hash h2-new-confi (baseline: h1)"),
        "{}",
        j.explanation
    );

    // Node count too.
    let mut s2 = series(TPUT, &v);
    s2.points[59].provenance.nodes = Some(2);
    assert_eq!(judge(&s2, &[], &pre()).verdict, Verdict::NotComparable);

    // Once six points of the new config precede the judged ones, they are the baseline and
    // the old-config points are left out.
    let mut s3 = series(TPUT, &levels(20, &[(49, 1000.0), (11, 1100.0)], 0.01));
    for p in &mut s3.points[49..] {
        p.provenance.config_hash = Some("h2".into());
    }
    let j = judge(&s3, &[], &pre());
    show(&j);
    assert_eq!(j.verdict, Verdict::Ok, "{}", j.explanation);
    assert!((j.baseline.unwrap() - 1100.0).abs() < 20.0);
}

#[test]
fn invalid_points_are_never_judged_nor_baseline() {
    let v = levels(21, &[(60, 1000.0)], 0.01);
    let mut s = series(TPUT, &v);
    for i in [10, 30, 52, 57, 59] {
        s.points[i].valid = false;
        s.points[i].value = 1.0;
        s.points[i].failure_class = Some("invalid_measurement".into());
    }
    let j = judge(&s, &[], &pre());
    show(&j);
    assert_eq!(j.verdict, Verdict::Ok, "{}", j.explanation);
    assert_eq!(
        j.latest,
        Some(s.points[58].value),
        "the newest valid point is judged"
    );
    assert!(j.change_points.is_empty(), "{:?}", j.change_points);
    assert!(
        j.explanation.contains("5 invalid points never used"),
        "{}",
        j.explanation
    );

    // Only invalid points: nothing to judge.
    for p in &mut s.points {
        p.valid = false;
    }
    let j = judge(&s, &[], &pre());
    assert_eq!(j.verdict, Verdict::InsufficientData);
    assert!(
        j.explanation.contains("no valid measurement"),
        "{}",
        j.explanation
    );
}

#[test]
fn latency_lower_is_better_and_gates_only_by_option() {
    let v = levels(22, &[(55, 50.0), (5, 60.0)], 0.01);
    let s = series("mean_ttft", &v);
    assert_eq!(s.direction, Direction::LowerIsBetter);
    let j = judge(&s, &[], &pre());
    show(&j);
    assert_eq!(j.verdict, Verdict::Regression, "TTFT rose 20 %");
    assert!(!j.gating);
    assert!(
        !fails_gate(&j, Stage::PreMerge),
        "latencies are reported, not gating"
    );
    assert!(j.explanation.contains("reported only and does not gate"));
    let mut opts = pre();
    opts.gate_latencies = true;
    let j = judge(&s, &[], &opts);
    assert!(j.gating && fails_gate(&j, Stage::PreMerge));

    let v = levels(22, &[(55, 50.0), (5, 40.0)], 0.01);
    assert_eq!(
        judge(&series("mean_ttft", &v), &[], &pre()).verdict,
        Verdict::Improved
    );
}

#[test]
fn a_breaching_rerun_of_the_same_commit_confirms() {
    let mut v = levels(23, &[(60, 1000.0)], 0.01);
    v[57] = 850.0;
    v[59] = 850.0;
    let mut s = series(TPUT, &v);
    s.points[59].commit = Some("c57".into());
    let j = judge(&s, &[], &pre());
    show(&j);
    assert_eq!(j.verdict, Verdict::Regression);
    assert!(
        j.explanation.contains("a rerun of the same commit (c57"),
        "{}",
        j.explanation
    );
    // A rerun that did not breach leaves it a suspect.
    s.points[57].value = 1000.0;
    assert_eq!(judge(&s, &[], &pre()).verdict, Verdict::Suspect);
}

#[test]
fn now_judges_the_history_as_it_was() {
    let v = levels(24, &[(55, 1000.0), (5, 850.0)], 0.01);
    let s = series(TPUT, &v);
    let mut opts = pre();
    opts.now = Some(s.points[54].time);
    let j = judge(&s, &[], &opts);
    assert_eq!(j.verdict, Verdict::Ok);
    assert_eq!(j.latest, Some(v[54]));
    opts.now = Some(s.points[0].time - Duration::days(1));
    let j = judge(&s, &[], &opts);
    assert_eq!(j.verdict, Verdict::InsufficientData);
    assert!(
        j.explanation.contains("no point at or before 2026-08-31"),
        "{}",
        j.explanation
    );
}

#[test]
fn several_runs_a_day_use_daily_medians() {
    // Three runs a day for 30 days, then a step on the last two days.
    let mut points = Vec::new();
    let v = levels(25, &[(85, 1000.0), (5, 880.0)], 0.01);
    for (i, &x) in v.iter().enumerate() {
        points.push(Point {
            time: t0() + Duration::days((i / 3) as i64) + Duration::hours((i % 3) as i64 * 4),
            value: x,
            commit: Some(format!("c{}", i / 3)),
            commit_time: None,
            run_key: format!("run{i}"),
            valid: true,
            failure_class: None,
            source: "local".into(),
            provenance: prov("h1"),
        });
    }
    let s = Series {
        key: key(TPUT),
        direction: Direction::HigherIsBetter,
        points,
    };
    let j = judge(&s, &[], &pre());
    show(&j);
    assert_eq!(j.verdict, Verdict::Regression);
    assert_eq!(
        j.n, 15,
        "daily medians over the 14 days before the judged points"
    );
    assert!(
        j.explanation.contains("daily medians of"),
        "{}",
        j.explanation
    );
}

#[test]
fn json_carries_the_cli_contract() {
    let s = series(TPUT, &levels(26, &[(57, 1000.0), (3, 880.0)], 0.01));
    let j = judge(&s, &[], &pre());
    let v = serde_json::to_value(&j).unwrap();
    for k in [
        "test_name",
        "network_name",
        "metric",
        "verdict",
        "latest",
        "baseline",
        "threshold_pct",
        "cv_pct",
        "n",
        "change_points",
        "explanation",
    ] {
        assert!(v.get(k).is_some(), "missing {k}");
    }
    assert_eq!(v["verdict"], "regression");
    let cp = &v["change_points"][0];
    for k in ["start_time", "commit", "delta_pct", "p_value"] {
        assert!(cp.get(k).is_some(), "change point misses {k}");
    }
    // And the change points helper agrees with the judgement.
    assert_eq!(
        series_change_points(&s, &Default::default()),
        j.change_points
    );
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            8 => 0.0f64..2000.0,
            1 => Just(0.0),
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
            1 => -100.0f64..0.0,
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// Any series (unsorted times, NaN, zeros, negatives, invalid points, mixed setups,
        /// acceptances anywhere) gives a verdict with an explanation, never a panic.
        #[test]
        fn any_series_gets_an_explained_verdict(
            pts in proptest::collection::vec((value(), 0i64..60, any::<bool>(), 0u8..3, 0u8..4), 0..80),
            since in proptest::option::of(0i64..70),
            judged in 1usize..8,
            stage_pre in any::<bool>(),
        ) {
            let s = Series {
                key: key(TPUT),
                direction: Direction::HigherIsBetter,
                points: pts
                    .iter()
                    .enumerate()
                    .map(|(i, &(v, day, valid, hash, commit))| Point {
                        time: t0() + Duration::days(day),
                        value: v,
                        commit: Some(format!("c{commit}")),
                        commit_time: None,
                        run_key: format!("run{i}"),
                        valid,
                        failure_class: None,
                        source: "local".into(),
                        provenance: prov(&format!("h{hash}")),
                    })
                    .collect(),
            };
            let acc: Vec<Acceptance> = since
                .map(|d| accept(TPUT, t0() + Duration::days(d)))
                .into_iter()
                .collect();
            let mut opts = if stage_pre { pre() } else { post() };
            opts.judged_points = judged;
            let j = judge(&s, &acc, &opts);
            prop_assert!(!j.explanation.is_empty());
            prop_assert!(j.explanation.ends_with('.'), "{}", j.explanation);
            prop_assert!(j.threshold_pct.is_finite());
            if let Some(cv) = j.cv_pct {
                prop_assert!(cv.is_finite() && cv >= 0.0);
            }
            prop_assert!(serde_json::to_string(&j).is_ok());
        }
    }
}
