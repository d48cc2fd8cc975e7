//! A small, tolerant reader of the long-format `perf_script_test_results.csv` (reference §7.2:
//! one metric per row). Columns are found by header name, so extra columns (`device_subtype`,
//! `raw_result`, `turtle_case_name`, …) and missing optional ones are fine. Rows are streamed
//! one at a time; a field may be arbitrarily large (the legacy parser raises Python's field
//! limit to 1 GB because the file "may be up to 450MB", §9.1). Bytes that are not UTF-8 are
//! replaced rather than aborting the upload.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use crate::error::UserError;

/// One data row; absent columns read as "".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LongRow {
    /// 1-based line number in the file (for messages).
    pub line: u64,
    pub network_name: String,
    pub sm_clk: String,
    pub mem_clk: String,
    pub test_name: String,
    pub perf_metric: String,
    pub total_time_sec: String,
    pub has_total_time: bool,
    pub start_timestamp: String,
    pub end_timestamp: String,
    pub state: String,
    pub command: String,
    pub metric_type: String,
    pub raw_result: String,
    pub turtle_case_name: String,
}

#[derive(Debug, Default)]
struct Columns {
    network_name: Option<usize>,
    sm_clk: Option<usize>,
    mem_clk: Option<usize>,
    test_name: Option<usize>,
    perf_metric: Option<usize>,
    total_time_sec: Option<usize>,
    start_timestamp: Option<usize>,
    end_timestamp: Option<usize>,
    state: Option<usize>,
    command: Option<usize>,
    metric_type: Option<usize>,
    raw_result: Option<usize>,
    turtle_case_name: Option<usize>,
}

pub struct LongCsv {
    path: PathBuf,
    reader: csv::Reader<BufReader<File>>,
    cols: Columns,
    record: csv::ByteRecord,
}

impl LongCsv {
    /// Open the file and check that it is the long format (needs `network_name`,
    /// `metric_type` and `perf_metric` columns, §9.2 step 3).
    pub fn open(path: &Path) -> Result<LongCsv, UserError> {
        let file = File::open(path).map_err(|e| {
            UserError(format!(
                "Cannot open the metric CSV {}: {e}.",
                path.display()
            ))
        })?;
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(true)
            .from_reader(BufReader::with_capacity(1 << 20, file));
        let headers = reader
            .byte_headers()
            .map_err(|e| {
                UserError(format!(
                    "Cannot read the header line of the metric CSV {}: {e}.",
                    path.display()
                ))
            })?
            .clone();
        let names: Vec<String> = headers
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let s = String::from_utf8_lossy(h).trim().to_string();
                if i == 0 {
                    s.trim_start_matches('\u{feff}').to_string()
                } else {
                    s
                }
            })
            .collect();
        let find = |n: &str| names.iter().position(|h| h == n);
        let cols = Columns {
            network_name: find("network_name"),
            sm_clk: find("sm_clk"),
            mem_clk: find("mem_clk"),
            test_name: find("test_name"),
            perf_metric: find("perf_metric"),
            total_time_sec: find("total_time__sec"),
            start_timestamp: find("start_timestamp"),
            end_timestamp: find("end_timestamp"),
            state: find("state"),
            command: find("command"),
            metric_type: find("metric_type"),
            raw_result: find("raw_result"),
            turtle_case_name: find("turtle_case_name"),
        };
        let missing: Vec<&str> = [
            ("network_name", cols.network_name),
            ("metric_type", cols.metric_type),
            ("perf_metric", cols.perf_metric),
        ]
        .iter()
        .filter(|(_, c)| c.is_none())
        .map(|(n, _)| *n)
        .collect();
        if !missing.is_empty() {
            let shown: Vec<&str> = names.iter().take(12).map(String::as_str).collect();
            return Err(UserError(format!(
                "The metric CSV {} has no column {}; perf-run needs the long format of perf_script_test_results.csv (one metric per row with network_name, metric_type and perf_metric), but this file's columns are: {}{}.",
                path.display(),
                missing
                    .iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                shown.join(", "),
                if names.len() > shown.len() {
                    ", …"
                } else {
                    ""
                }
            )));
        }
        Ok(LongCsv {
            path: path.to_path_buf(),
            reader,
            cols,
            record: csv::ByteRecord::new(),
        })
    }

    /// Whether the file has a `total_time__sec` column.
    pub fn has_total_time(&self) -> bool {
        self.cols.total_time_sec.is_some()
    }

    /// The next row, `Ok(None)` at the end, `Err` on a CSV syntax error (with its line).
    pub fn next_row(&mut self) -> Result<Option<LongRow>, UserError> {
        match self.reader.read_byte_record(&mut self.record) {
            Ok(false) => Ok(None),
            Ok(true) => {
                let line = self.record.position().map(|p| p.line()).unwrap_or(0);
                let rec = &self.record;
                let get = |c: Option<usize>| -> String {
                    c.and_then(|i| rec.get(i))
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                        .unwrap_or_default()
                };
                let c = &self.cols;
                Ok(Some(LongRow {
                    line,
                    network_name: get(c.network_name),
                    sm_clk: get(c.sm_clk),
                    mem_clk: get(c.mem_clk),
                    test_name: get(c.test_name),
                    perf_metric: get(c.perf_metric),
                    has_total_time: c.total_time_sec.is_some_and(|i| i < rec.len()),
                    total_time_sec: get(c.total_time_sec),
                    start_timestamp: get(c.start_timestamp),
                    end_timestamp: get(c.end_timestamp),
                    state: get(c.state),
                    command: get(c.command),
                    metric_type: get(c.metric_type),
                    raw_result: get(c.raw_result),
                    turtle_case_name: get(c.turtle_case_name),
                }))
            }
            Err(e) => {
                let line = e
                    .position()
                    .map(|p| format!(" near line {}", p.line()))
                    .unwrap_or_default();
                Err(UserError(format!(
                    "The metric CSV {} is not valid CSV{line}: {e}.",
                    self.path.display()
                )))
            }
        }
    }
}

