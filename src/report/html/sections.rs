use super::*;

use crate::history::Direction;
use crate::judge::{Judgement, Verdict};
use std::collections::BTreeSet;

pub(super) fn comparison(h: &mut String, d: &ReportData, labels: &[String]) {
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

pub(super) fn pareto(h: &mut String, d: &ReportData, labels: &[String]) -> Result<()> {
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

pub(super) fn concurrency(h: &mut String, d: &ReportData, labels: &[String]) -> Result<()> {
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

pub(super) fn history(h: &mut String, d: &ReportData, entries: &[HistoryEntry]) -> Result<()> {
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

pub(super) fn details(h: &mut String, d: &ReportData, labels: &[String]) {
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
