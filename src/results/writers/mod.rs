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

use anyhow::Context;

use super::model::{CaseResult, RunInfo, WrittenFiles};

pub const LONG_CSV: &str = "perf_script_test_results.csv";
pub const WIDE_CSV: &str = "perf_summary.csv";
pub const SESSION_CSV: &str = "session_properties.csv";
pub const SUMMARY_JSON: &str = "summary.json";
pub const JUNIT_XML: &str = "perf-run-junit.xml";

type Render = fn(&mut dyn Write, &Path, &RunInfo, &[CaseResult]) -> io::Result<()>;

/// Write all five outputs into `out_dir` (created if needed).
pub fn write_outputs(
    out_dir: &Path,
    run: &RunInfo,
    cases: &[CaseResult],
) -> anyhow::Result<WrittenFiles> {
    fs::create_dir_all(out_dir).with_context(|| {
        format!(
            "could not create the output directory {}",
            out_dir.display()
        )
    })?;
    let jobs: [(&str, Render); 5] = [
        (LONG_CSV, |w, _, r, c| long_csv::write(w, r, c)),
        (WIDE_CSV, |w, _, _, c| wide_csv::write(w, c)),
        (SESSION_CSV, |w, _, r, _| session::write(w, r)),
        (SUMMARY_JSON, |w, d, r, c| summary::write(w, d, r, c)),
        (JUNIT_XML, |w, _, r, c| junit_out::write(w, r, c)),
    ];
    let mut temps: Vec<(PathBuf, PathBuf)> = Vec::new();
    for (name, render) in jobs {
        let final_path = out_dir.join(name);
        let temp = temp_path(&final_path);
        let result = write_file(&temp, |w| render(w, out_dir, run, cases));
        if let Err(e) = result {
            let _ = fs::remove_file(&temp);
            for (t, _) in &temps {
                let _ = fs::remove_file(t);
            }
            return Err(e).with_context(|| format!("could not write {}", final_path.display()));
        }
        temps.push((temp, final_path));
    }
    for (temp, final_path) in &temps {
        fs::rename(temp, final_path).with_context(|| {
            format!(
                "could not move {} into place as {}",
                temp.display(),
                final_path.display()
            )
        })?;
    }
    Ok(WrittenFiles {
        long_csv: out_dir.join(LONG_CSV),
        wide_csv: out_dir.join(WIDE_CSV),
        session_csv: out_dir.join(SESSION_CSV),
        summary_json: out_dir.join(SUMMARY_JSON),
        junit_xml: out_dir.join(JUNIT_XML),
    })
}

/// `dir/.name.tmp-<pid>` (same directory, so the rename is atomic).
pub(crate) fn temp_path(final_path: &Path) -> PathBuf {
    let name = final_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    final_path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

fn write_file(path: &Path, f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    let file = File::create(path)?;
    let mut w = BufWriter::new(file);
    f(&mut w)?;
    let file = w.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok(())
}

/// Write one file atomically (temp + fsync + rename).
pub fn write_atomic(
    path: &Path,
    f: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let temp = temp_path(path);
    if let Err(e) = write_file(&temp, f) {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    fs::rename(&temp, path).inspect_err(|_| {
        let _ = fs::remove_file(&temp);
    })
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
