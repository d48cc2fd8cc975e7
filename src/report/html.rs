//! `report.html`, `report.css` and `report.json`, written atomically side by side.
//!
//! The page renders fully under Jenkins' default Content-Security-Policy for archived files
//! (`sandbox; default-src 'none'; img-src 'self'; style-src 'self';`): no JavaScript, no
//! `<style>` element, no `style=` attribute, no `data:` URI. The styling is the sibling
//! `report.css` (allowed by `style-src 'self'`); the charts are inline SVG whose colours are
//! presentation attributes; collapsing uses `<details>`. Every text that comes from the inputs
//! is HTML-escaped. The page carries the same policy in a `<meta>` element (without `sandbox`,
//! which a `<meta>` cannot carry), so every browser that opens it enforces what Jenkins
//! enforces: a violation shows on a laptop too, not first in CI.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::model::{
    CaseEntry, CaseRun, ClientEntry, HistoryEntry, ReportData, RunEntry, verdict_rank,
};
use super::svg;
use crate::history::{Direction, Series};
use crate::judge::{Judgement, Verdict};

/// The policy in the page's `<meta http-equiv="Content-Security-Policy">`: Jenkins' default
/// for archived files minus `sandbox` (not allowed in a `<meta>`).
pub const CSP_META: &str = "default-src 'none'; img-src 'self'; style-src 'self';";

/// Metrics drawn against concurrency (the rest are in the tables and in report.json).
pub const CONCURRENCY_METRICS: [&str; 5] = [
    "token_throughput",
    "user_throughput",
    "mean_ttft",
    "mean_tpot",
    "p99_e2el",
];

/// Up to this many cases, every chart group is open; above, groups are collapsed (except
/// history groups with a regression or a suspect) so the page stays quick to open.
pub const OPEN_LIMIT: usize = 12;

/// Metrics of the comparison table and the per-client headline.
const HEADLINE: [&str; 6] = [
    "token_throughput",
    "total_token_throughput",
    "user_throughput",
    "mean_ttft",
    "mean_tpot",
    "p99_e2el",
];

/// The files `write` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub html: PathBuf,
    pub css: PathBuf,
    pub json: PathBuf,
}

impl Written {
    pub fn all(&self) -> [&PathBuf; 3] {
        [&self.html, &self.css, &self.json]
    }
}

/// The stylesheet (written as `report.css` next to the page).
pub const CSS: &str = include_str!("report.css");

/// Write `report.html`, `report.css` and `report.json` into `dir` (created if missing), each
/// atomically.
pub fn write(dir: &Path, data: &ReportData) -> Result<Written> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the report directory {}", dir.display()))?;
    let html = render(data)?;
    // Compact: with history it holds every point of every series (a 100-case run with 90-day
    // series is ~10 MB); `jq .` pretty-prints it.
    let mut json = serde_json::to_vec(data).context("cannot serialise report.json")?;
    json.push(b'\n');
    let w = Written {
        html: dir.join("report.html"),
        css: dir.join("report.css"),
        json: dir.join("report.json"),
    };
    for (path, bytes) in [
        (&w.json, json.as_slice()),
        (&w.css, CSS.as_bytes()),
        (&w.html, html.as_bytes()),
    ] {
        crate::fsutil::write_atomic(path, bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(w)
}

/// The report of one finished run into its `results/` (called by the run's finalize):
/// `results/report.html`, `report.css`, `report.json`. `series`/`judgements` may be empty.
pub fn write_for_run(
    run_dir: &Path,
    series: &[Series],
    judgements: &[Judgement],
) -> Result<Written> {
    let data = ReportData::from_runs(&[run_dir.to_path_buf()], series, judgements)?;
    write(&run_dir.join("results"), &data)
}

/// HTML-escape text (element content and attribute values).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn opt(s: &Option<String>) -> String {
    s.as_deref().map(esc).unwrap_or_else(|| "—".into())
}

