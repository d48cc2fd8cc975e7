//! Change points over a series with E-divisive means and a Student-t significance test: the
//! Hunter / Apache Otava method (Fleming et al., "Hunter: Using Change Point Detection to
//! Hunt for Performance Regressions", ICPE 2023; `apache/otava: otava/analysis.py`,
//! `change_point_divisive/`), with the parameters of peers.md §5.2 layer B.
//!
//! 1. **Split.** Slide a window of `window_len` points (step `window_len/2`) over the series.
//!    Inside each window, recursively split: among the current segments pick the split
//!    `τ` (and segment end `κ`) that maximises the E-divisive statistic
//!    `Q(X,Y) = 2/(m+n)·Σ|Xi−Yj| − 2m/((m+n)(n−1))·Σi<k|Xi−Xk| − 2n/((m+n)(m−1))·Σj<k|Yj−Yk|`
//!    (X = the `n` points before `τ`, Y = the `m` points from `τ` to `κ`, distances to the
//!    power 1), and keep it while a two-sided Student-t test of the two sides gives
//!    p ≤ 10·`max_pvalue` (Otava's relaxed first pass: "weak" change points).
//! 2. **Merge.** Over the whole series, with each change point's sides running to its
//!    neighbours, repeatedly drop the weakest: the largest p above `max_pvalue`, else the
//!    smallest magnitude below `min_magnitude`; recompute the two neighbours after each drop.
//!
//! Deliberate differences from Otava's code, both in the direction of textbook statistics:
//! the t-test uses the sample standard deviation (Otava passes numpy's population `std`),
//! and after a drop the change points on *both* sides of the gap are recomputed.
//!
//! Cost: O(w²) per window evaluation with prefix sums of pairwise distances (the table
//! `P(a,b)` = sum of |xi−xk| over a ≤ i < k < b), so a 90-point series takes microseconds.

use crate::history::Series;
use crate::judge::model::ChangePoint;
use crate::judge::stats::{Sample, student_t_p};

/// The largest window used, whatever `window_len` asks (a window costs O(w²) memory).
pub const MAX_WINDOW: usize = 500;

/// Settings of the change-point detector (peers.md §5.2 layer B).
#[derive(Debug, Clone, PartialEq)]
pub struct ChangePointOptions {
    /// Points per sliding window (Otava's default 50 assumes one point per commit; 30 suits
    /// one to three runs a day). Clamped to 2..=[`MAX_WINDOW`].
    pub window_len: usize,
    /// Significance to accept a change point (two-sided Student-t p-value).
    pub max_pvalue: f64,
    /// Smallest relative change kept, as a fraction (0.02 = 2 %): the larger of
    /// |after/before − 1| and |before/after − 1| of the two sides' means.
    pub min_magnitude: f64,
    /// A change point is tentative until this many points sit on its new level (its own
    /// first point included).
    pub confirm_points: usize,
}

impl Default for ChangePointOptions {
    fn default() -> Self {
        ChangePointOptions {
            window_len: 30,
            max_pvalue: 0.001,
            min_magnitude: 0.02,
            confirm_points: 3,
        }
    }
}

/// A change point found in a plain slice of values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawChangePoint {
    /// Index of the first value of the new level.
    pub index: usize,
    pub p_value: f64,
    pub mean_before: f64,
    pub mean_after: f64,
    /// Sample standard deviations of the two sides.
    pub sd_before: f64,
    pub sd_after: f64,
}

impl RawChangePoint {
    /// after/before − 1, in percent (0 when the mean before is 0).
    pub fn delta_pct(&self) -> f64 {
        if self.mean_before == 0.0 {
            0.0
        } else {
            100.0 * (self.mean_after / self.mean_before - 1.0)
        }
    }

    /// Otava's magnitude: the larger relative change of the two directions, as a fraction.
    pub fn magnitude(&self) -> f64 {
        let f = if self.mean_before == 0.0 {
            0.0
        } else {
            self.mean_after / self.mean_before - 1.0
        };
        let b = if self.mean_after == 0.0 {
            0.0
        } else {
            self.mean_before / self.mean_after - 1.0
        };
        f.abs().max(b.abs())
    }
}

/// Change points of `values` (oldest first), sorted by index. Non-finite values must be
/// removed by the caller; fewer than 3 values never give a change point.
pub fn detect(values: &[f64], opts: &ChangePointOptions) -> Vec<RawChangePoint> {
    if values.len() < 3 || values.iter().any(|v| !v.is_finite()) {
        return Vec::new();
    }
    let first_pass = if opts.max_pvalue < 0.05 {
        opts.max_pvalue * 10.0
    } else if opts.max_pvalue < 0.5 {
        opts.max_pvalue * 2.0
    } else {
        opts.max_pvalue
    };
    let weak = split(values, opts.window_len.clamp(2, MAX_WINDOW), first_pass);
    merge(values, weak, opts.max_pvalue, opts.min_magnitude)
}

