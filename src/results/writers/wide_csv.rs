//! `perf_summary.csv`: one row per server × client, for people and spreadsheets. Units are in
//! the column names and mean what they say: request throughput in req/s, token throughputs in
//! tok/s, latencies in ms (the legacy proposal's `throughput__qps` for token throughput is
//! exactly the mistake this avoids). A case without any client still gets one row, so a
//! timeout or a skip is visible.
//!
//! Text cells a spreadsheet would execute (leading `=`, `+`, `-`, `@`, tab or CR) are
//! neutralised with a leading `'`; numbers are written as numbers.

use std::io::{self, Write};
use std::sync::Arc;

use super::num;
use crate::results::model::{CaseResult, CaseStatus, ClientResult, MetricInfo};

pub fn write(w: &mut dyn Write, cases: &[CaseResult]) -> io::Result<()> {
    let mut out = WideCsv::new(w, metric_columns(cases))?;
    for case in cases {
        out.case(case)?;
    }
    out.finish()
}

/// Every metric any client has, in the order first seen (configuration order).
pub fn metric_columns(cases: &[CaseResult]) -> Vec<Arc<MetricInfo>> {
    let mut infos: Vec<Arc<MetricInfo>> = Vec::new();
    for case in cases {
        for client in &case.clients {
            for m in &client.metrics {
                if !infos.iter().any(|i| i.name == m.info.name) {
                    infos.push(m.info.clone());
                }
            }
        }
    }
    infos
}

/// Streaming writer; the metric columns are fixed up front.
pub struct WideCsv<W: Write> {
    out: csv::Writer<W>,
    infos: Vec<Arc<MetricInfo>>,
}

impl<W: Write> WideCsv<W> {
    pub fn new(w: W, infos: Vec<Arc<MetricInfo>>) -> io::Result<Self> {
        let mut out = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(w);
        let mut header: Vec<String> = [
            "test_id",
            "case_name",
            "mode",
            "status",
            "failure_class",
            "server",
            "client",
            "validity",
            "concurrency",
            "iterations",
            "isl",
            "osl",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        header.extend(infos.iter().map(|i| i.column.clone()));
        header.extend(
            [
                "total_requests",
                "successful_requests",
                "failed_requests",
                "total_generated_tokens",
                "reasons",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        out.write_record(&header)?;
        Ok(WideCsv { out, infos })
    }

    pub fn case(&mut self, case: &CaseResult) -> io::Result<()> {
        let class = case.failure_class.map(|c| c.as_str()).unwrap_or("");
        let head = |client: Option<&ClientResult>| -> Vec<String> {
            let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
            vec![
                safe(&case.test_id),
                safe(&case.case_name),
                safe(&case.mode),
                case.status.as_str().to_string(),
                class.to_string(),
                safe(client.map(|c| c.server.as_str()).unwrap_or("")),
                safe(client.map(|c| c.client.as_str()).unwrap_or("")),
                client
                    .map(|c| c.validity.as_str())
                    .unwrap_or("")
                    .to_string(),
                opt(client.and_then(|c| c.concurrency)),
                opt(client.and_then(|c| c.iterations)),
                opt(client.and_then(|c| c.isl)),
                opt(client.and_then(|c| c.osl)),
            ]
        };
        if case.clients.is_empty() {
            let mut rec = head(None);
            rec.extend(self.infos.iter().map(|_| String::new()));
            rec.extend(["", "", "", ""].iter().map(|s| s.to_string()));
            rec.push(safe(&case.reasons.join("; ")));
            self.out.write_record(&rec)?;
            return Ok(());
        }
        for client in &case.clients {
            let mut rec = head(Some(client));
            for info in &self.infos {
                rec.push(client.metric(&info.name).map(num).unwrap_or_default());
            }
            let c = &client.counts;
            for v in [
                c.total_requests,
                c.successful_requests,
                c.failed_requests,
                c.generated_tokens,
            ] {
                rec.push(v.map(|v| v.to_string()).unwrap_or_default());
            }
            // The client's own reasons; a client of a failed case also shows the case's.
            let reasons = if !client.reasons.is_empty() {
                client.reasons.join("; ")
            } else if case.status == CaseStatus::Failed {
                case.reasons.join("; ")
            } else {
                String::new()
            };
            rec.push(safe(&reasons));
            self.out.write_record(&rec)?;
        }
        Ok(())
    }

    pub fn finish(mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> io::Result<W> {
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

/// Neutralise a text cell a spreadsheet would run as a formula (OWASP "CSV injection").
pub fn safe(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised() {
        assert_eq!(safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(safe("+1"), "'+1");
        assert_eq!(safe("-2+3"), "'-2+3");
        assert_eq!(safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(safe("\tx"), "'\tx");
        assert_eq!(safe("aggr_upload-x"), "aggr_upload-x");
        assert_eq!(safe(""), "");
    }
}