fn run_label(i: usize, r: &RunEntry, n: usize) -> String {
    if n == 1 {
        r.run_id.clone()
    } else {
        format!("{} {}", (b'A' + (i % 26) as u8) as char, r.run_id)
    }
}

fn num(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn unit_of<'a>(d: &'a ReportData, metric: &str) -> &'a str {
    d.units.get(metric).map(String::as_str).unwrap_or("")
}

/// Render the page.
pub fn render(d: &ReportData) -> Result<String> {
    // A ReportData may come from a report.json written elsewhere: check the shape once so
    // the drawing below can index runs by position.
    if d.runs.is_empty() {
        anyhow::bail!("the report has no run to show");
    }
    if let Some(c) = d.cases.iter().find(|c| c.runs.len() != d.runs.len()) {
        anyhow::bail!(
            "the report data is inconsistent: case {} has {} run slot(s) for {} run(s)",
            crate::error::escape_for_message(&c.test_id),
            c.runs.len(),
            d.runs.len()
        );
    }
    let mut h = String::with_capacity(64 * 1024);
    let labels: Vec<String> = d
        .runs
        .iter()
        .enumerate()
        .map(|(i, r)| run_label(i, r, d.runs.len()))
        .collect();
    let title = match d.runs.len() {
        1 => format!("perf-run report: {}", d.runs[0].run_id),
        n => format!("perf-run report: {n} runs compared"),
    };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CSP_META}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<link rel=\"stylesheet\" href=\"report.css\">\n</head>\n<body>\n",
        esc(&title)
    );
    header(&mut h, d, &labels, &title);
    status_table(&mut h, d, &labels);
    if d.provenance_diff.is_some() {
        comparison(&mut h, d, &labels);
    }
    pareto(&mut h, d, &labels)?;
    concurrency(&mut h, d, &labels)?;
    if let Some(hist) = &d.history {
        history(&mut h, d, &hist.entries)?;
    }
    details(&mut h, d, &labels);
    let _ = writeln!(
        h,
        "<footer><p>Written by {} at {}. The same data is in <a href=\"report.json\">report.json</a> (schema {} version {}).</p></footer>\n</body>\n</html>",
        esc(&d.generator),
        d.generated_at.format("%Y-%m-%d %H:%M UTC"),
        esc(&d.schema),
        d.version
    );
    Ok(h)
}

