//! Reader of the long `perf_script_test_results.csv` (reference §7.2): perf-run's own output
//! and the files the legacy frameworks write (the real disagg sample included). Streaming and
//! tolerant: columns are found by name, missing optional columns read as empty, extra columns
//! (`device_subtype`, `raw_result`, anything newer) are kept, bytes that are not UTF-8 are
//! replaced. Like `trt_perf_parser.py` (§9.1) a single record may be up to 1 GiB; anything
//! larger is refused before it is buffered whole.
//!
//! One row type, [`LongRow`], serves the writer's round trip, perf-run's uploader
//! (`perfdb::plan`) and the history; what only the uploader needs is a method of the row
//! ([`LongRow::turtle_case_name`], [`LongRow::raw_result_or_empty`]) or of the reader
//! ([`LongCsvReader::has_total_time`]).

use std::cell::Cell;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::error::TrtPerfFileError;

/// The largest record accepted (§9.1: the uploader raises `csv.field_size_limit` to 1 GB).
pub const MAX_RECORD: u64 = 1 << 30;

/// One row (one metric).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LongRow {
    /// 1-based line of the record in the file.
    pub line: u64,
    pub network_name: String,
    pub network_hash: String,
    pub sm_clk: String,
    pub mem_clk: String,
    pub gpu_idx: String,
    pub device_subtype: Option<String>,
    pub perf_case_name: String,
    pub test_name: String,
    pub original_test_name: String,
    /// The value as written (the uploader stores it as read).
    pub perf_metric: String,
    pub total_time_sec: String,
    pub start_timestamp: String,
    pub end_timestamp: String,
    /// valid | invalid | failed
    pub state: String,
    pub command: String,
    pub threshold: String,
    pub absolute_threshold: String,
    pub metric_type: String,
    pub raw_result: Option<String>,
    /// Columns this reader does not know, as (name, value).
    pub extra: Vec<(String, String)>,
}

impl LongRow {
    /// `perf_metric` as a finite number, if it is one.
    pub fn value(&self) -> Option<f64> {
        self.perf_metric
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
    }

    /// `raw_result` with the writer's `\n` escapes turned back into line breaks.
    pub fn raw_result_text(&self) -> Option<String> {
        self.raw_result.as_ref().map(|r| r.replace("\\n", "\n"))
    }

    /// `raw_result` as written (escapes kept), `""` when the column is absent: what the
    /// legacy uploader stores as the `log` (reference §9.2 step 5).
    pub fn raw_result_or_empty(&self) -> &str {
        self.raw_result.as_deref().unwrap_or_default()
    }

    /// The `turtle_case_name` column of older test_perf.py files (kept in `extra`), `""` when
    /// absent; the uploader filters some rows by it (§9.2 step 3, `rules::legacy_filtered`).
    pub fn turtle_case_name(&self) -> &str {
        self.extra
            .iter()
            .find(|(k, _)| k == "turtle_case_name")
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }
}

/// The columns `trt_perf_parser.py` cannot do without (§9.2 step 3).
const REQUIRED: [&str; 3] = ["network_name", "perf_metric", "metric_type"];

/// Read the whole file into rows (streaming underneath; memory is the rows themselves).
pub fn read_long_csv(path: &Path) -> Result<Vec<LongRow>, TrtPerfFileError> {
    LongCsvReader::open(path)?.collect()
}

/// Streaming reader: an iterator of rows.
pub struct LongCsvReader<R: Read> {
    path: PathBuf,
    inner: csv::Reader<Limited<R>>,
    index: Vec<Option<Field>>,
    names: Vec<String>,
    record: csv::ByteRecord,
    mark: Rc<Cell<u64>>,
    done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    NetworkName,
    NetworkHash,
    SmClk,
    MemClk,
    GpuIdx,
    DeviceSubtype,
    PerfCaseName,
    TestName,
    OriginalTestName,
    PerfMetric,
    TotalTime,
    Start,
    End,
    State,
    Command,
    Threshold,
    AbsoluteThreshold,
    MetricType,
    RawResult,
}

fn field_of(name: &str) -> Option<Field> {
    Some(match name {
        "network_name" => Field::NetworkName,
        "network_hash" => Field::NetworkHash,
        "sm_clk" => Field::SmClk,
        "mem_clk" => Field::MemClk,
        "gpu_idx" => Field::GpuIdx,
        "device_subtype" => Field::DeviceSubtype,
        "perf_case_name" => Field::PerfCaseName,
        "test_name" => Field::TestName,
        "original_test_name" => Field::OriginalTestName,
        "perf_metric" => Field::PerfMetric,
        "total_time__sec" => Field::TotalTime,
        "start_timestamp" => Field::Start,
        "end_timestamp" => Field::End,
        "state" => Field::State,
        "command" => Field::Command,
        "threshold" => Field::Threshold,
        "absolute_threshold" => Field::AbsoluteThreshold,
        "metric_type" => Field::MetricType,
        "raw_result" => Field::RawResult,
        _ => return None,
    })
}

