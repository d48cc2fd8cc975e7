//! The five output files. Each writer renders into any `io::Write`; `write_outputs` writes all
//! of them next to each other, atomically: every file goes to a temporary name first and is
//! renamed only when all five were written, so a crash never leaves a half-written CSV that
//! an uploader could pick up.

pub mod junit_out;
pub mod long_csv;
pub mod session;
pub mod summary;
pub mod wide_csv;

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use std::sync::Arc;

use super::model::{CaseResult, MetricInfo, RunInfo, WrittenFiles};

/// Why the outputs could not be written: one sentence naming the file, the I/O error as its
/// cause. Always the machine's trouble (exit 4): the results are what perf-run produced.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("could not create the output directory {}", .dir.display())]
    CreateDir {
        dir: PathBuf,
        #[source]
        error: io::Error,
    },
    #[error("could not create a temporary file for {}", .path.display())]
    Temp {
        path: PathBuf,
        #[source]
        error: io::Error,
    },
    #[error("could not write {}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        error: io::Error,
    },
    #[error("could not move {} into place as {}", .temp.display(), .path.display())]
    Rename {
        temp: PathBuf,
        path: PathBuf,
        #[source]
        error: io::Error,
    },
    #[error("could not read {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        error: io::Error,
    },
    /// `summary.json` is not one perf-run wrote, so the upload cannot be recorded in it.
    #[error("{}", .why)]
    NotASummary { why: String },
}

impl OutputError {
    pub fn exit(&self) -> crate::error::Exit {
        match self {
            OutputError::NotASummary { .. } => crate::error::Exit::Usage,
            _ => crate::error::Exit::Infra,
        }
    }
}

pub const LONG_CSV: &str = "perf_script_test_results.csv";
pub const WIDE_CSV: &str = "perf_summary.csv";
pub const SESSION_CSV: &str = "session_properties.csv";
pub const SUMMARY_JSON: &str = "summary.json";
pub const JUNIT_XML: &str = "perf-run-junit.xml";

/// Write all five outputs for a set of cases into `out_dir` (created if needed).
pub fn write_outputs(
    out_dir: &Path,
    run: &RunInfo,
    cases: &[CaseResult],
) -> Result<WrittenFiles, OutputError> {
    let mut w = OutputWriter::create(out_dir, run, wide_csv::metric_columns(cases))?;
    for case in cases {
        w.add(case)?;
    }
    w.finish(None)
}

type FileOut = BufWriter<File>;

/// Writes the five outputs one case at a time, so memory does not grow with the number of
/// cases. Every file is written under a temporary name; `finish` renames them into place only
/// when all five are complete. Dropped without `finish`, it removes its temporary files.
pub struct OutputWriter {
    out_dir: PathBuf,
    run: RunInfo,
    long: Option<long_csv::LongCsv<FileOut>>,
    wide: Option<wide_csv::WideCsv<FileOut>>,
    summary: Option<summary::SummaryWriter<FileOut>>,
    junit: Option<junit_out::JunitBody<FileOut>>,
    /// The JUnit body's temporary file (read back through this handle, never reopened by path).
    junit_body: PathBuf,
    junit_body_file: Option<File>,
    /// (temporary, final) for every file, in write order.
    temps: Vec<(PathBuf, PathBuf)>,
    done: bool,
    /// The earliest start and latest end of the cases' benchmarks: what session_properties
    /// says (the uploader's run start and end), rather than when perf-run ran.
    bench_start: Option<chrono::DateTime<chrono::Utc>>,
    bench_end: Option<chrono::DateTime<chrono::Utc>>,
}

impl OutputWriter {
    /// Start writing. `metric_columns` are the metric columns of perf_summary.csv (e.g. every
    /// metric of the `MetricConfig`, or `wide_csv::metric_columns(cases)`).
    pub fn create(
        out_dir: &Path,
        run: &RunInfo,
        metric_columns: Vec<Arc<MetricInfo>>,
    ) -> Result<Self, OutputError> {
        fs::create_dir_all(out_dir).map_err(|error| OutputError::CreateDir {
            dir: out_dir.to_path_buf(),
            error,
        })?;
        let mut w = OutputWriter {
            out_dir: out_dir.to_path_buf(),
            run: run.clone(),
            long: None,
            wide: None,
            summary: None,
            junit: None,
            junit_body: PathBuf::new(),
            junit_body_file: None,
            temps: Vec::new(),
            done: false,
            bench_start: None,
            bench_end: None,
        };
        let long = w.open(LONG_CSV)?;
        w.long = Some(long_csv::LongCsv::new(long, run).map_err(|e| w.failed(LONG_CSV, e))?);
        let wide = w.open(WIDE_CSV)?;
        w.wide =
            Some(wide_csv::WideCsv::new(wide, metric_columns).map_err(|e| w.failed(WIDE_CSV, e))?);
        let sum = w.open(SUMMARY_JSON)?;
        w.summary =
            Some(summary::SummaryWriter::new(sum, out_dir).map_err(|e| w.failed(SUMMARY_JSON, e))?);
        let (body, body_path) =
            crate::fsutil::create_temp(&out_dir.join(format!("{JUNIT_XML}.body")), 0o600)
                .map_err(|e| w.failed(JUNIT_XML, e))?;
        w.junit_body = body_path;
        w.junit_body_file = Some(body.try_clone().map_err(|e| w.failed(JUNIT_XML, e))?);
        w.junit = Some(junit_out::JunitBody::new(BufWriter::new(body)));
        Ok(w)
    }

    fn open(&mut self, name: &str) -> Result<FileOut, OutputError> {
        let final_path = self.out_dir.join(name);
        let (file, temp) =
            crate::fsutil::create_temp(&final_path, 0o666).map_err(|error| OutputError::Temp {
                path: final_path.clone(),
                error,
            })?;
        self.temps.push((temp, final_path));
        Ok(BufWriter::new(file))
    }