fn header(h: &mut String, d: &ReportData, labels: &[String], title: &str) {
    let _ = writeln!(h, "<header>\n<h1>{}</h1>", esc(title));
    // The one-line answer first.
    let mut t = super::model::Totals::default();
    for r in &d.runs {
        t.cases += r.totals.cases;
        t.passed += r.totals.passed;
        t.failed += r.totals.failed;
        t.invalid += r.totals.invalid;
        t.skipped += r.totals.skipped + r.totals.not_run;
    }
    let verdicts: Vec<&Judgement> = d.cases.iter().flat_map(|c| c.verdicts.iter()).collect();
    let regressions = verdicts
        .iter()
        .filter(|j| j.verdict == Verdict::Regression)
        .count();
    let suspects = verdicts
        .iter()
        .filter(|j| j.verdict == Verdict::Suspect)
        .count();
    let overall = if t.failed > 0 || regressions > 0 {
        "bad"
    } else if t.invalid > 0 || suspects > 0 {
        "warn"
    } else {
        "good"
    };
    let mut line = format!(
        "{} case result(s): {} passed, {} failed, {} invalid, {} skipped or not run.",
        t.cases, t.passed, t.failed, t.invalid, t.skipped
    );
    if d.history.is_some() {
        let _ = write!(
            line,
            " Verdicts: {} regression(s), {} suspect(s) over {} judged series.",
            regressions,
            suspects,
            verdicts.len()
        );
    }
    let _ = writeln!(h, "<p class=\"lede {overall}\">{}</p>", esc(&line));
    h.push_str("<table class=\"runs\">\n<thead><tr><th>run</th><th>started</th><th>finished</th><th>cluster / host</th><th>GPU</th><th>nodes</th><th>TensorRT-LLM</th><th>commit</th><th>image</th><th>cases</th></tr></thead>\n<tbody>\n");
    for (i, r) in d.runs.iter().enumerate() {
        let gpu = match (&r.gpu, r.host_gpu_count) {
            (Some(g), Some(n)) => format!("{n} × {}", esc(g)),
            (Some(g), None) => esc(g),
            (None, Some(n)) => format!("{n} GPUs"),
            (None, None) => "—".into(),
        };
        let run_cell = match r
            .build_url
            .as_deref()
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        {
            Some(u) => format!("<a href=\"{}\">{}</a>", esc(u), esc(&labels[i])),
            None => esc(&labels[i]),
        };
        let where_ = match (&r.cluster, &r.hostname) {
            (Some(c), Some(hn)) => format!("{} / {}", esc(c), esc(hn)),
            (Some(c), None) => esc(c),
            (None, Some(hn)) => esc(hn),
            _ => "—".into(),
        };
        let t = &r.totals;
        let _ = writeln!(
            h,
            "<tr><td class=\"run\"><span class=\"swatch\"><svg width=\"10\" height=\"10\"><rect width=\"10\" height=\"10\" fill=\"{}\"/></svg></span> {run_cell}<br><span class=\"path\">{}</span></td><td>{}</td><td>{}</td><td>{where_}</td><td>{gpu}</td><td>{}</td><td>{}{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td>{} passed, {} failed, {} invalid, {} skipped</td></tr>",
            svg::run_colour_hex(i),
            esc(&r.dir),
            r.started
                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_else(|| "—".into()),
            r.finished
                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_else(|| "—".into()),
            opt(&r.nodes),
            opt(&r.trtllm_version),
            r.trtllm_branch
                .as_deref()
                .map(|b| format!(" ({})", esc(b)))
                .unwrap_or_default(),
            opt(&r
                .trtllm_commit
                .as_ref()
                .map(|c| c.chars().take(12).collect())),
            opt(&r.container_image),
            t.passed,
            t.failed,
            t.invalid,
            t.skipped + t.not_run
        );
    }
    h.push_str("</tbody>\n</table>\n");
    if !d.notes.is_empty() {
        h.push_str("<ul class=\"notes\">\n");
        for n in &d.notes {
            let _ = writeln!(h, "<li>{}</li>", esc(n));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("</header>\n");
}

fn validity_text(cr: &CaseRun) -> (String, &'static str) {
    let n = cr.clients.len();
    let valid = cr.clients.iter().filter(|c| c.valid()).count();
    if n == 0 {
        ("no client".into(), "muted")
    } else if valid == n {
        (format!("{valid}/{n} valid"), "good")
    } else {
        (format!("{valid}/{n} valid"), "bad")
    }
}

fn verdict_cell(c: &CaseEntry, history: bool) -> String {
    let Some(worst) = c.verdicts.first() else {
        return if history {
            "<span class=\"muted\">no history</span>".into()
        } else {
            "<span class=\"muted\">not judged</span>".into()
        };
    };
    let mut s = format!(
        "<span class=\"verdict v-{}\">{}</span> {}",
        worst.verdict.as_str(),
        worst.verdict.as_str().replace('_', " "),
        esc(&worst.metric)
    );
    if let Some(dp) = worst.delta_pct {
        let _ = write!(s, " {dp:+.1} %");
    }
    let _ = write!(
        s,
        " <span class=\"muted\">(threshold {:.1} %)</span>",
        worst.threshold_pct
    );
    s.push_str("<details><summary>why</summary><ul class=\"why\">");
    for j in &c.verdicts {
        let _ = write!(
            s,
            "<li><span class=\"verdict v-{}\">{}</span> {}{}: {}</li>",
            j.verdict.as_str(),
            j.verdict.as_str().replace('_', " "),
            esc(&j.metric),
            if j.gating { "" } else { " (not gating)" },
            esc(&j.explanation)
        );
    }
    s.push_str("</ul></details>");
    s
}

fn status_table(h: &mut String, d: &ReportData, labels: &[String]) {
    h.push_str(
        "<section id=\"cases\">\n<h2>Cases</h2>\n<table class=\"cases\">\n<thead><tr><th>case</th>",
    );
    for l in labels {
        if d.runs.len() > 1 {
            let _ = write!(h, "<th>{}</th>", esc(l));
        } else {
            h.push_str("<th>status</th><th>failure class</th><th>validity</th>");
        }
    }
    h.push_str("<th>verdict</th></tr></thead>\n<tbody>\n");
    // Worst first: failed and regressions on top, where a tired eye starts.
    let mut order: Vec<&CaseEntry> = d.cases.iter().collect();
    order.sort_by_key(|c| {
        let worst_status = c
            .runs
            .iter()
            .flatten()
            .map(|r| status_rank(&r.status))
            .min()
            .unwrap_or(9);
        let worst_verdict = c
            .verdicts
            .first()
            .map(|j| verdict_rank(j.verdict))
            .unwrap_or(9);
        worst_status.min(worst_verdict.saturating_add(1))
    });
    for c in order {
        let _ = write!(
            h,
            "<tr><td class=\"case\"><a href=\"#{}\">{}</a><br><span class=\"muted\">{}</span></td>",
            anchor(&c.test_id),
            esc(display_name(c)),
            esc(&c.mode)
        );
        for cr in &c.runs {
            match cr {
                None => {
                    if d.runs.len() > 1 {
                        h.push_str("<td class=\"muted\">not in this run</td>");
                    } else {
                        h.push_str("<td></td><td></td><td></td>");
                    }
                }
                Some(cr) => {
                    let (v, vc) = validity_text(cr);
                    let reasons = reasons_html(cr);
                    let class = cr.failure_class.as_deref().map(esc).unwrap_or_default();
                    if d.runs.len() > 1 {
                        let _ = write!(
                            h,
                            "<td><span class=\"status st-{}\">{}</span> {} <span class=\"{vc}\">{v}</span>{reasons}</td>",
                            css_token(&cr.status),
                            esc(&cr.status),
                            class,
                        );
                    } else {
                        let _ = write!(
                            h,
                            "<td><span class=\"status st-{}\">{}</span>{reasons}</td><td>{}</td><td class=\"{vc}\">{v}</td>",
                            css_token(&cr.status),
                            esc(&cr.status),
                            if class.is_empty() {
                                "—".into()
                            } else {
                                class
                            },
                        );
                    }
                }
            }
        }
        let _ = writeln!(h, "<td>{}</td></tr>", verdict_cell(c, d.history.is_some()));
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
}

fn reasons_html(cr: &CaseRun) -> String {
    if cr.reasons.is_empty() && cr.warnings.is_empty() {
        return String::new();
    }
    let mut s = String::from("<ul class=\"reasons\">");
    for r in cr.reasons.iter().take(5) {
        let _ = write!(s, "<li>{}</li>", esc(r));
    }
    if cr.reasons.len() > 5 {
        let _ = write!(
            s,
            "<li>… and {} more in report.json</li>",
            cr.reasons.len() - 5
        );
    }
    for w in cr.warnings.iter().take(3) {
        let _ = write!(s, "<li class=\"warn\">warning: {}</li>", esc(w));
    }
    s.push_str("</ul>");
    s
}

fn status_rank(s: &str) -> u8 {
    match s {
        "failed" => 0,
        "invalid" => 2,
        "not_run" => 3,
        "skipped" => 5,
        _ => 8,
    }
}

fn css_token(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// A stable, safe fragment id for a test id.
fn anchor(test_id: &str) -> String {
    use sha2::{Digest, Sha256};
    format!(
        "case-{}",
        &hex::encode(Sha256::digest(test_id.as_bytes()))[..12]
    )
}

fn display_name(c: &CaseEntry) -> &str {
    if c.case_name.is_empty() {
        &c.test_id
    } else {
        &c.case_name
    }
}

fn comparison(h: &mut String, d: &ReportData, labels: &[String]) {
    let Some(p) = &d.provenance_diff else { return };
    let _ = write!(
        h,
        "<section id=\"compare\">\n<h2>Comparison</h2>\n<p class=\"lede {}\">{}</p>\n<table class=\"prov\">\n<thead><tr><th></th>",
        if p.fair { "good" } else { "bad" },
        esc(&p.verdict)
    );
    for l in labels {
        let _ = write!(h, "<th>{}</th>", esc(l));
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    let mut unrecorded = Vec::new();
    for r in &p.rows {
        if r.values.iter().all(Option::is_none) {
            unrecorded.push(r.field.as_str());
            continue;
        }
        let class = match (r.differs, r.must_match) {
            (true, true) => " class=\"differs unfair\"",
            (true, false) => " class=\"differs\"",
            _ => "",
        };
        let _ = write!(h, "<tr{class}><th>{}</th>", esc(&r.field));
        for v in &r.values {
            let _ = write!(h, "<td class=\"mono\">{}</td>", opt(v));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody>\n</table>\n");
    if !unrecorded.is_empty() {
        let _ = writeln!(
            h,
            "<p class=\"muted\">Not recorded by any run, so not compared: {}.</p>",
            esc(&unrecorded.join(", "))
        );
    }
    if p.common_cases == 0 {
        h.push_str("</section>\n");
        return;
    }
    // The numbers of the common cases: one row per client, one column per headline metric.
    let last = labels.len() - 1;
    let metrics: Vec<&str> = HEADLINE
        .into_iter()
        .filter(|m| {
            d.cases
                .iter()
                .flat_map(|c| c.runs.iter().flatten())
                .flat_map(|r| r.clients.iter())
                .any(|cl| cl.metric(m).is_some())
        })
        .collect();
    let _ = write!(
        h,
        "<h3>Numbers: {} against {}</h3>\n<p class=\"muted\">Each cell: the value of every run in order, then the change of the last run against the first, green when better and red when worse by more than 5 %. Only valid clients are compared.</p>\n<div class=\"scroll\"><table class=\"numbers\">\n<thead><tr><th>case / client</th>",
        esc(&labels[last]),
        esc(&labels[0])
    );
    for m in &metrics {
        let _ = write!(
            h,
            "<th>{}<br><span class=\"muted\">{}</span></th>",
            esc(m),
            esc(unit_of(d, m))
        );
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    for c in d
        .cases
        .iter()
        .filter(|c| c.runs.iter().all(Option::is_some))
    {
        let runs: Vec<&CaseRun> = c.runs.iter().flatten().collect();
        let mut seen = BTreeSet::new();
        for cl in runs.iter().flat_map(|r| r.clients.iter()) {
            if !seen.insert(cl.label()) {
                continue;
            }
            let matched: Vec<Option<&ClientEntry>> = runs
                .iter()
                .map(|r| r.clients.iter().find(|x| x.label() == cl.label()))
                .collect();
            let _ = write!(
                h,
                "<tr><td>{} <span class=\"muted\">{}{}</span></td>",
                esc(display_name(c)),
                esc(&cl.label()),
                cl.concurrency
                    .map(|x| format!(" · con {x}"))
                    .unwrap_or_default()
            );
            for m in &metrics {
                let vals: Vec<Option<f64>> = matched
                    .iter()
                    .map(|x| x.filter(|x| x.valid()).and_then(|x| x.metric(m)))
                    .collect();
                let delta = match (vals[0], vals[last]) {
                    (Some(a), Some(b)) if a != 0.0 => Some((b - a) / a.abs() * 100.0),
                    _ => None,
                };
                let class = delta
                    .map(|dp| {
                        let better = match Direction::of_metric(m) {
                            Direction::HigherIsBetter => dp,
                            Direction::LowerIsBetter => -dp,
                        };
                        if better > 5.0 {
                            "better"
                        } else if better < -5.0 {
                            "worse"
                        } else {
                            "same"
                        }
                    })
                    .unwrap_or("muted");
                let values = vals
                    .iter()
                    .map(|v| v.map(num).unwrap_or_else(|| "—".into()))
                    .collect::<Vec<_>>()
                    .join(" → ");
                let _ = write!(
                    h,
                    "<td class=\"num\">{values}<br><span class=\"delta {class}\">{}</span></td>",
                    delta
                        .map(|x| format!("{x:+.1} %"))
                        .unwrap_or_else(|| "—".into())
                );
            }
            h.push_str("</tr>\n");
        }
    }
    h.push_str("</tbody>\n</table></div>\n</section>\n");
}

fn pareto(h: &mut String, d: &ReportData, labels: &[String]) -> Result<()> {
    h.push_str(
        "<section id=\"pareto\">\n<h2>Pareto: throughput per GPU against interactivity</h2>\n",
    );
    if d.pareto.is_empty() {
        h.push_str("<p class=\"muted\">No client has both output token throughput and mean TPOT with a known GPU count, so there is no Pareto chart.</p>\n</section>\n");
        return Ok(());
    }
    h.push_str("<p class=\"muted\">y: output tokens/s divided by the GPUs of the case; x: tokens/s per user = 1000 / mean TPOT (ms). One chart per GPU count. Lines join each run's frontier (valid points no other valid point beats on both axes); red crosses are invalid measurements.</p>\n<div class=\"charts\">\n");
    for g in &d.pareto {
        let s = svg::csp_clean(svg::pareto(g, labels)?)?;
        let _ = writeln!(h, "<figure class=\"wide\">{s}</figure>");
    }
    h.push_str("</div>\n</section>\n");
    Ok(())
}

fn concurrency(h: &mut String, d: &ReportData, labels: &[String]) -> Result<()> {
    let mut body = String::new();
    let small = d.cases.len() <= OPEN_LIMIT;
    for c in &d.cases {
        let mut figs = String::new();
        for m in CONCURRENCY_METRICS {
            let mut lines = Vec::new();
            let mut n_points = 0;
            for (ri, cr) in c.runs.iter().enumerate() {
                let Some(cr) = cr else { continue };
                let points: Vec<(f64, f64, bool)> = cr
                    .clients
                    .iter()
                    .filter_map(|cl| Some((cl.concurrency? as f64, cl.metric(m)?, cl.valid())))
                    .collect();
                if points.is_empty() {
                    continue;
                }
                n_points += points.len();
                lines.push(svg::RunLine {
                    run: ri,
                    label: labels[ri].clone(),
                    points,
                });
            }
            // One point of one run is a number, not a chart: the tables show it.
            if n_points < 2 {
                continue;
            }
            let unit = unit_of(d, m);
            let s = svg::csp_clean(svg::metric_vs_concurrency(m, unit, &lines)?)?;
            let _ = write!(figs, "<figure>{s}</figure>");
        }
        if !figs.is_empty() {
            let _ = writeln!(
                body,
                "<details class=\"group\"{}><summary><h3>{}</h3></summary>\n<div class=\"charts\">{figs}</div>\n</details>",
                if small { " open" } else { "" },
                esc(display_name(c))
            );
        }
    }
    if !body.is_empty() {
        h.push_str("<section id=\"concurrency\">\n<h2>Metrics against concurrency</h2>\n<p class=\"muted\">One line per run through its valid points; red crosses are invalid measurements. Every other metric is in the case tables below and in report.json.</p>\n");
        h.push_str(&body);
        h.push_str("</section>\n");
    }
    Ok(())
}

fn history(h: &mut String, d: &ReportData, entries: &[HistoryEntry]) -> Result<()> {
    h.push_str("<section id=\"history\">\n<h2>History</h2>\n");
    let orphans: Vec<&Judgement> = match &d.history {
        Some(_) => {
            let with_case: BTreeSet<_> = d
                .cases
                .iter()
                .flat_map(|c| c.verdicts.iter().map(|j| j.key()))
                .collect();
            entries
                .iter()
                .filter_map(|e| e.judgement.as_ref())
                .filter(|j| !with_case.contains(&j.key()))
                .collect()
        }
        None => vec![],
    };
    if entries.is_empty() {
        h.push_str("<p class=\"muted\">No history was found for these cases (no earlier measurement of the same test, metric, GPU and cluster). The verdicts appear once a few runs have been recorded.</p>\n</section>\n");
        return Ok(());
    }
    h.push_str("<p class=\"muted\">Each series: valid points joined by a line, invalid points as red crosses (kept, never judged), the baseline median as a dashed line over its window, the threshold band in yellow, change points as purple dashed lines with their size.</p>\n");
    // One collapsible group per case: open when the report is small, or when the group holds
    // a regression or a suspect (what the reader came for).
    let mut groups: Vec<(Option<&str>, Vec<&HistoryEntry>)> = Vec::new();
    for e in entries {
        match groups.last_mut() {
            Some((t, v)) if *t == e.test_id.as_deref() => v.push(e),
            _ => groups.push((e.test_id.as_deref(), vec![e])),
        }
    }
    let small = groups.len() <= OPEN_LIMIT;
    for (test_id, group) in &groups {
        let title = match test_id {
            Some(t) => d.case(t).map(display_name).unwrap_or(t).to_string(),
            None => "Series of no case in these runs".to_string(),
        };
        let worst = group
            .iter()
            .filter_map(|e| e.judgement.as_ref())
            .min_by_key(|j| verdict_rank(j.verdict));
        let alarming =
            worst.is_some_and(|j| matches!(j.verdict, Verdict::Regression | Verdict::Suspect));
        let _ = writeln!(
            h,
            "<details class=\"group\"{}><summary><h3>{}</h3> <span class=\"muted\">{} series</span>{}</summary>\n<div class=\"charts\">",
            if small || alarming { " open" } else { "" },
            esc(&title),
            group.len(),
            worst
                .map(|j| format!(
                    " <span class=\"verdict v-{}\">{}</span>",
                    j.verdict.as_str(),
                    j.verdict.as_str().replace('_', " ")
                ))
                .unwrap_or_default()
        );
        for e in group {
            let unit = unit_of(d, &e.series.key.metric);
            // The title names the client: the series name without the case's part.
            let name = &e.series.key.network_name;
            let short = e
                .test_id
                .as_deref()
                .and_then(|t| d.case(t))
                .map(|c| name.replacen(&format!("perf_sanity[{}-", c.case_name), "[", 1))
                .unwrap_or_else(|| name.clone());
            let title = format!("{} — {short}", e.series.key.metric);
            let s = svg::csp_clean(svg::history(e, &title, unit)?)?;
            let caption = match &e.judgement {
                Some(j) => format!(
                    "<span class=\"verdict v-{}\">{}</span> {}",
                    j.verdict.as_str(),
                    j.verdict.as_str().replace('_', " "),
                    esc(&j.explanation)
                ),
                None => format!("{} point(s), not judged.", e.series.points.len()),
            };
            let _ = writeln!(
                h,
                "<figure class=\"wide\">{s}<figcaption>{} · {} × {} · {}<br>{caption}</figcaption></figure>",
                esc(&e.series.key.metric),
                e.series.key.gpu_count,
                esc(&e.series.key.gpu_type),
                esc(&e.series.key.cluster),
            );
        }
        h.push_str("</div>\n</details>\n");
    }
    if !orphans.is_empty() {
        let _ = writeln!(
            h,
            "<p class=\"muted\">{} verdict(s) above belong to series of no case in these runs.</p>",
            orphans.len()
        );
    }
    h.push_str("</section>\n");
    Ok(())
}

fn details(h: &mut String, d: &ReportData, labels: &[String]) {
    h.push_str("<section id=\"details\">\n<h2>Case details</h2>\n");
    for c in &d.cases {
        let _ = writeln!(
            h,
            "<details id=\"{}\"><summary><span class=\"mono\">{}</span></summary>",
            anchor(&c.test_id),
            esc(&c.test_id)
        );
        for (ri, cr) in c.runs.iter().enumerate() {
            let Some(cr) = cr else { continue };
            let facts = [
                cr.gpu_count.map(|g| {
                    format!(
                        "{g} GPUs{}",
                        match cr.gpu_count_source.as_deref() {
                            Some("host") => " (the host's GPU list)",
                            _ => "",
                        }
                    )
                }),
                cr.nodes.map(|n| format!("{n} node(s)")),
                cr.config_name.as_ref().map(|n| format!("config {n}")),
                cr.config_hash
                    .as_ref()
                    .map(|x| format!("sha256 {}", &x[..x.len().min(12)])),
            ];
            let facts: Vec<String> = facts.into_iter().flatten().collect();
            let _ = writeln!(
                h,
                "<h4>{} — <span class=\"status st-{}\">{}</span> <span class=\"muted\">{}</span></h4>",
                esc(&labels[ri]),
                css_token(&cr.status),
                esc(&cr.status),
                esc(&facts.join(" · "))
            );
            if cr.clients.is_empty() {
                h.push_str("<p class=\"muted\">No client reported numbers.</p>\n");
                continue;
            }
            // Every metric any client has, in first-seen order.
            let mut metrics: Vec<&str> = Vec::new();
            for cl in &cr.clients {
                for m in &cl.metrics {
                    if !metrics.contains(&m.name.as_str()) {
                        metrics.push(&m.name);
                    }
                }
            }
            h.push_str("<div class=\"scroll\"><table class=\"clients\">\n<thead><tr><th>client</th><th>validity</th><th>conc.</th><th>ISL/OSL</th>");
            for m in &metrics {
                let _ = write!(
                    h,
                    "<th>{}<br><span class=\"muted\">{}</span></th>",
                    esc(m),
                    esc(unit_of(d, m))
                );
            }
            h.push_str("</tr></thead>\n<tbody>\n");
            for cl in &cr.clients {
                let _ = write!(
                    h,
                    "<tr><td class=\"mono\">{}</td><td class=\"{}\">{}{}</td><td class=\"num\">{}</td><td class=\"num\">{}/{}</td>",
                    esc(&cl.label()),
                    if cl.valid() { "good" } else { "bad" },
                    esc(&cl.validity),
                    if cl.reasons.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "<ul class=\"reasons\">{}</ul>",
                            cl.reasons
                                .iter()
                                .map(|r| format!("<li>{}</li>", esc(r)))
                                .collect::<String>()
                        )
                    },
                    cl.concurrency
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "—".into()),
                    cl.isl.map(|c| c.to_string()).unwrap_or_else(|| "—".into()),
                    cl.osl.map(|c| c.to_string()).unwrap_or_else(|| "—".into()),
                );
                for m in &metrics {
                    let v = cl
                        .metrics
                        .iter()
                        .find(|x| x.name == *m)
                        .map(|x| x.value.map(num).unwrap_or_else(|| "NaN".into()))
                        .unwrap_or_else(|| "—".into());
                    let _ = write!(h, "<td class=\"num\">{v}</td>");
                }
                h.push_str("</tr>\n");
            }
            h.push_str("</tbody>\n</table></div>\n");
        }
        h.push_str("</details>\n");
    }
    h.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
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
}
