use crate::history::Series;
use crate::judge::stats::median;
use chrono::{DateTime, NaiveDate, Utc};

/// One UTC day of baseline points.
pub(super) struct Day {
    pub(super) median: f64,
    pub(super) first: DateTime<Utc>,
    pub(super) last: DateTime<Utc>,
    pub(super) points: usize,
}

pub(super) fn days_of(series: &Series, positions: &[usize], valid: &[usize]) -> Vec<Day> {
    let mut out: Vec<Day> = Vec::new();
    let mut cur: Option<NaiveDate> = None;
    let mut vals: Vec<f64> = Vec::new();
    let mut first = DateTime::<Utc>::MIN_UTC;
    let mut last = first;
    let flush = |vals: &mut Vec<f64>, first, last, out: &mut Vec<Day>| {
        if let Some(m) = median(vals) {
            out.push(Day {
                median: m,
                first,
                last,
                points: vals.len(),
            });
        }
        vals.clear();
    };
    for &pos in positions {
        let p = &series.points[valid[pos]];
        let d = p.time.date_naive();
        if cur != Some(d) {
            flush(&mut vals, first, last, &mut out);
            cur = Some(d);
            first = p.time;
        }
        last = p.time;
        vals.push(p.value);
    }
    flush(&mut vals, first, last, &mut out);
    out
}

pub(super) fn keep_newest(mut days: Vec<Day>, max: usize) -> Vec<Day> {
    if days.len() > max {
        days.drain(..days.len() - max);
    }
    days
}