impl LongCsvReader<File> {
    pub fn open(path: &Path) -> Result<Self, TrtPerfFileError> {
        let file = File::open(path).map_err(|source| TrtPerfFileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        LongCsvReader::new(file, path)
    }
}

impl<R: Read> LongCsvReader<R> {
    /// Whether the header has this column (e.g. `total_time__sec`, which the uploader only
    /// uses when present, reference §9.2 step 5).
    pub fn has_column(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    /// Whether the file has a `total_time__sec` column: the uploader reads `total_time` only
    /// then (§9.2 step 5; a row with the column and an empty value is another matter).
    pub fn has_total_time(&self) -> bool {
        self.has_column("total_time__sec")
    }

    /// Read from any reader; `path` names it in messages.
    pub fn new(input: R, path: &Path) -> Result<Self, TrtPerfFileError> {
        let mark = Rc::new(Cell::new(0u64));
        let limited = Limited::new(input, mark.clone());
        let mut inner = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(false)
            .from_reader(limited);
        let mut header = csv::ByteRecord::new();
        let got = inner
            .read_byte_record(&mut header)
            .map_err(|e| record_error(path, 1, e))?;
        if !got {
            return Err(TrtPerfFileError::Empty {
                path: path.to_path_buf(),
            });
        }
        mark.set(inner.position().byte());
        let names: Vec<String> = header
            .iter()
            .map(|h| {
                String::from_utf8_lossy(h)
                    .trim_start_matches('\u{feff}')
                    .trim()
                    .to_string()
            })
            .collect();
        for column in REQUIRED {
            if !names.iter().any(|n| n == column) {
                return Err(TrtPerfFileError::MissingColumn {
                    path: path.to_path_buf(),
                    column,
                    header: shorten(&names.join(","), 300),
                });
            }
        }
        let index: Vec<Option<Field>> = names.iter().map(|n| field_of(n)).collect();
        // A known column twice: which one is the value? Refused, never "the last one wins"
        // (security review B11).
        for (i, f) in index.iter().enumerate() {
            if f.is_some() && index[..i].contains(f) {
                return Err(TrtPerfFileError::DuplicateColumn {
                    path: path.to_path_buf(),
                    column: shorten(&names[i], 100),
                });
            }
        }
        Ok(LongCsvReader {
            path: path.to_path_buf(),
            inner,
            index,
            names,
            record: csv::ByteRecord::new(),
            mark,
            done: false,
        })
    }

    fn next_row(&mut self) -> Result<Option<LongRow>, TrtPerfFileError> {
        let line = self.inner.position().line();
        let got = self
            .inner
            .read_byte_record(&mut self.record)
            .map_err(|e| record_error(&self.path, line, e))?;
        if !got {
            return Ok(None);
        }
        self.mark.set(self.inner.position().byte());
        let mut row = LongRow {
            line: self.record.position().map(|p| p.line()).unwrap_or(line),
            ..LongRow::default()
        };
        for (i, raw) in self.record.iter().enumerate() {
            let value = String::from_utf8_lossy(raw).into_owned();
            let Some(field) = self.index.get(i).copied() else {
                row.extra.push((format!("column{}", i + 1), value));
                continue;
            };
            let Some(field) = field else {
                row.extra.push((self.names[i].clone(), value));
                continue;
            };
            let slot = match field {
                Field::NetworkName => &mut row.network_name,
                Field::NetworkHash => &mut row.network_hash,
                Field::SmClk => &mut row.sm_clk,
                Field::MemClk => &mut row.mem_clk,
                Field::GpuIdx => &mut row.gpu_idx,
                Field::PerfCaseName => &mut row.perf_case_name,
                Field::TestName => &mut row.test_name,
                Field::OriginalTestName => &mut row.original_test_name,
                Field::PerfMetric => &mut row.perf_metric,
                Field::TotalTime => &mut row.total_time_sec,
                Field::Start => &mut row.start_timestamp,
                Field::End => &mut row.end_timestamp,
                Field::State => &mut row.state,
                Field::Command => &mut row.command,
                Field::Threshold => &mut row.threshold,
                Field::AbsoluteThreshold => &mut row.absolute_threshold,
                Field::MetricType => &mut row.metric_type,
                Field::DeviceSubtype => {
                    row.device_subtype = Some(value);
                    continue;
                }
                Field::RawResult => {
                    row.raw_result = Some(value);
                    continue;
                }
            };
            *slot = value;
        }
        Ok(Some(row))
    }
}

impl<R: Read> Iterator for LongCsvReader<R> {
    type Item = Result<LongRow, TrtPerfFileError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_row() {
            Ok(Some(row)) => Some(Ok(row)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

fn record_error(path: &Path, line: u64, e: csv::Error) -> TrtPerfFileError {
    if let csv::ErrorKind::Io(io) = e.kind()
        && io.kind() == io::ErrorKind::FileTooLarge
    {
        return TrtPerfFileError::TooLarge {
            path: path.to_path_buf(),
            line,
        };
    }
    if let csv::ErrorKind::Io(io) = e.kind()
        && io.kind() == io::ErrorKind::InvalidData
        && let Some(at) = io.to_string().strip_prefix(UNTERMINATED)
    {
        return TrtPerfFileError::UnterminatedQuote {
            path: path.to_path_buf(),
            line: at.trim().parse().unwrap_or(line),
        };
    }
    let line = e.position().map(|p| p.line()).unwrap_or(line);
    TrtPerfFileError::Record {
        path: path.to_path_buf(),
        line,
        message: e.to_string(),
    }
}

fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n).collect();
        t.push('…');
        t
    }
}

/// Fails a read once more than `MAX_RECORD` bytes were read past the start of the current
/// record, so one endless record cannot eat all memory.
struct Limited<R> {
    inner: R,
    read: u64,
    mark: Rc<Cell<u64>>,
    quotes: QuoteState,
    /// 1-based line of the byte being scanned.
    line: u64,
    /// Line where the open quoted field started.
    quote_line: u64,
}

/// Where the scanner is in the CSV grammar (quote `"`, doubled quotes, `,` and CR/LF), so an
/// unterminated quote is reported with its line instead of swallowing the rest of the file
/// (security review B12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QuoteState {
    FieldStart,
    Unquoted,
    Quoted,
    QuoteInQuoted,
}

/// A quoted field that spans more lines than this is an unterminated quote.
pub const MAX_QUOTED_LINES: u64 = 100_000;

/// The message of the I/O error that reports an unterminated quote (`record_error` maps it).
const UNTERMINATED: &str = "unterminated quote";

impl<R> Limited<R> {
    fn new(inner: R, mark: Rc<Cell<u64>>) -> Self {
        Limited {
            inner,
            read: 0,
            mark,
            quotes: QuoteState::FieldStart,
            line: 1,
            quote_line: 0,
        }
    }

