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

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::report::ReportError;

type Result<T> = std::result::Result<T, ReportError>;

use super::model::{
    CaseEntry, CaseRun, ClientEntry, HistoryEntry, ReportData, RunEntry, verdict_rank,
};
use super::svg;
use crate::history::Series;
use crate::judge::{Judgement, Verdict};

mod sections;
use sections::*;
#[cfg(test)]
mod tests;

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
pub const CSS: &str = include_str!("../report.css");

/// Write `report.html`, `report.css` and `report.json` into `dir` (created if missing), each
/// atomically.
pub fn write(dir: &Path, data: &ReportData) -> Result<Written> {
    std::fs::create_dir_all(dir).map_err(|error| ReportError::CreateDir {
        dir: dir.to_path_buf(),
        error,
    })?;
    let html = render(data)?;
    // Compact: with history it holds every point of every series (a 100-case run with 90-day
    // series is ~10 MB); `jq .` pretty-prints it.
    let mut json = serde_json::to_vec(data).map_err(ReportError::Serialise)?;
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
        crate::fsutil::write_atomic(path, bytes).map_err(|error| ReportError::Write {
            path: path.clone(),
            error,
        })?;
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
        return Err(ReportError::NoRunToShow);
    }
    if let Some(c) = d.cases.iter().find(|c| c.runs.len() != d.runs.len()) {
        return Err(ReportError::Inconsistent {
            case: crate::error::escape_for_message(&c.test_id),
            slots: c.runs.len(),
            runs: d.runs.len(),
        });
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
