//! The report's charts, drawn with plotters' SVG backend into strings that are inlined into
//! `report.html`.
//!
//! Jenkins' default Content-Security-Policy blocks `style=` attributes and `data:` URIs but
//! allows SVG presentation attributes (`fill=`, `stroke=`, `font-size=`…). plotters-svg 0.3.7
//! writes only presentation attributes; the one element that would write a `data:` URI
//! (`blit_bitmap`, behind its `image` feature) is neither enabled nor used. [`csp_clean`] still
//! checks every chart, and the tests fail on any `style=`.

use crate::report::ReportError;

type Result<T> = std::result::Result<T, ReportError>;
use chrono::{DateTime, Utc};
use plotters::prelude::*;

use super::model::{HistoryEntry, ParetoGroup};
use crate::history::Direction;

#[cfg(test)]
mod tests;

/// One colour per run (colour-blind friendly: Okabe–Ito), repeated after eight runs.
pub const RUN_COLOURS: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(230, 159, 0),
    RGBColor(0, 0, 0),
    RGBColor(240, 228, 66),
];

const INVALID: RGBColor = RGBColor(200, 0, 0);
const GRID: RGBColor = RGBColor(215, 215, 215);
const BAND: RGBColor = RGBColor(255, 214, 102);
const CHANGE: RGBColor = RGBColor(120, 60, 160);
const FONT: &str = "sans-serif";

pub fn run_colour(run: usize) -> RGBColor {
    RUN_COLOURS[run % RUN_COLOURS.len()]
}

/// `#rrggbb` of a run's colour, for the legend in the HTML (a presentation attribute).
pub fn run_colour_hex(run: usize) -> String {
    let c = run_colour(run);
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

fn err<E: std::fmt::Debug>(e: E) -> ReportError {
    ReportError::Draw {
        what: format!("{e:?}"),
    }
}

/// `[lo, hi]` of `values` with some room around it; never empty, never NaN.
fn span(values: impl Iterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < f64::EPSILON * hi.abs().max(1.0) {
        let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        return (lo - d, hi + d);
    }
    let d = (hi - lo) * pad;
    (lo - d, hi + d)
}

/// A number for an axis label: 3 significant digits, thousands as k.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.3}M", v / 1e6)
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
            .replace(".M", "M")
    } else if a >= 1e5 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// The Pareto chart of one GPU count: every point of every run, the frontier of each run as
/// a line, invalid points as red crosses.
pub fn pareto(group: &ParetoGroup, run_labels: &[String]) -> Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (640, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let xs = span(group.points.iter().map(|p| p.tokens_per_s_per_user), 0.08);
        let ys = span(
            group.points.iter().map(|p| p.output_tokens_per_s_per_gpu),
            0.08,
        );
        let (x0, y0) = (xs.0.max(0.0), ys.0.max(0.0));
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "Pareto: output tokens/s per GPU vs tokens/s per user ({} GPU{})",
                    group.gpu_count,
                    if group.gpu_count == 1 { "" } else { "s" }
                ),
                (FONT, 16),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..xs.1, y0..ys.1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .x_desc("tokens/s/user (1000 / mean TPOT)")
            .y_desc(format!("output tokens/s/GPU ({} GPUs)", group.gpu_count))
            .x_label_formatter(&|v| fmt_num(*v))
            .y_label_formatter(&|v| fmt_num(*v))
            .label_style((FONT, 12))
            .draw()
            .map_err(err)?;
        let mut runs: Vec<usize> = group.points.iter().map(|p| p.run).collect();
        runs.sort_unstable();
        runs.dedup();
        for run in runs {
            let colour = run_colour(run);
            let mut frontier: Vec<(f64, f64)> = group
                .points
                .iter()
                .filter(|p| p.run == run && p.on_frontier)
                .map(|p| (p.tokens_per_s_per_user, p.output_tokens_per_s_per_gpu))
                .collect();
            frontier.sort_by(|a, b| a.0.total_cmp(&b.0));
            let label = run_labels
                .get(run)
                .cloned()
                .unwrap_or_else(|| format!("run {}", run + 1));
            chart
                .draw_series(LineSeries::new(frontier, colour.stroke_width(2)))
                .map_err(err)?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2))
                });
            chart
                .draw_series(
                    group
                        .points
                        .iter()
                        .filter(|p| p.run == run && p.valid)
                        .map(|p| {
                            Circle::new(
                                (p.tokens_per_s_per_user, p.output_tokens_per_s_per_gpu),
                                4,
                                colour.filled(),
                            )
                        }),
                )
                .map_err(err)?;
            chart
                .draw_series(
                    group
                        .points
                        .iter()
                        .filter(|p| p.run == run && !p.valid)
                        .map(|p| {
                            Cross::new(
                                (p.tokens_per_s_per_user, p.output_tokens_per_s_per_gpu),
                                5,
                                INVALID.stroke_width(2),
                            )
                        }),
                )
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.9))
            .border_style(GRID)
            .label_font((FONT, 12))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(out)
}

