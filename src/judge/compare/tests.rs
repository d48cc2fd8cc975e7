use super::*;

fn key(test: &str, metric: &str, gpu: &str) -> SeriesKey {
    SeriesKey {
        test_name: test.into(),
        network_name: format!("net-{test}"),
        metric: metric.into(),
        gpu_type: gpu.into(),
        gpu_count: 8,
        cluster: "oci".into(),
    }
}

fn prov(hash: &str, version: &str) -> Provenance {
    Provenance {
        config_hash: Some(hash.into()),
        config_name: Some("cfg".into()),
        container_image: Some("img:1".into()),
        trtllm_version: Some(version.into()),
        nodes: Some(1),
    }
}

fn m(k: SeriesKey, v: f64, valid: bool, p: Provenance) -> RunMeasurement {
    RunMeasurement {
        key: k,
        value: v,
        valid,
        provenance: p,
    }
}

#[test]
fn values_delta_band_and_fairness() {
    let a = RunSide {
        run: "runA".into(),
        measurements: vec![
            m(
                key("c1", "token_throughput", "H100"),
                1000.0,
                true,
                prov("aaa", "1.2"),
            ),
            m(
                key("c1", "mean_ttft", "H100"),
                100.0,
                true,
                prov("aaa", "1.2"),
            ),
            m(
                key("c2", "token_throughput", "H100"),
                500.0,
                true,
                prov("aaa", "1.2"),
            ),
            m(
                key("c3", "token_throughput", "H100"),
                500.0,
                true,
                prov("aaa", "1.2"),
            ),
        ],
    };
    let b = RunSide {
        run: "runB".into(),
        measurements: vec![
            m(
                key("c1", "token_throughput", "H100"),
                880.0,
                true,
                prov("aaa", "1.3"),
            ),
            m(
                key("c1", "mean_ttft", "H100"),
                90.0,
                true,
                prov("aaa", "1.3"),
            ),
            m(
                key("c2", "token_throughput", "H100"),
                510.0,
                true,
                prov("aaa", "1.3"),
            ),
            m(
                key("c3", "token_throughput", "H100"),
                0.0,
                false,
                prov("aaa", "1.3"),
            ),
        ],
    };
    let mut noise = HashMap::new();
    noise.insert(key("c2", "token_throughput", "H100"), 0.5);
    let c = compare_runs(&a, &b, &noise, &CompareOptions::default()).unwrap();
    assert_eq!(c.rows.len(), 4);
    assert!(c.fair, "{}", c.summary);
    let r = &c.rows[0];
    assert_eq!(
        (r.test_name.as_str(), r.metric.as_str()),
        ("c1", "mean_ttft")
    );
    // Latency fell 10 %: better.
    assert_eq!(r.change, Change::Better);
    let r = &c.rows[1];
    assert_eq!(r.value_a, Some(1000.0));
    assert_eq!(r.value_b, Some(880.0));
    assert!((r.delta_pct.unwrap() + 12.0).abs() < 1e-9);
    assert_eq!(r.noise_band_pct, 5.0);
    assert_eq!(r.band_source, "floor");
    assert_eq!(r.change, Change::Worse);
    // Version differs, but that is what is compared: still fair.
    assert!(
        r.provenance_diff
            .iter()
            .any(|d| d.field == "trtllm_version" && !d.breaks_fairness)
    );
    // c2: +2 % with a history cv of 0.5 % (band ±1.5 %) is beyond noise.
    let r = &c.rows[2];
    assert_eq!(r.band_source, "history");
    assert!((r.noise_band_pct - 1.5).abs() < 1e-9);
    assert!(r.beyond_noise);
    assert_eq!(r.change, Change::Better);
    // c3: B invalid.
    let r = &c.rows[3];
    assert_eq!(r.change, Change::NotCompared);
    assert!(
        r.note.contains("run B has no valid measurement"),
        "{}",
        r.note
    );
    assert!(c.summary.contains("1 worse and 2 better"), "{}", c.summary);
    assert!(
        c.summary.contains("trtllm_version 1.2 vs 1.3"),
        "{}",
        c.summary
    );
    assert!(
        c.summary.contains("the comparison is fair"),
        "{}",
        c.summary
    );
    // --json shape.
    let j = serde_json::to_value(&c).unwrap();
    assert_eq!(j["rows"][1]["change"], "worse");
    assert_eq!(j["rows"][1]["noise_band_pct"], 5.0);
}

#[test]
fn another_gpu_or_config_is_unfair_but_paired() {
    let a = RunSide {
        run: "a".into(),
        measurements: vec![m(
            key("c1", "token_throughput", "H100"),
            1000.0,
            true,
            prov("aaa", "1.2"),
        )],
    };
    let b = RunSide {
        run: "b".into(),
        measurements: vec![m(
            key("c1", "token_throughput", "B200"),
            2000.0,
            true,
            prov("bbb", "1.2"),
        )],
    };
    let c = compare_runs(&a, &b, &HashMap::new(), &CompareOptions::default()).unwrap();
    assert_eq!(c.rows.len(), 1);
    assert!(!c.fair);
    let fields: Vec<&str> = c.rows[0]
        .provenance_diff
        .iter()
        .filter(|d| d.breaks_fairness)
        .map(|d| d.field.as_str())
        .collect();
    assert_eq!(fields, vec!["gpu_type", "config_hash"]);
    assert!(
        c.summary.contains("NOT fair: gpu_type, config_hash differ"),
        "{}",
        c.summary
    );
    assert!(
        c.rows[0].note.contains("not a fair comparison"),
        "{}",
        c.rows[0].note
    );
}

#[test]
fn nothing_in_common_is_one_sentence() {
    let a = RunSide {
        run: "a".into(),
        measurements: vec![m(
            key("c1", "token_throughput", "H100"),
            1.0,
            true,
            prov("x", "1"),
        )],
    };
    let b = RunSide {
        run: "b".into(),
        measurements: vec![m(
            key("c9", "token_throughput", "H100"),
            1.0,
            true,
            prov("x", "1"),
        )],
    };
    let e = compare_runs(&a, &b, &HashMap::new(), &CompareOptions::default()).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("Runs a and b have no case and metric in common"),
        "{e}"
    );
    assert!(
        e.to_string().contains("c1 token_throughput")
            && e.to_string().contains("c9 token_throughput"),
        "{e}"
    );
    let empty = RunSide {
        run: "z".into(),
        measurements: vec![],
    };
    let e = compare_runs(&a, &empty, &HashMap::new(), &CompareOptions::default()).unwrap_err();
    assert!(
        e.to_string().starts_with("Run z has no measurements"),
        "{e}"
    );
}

#[test]
fn reruns_in_one_run_use_the_median_of_valid_values() {
    let k = key("c1", "token_throughput", "H100");
    let a = RunSide {
        run: "a".into(),
        measurements: vec![
            m(k.clone(), 100.0, true, prov("x", "1")),
            m(k.clone(), 104.0, true, prov("x", "1")),
            m(k.clone(), 1.0, false, prov("x", "1")),
        ],
    };
    let b = RunSide {
        run: "b".into(),
        measurements: vec![m(k, 102.0, true, prov("x", "1"))],
    };
    let c = compare_runs(&a, &b, &HashMap::new(), &CompareOptions::default()).unwrap();
    assert_eq!(c.rows[0].value_a, Some(102.0));
    assert_eq!(c.rows[0].change, Change::WithinNoise);
    assert!(
        c.summary.contains("same setup and software"),
        "{}",
        c.summary
    );
}