    fn unterminated(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{UNTERMINATED} {}", self.quote_line),
        )
    }

    fn scan(&mut self, bytes: &[u8]) -> io::Result<()> {
        use QuoteState::*;
        for &b in bytes {
            self.quotes = match (self.quotes, b) {
                (FieldStart, b'"') => {
                    self.quote_line = self.line;
                    Quoted
                }
                (FieldStart | Unquoted | QuoteInQuoted, b',' | b'\n' | b'\r') => FieldStart,
                (FieldStart | Unquoted, _) => Unquoted,
                (Quoted, b'"') => QuoteInQuoted,
                (Quoted, _) => Quoted,
                (QuoteInQuoted, b'"') => Quoted,
                (QuoteInQuoted, _) => Unquoted,
            };
            if b == b'\n' {
                self.line += 1;
                if self.quotes == Quoted && self.line - self.quote_line > MAX_QUOTED_LINES {
                    return Err(self.unterminated());
                }
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.read.saturating_sub(self.mark.get()) > MAX_RECORD {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                "a CSV record is larger than 1 GiB",
            ));
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        self.scan(&buf[..n])?;
        if n == 0 && self.quotes == QuoteState::Quoted {
            return Err(self.unterminated());
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!(
        "../../tests/fixtures/trtllm/results/perf_script_test_results.disagg_sample_truncated.csv"
    );

    fn read_str(s: &str) -> Result<Vec<LongRow>, TrtPerfFileError> {
        LongCsvReader::new(s.as_bytes(), Path::new("x.csv"))?.collect()
    }

    #[test]
    fn real_sample_parses() {
        let rows = read_str(SAMPLE).expect("sample parses");
        assert_eq!(rows.len(), 6);
        let r = &rows[0];
        assert_eq!(
            r.network_name,
            "test_benchmark[disagg_perf_file:deepseek-r1-fp4_015_8k1k_dep:16_bs:64_mtp:0_ccbackend:UCX]_con:1075"
        );
        assert_eq!(r.sm_clk, "2062");
        assert_eq!(r.mem_clk, "3996");
        assert_eq!(r.perf_metric, "1122.63");
        assert_eq!(r.value(), Some(1122.63));
        assert_eq!(r.total_time_sec, "703.296025");
        assert_eq!(r.start_timestamp, "2025-10-31 00:53:53");
        assert_eq!(r.state, "valid");
        assert_eq!(
            r.command,
            "disagg_benchmark --model=deepseek-r1-fp4 --fp4 --concurrency=1075"
        );
        assert_eq!(r.metric_type, "DISAGG_SERVER_TTFT");
        assert_eq!(r.line, 2);
        assert_eq!(rows[1].metric_type, "DISAGG_SERVER_E2EL");
        assert!(r.extra.is_empty());
    }

    #[test]
    fn the_uploaders_view_of_the_real_fixture() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "tests/fixtures/trtllm/results/perf_script_test_results.disagg_sample_truncated.csv",
        );
        let mut r = LongCsvReader::open(&path).unwrap();
        assert!(r.has_total_time());
        let first = r.next().unwrap().unwrap();
        assert_eq!(first.line, 2);
        assert_eq!(first.total_time_sec, "703.296025");
        assert_eq!(first.raw_result_or_empty(), "");
        assert_eq!(first.turtle_case_name(), "");
        assert_eq!(r.count(), 5);
    }

    #[test]
    fn tolerates_extra_missing_and_huge_columns() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.csv");
        let huge = "y".repeat(3 << 20);
        std::fs::write(
            &p,
            format!(
                "\u{feff}extra,network_name,metric_type,perf_metric,raw_result,turtle_case_name\n1,net,TYPE,1.5,\"{huge}\",t.py::x\n2,net2,T2\n"
            ),
        )
        .unwrap();
        let mut r = LongCsvReader::open(&p).unwrap();
        assert!(!r.has_total_time());
        let a = r.next().unwrap().unwrap();
        assert_eq!(a.network_name, "net");
        assert_eq!(a.raw_result_or_empty().len(), 3 << 20);
        assert_eq!(a.turtle_case_name(), "t.py::x");
        let b = r.next().unwrap().unwrap();
        assert_eq!(b.metric_type, "T2");
        assert_eq!(b.perf_metric, "");
        assert_eq!(b.turtle_case_name(), "");
        assert!(r.next().is_none());
    }