    fn failed(&self, name: &str, e: io::Error) -> OutputError {
        io_ctx(e, &self.out_dir, name)
    }

    /// Add one case to every output.
    pub fn add(&mut self, case: &CaseResult) -> Result<(), OutputError> {
        let start = case.start.or(case.job.as_ref().and_then(|j| j.start));
        let end = case.end.or(case.job.as_ref().and_then(|j| j.end));
        if let Some(t) = start {
            self.bench_start = Some(self.bench_start.map_or(t, |b| b.min(t)));
        }
        if let Some(t) = end {
            self.bench_end = Some(self.bench_end.map_or(t, |b| b.max(t)));
        }
        if let Some(w) = self.long.as_mut() {
            w.case(case)
                .map_err(|e| io_ctx(e, &self.out_dir, LONG_CSV))?;
        }
        if let Some(w) = self.wide.as_mut() {
            w.case(case)
                .map_err(|e| io_ctx(e, &self.out_dir, WIDE_CSV))?;
        }
        if let Some(w) = self.summary.as_mut() {
            w.case(case)
                .map_err(|e| io_ctx(e, &self.out_dir, SUMMARY_JSON))?;
        }
        if let Some(w) = self.junit.as_mut() {
            w.case(case)
                .map_err(|e| io_ctx(e, &self.out_dir, JUNIT_XML))?;
        }
        Ok(())
    }

    /// Complete every file and move all five into place. `finished` overrides the run's end
    /// time (known only now for a streaming extraction).
    pub fn finish(
        mut self,
        finished: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<WrittenFiles, OutputError> {
        if finished.is_some() {
            self.run.finished = finished;
        }
        let dir = self.out_dir.clone();
        if let Some(w) = self.long.take() {
            let f = w.into_inner().map_err(|e| io_ctx(e, &dir, LONG_CSV))?;
            sync(f).map_err(|e| io_ctx(e, &dir, LONG_CSV))?;
        }
        if let Some(w) = self.wide.take() {
            let f = w.into_inner().map_err(|e| io_ctx(e, &dir, WIDE_CSV))?;
            sync(f).map_err(|e| io_ctx(e, &dir, WIDE_CSV))?;
        }
        if let Some(w) = self.summary.take() {
            let f = w
                .finish(&self.run)
                .map_err(|e| io_ctx(e, &dir, SUMMARY_JSON))?;
            sync(f).map_err(|e| io_ctx(e, &dir, SUMMARY_JSON))?;
        }
        let session = self.open(SESSION_CSV)?;
        let mut session_w = session;
        let mut bench = self.run.clone();
        if let Some(t) = self.bench_start {
            bench.started = t;
        }
        if let Some(t) = self.bench_end {
            bench.finished = Some(t);
        }
        session::write(&mut session_w, &bench).map_err(|e| io_ctx(e, &dir, SESSION_CSV))?;
        sync(session_w).map_err(|e| io_ctx(e, &dir, SESSION_CSV))?;
        if let Some(body) = self.junit.take() {
            let (body_w, counts) = body.into_parts();
            sync(body_w).map_err(|e| io_ctx(e, &dir, JUNIT_XML))?;
            let mut out = self.open(JUNIT_XML)?;
            let mut body_r = self
                .junit_body_file
                .take()
                .ok_or_else(|| io::Error::other("the JUnit body file is gone"))
                .map_err(|e| io_ctx(e, &dir, JUNIT_XML))?;
            io::Seek::seek(&mut body_r, io::SeekFrom::Start(0))
                .map_err(|e| io_ctx(e, &dir, JUNIT_XML))?;
            junit_out::write_report(&mut out, &self.run, &counts, &mut body_r)
                .map_err(|e| io_ctx(e, &dir, JUNIT_XML))?;
            sync(out).map_err(|e| io_ctx(e, &dir, JUNIT_XML))?;
            drop(body_r);
            let _ = fs::remove_file(&self.junit_body);
        }
        for (temp, final_path) in &self.temps {
            fs::rename(temp, final_path).map_err(|error| OutputError::Rename {
                temp: temp.clone(),
                path: final_path.clone(),
                error,
            })?;
        }
        self.done = true;
        Ok(WrittenFiles {
            long_csv: dir.join(LONG_CSV),
            wide_csv: dir.join(WIDE_CSV),
            session_csv: dir.join(SESSION_CSV),
            summary_json: dir.join(SUMMARY_JSON),
            junit_xml: dir.join(JUNIT_XML),
        })
    }
}

impl Drop for OutputWriter {
    fn drop(&mut self) {
        if !self.done {
            for (temp, _) in &self.temps {
                let _ = fs::remove_file(temp);
            }
            let _ = fs::remove_file(&self.junit_body);
        }
    }
}

fn io_ctx(error: io::Error, dir: &Path, name: &str) -> OutputError {
    OutputError::Write {
        path: dir.join(name),
        error,
    }
}

/// Flush and fsync a buffered file.
fn sync(w: FileOut) -> io::Result<()> {
    let file = w.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()
}

/// Write one file atomically (temp + fsync + rename).
pub fn write_atomic(
    path: &Path,
    f: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    crate::fsutil::write_atomic_with(path, 0o666, f)
}

/// Timestamps in the CSV files: `%Y-%m-%d %H:%M:%S`, UTC (reference §7.2).
pub(crate) fn csv_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A float the way Python's `str()` would accept it back, without exponent noise.
pub(crate) fn num(v: f64) -> String {
    let s = format!("{v}");
    if s.contains('e') || s.contains("inf") || s.contains("NaN") {
        format!("{v:.6}")
    } else {
        s
    }
}
