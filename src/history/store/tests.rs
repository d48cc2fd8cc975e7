use super::*;

pub(crate) fn sample_run(key: &str, start: &str, values: &[(&str, &str, f64, bool)]) -> RunRecord {
    let start: DateTime<Utc> = DateTime::parse_from_rfc3339(start).unwrap().into();
    RunRecord {
        run_key: key.into(),
        origin: "test".into(),
        start_time: start,
        commit: Some(format!("c-{key}")),
        gpu_type: "H100".into(),
        gpu_count: 8,
        cluster: "lab".into(),
        test_ids: vec!["t".into()],
        cases: vec![CaseRecord {
            test_id: "t".into(),
            config_hash: Some("abc".into()),
            nodes: Some(1),
            ..Default::default()
        }],
        measurements: values
            .iter()
            .enumerate()
            .map(|(i, (test, metric, v, valid))| Measurement {
                line: i as u64 + 2,
                test_name: test.to_string(),
                network_name: test.to_string(),
                csv_network: test.to_string(),
                metric: metric.to_string(),
                metric_type: metric.to_uppercase(),
                value: Some(*v),
                raw_value: v.to_string(),
                state: if *valid { "valid" } else { "invalid" }.into(),
                valid: *valid,
                failure_class: (!valid).then(|| "invalid_measurement".to_string()),
                case: Some(0),
                gpu_type: "H100".into(),
                gpu_count: 8,
                cluster: "lab".into(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

async fn temp_store() -> (tempfile::TempDir, HistoryStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = HistoryStore::open(&dir.path().join("history.db"))
        .await
        .unwrap();
    (dir, s)
}

#[tokio::test]
async fn record_and_read_series_oldest_first() {
    let (_d, s) = temp_store().await;
    assert!(s.is_empty().await.unwrap());
    s.record(&sample_run(
        "b",
        "2026-11-02T00:00:00Z",
        &[
            ("case1", "token_throughput", 110.0, true),
            ("case1", "mean_ttft", 5.0, false),
        ],
    ))
    .await
    .unwrap();
    s.record(&sample_run(
        "a",
        "2026-11-01T00:00:00Z",
        &[("case1", "token_throughput", 100.0, true)],
    ))
    .await
    .unwrap();
    let all = s.series(&SeriesFilter::default()).await.unwrap();
    assert_eq!(all.len(), 2);
    let tp = all
        .iter()
        .find(|x| x.key.metric == "token_throughput")
        .unwrap();
    assert_eq!(tp.direction, Direction::HigherIsBetter);
    let vals: Vec<f64> = tp.points.iter().map(|p| p.value).collect();
    assert_eq!(vals, vec![100.0, 110.0]);
    assert_eq!(tp.points[0].commit.as_deref(), Some("c-a"));
    assert_eq!(tp.points[0].source, "local");
    assert_eq!(tp.points[0].provenance.config_hash.as_deref(), Some("abc"));
    let ttft = all.iter().find(|x| x.key.metric == "mean_ttft").unwrap();
    assert!(!ttft.points[0].valid);
    assert_eq!(
        ttft.points[0].failure_class.as_deref(),
        Some("invalid_measurement")
    );
    assert_eq!(
        s.metrics().await.unwrap(),
        vec!["mean_ttft", "token_throughput"]
    );
    let only = s
        .series(&SeriesFilter {
            metric: Some("mean_ttft".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(only.len(), 1);
}

#[tokio::test]
async fn recording_again_replaces_the_run() {
    let (_d, s) = temp_store().await;
    let r = sample_run(
        "k",
        "2026-11-01T00:00:00Z",
        &[("c", "token_throughput", 1.0, true)],
    );
    s.record(&r).await.unwrap();
    let mut r2 = r.clone();
    r2.measurements[0].value = Some(2.0);
    s.record(&r2).await.unwrap();
    s.record(&r2).await.unwrap();
    let all = s.series(&SeriesFilter::default()).await.unwrap();
    assert_eq!(all[0].points.len(), 1);
    assert_eq!(all[0].points[0].value, 2.0);
    assert_eq!(s.run_count().await.unwrap(), 1);
}

#[tokio::test]
async fn k_expression_run_filters_and_last_points() {
    let (_d, s) = temp_store().await;
    for (i, day) in ["01", "02", "03"].iter().enumerate() {
        s.record(&sample_run(
            &format!("r{i}"),
            &format!("2026-11-{day}T00:00:00Z"),
            &[
                ("llama_fp8", "token_throughput", i as f64, true),
                ("deepseek", "token_throughput", 10.0 + i as f64, true),
            ],
        ))
        .await
        .unwrap();
    }
    let f = SeriesFilter {
        k_expr: Some(KExpr::parse("llama and not deepseek").unwrap()),
        last_points: Some(2),
        ..Default::default()
    };
    let got = s.series(&f).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].key.test_name, "llama_fp8");
    assert_eq!(
        got[0].points.iter().map(|p| p.value).collect::<Vec<_>>(),
        vec![1.0, 2.0]
    );
    let one = s
        .series(&SeriesFilter {
            run_key: Some("r1".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(one.len(), 2);
    assert!(
        one.iter()
            .all(|x| x.points.len() == 1 && x.points[0].run_key == "r1")
    );
    assert_eq!(s.run_keys().await.unwrap(), vec!["r2", "r1", "r0"]);
    let whole = s
        .series(&SeriesFilter {
            series_of_run: Some("r1".into()),
            k_expr: Some(KExpr::parse("deepseek").unwrap()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(whole.len(), 1);
    assert_eq!(
        whole[0].points.len(),
        3,
        "the whole series of a key r1 measured"
    );
    for f in [
        SeriesFilter {
            run_key: Some("nope".into()),
            ..Default::default()
        },
        SeriesFilter {
            series_of_run: Some("nope".into()),
            ..Default::default()
        },
    ] {
        assert!(s.series(&f).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn acceptances_round_trip() {
    let (_d, s) = temp_store().await;
    let key = SeriesKey {
        test_name: "t".into(),
        network_name: "t".into(),
        metric: "token_throughput".into(),
        gpu_type: "H100".into(),
        gpu_count: 8,
        cluster: "lab".into(),
    };
    let a = Acceptance {
        key: key.clone(),
        since: DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
            .unwrap()
            .into(),
        reason: "new kernel".into(),
        accepted_by: Some("me".into()),
        accepted_at: DateTime::parse_from_rfc3339("2026-11-02T00:00:00Z")
            .unwrap()
            .into(),
    };
    s.accept(&a).await.unwrap();
    assert_eq!(
        s.acceptances(&SeriesFilter::default()).await.unwrap(),
        vec![a]
    );
    let none = s
        .acceptances(&SeriesFilter {
            metric: Some("mean_ttft".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(none.is_empty());
}

#[tokio::test]
async fn foreign_files_are_refused_with_one_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("history.db");
    std::fs::write(&text, "hello, I am a text file\n").unwrap();
    let e = HistoryStore::open(&text).await.unwrap_err().to_string();
    assert!(e.contains("is not a perf-run history"), "{e}");
    assert!(e.contains("not an SQLite database"), "{e}");
    assert!(e.contains(&text.display().to_string()), "{e}");

    let other = dir.path().join("other.db");
    {
        let opts = SqliteConnectOptions::new()
            .filename(&other)
            .create_if_missing(true);
        let pool = SqlitePoolOptions::new().connect_with(opts).await.unwrap();
        sqlx::query("CREATE TABLE runs (id INTEGER PRIMARY KEY, x TEXT)")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    let e = HistoryStore::open(&other).await.unwrap_err().to_string();
    assert!(e.contains("other tables (runs)"), "{e}");

    // A history from a newer perf-run (a migration this one does not know).
    let newer = dir.path().join("newer.db");
    {
        let s = HistoryStore::open(&newer).await.unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) \
             VALUES (9999, 'future', CURRENT_TIMESTAMP, 1, x'00', 0)",
        )
        .execute(&s.pool)
        .await
        .unwrap();
        s.close().await;
    }
    let e = HistoryStore::open(&newer).await.unwrap_err().to_string();
    assert!(
        e.contains("written by a newer perf-run (schema version 9999)"),
        "{e}"
    );

    // A reopened history is fine (migrations are idempotent).
    let ok = dir.path().join("ok.db");
    HistoryStore::open(&ok).await.unwrap().close().await;
    let s = HistoryStore::open(&ok).await.unwrap();
    assert!(s.is_empty().await.unwrap());
}
