use super::*;

#[test]
fn escapes_everything_that_could_open_markup() {
    assert_eq!(
        esc("<script>alert('x')</script> & \"q\""),
        "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
    );
    assert_eq!(esc("a\u{0}b"), "a\u{fffd}b");
}

#[test]
fn inconsistent_data_is_an_error_not_a_panic() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("summary.json"),
        r#"{"schema": "perf-run.summary", "version": 1, "cases": [{"test_id": "t", "status": "passed"}]}"#,
    )
    .unwrap();
    let mut data = ReportData::from_runs(&[d.path().to_path_buf()], &[], &[]).unwrap();
    assert!(render(&data).is_ok());
    data.cases[0].runs.push(None);
    assert!(
        render(&data)
            .unwrap_err()
            .to_string()
            .contains("inconsistent")
    );
    data.runs.clear();
    assert!(render(&data).is_err());
}

#[test]
fn the_stylesheet_is_plain_css() {
    assert!(!CSS.contains("url("), "no external or data: resources");
    assert!(!CSS.contains("@import"));
}