    #[test]
    fn wide_format_is_explained() {
        let err = read_str("test_name,mean_ttft__ms,throughput__qps\nx,1,2\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("long format"), "{err}");
        assert!(err.contains("`network_name`"), "{err}");
    }

    #[test]
    fn missing_required_column_is_explained() {
        let err = read_str("network_name,perf_metric\nx,1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("has no `metric_type` column"), "{err}");
    }

    #[test]
    fn empty_input_is_explained() {
        let err = read_str("").unwrap_err().to_string();
        assert!(err.contains("is empty"), "{err}");
    }

    #[test]
    fn extra_and_newer_columns_and_short_rows_are_tolerated() {
        let text = "\u{feff}network_name,device_subtype,perf_metric,metric_type,raw_result,new_col\n\
                    n,GB200,1.5,TOKEN_THROUGHPUT,a\\nb,z\n\
                    short,row\n";
        let rows = read_str(text).expect("tolerant");
        assert_eq!(rows[0].device_subtype.as_deref(), Some("GB200"));
        assert_eq!(rows[0].raw_result_text().as_deref(), Some("a\nb"));
        assert_eq!(rows[0].extra, [("new_col".to_string(), "z".to_string())]);
        assert_eq!(rows[1].network_name, "short");
        assert_eq!(rows[1].metric_type, "");
    }

    #[test]
    fn non_utf8_is_replaced() {
        let mut bytes = b"network_name,perf_metric,metric_type\n".to_vec();
        bytes.extend_from_slice(b"n\xff,1,X\n");
        let rows: Vec<_> = LongCsvReader::new(&bytes[..], Path::new("x.csv"))
            .expect("header")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(rows[0].network_name, "n\u{FFFD}");
    }

    #[test]
    fn b11_duplicate_known_column_is_refused() {
        let e = read_str("network_name,perf_metric,metric_type,perf_metric\nn,1.0,T,999\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`perf_metric` twice"), "{e}");
        // Unknown columns may repeat.
        assert!(read_str("network_name,perf_metric,metric_type,x,x\nn,1,T,a,b\n").is_ok());
    }

    #[test]
    fn b12_unterminated_quote_names_its_line() {
        let e = read_str("network_name,perf_metric,metric_type\nx,\"x\nmore\nand more\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("never closed"), "{e}");
        let many = format!(
            "network_name,perf_metric,metric_type\nn,1,T\nx,\"x\n{}",
            "y\n".repeat(MAX_QUOTED_LINES as usize + 10)
        );
        let e = read_str(&many).unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("never closed"), "{e}");
        // Quoted fields with commas, doubled quotes and line breaks are fine.
        let ok =
            read_str("network_name,perf_metric,metric_type\n\"a,\"\"b\"\"\nc\",1,T\n").unwrap();
        assert_eq!(ok[0].network_name, "a,\"b\"\nc");
    }
}