/// Change points of a series over its valid, finite points, with times, the commit range and
/// the tentative flag. `index` is the index into `series.points`.
pub fn series_change_points(series: &Series, opts: &ChangePointOptions) -> Vec<ChangePoint> {
    let idx: Vec<usize> = series
        .points
        .iter()
        .enumerate()
        .filter(|(_, p)| p.valid && p.value.is_finite())
        .map(|(i, _)| i)
        .collect();
    change_points_of(series, &idx, opts)
        .into_iter()
        .map(|(_, cp)| cp)
        .collect()
}

/// Change points over the points of `series` named by `idx` (indices into `series.points`,
/// oldest first, valid and finite), each with its position in `idx`. Used by the verdict
/// engine, which has already chosen the points.
pub(crate) fn change_points_of(
    series: &Series,
    idx: &[usize],
    opts: &ChangePointOptions,
) -> Vec<(usize, ChangePoint)> {
    let values: Vec<f64> = idx.iter().map(|&i| series.points[i].value).collect();
    detect(&values, opts)
        .into_iter()
        .filter_map(|cp| {
            let at = *idx.get(cp.index)?;
            let before = cp.index.checked_sub(1).and_then(|b| idx.get(b)).copied();
            let point = &series.points[at];
            Some((
                cp.index,
                ChangePoint {
                    start_time: point.time,
                    index: at,
                    commit: point.commit.clone(),
                    previous_commit: before.and_then(|b| series.points[b].commit.clone()),
                    delta_pct: cp.delta_pct(),
                    p_value: cp.p_value,
                    tentative: values.len() - cp.index < opts.confirm_points,
                },
            ))
        })
        .collect()
}

/// Pairwise-distance prefix table of one window: `P(a,b)` = Σ |x_i − x_k| for a ≤ i < k < b.
struct Within {
    len: usize,
    table: Vec<f64>,
}

impl Within {
    fn new(x: &[f64]) -> Within {
        let len = x.len();
        let w = len + 1;
        let mut table = vec![0.0; w * w];
        for k in 0..len {
            // P(a, k+1) = P(a, k) + Σ_{i=a}^{k-1} |x_i − x_k|, for a from k down to 0.
            let mut acc = 0.0;
            for a in (0..k).rev() {
                acc += (x[a] - x[k]).abs();
                table[a * w + k + 1] = table[a * w + k] + acc;
            }
        }
        Within { len, table }
    }

    fn p(&self, a: usize, b: usize) -> f64 {
        self.table[a * (self.len + 1) + b]
    }

    /// The best split `(τ, q̂)` of the segment `[s, e)` (needs e − s ≥ 2): the first maximum
    /// of Q over s < τ < κ ≤ e, as numpy's argmax in Otava picks it.
    fn best_split(&self, s: usize, e: usize) -> (usize, f64) {
        let mut best = (s + 1, f64::NEG_INFINITY);
        for tau in s + 1..e {
            let n = (tau - s) as f64;
            let within_x = self.p(s, tau);
            for kappa in tau + 1..=e {
                let m = (kappa - tau) as f64;
                let within_y = self.p(tau, kappa);
                let cross = self.p(s, kappa) - within_x - within_y;
                let mut q = 2.0 / (m + n) * cross;
                if n > 1.0 {
                    q -= 2.0 * m / ((m + n) * (n - 1.0)) * within_x;
                }
                if m > 1.0 {
                    q -= 2.0 * n / ((m + n) * (m - 1.0)) * within_y;
                }
                if q > best.1 {
                    best = (tau, q);
                }
            }
        }
        best
    }
}

/// Segments `[start, stop)` between sorted cut indices over `0..len`.
fn segments(cuts: &[usize], len: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for &c in cuts.iter().chain(std::iter::once(&len)) {
        if c > start {
            out.push((start, c));
        }
        start = c;
    }
    out
}

fn test_sides(values: &[f64], left: (usize, usize), right: (usize, usize)) -> RawChangePoint {
    let a = Sample::of(&values[left.0..left.1]);
    let b = Sample::of(&values[right.0..right.1]);
    match (a, b) {
        (Some(a), Some(b)) => RawChangePoint {
            index: right.0,
            p_value: student_t_p(a, b),
            mean_before: a.mean,
            mean_after: b.mean,
            sd_before: a.var.sqrt(),
            sd_after: b.var.sqrt(),
        },
        _ => RawChangePoint {
            index: right.0,
            p_value: 1.0,
            mean_before: 0.0,
            mean_after: 0.0,
            sd_before: 0.0,
            sd_after: 0.0,
        },
    }
}

