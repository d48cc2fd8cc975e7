use super::*;

use crate::history::{Point, Provenance, Series, SeriesKey};
use crate::judge::{ChangePoint, Judgement, Verdict};
use crate::report::model::ParetoPoint;

fn group() -> ParetoGroup {
    let mut points = Vec::new();
    for run in 0..2 {
        for (i, c) in [1u64, 8, 64, 256].iter().enumerate() {
            points.push(ParetoPoint {
                run,
                test_id: "t".into(),
                client: format!("srv/con{c}"),
                concurrency: Some(*c),
                tokens_per_s_per_user: 600.0 / (i as f64 + 1.0),
                output_tokens_per_s_per_gpu: 100.0 * (i as f64 + 1.0) + run as f64 * 10.0,
                valid: i != 3 || run == 0,
                on_frontier: i != 3 || run == 0,
            });
        }
    }
    ParetoGroup {
        gpu_count: 4,
        points,
    }
}

pub(crate) fn entry() -> HistoryEntry {
    let t0 = DateTime::<Utc>::from_timestamp(1_760_000_000, 0).unwrap();
    let points = (0..90)
        .map(|i| Point {
            time: t0 + chrono::Duration::days(i),
            value: if i < 60 { 1000.0 } else { 900.0 } + (i % 7) as f64,
            commit: Some(format!("c{i}")),
            commit_time: None,
            run_key: format!("r{i}"),
            valid: i % 13 != 5,
            failure_class: None,
            source: "local".into(),
            provenance: Provenance::default(),
        })
        .collect::<Vec<_>>();
    let key = SeriesKey {
        test_name: "perf_sanity[<script>alert(1)</script>-srv-con8]_bs:0_con:8".into(),
        network_name: "perf_sanity[<script>alert(1)</script>-srv-con8]_bs:0_con:8".into(),
        metric: "output_token_throughput".into(),
        gpu_type: "GB200".into(),
        gpu_count: 4,
        cluster: "c".into(),
    };
    let j = Judgement {
        test_name: key.test_name.clone(),
        network_name: key.network_name.clone(),
        metric: key.metric.clone(),
        gpu_type: key.gpu_type.clone(),
        gpu_count: 4,
        cluster: "c".into(),
        verdict: Verdict::Regression,
        gating: true,
        latest: Some(903.0),
        baseline: Some(1003.0),
        delta_pct: Some(-10.0),
        threshold_pct: 5.0,
        threshold_source: "post-merge floor 5 %".into(),
        cv_pct: Some(0.5),
        n: 20,
        baseline_from: Some(points[30].time),
        baseline_to: Some(points[59].time),
        change_points: vec![ChangePoint {
            start_time: points[60].time,
            index: 60,
            commit: Some("c60".into()),
            previous_commit: Some("c59".into()),
            delta_pct: -10.0,
            p_value: 1e-6,
            tentative: false,
        }],
        explanation: "fell".into(),
    };
    HistoryEntry {
        test_id: None,
        series: Series {
            key,
            direction: Direction::HigherIsBetter,
            points,
        },
        judgement: Some(j),
    }
}

#[test]
fn charts_use_presentation_attributes_only() {
    let labels = vec!["A".to_string(), "B".to_string()];
    let p = pareto(&group(), &labels).unwrap();
    let lines = vec![
        RunLine {
            run: 0,
            label: "A".into(),
            points: vec![
                (1.0, 10.0, true),
                (64.0, 400.0, true),
                (256.0, 900.0, false),
            ],
        },
        RunLine {
            run: 1,
            label: "B".into(),
            points: vec![(1.0, 11.0, true), (64.0, 390.0, true)],
        },
    ];
    let c = metric_vs_concurrency("token_throughput", "tok/s", &lines).unwrap();
    let h = history(&entry(), "token_throughput <script>", "tok/s").unwrap();
    for svg in [&p, &c, &h] {
        assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
        assert!(!svg.contains("style="), "plotters wrote a style attribute");
        assert_eq!(csp_violation(svg), None);
        // Colours really are presentation attributes.
        assert!(svg.contains("fill=\"#") && svg.contains("stroke=\"#"));
    }
    // The hostile test name in the title is escaped by plotters.
    assert!(!h.contains("<script"), "unescaped title");
    assert!(h.contains("&lt;script"));
    // The invalid points are drawn as red crosses, the change point is labelled.
    assert!(
        h.contains("#C80000") || h.contains("#c80000"),
        "no invalid marker"
    );
    assert!(h.contains("-10.0 %"));
    assert!(p.contains("4 GPUs"));
    assert!(c.contains("log scale"));
}

#[test]
fn the_checker_catches_inline_style() {
    assert_eq!(
        csp_violation(r#"<rect x="1" style="fill:red"/>"#).as_deref(),
        Some("style= attribute")
    );
    assert!(csp_violation(r#"<svg onload="x()">"#).is_some());
    assert!(csp_violation("<SCRIPT>x</SCRIPT>").is_some());
    // Escaped text is not markup.
    assert_eq!(
        csp_violation("<text x=\"1\">&lt;script&gt; a onload=b style=c data:x</text>"),
        None
    );
    assert!(csp_clean("<svg><style>x{}</style></svg>".into()).is_err());
    assert!(csp_clean(r#"<image href="data:png;base64,AAAA"/>"#.into()).is_err());
}

#[test]
fn degenerate_inputs_draw_without_panicking() {
    let g = ParetoGroup {
        gpu_count: 1,
        points: vec![],
    };
    assert!(pareto(&g, &[]).is_ok());
    let one = vec![RunLine {
        run: 0,
        label: "A".into(),
        points: vec![(8.0, 5.0, true)],
    }];
    assert!(metric_vs_concurrency("x", "", &one).is_ok());
    let mut e = entry();
    e.series.points.truncate(1);
    e.judgement = None;
    assert!(history(&e, "t", "").is_ok());
    assert_eq!(fmt_num(12345.0), "12.3k");
    assert_eq!(fmt_num(123456.0), "123k");
    assert_eq!(fmt_num(0.5), "0.500");
    assert_eq!(fmt_num(42.0), "42");
}