/// The first data row of a plain CSV (session_properties.csv), as column → value.
pub fn first_row(path: &Path) -> Result<Vec<(String, String)>, UserError> {
    let mut rows = read_all(path, 1)?;
    Ok(rows.pop().unwrap_or_default())
}

/// Up to `limit` rows of a plain CSV as column → value pairs (header order kept).
pub fn read_all(path: &Path, limit: usize) -> Result<Vec<Vec<(String, String)>>, UserError> {
    let file =
        File::open(path).map_err(|e| UserError(format!("Cannot open {}: {e}.", path.display())))?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(BufReader::new(file));
    let bad = |e: csv::Error| UserError(format!("{} is not valid CSV: {e}.", path.display()));
    let headers: Vec<String> = reader
        .byte_headers()
        .map_err(bad)?
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let s = String::from_utf8_lossy(h).trim().to_string();
            if i == 0 {
                s.trim_start_matches('\u{feff}').to_string()
            } else {
                s
            }
        })
        .collect();
    let mut out = Vec::new();
    let mut rec = csv::ByteRecord::new();
    while out.len() < limit && reader.read_byte_record(&mut rec).map_err(bad)? {
        out.push(
            headers
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    (
                        h.clone(),
                        rec.get(i)
                            .map(|b| String::from_utf8_lossy(b).into_owned())
                            .unwrap_or_default(),
                    )
                })
                .collect(),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "tests/fixtures/trtllm/results/perf_script_test_results.disagg_sample_truncated.csv",
        )
    }

    #[test]
    fn reads_the_real_fixture() {
        let mut r = LongCsv::open(&fixture()).unwrap();
        let first = r.next_row().unwrap().unwrap();
        assert_eq!(first.line, 2);
        assert_eq!(first.metric_type, "DISAGG_SERVER_TTFT");
        assert_eq!(first.perf_metric, "1122.63");
        assert_eq!(first.total_time_sec, "703.296025");
        assert_eq!(first.sm_clk, "2062");
        assert_eq!(
            first.command,
            "disagg_benchmark --model=deepseek-r1-fp4 --fp4 --concurrency=1075"
        );
        assert!(first.raw_result.is_empty());
        let mut n = 1;
        while r.next_row().unwrap().is_some() {
            n += 1;
        }
        assert_eq!(n, 6);
    }

    #[test]
    fn tolerates_extra_missing_and_huge_columns() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.csv");
        let huge = "y".repeat(3 << 20);
        std::fs::write(
            &p,
            format!(
                "\u{feff}extra,network_name,metric_type,perf_metric,raw_result\n1,net,TYPE,1.5,\"{huge}\"\n2,net2,T2\n"
            ),
        )
        .unwrap();
        let mut r = LongCsv::open(&p).unwrap();
        assert!(!r.has_total_time());
        let a = r.next_row().unwrap().unwrap();
        assert_eq!(a.network_name, "net");
        assert_eq!(a.raw_result.len(), 3 << 20);
        let b = r.next_row().unwrap().unwrap();
        assert_eq!(b.metric_type, "T2");
        assert_eq!(b.perf_metric, "");
        assert!(r.next_row().unwrap().is_none());
    }

    #[test]
    fn wide_format_is_explained() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("wide.csv");
        std::fs::write(&p, "test_name,mean_ttft__ms,throughput__qps\nx,1,2\n").unwrap();
        let err = LongCsv::open(&p).err().unwrap();
        assert!(err.0.contains("long format"), "{}", err.0);
        assert!(err.0.contains("`network_name`"), "{}", err.0);
    }
}