/// One line of a metric-against-concurrency chart: a run's points, `(concurrency, value,
/// valid)`.
pub struct RunLine {
    pub run: usize,
    pub label: String,
    pub points: Vec<(f64, f64, bool)>,
}

/// A metric against concurrency, one line per run. A log2 concurrency axis when the
/// concurrencies span a factor of 8 or more.
pub fn metric_vs_concurrency(title: &str, y_desc: &str, lines: &[RunLine]) -> Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (430, 280)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let all = || lines.iter().flat_map(|l| l.points.iter());
        let (cmin, cmax) = all()
            .filter(|p| p.0 > 0.0)
            .fold((f64::INFINITY, 0f64), |(lo, hi), p| {
                (lo.min(p.0), hi.max(p.0))
            });
        let log = cmin.is_finite() && cmax / cmin >= 8.0;
        let tx = |c: f64| if log { c.max(1e-9).log2() } else { c };
        let (xa, xb) = if log {
            (tx(cmin).floor() - 0.3, tx(cmax).ceil() + 0.3)
        } else {
            span(all().map(|p| p.0), 0.1)
        };
        let ys = span(all().map(|p| p.1), 0.1);
        let y0 = if ys.0 > 0.0 && ys.0 < (ys.1 - ys.0) {
            0.0
        } else {
            ys.0
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 14))
            .margin(8)
            .x_label_area_size(34)
            .y_label_area_size(56)
            .build_cartesian_2d(xa..xb, y0..ys.1)
            .map_err(err)?;
        let ticks = if log {
            ((xb - xa).round() as usize + 1).clamp(2, 14)
        } else {
            8
        };
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .x_labels(ticks)
            .x_desc(if log {
                "concurrency (log scale)"
            } else {
                "concurrency"
            })
            .y_desc(y_desc)
            .x_label_formatter(&|v| {
                if log {
                    let c = 2f64.powf(*v);
                    if (v - v.round()).abs() < 1e-6 {
                        fmt_num(c.round())
                    } else {
                        String::new()
                    }
                } else {
                    fmt_num(*v)
                }
            })
            .y_label_formatter(&|v| fmt_num(*v))
            .label_style((FONT, 11))
            .draw()
            .map_err(err)?;
        for line in lines {
            let colour = run_colour(line.run);
            let mut pts: Vec<(f64, f64)> = line
                .points
                .iter()
                .filter(|p| p.2)
                .map(|p| (tx(p.0), p.1))
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            let label = line.label.clone();
            chart
                .draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))
                .map_err(err)?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2))
                });
            chart
                .draw_series(pts.iter().map(|p| Circle::new(*p, 3, colour.filled())))
                .map_err(err)?;
            chart
                .draw_series(
                    line.points
                        .iter()
                        .filter(|p| !p.2)
                        .map(|p| Cross::new((tx(p.0), p.1), 5, INVALID.stroke_width(2))),
                )
                .map_err(err)?;
        }
        if lines.len() > 1 {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.9))
                .border_style(GRID)
                .label_font((FONT, 11))
                .position(SeriesLabelPosition::UpperLeft)
                .draw()
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(out)
}

fn ts(t: &DateTime<Utc>) -> f64 {
    t.timestamp() as f64
}

