use crate::judge::model::ChangePoint;
use chrono::{DateTime, Utc};

pub(super) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

pub(super) fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// A value with as many digits as a reader needs: 1346, 12.3, 1.23, 0.123.
pub(crate) fn value(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

pub(super) fn trim_num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

pub(super) fn signed_pct(d: f64) -> String {
    if d < 0.0 {
        format!("−{:.1} %", -d)
    } else {
        format!("+{d:.1} %")
    }
}

pub(super) fn p_text(p: f64) -> String {
    if p <= 0.0 {
        "≈ 0".to_string()
    } else if p >= 0.001 {
        format!("{p:.3}")
    } else {
        format!("{p:.0e}")
    }
}

pub(crate) fn short_hash(h: &str) -> String {
    if h.len() > 12 && h.is_ascii() {
        h[..12].to_string()
    } else {
        h.to_string()
    }
}

pub(super) fn commit_range(c: &ChangePoint) -> String {
    match (&c.previous_commit, &c.commit) {
        (Some(a), Some(b)) if a == b => format!("commit {}", short_hash(b)),
        (Some(a), Some(b)) => format!("commits {}..{}", short_hash(a), short_hash(b)),
        (None, Some(b)) => format!("up to commit {}", short_hash(b)),
        (Some(a), None) => format!("after commit {}", short_hash(a)),
        (None, None) => "commit unknown".to_string(),
    }
}
