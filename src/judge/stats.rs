//! Small robust statistics for the verdict engine: median, MAD, the robust coefficient of
//! variation (`1.4826·MAD/median`, peers.md §5.2 step 3) and the two-sample t-test whose
//! p-value accepts a change point (Student's pooled test, as Hunter/Otava use; Welch's for
//! callers who want unequal variances). The t distribution comes from `statrs` (a kept,
//! tested crate) rather than a hand-written incomplete beta function.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// The consistency constant that makes the MAD estimate the standard deviation of normal data.
pub const MAD_TO_SIGMA: f64 = 1.4826;

/// Median of `values` (the mean of the two middle values for an even count); `None` when
/// empty or when any value is not finite.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let mut v = values.to_vec();
    Some(median_in_place(&mut v))
}

/// Median of finite, non-empty `v`, reordering it (no allocation).
fn median_in_place(v: &mut [f64]) -> f64 {
    let n = v.len();
    let mid = n / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *m;
    if n % 2 == 1 {
        upper
    } else {
        // The largest value of the lower half is the other middle value.
        let lower = v[..mid].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lower + upper) / 2.0
    }
}

/// Median absolute deviation from the median (unscaled); `None` when empty or not finite.
pub fn mad(values: &[f64]) -> Option<f64> {
    let med = median(values)?;
    let mut dev: Vec<f64> = values.iter().map(|v| (v - med).abs()).collect();
    Some(median_in_place(&mut dev))
}

/// Robust coefficient of variation in percent: `100·1.4826·MAD/|median|`. `None` when
/// empty, not finite, or the median is 0 (no relative noise can be stated).
pub fn cv_pct(values: &[f64]) -> Option<f64> {
    let med = median(values)?;
    if med == 0.0 {
        return None;
    }
    let mad = mad(values)?;
    Some(100.0 * MAD_TO_SIGMA * mad / med.abs())
}

/// Arithmetic mean; `None` when empty.
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        None
    } else {
        Some(values.iter().sum::<f64>() / values.len() as f64)
    }
}

/// Sample variance (n − 1 in the denominator); `None` for fewer than 2 values.
pub fn variance(values: &[f64]) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    let m = mean(values)?;
    Some(values.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (values.len() - 1) as f64)
}

/// Summary of one side of a two-sample test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub n: usize,
    pub mean: f64,
    /// Sample variance (n − 1); 0 for a single value.
    pub var: f64,
}

impl Sample {
    /// Summarise `values`; `None` when empty.
    pub fn of(values: &[f64]) -> Option<Sample> {
        Some(Sample {
            n: values.len(),
            mean: mean(values)?,
            var: variance(values).unwrap_or(0.0),
        })
    }
}

/// Two-sided p-value of Student's two-sample t-test with pooled variance (the test Hunter
/// and Otava use to accept a change point). 1.0 when there are no degrees of freedom
/// (fewer than 3 values in all); 0.0 when both sides are constant and their means differ.
pub fn student_t_p(a: Sample, b: Sample) -> f64 {
    let df = (a.n + b.n) as f64 - 2.0;
    if a.n == 0 || b.n == 0 || df <= 0.0 {
        return 1.0;
    }
    let pooled = ((a.n as f64 - 1.0) * a.var + (b.n as f64 - 1.0) * b.var) / df;
    let se = (pooled * (1.0 / a.n as f64 + 1.0 / b.n as f64)).sqrt();
    two_sided_p(a.mean - b.mean, se, df)
}

/// Two-sided p-value of Welch's t-test (unequal variances, Welch–Satterthwaite degrees of
/// freedom). 1.0 when either side has fewer than 2 values.
pub fn welch_t_p(a: Sample, b: Sample) -> f64 {
    if a.n < 2 || b.n < 2 {
        return 1.0;
    }
    let va = a.var / a.n as f64;
    let vb = b.var / b.n as f64;
    let se2 = va + vb;
    let df = if se2 > 0.0 {
        se2 * se2 / (va * va / (a.n as f64 - 1.0) + vb * vb / (b.n as f64 - 1.0))
    } else {
        (a.n + b.n) as f64 - 2.0
    };
    two_sided_p(a.mean - b.mean, se2.sqrt(), df)
}

fn two_sided_p(diff: f64, se: f64, df: f64) -> f64 {
    if !diff.is_finite() || !se.is_finite() || !df.is_finite() || df <= 0.0 {
        return 1.0;
    }
    if se == 0.0 {
        return if diff == 0.0 { 1.0 } else { 0.0 };
    }
    let t = (diff / se).abs();
    match StudentsT::new(0.0, 1.0, df) {
        Ok(dist) => (2.0 * dist.sf(t)).clamp(0.0, 1.0),
        Err(_) => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_even_and_bad_input() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[7.0]), Some(7.0));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[1.0, f64::NAN]), None);
    }

    #[test]
    fn mad_and_cv() {
        // Deviations from 3: 2,1,0,1,2 -> MAD 1.
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(mad(&v), Some(1.0));
        let cv = cv_pct(&v).unwrap();
        assert!((cv - 100.0 * 1.4826 / 3.0).abs() < 1e-9, "{cv}");
        assert_eq!(cv_pct(&[0.0, 0.0, 0.0]), None);
        assert_eq!(cv_pct(&[5.0, 5.0, 5.0]), Some(0.0));
    }

    #[test]
    fn student_t_matches_reference_values() {
        // scipy.stats.ttest_ind([1,2,3,4,5],[6,7,8,9,10]) -> t=-5.0, p=0.001052...
        let a = Sample::of(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        let b = Sample::of(&[6.0, 7.0, 8.0, 9.0, 10.0]).unwrap();
        let p = student_t_p(a, b);
        assert!((p - 0.001052825793366).abs() < 1e-9, "{p}");
        // Equal variances and sizes: Welch gives the same t, df 8 too.
        assert!((welch_t_p(a, b) - p).abs() < 1e-9);
        // Same sample: no evidence at all.
        assert!((student_t_p(a, a) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn t_test_edge_cases() {
        let one = Sample::of(&[1.0]).unwrap();
        assert_eq!(student_t_p(one, one), 1.0);
        let c1 = Sample::of(&[1.0, 1.0, 1.0]).unwrap();
        let c2 = Sample::of(&[2.0, 2.0]).unwrap();
        assert_eq!(student_t_p(c1, c2), 0.0);
        assert_eq!(student_t_p(c1, c1), 1.0);
        assert_eq!(welch_t_p(one, c1), 1.0);
    }
}