/// The history of one series: valid points joined by a line, invalid points as red crosses,
/// the baseline median as a dashed line over its window, the threshold as a band around it
/// (the side that fails is the band's far edge), change points as vertical lines.
pub fn history(entry: &HistoryEntry, title: &str, unit: &str) -> Result<String> {
    let s = &entry.series;
    let j = entry.judgement.as_ref();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (640, 260)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let band = j.and_then(|j| {
            j.baseline.map(|b| {
                (
                    b,
                    b * (1.0 - j.threshold_pct / 100.0),
                    b * (1.0 + j.threshold_pct / 100.0),
                )
            })
        });
        let mut ys: Vec<f64> = s.points.iter().map(|p| p.value).collect();
        if let Some((_, lo, hi)) = band {
            ys.extend([lo, hi]);
        }
        let (ya, yb) = span(ys.into_iter(), 0.08);
        let (xa, xb) = span(s.points.iter().map(|p| ts(&p.time)), 0.03);
        let title: String = if title.chars().count() > 90 {
            let mut t: String = title.chars().take(89).collect();
            t.push('…');
            t
        } else {
            title.to_string()
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 13))
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(xa..xb, ya..yb)
            .map_err(err)?;
        let days = (xb - xa) / 86_400.0;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .x_labels(8)
            .y_labels(6)
            .y_desc(unit)
            .x_label_formatter(&|v| {
                DateTime::<Utc>::from_timestamp(*v as i64, 0)
                    .map(|t| {
                        if days > 2.0 {
                            t.format("%m-%d").to_string()
                        } else {
                            t.format("%m-%d %H:%M").to_string()
                        }
                    })
                    .unwrap_or_default()
            })
            .y_label_formatter(&|v| fmt_num(*v))
            .label_style((FONT, 11))
            .draw()
            .map_err(err)?;
        if let (Some(j), Some((b, lo, hi))) = (j, band) {
            let from = j.baseline_from.as_ref().map(ts).unwrap_or(xa).max(xa);
            let to = xb;
            // The threshold band: inside it is "no change".
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(from, lo), (to, hi)],
                    BAND.mix(0.35).filled(),
                )))
                .map_err(err)?
                .label(format!("threshold ±{:.1} %", j.threshold_pct))
                .legend(|(x, y)| {
                    Rectangle::new([(x, y - 4), (x + 16, y + 4)], BAND.mix(0.6).filled())
                });
            let bl_to = j.baseline_to.as_ref().map(ts).unwrap_or(xb).min(xb);
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(from, b), (bl_to.max(from), b)],
                    6,
                    4,
                    BLACK.stroke_width(2),
                ))
                .map_err(err)?
                .label(format!("baseline {} (n={})", fmt_num(b), j.n))
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], BLACK.stroke_width(2))
                });
            for cp in &j.change_points {
                let x = ts(&cp.start_time);
                if x < xa || x > xb {
                    continue;
                }
                chart
                    .draw_series(DashedLineSeries::new(
                        vec![(x, ya), (x, yb)],
                        4,
                        3,
                        CHANGE.stroke_width(2),
                    ))
                    .map_err(err)?;
                chart
                    .draw_series(std::iter::once(
                        // Beside the line, not on it; right of it unless too close to the end.
                        EmptyElement::at((x, yb))
                            + Text::new(
                                format!(
                                    "{:+.1} %{}",
                                    cp.delta_pct,
                                    if cp.tentative { " (tentative)" } else { "" }
                                ),
                                (if x > xa + (xb - xa) * 0.8 { -70 } else { 4 }, 2),
                                (FONT, 11).into_font().color(&CHANGE),
                            ),
                    ))
                    .map_err(err)?;
            }
        }
        let valid: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter(|p| p.valid)
            .map(|p| (ts(&p.time), p.value))
            .collect();
        let colour = run_colour(0);
        chart
            .draw_series(LineSeries::new(valid.clone(), colour.stroke_width(1)))
            .map_err(err)?;
        chart
            .draw_series(valid.iter().map(|p| Circle::new(*p, 2, colour.filled())))
            .map_err(err)?
            .label(match s.direction {
                Direction::HigherIsBetter => "valid (higher is better)",
                Direction::LowerIsBetter => "valid (lower is better)",
            })
            .legend(move |(x, y)| Circle::new((x + 8, y), 3, colour.filled()));
        let invalid: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter(|p| !p.valid)
            .map(|p| (ts(&p.time), p.value))
            .collect();
        if !invalid.is_empty() {
            chart
                .draw_series(
                    invalid
                        .iter()
                        .map(|p| Cross::new(*p, 4, INVALID.stroke_width(2))),
                )
                .map_err(err)?
                .label("invalid (not judged)")
                .legend(|(x, y)| Cross::new((x + 8, y), 4, INVALID.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(GRID)
            .label_font((FONT, 10))
            .position(SeriesLabelPosition::LowerLeft)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(out)
}

/// What in `markup` Jenkins' CSP would block, if anything: a `<script>`, `<style>`,
/// `<iframe>`, `<object>` or `<embed>` element, a `style=` or `on…=` event attribute, or a
/// `data:`/`javascript:` URI in an attribute. Only real tags are inspected: escaped text
/// (`&lt;script&gt;`, a test named `x onload=y`) is text and harmless.
pub fn csp_violation(markup: &str) -> Option<String> {
    let mut rest = markup;
    while let Some(i) = rest.find('<') {
        let after = &rest[i + 1..];
        let end = after.find('>').unwrap_or(after.len());
        let tag = after[..end].to_ascii_lowercase();
        rest = &after[end.min(after.len())..];
        let mut tokens = tag.split_whitespace();
        let name = tokens.next().unwrap_or("").trim_start_matches('/');
        if ["script", "style", "iframe", "object", "embed"].contains(&name) {
            return Some(format!("<{name}> element"));
        }
        if name.starts_with('!') {
            continue;
        }
        for t in tokens {
            let attr = t.split('=').next().unwrap_or("");
            if t.contains('=') && (attr == "style" || attr.starts_with("on")) {
                return Some(format!("{attr}= attribute"));
            }
            if t.contains("data:") || t.contains("javascript:") {
                return Some(format!("URI in `{t}`"));
            }
        }
    }
    None
}

/// The chart itself, or an error when plotters wrote something the CSP would block (never
/// expected with plotters-svg 0.3.7; the check keeps an upgrade honest).
pub fn csp_clean(svg: String) -> Result<String> {
    match csp_violation(&svg) {
        None => Ok(svg),
        Some(what) => Err(ReportError::CspViolation { what }),
    }
}