/// E-divisive with a t-test inside one window (`values` is the window): the accepted cut
/// indices, local to the window, sorted.
fn divide_window(values: &[f64], max_pvalue: f64) -> Vec<usize> {
    let within = Within::new(values);
    let mut cuts: Vec<usize> = Vec::new();
    loop {
        let mut best: Option<(usize, f64, (usize, usize))> = None;
        for (s, e) in segments(&cuts, values.len()) {
            if e - s < 2 {
                continue;
            }
            let (tau, q) = within.best_split(s, e);
            if best.is_none_or(|b| q > b.1) {
                best = Some((tau, q, (s, e)));
            }
        }
        let Some((tau, _, (s, e))) = best else { break };
        let cp = test_sides(values, (s, tau), (tau, e));
        if cp.p_value <= max_pvalue {
            let at = cuts.partition_point(|&c| c < tau);
            cuts.insert(at, tau);
        } else {
            break;
        }
    }
    cuts
}

/// The split step: weak change points from sliding windows, with their statistics over the
/// whole series.
fn split(values: &[f64], window_len: usize, max_pvalue: f64) -> Vec<RawChangePoint> {
    let n = values.len();
    let step = (window_len / 2).max(1);
    let mut cuts: Vec<usize> = Vec::new();
    let mut start = 0;
    while start < n {
        let end = (start + window_len).min(n);
        let local = divide_window(&values[start..end], max_pvalue);
        let last = local.last().map(|&c| c + start).unwrap_or(0);
        for c in local {
            let g = c + start;
            if let Err(at) = cuts.binary_search(&g) {
                cuts.insert(at, g);
            }
        }
        start = last.max(start + step);
    }
    stats_for_all(values, &cuts)
}

fn stats_for_all(values: &[f64], cuts: &[usize]) -> Vec<RawChangePoint> {
    (0..cuts.len()).map(|k| stats_at(values, cuts, k)).collect()
}

/// Statistics of cut `k`: its left side runs from the previous cut, its right side to the next.
fn stats_at(values: &[f64], cuts: &[usize], k: usize) -> RawChangePoint {
    let lo = if k == 0 { 0 } else { cuts[k - 1] };
    let hi = cuts.get(k + 1).copied().unwrap_or(values.len());
    test_sides(values, (lo, cuts[k]), (cuts[k], hi))
}

