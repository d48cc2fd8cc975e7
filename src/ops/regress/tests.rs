use super::*;

#[test]
fn since_accepts_dates_times_and_zones() {
    assert_eq!(
        parse_since("2026-11-20").unwrap().to_rfc3339(),
        "2026-11-20T00:00:00+00:00"
    );
    assert_eq!(
        parse_since("2026-11-20 08:30:00").unwrap().to_rfc3339(),
        "2026-11-20T08:30:00+00:00"
    );
    assert_eq!(
        parse_since("2026-11-20T08:30:00+01:00")
            .unwrap()
            .to_rfc3339(),
        "2026-11-20T07:30:00+00:00"
    );
    let e = parse_since("last tuesday").unwrap_err();
    assert!(
        e.0.starts_with("--since `last tuesday` is not a time"),
        "{e}"
    );
}
