use super::*;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Does a JUnit test case belong to this pipeline case?
pub(super) fn junit_matches(ctx: &CaseContext, name: &str, classname: &str) -> bool {
    if !ctx.case_name.is_empty() && bracket_of(name) == Some(ctx.case_name.as_str()) {
        return true;
    }
    if ctx.test_id.is_empty() {
        return false;
    }
    let id = crate::results::junit::node_id(classname, name);
    id == ctx.test_id || ctx.test_id.ends_with(&format!("::{name}"))
}

/// `results.xml` first, then `results-<ROLE>.xml` sorted.
pub(super) fn junit_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = list_files(dir)
        .into_iter()
        .filter(|p| {
            let n = file_name(p);
            n == "results.xml" || (n.starts_with("results-") && n.ends_with(".xml"))
        })
        .collect();
    files.sort_by_key(|p| (file_name(p) != "results.xml", file_name(p)));
    files
}

/// `results-GEN_0.xml` → `GEN_0`; `results.xml` → None.
pub(super) fn role_of_junit(p: &Path) -> Option<String> {
    let n = file_name(p);
    n.strip_prefix("results-")
        .and_then(|r| r.strip_suffix(".xml"))
        .map(str::to_string)
}

/// `trtllm-benchmark.<s>.<c>.log` → (s, c).
pub fn parse_client_log_name(p: &Path) -> Option<(usize, usize)> {
    let n = file_name(p);
    let mid = n.strip_prefix("trtllm-benchmark.")?.strip_suffix(".log")?;
    let (s, c) = mid.split_once('.')?;
    Some((s.parse().ok()?, c.parse().ok()?))
}

pub(super) fn client_logs(case_dir: &Path) -> BTreeMap<(usize, usize), PathBuf> {
    list_files(case_dir)
        .into_iter()
        .filter_map(|p| parse_client_log_name(&p).map(|k| (k, p)))
        .collect()
}

/// The batch log and role logs.
pub(super) fn other_logs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = list_files(dir)
        .into_iter()
        .filter(|p| {
            let n = file_name(p);
            (n.starts_with("slurm-") || n.starts_with("slurm_")) && is_log(p)
        })
        .collect();
    v.extend(
        list_files(&dir.join("logs"))
            .into_iter()
            .filter(|p| is_log(p)),
    );
    v
}

pub(super) fn is_log(p: &Path) -> bool {
    file_name(p).ends_with(".log")
}

pub(super) fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Regular files in a directory, sorted by name; empty when it cannot be read.
pub(super) fn list_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// A path for messages: relative to the artifacts directory when inside it.
pub(super) fn rel(dir: &Path, p: &Path) -> String {
    p.strip_prefix(dir).unwrap_or(p).display().to_string()
}

/// `perf_run_exit`: `<exit code> <unix time>`.
pub(super) fn read_marker(p: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(p).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// The first of `signatures` found in a file (streamed in chunks, any size).
pub fn find_signature(path: &Path, signatures: &[String]) -> io::Result<Option<String>> {
    if signatures.is_empty() {
        return Ok(None);
    }
    let finders: Vec<memchr::memmem::Finder<'_>> = signatures
        .iter()
        .map(|s| memchr::memmem::Finder::new(s.as_bytes()))
        .collect();
    let overlap = signatures.iter().map(|s| s.len()).max().unwrap_or(1) - 1;
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut kept = 0usize;
    loop {
        let n = match f.read(&mut buf[kept..]) {
            Ok(0) => return Ok(None),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let data = &buf[..kept + n];
        for (i, fd) in finders.iter().enumerate() {
            if fd.find(data).is_some() {
                return Ok(Some(signatures[i].clone()));
            }
        }
        let keep = overlap.min(data.len());
        let len = data.len();
        buf.copy_within(len - keep..len, 0);
        kept = keep;
    }
}

/// Read `sysinfo/{gpu,driver,cuda,os,cpu}.txt` (written by the batch script); a missing or
/// empty file gives "unknown". `gpu.txt` may list one GPU name per line (`nvidia-smi
/// --query-gpu=name`); the first name is used and the lines are counted.
pub fn read_sysinfo(dir: &Path) -> SysInfo {
    let d = if dir.join("sysinfo").is_dir() {
        dir.join("sysinfo")
    } else {
        dir.to_path_buf()
    };
    let read = |name: &str| -> Option<String> {
        let mut f = File::open(d.join(format!("{name}.txt"))).ok()?;
        let mut buf = Vec::new();
        // Never read more than a few KiB of a "one line" file.
        f.by_ref().take(16 * 1024).read_to_end(&mut buf).ok()?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let cleaned: Vec<String> = text
            .lines()
            .map(|l| l.chars().filter(|c| !c.is_control()).collect::<String>())
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        (!cleaned.is_empty()).then(|| cleaned.join("\n"))
    };
    let one_line = |v: Option<String>| -> String {
        v.and_then(|s| s.lines().next().map(str::to_string))
            .unwrap_or_else(|| UNKNOWN.to_string())
    };
    let gpu_raw = read("gpu");
    let gpu_count = gpu_raw.as_ref().map(|g| g.lines().count() as u32);
    // reference §7.3: gpu.txt has the GPU name with `_` for spaces.
    let gpu = one_line(gpu_raw).replace('_', " ");
    SysInfo {
        gpu,
        driver: one_line(read("driver")),
        cuda: one_line(read("cuda")),
        os: one_line(read("os")),
        cpu: one_line(read("cpu")),
        gpu_count,
        tensorrt: one_line(read("tensorrt_version")),
        trtllm_checkout: one_line(read("trtllm_version")),
        trtllm_installed: one_line(read("trtllm_installed_version")),
        trtllm_location: one_line(read("trtllm_installed_location")),
    }
}
