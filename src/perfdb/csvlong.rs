//! A small, tolerant reader of the long-format `perf_script_test_results.csv` (reference §7.2:
//! one metric per row). Columns are found by header name, so extra columns (`device_subtype`,
//! `raw_result`, `turtle_case_name`, …) and missing optional ones are fine. Rows are streamed
//! one at a time; a field may be arbitrarily large (the legacy parser raises Python's field
//! limit to 1 GB because the file "may be up to 450MB", §9.1). Bytes that are not UTF-8 are
//! replaced rather than aborting the upload.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use crate::results::long_csv::LongCsvReader;

use crate::error::UserError;

/// One data row as the uploader uses it; absent columns read as "".
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

/// The long-format reader of the results stage (`results::long_csv`), with the uploader's
/// view of each row. One reader of the format serves the writer's round trip and the upload.
pub struct LongCsv {
    inner: LongCsvReader<File>,
    has_total_time: bool,
}

fn sentence(e: impl std::fmt::Display) -> UserError {
    let t = e.to_string();
    let t = t.trim_end();
    UserError(if t.ends_with(['.', '?', '!']) {
        t.to_string()
    } else {
        format!("{t}.")
    })
}

impl LongCsv {
    /// Open the file and check that it is the long format (needs `network_name`,
    /// `metric_type` and `perf_metric` columns, §9.2 step 3).
    pub fn open(path: &Path) -> Result<LongCsv, UserError> {
        let inner = LongCsvReader::open(path).map_err(sentence)?;
        let has_total_time = inner.has_column("total_time__sec");
        Ok(LongCsv {
            inner,
            has_total_time,
        })
    }

    /// Whether the file has a `total_time__sec` column.
    pub fn has_total_time(&self) -> bool {
        self.has_total_time
    }

    /// The next row, `Ok(None)` at the end, `Err` on a CSV syntax error (with its line).
    pub fn next_row(&mut self) -> Result<Option<LongRow>, UserError> {
        let Some(r) = self.inner.next().transpose().map_err(sentence)? else {
            return Ok(None);
        };
        let turtle = r
            .extra
            .iter()
            .find(|(k, _)| k == "turtle_case_name")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        Ok(Some(LongRow {
            line: r.line,
            network_name: r.network_name,
            sm_clk: r.sm_clk,
            mem_clk: r.mem_clk,
            test_name: r.test_name,
            perf_metric: r.perf_metric,
            total_time_sec: r.total_time_sec,
            has_total_time: self.has_total_time,
            start_timestamp: r.start_timestamp,
            end_timestamp: r.end_timestamp,
            state: r.state,
            command: r.command,
            metric_type: r.metric_type,
            raw_result: r.raw_result.unwrap_or_default(),
            turtle_case_name: turtle,
        }))
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
    use std::path::PathBuf;

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