/// The merge step: drop weak change points until every one left has p ≤ `max_pvalue` and a
/// magnitude ≥ `min_magnitude`.
fn merge(
    values: &[f64],
    mut cps: Vec<RawChangePoint>,
    max_pvalue: f64,
    min_magnitude: f64,
) -> Vec<RawChangePoint> {
    while !cps.is_empty() {
        // The largest p-value (first one on ties).
        let mut weakest = 0;
        for (i, cp) in cps.iter().enumerate() {
            if cp.p_value > cps[weakest].p_value {
                weakest = i;
            }
        }
        if cps[weakest].p_value <= max_pvalue {
            let mut smallest = 0;
            for (i, cp) in cps.iter().enumerate() {
                if cp.magnitude() < cps[smallest].magnitude() {
                    smallest = i;
                }
            }
            if cps[smallest].magnitude() >= min_magnitude {
                break;
            }
            weakest = smallest;
        }
        cps.remove(weakest);
        let cuts: Vec<usize> = cps.iter().map(|c| c.index).collect();
        for k in [weakest.wrapping_sub(1), weakest] {
            if k < cps.len() {
                cps[k] = stats_at(values, &cuts, k);
            }
        }
    }
    cps
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn gauss(rng: &mut StdRng) -> f64 {
        // Box-Muller.
        let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
        let u2: f64 = rng.random();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    fn noisy(rng: &mut StdRng, levels: &[(usize, f64)], cv: f64) -> Vec<f64> {
        let mut v = Vec::new();
        for &(n, level) in levels {
            for _ in 0..n {
                v.push(level * (1.0 + cv * gauss(rng)));
            }
        }
        v
    }

    /// The E-divisive statistic by its definition, for checking the prefix-sum version.
    fn q_naive(x: &[f64], y: &[f64]) -> f64 {
        let (n, m) = (x.len() as f64, y.len() as f64);
        let cross: f64 = x
            .iter()
            .flat_map(|a| y.iter().map(move |b| (a - b).abs()))
            .sum();
        let wx: f64 = (0..x.len())
            .flat_map(|i| (i + 1..x.len()).map(move |k| (x[i] - x[k]).abs()))
            .sum();
        let wy: f64 = (0..y.len())
            .flat_map(|i| (i + 1..y.len()).map(move |k| (y[i] - y[k]).abs()))
            .sum();
        let mut q = 2.0 / (m + n) * cross;
        if n > 1.0 {
            q -= 2.0 * m / ((m + n) * (n - 1.0)) * wx;
        }
        if m > 1.0 {
            q -= 2.0 * n / ((m + n) * (m - 1.0)) * wy;
        }
        q
    }

    #[test]
    fn prefix_sums_match_the_definition() {
        let mut rng = StdRng::seed_from_u64(7);
        let x = noisy(&mut rng, &[(6, 100.0), (7, 90.0)], 0.05);
        let w = Within::new(&x);
        let mut best = (0, f64::NEG_INFINITY);
        for tau in 1..x.len() {
            for kappa in tau + 1..=x.len() {
                let q = q_naive(&x[..tau], &x[tau..kappa]);
                if q > best.1 {
                    best = (tau, q);
                }
            }
        }
        let got = w.best_split(0, x.len());
        assert_eq!(got.0, best.0);
        assert!((got.1 - best.1).abs() < 1e-9 * best.1.abs().max(1.0));
        // A sub-segment too.
        let got = w.best_split(3, 11);
        let mut best = (0, f64::NEG_INFINITY);
        for tau in 4..11 {
            for kappa in tau + 1..=11 {
                let q = q_naive(&x[3..tau], &x[tau..kappa]);
                if q > best.1 {
                    best = (tau, q);
                }
            }
        }
        assert_eq!(got.0, best.0);
        assert!((got.1 - best.1).abs() < 1e-9 * best.1.abs().max(1.0));
    }

    #[test]
    fn finds_a_clean_step_at_its_index() {
        let mut rng = StdRng::seed_from_u64(1);
        let v = noisy(&mut rng, &[(40, 1000.0), (20, 880.0)], 0.02);
        let cps = detect(&v, &ChangePointOptions::default());
        assert_eq!(cps.len(), 1, "{cps:?}");
        assert_eq!(cps[0].index, 40);
        assert!(cps[0].p_value <= 0.001);
        assert!(
            (cps[0].delta_pct() + 12.0).abs() < 2.0,
            "{}",
            cps[0].delta_pct()
        );
    }

    #[test]
    fn finds_two_steps() {
        let mut rng = StdRng::seed_from_u64(2);
        let v = noisy(&mut rng, &[(30, 100.0), (30, 110.0), (30, 95.0)], 0.02);
        let cps = detect(&v, &ChangePointOptions::default());
        let idx: Vec<usize> = cps.iter().map(|c| c.index).collect();
        assert_eq!(idx, vec![30, 60], "{cps:?}");
    }

    #[test]
    fn small_steps_below_the_magnitude_are_dropped() {
        // A 1 % step in almost noiseless data is significant but below the 2 % minimum.
        let mut rng = StdRng::seed_from_u64(3);
        let v = noisy(&mut rng, &[(30, 100.0), (30, 101.0)], 0.001);
        assert!(detect(&v, &ChangePointOptions::default()).is_empty());
        let loose = ChangePointOptions {
            min_magnitude: 0.0,
            ..ChangePointOptions::default()
        };
        let cps = detect(&v, &loose);
        assert_eq!(cps.len(), 1);
        assert_eq!(cps[0].index, 30);
    }

    #[test]
    fn pure_noise_rarely_has_change_points() {
        let mut found = 0;
        for seed in 0..100 {
            let mut rng = StdRng::seed_from_u64(1000 + seed);
            let v = noisy(&mut rng, &[(90, 500.0)], 0.03);
            found += detect(&v, &ChangePointOptions::default()).len();
        }
        assert!(found <= 10, "{found} change points in 100 noise series");
    }

    #[test]
    fn tiny_and_constant_series() {
        let o = ChangePointOptions::default();
        assert!(detect(&[], &o).is_empty());
        assert!(detect(&[1.0, 2.0], &o).is_empty());
        assert!(detect(&[5.0; 40], &o).is_empty());
        assert!(detect(&[1.0, f64::NAN, 3.0], &o).is_empty());
        // Constant levels: an exact step, p = 0.
        let mut v = vec![10.0; 20];
        v.extend([20.0; 10]);
        let cps = detect(&v, &o);
        assert_eq!(cps.len(), 1);
        assert_eq!(cps[0].index, 20);
        assert_eq!(cps[0].p_value, 0.0);
    }
}
