//! Where the values of the `runs` row come from, and the record of it.
//!
//! Each value is taken from the first source that has it, in this order: a flag
//! (`--tensorrt`, …, reference §9.1) > an environment variable of the seed's Jenkins /
//! `slurm_launch_prefix.sh` integration (`TRT_VERSION`, `GIT_COMMIT`, …) > what the job detected
//! on the compute node (`sysinfo/*.txt`) > `session_properties.csv` > `gpu_monitoring.csv` >
//! the metric CSV. The plan keeps, per column, which source won ([`RunValueSource`]); the
//! upload records it in `summary.json` under `upload.run_values`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::plan::RunInfoArgs;

/// Environment variables honoured for the run row (flag > environment), as the seed's
/// integration sets them: `(variable, TRT_perf column)`.
pub const ENV_VARS: [(&str, &str); 10] = [
    ("TRT_VERSION", "tensorrt"),
    ("TRTLLM_VERSION", "trtllm"),
    ("GIT_COMMIT", "cl"),
    ("BUILD_URL", "link"),
    ("DRIVER_VERSION", "driver"),
    ("GPU_NAME", "gpu"),
    ("CUDA_VERSION", "cuda"),
    ("OS_VERSION", "os"),
    ("TEST_START_TIME", "start_time"),
    ("PERF_RUN_NOTES", "notes"),
];

/// Files under a job's `sysinfo/` that name what was detected on the compute node, in the
/// order they are tried: `(file, TRT_perf column)`. One line each; `unknown` means "not
/// detected". `trtllm_installed_version.txt` is the installed package's version,
/// `trtllm_version.txt` the checkout's `tensorrt_llm/version.py`.
pub const DETECTED_FILES: [(&str, &str); 3] = [
    ("tensorrt_version.txt", "tensorrt"),
    ("trtllm_installed_version.txt", "trtllm"),
    ("trtllm_version.txt", "trtllm"),
];

/// The kind of source a run value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Flag,
    Environment,
    Detected,
    SessionProperties,
    GpuMonitoring,
    MetricCsv,
}

/// Where one value of the `runs` row came from: the kind, and the flag, variable, file or
/// column that held it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunValueSource {
    pub source: SourceKind,
    pub from: String,
}

/// One candidate value for a column.
pub struct Candidate<'a> {
    pub value: &'a str,
    pub kind: SourceKind,
    pub from: &'a str,
}

pub fn cand<'a>(value: &'a str, kind: SourceKind, from: &'a str) -> Candidate<'a> {
    Candidate { value, kind, from }
}

/// The first non-empty candidate (trimmed), and where it came from.
pub fn pick(candidates: &[Candidate<'_>]) -> Option<(String, RunValueSource)> {
    candidates.iter().find_map(|c| {
        let v = c.value.trim();
        (!v.is_empty()).then(|| {
            (
                v.to_string(),
                RunValueSource {
                    source: c.kind,
                    from: c.from.to_string(),
                },
            )
        })
    })
}

/// The run-info values of the environment variables of [`ENV_VARS`] (unset or empty → none).
pub fn from_env(env: &impl Fn(&str) -> Option<String>) -> RunInfoArgs {
    let get = |k: &str| {
        env(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    RunInfoArgs {
        tensorrt: get("TRT_VERSION"),
        trtllm: get("TRTLLM_VERSION"),
        commit: get("GIT_COMMIT"),
        link: get("BUILD_URL"),
        driver: get("DRIVER_VERSION"),
        gpu: get("GPU_NAME"),
        cuda: get("CUDA_VERSION"),
        os: get("OS_VERSION"),
        start_time: get("TEST_START_TIME"),
        notes: get("PERF_RUN_NOTES"),
        ..Default::default()
    }
}

/// One detected value and the file it was read from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Found {
    pub value: String,
    /// Shown in messages and `summary.json`, e.g. `sysinfo/tensorrt_version.txt`.
    pub from: String,
}

/// What the job detected on the compute node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detected {
    pub tensorrt: Option<Found>,
    pub trtllm: Option<Found>,
}

/// The first line of a small version file, or `None` when it is missing, empty or `unknown`.
fn read_version_file(p: &Path) -> Option<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(p).ok()?;
    let mut buf = Vec::new();
    f.by_ref().take(4096).read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    let line: String = text
        .lines()
        .map(|l| l.chars().filter(|c| !c.is_control()).collect::<String>())
        .map(|l| l.trim().to_string())
        .find(|l| !l.is_empty())?;
    (!line.eq_ignore_ascii_case("unknown")).then_some(line)
}

/// Read [`DETECTED_FILES`] from the `sysinfo/` directories of a run directory's cases
/// (`RUN/cases/*/artifacts/sysinfo/`), first case first; the first case that has a value wins.
pub fn detect_in_run_dir(run_dir: &Path) -> Detected {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(run_dir.join("cases"))
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path().join("artifacts").join("sysinfo")))
                .filter(|d| d.is_dir())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    detect_in_dirs(&dirs)
}

/// [`detect_in_run_dir`] over explicit `sysinfo/` directories.
pub fn detect_in_dirs(dirs: &[PathBuf]) -> Detected {
    let mut d = Detected::default();
    for (file, column) in DETECTED_FILES {
        let slot = match column {
            "tensorrt" => &mut d.tensorrt,
            _ => &mut d.trtllm,
        };
        if slot.is_some() {
            continue;
        }
        *slot = dirs.iter().find_map(|dir| {
            read_version_file(&dir.join(file)).map(|value| Found {
                value,
                from: format!("sysinfo/{file}"),
            })
        });
    }
    d
}

/// `upload.run_values` of `summary.json`: per `runs` column, the value written and where it
/// came from (`null` source when nothing had a value).
pub fn run_values_json(
    run: &super::plan::RunRow,
    sources: &BTreeMap<String, RunValueSource>,
) -> serde_json::Value {
    let columns: [(&str, Option<&str>); 17] = [
        ("driver", Some(&run.driver)),
        ("cpu", Some(&run.cpu)),
        ("os", Some(&run.os)),
        ("gpu", Some(&run.gpu)),
        ("cuda", Some(&run.cuda)),
        ("cudnn", Some(&run.cudnn)),
        ("cublas", Some(&run.cublas)),
        ("graphic_freq", Some(&run.graphic_freq)),
        ("memory_freq", Some(&run.memory_freq)),
        ("tensorrt", Some(&run.tensorrt)),
        ("notes", Some(&run.notes)),
        ("cl", Some(&run.cl)),
        ("trtllm", Some(&run.trtllm)),
        ("start_time", run.start_time.as_deref()),
        ("end_time", run.end_time.as_deref()),
        ("link", Some(&run.link)),
        ("commit_time", run.commit_time.as_deref()),
    ];
    let mut out = serde_json::Map::new();
    for (col, value) in columns {
        let value = value.filter(|v| !v.is_empty());
        let src = sources.get(col).filter(|_| value.is_some());
        out.insert(
            col.to_string(),
            serde_json::json!({
                "value": value,
                "source": src.map(|s| s.source),
                "from": src.map(|s| s.from.as_str()),
            }),
        );
    }
    serde_json::Value::Object(out)
}

/// Whether two commit ids name the same commit: equal, or one is a prefix (at least 7
/// characters) of the other, ignoring letter case (short and full SHAs).
pub fn same_commit(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim().to_ascii_lowercase(), b.trim().to_ascii_lowercase());
    if a.is_empty() || b.is_empty() {
        return false;
    }
    if a == b {
        return true;
    }
    let (short, long) = if a.len() < b.len() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    short.len() >= 7 && long.starts_with(short.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_non_empty_wins_with_its_source() {
        let got = pick(&[
            cand("", SourceKind::Flag, "--tensorrt"),
            cand(" 10.13 ", SourceKind::Environment, "TRT_VERSION"),
            cand("10.9", SourceKind::SessionProperties, "trt_version"),
        ]);
        assert_eq!(
            got,
            Some((
                "10.13".to_string(),
                RunValueSource {
                    source: SourceKind::Environment,
                    from: "TRT_VERSION".into()
                }
            ))
        );
        assert_eq!(pick(&[cand(" ", SourceKind::Flag, "--x")]), None);
    }

    #[test]
    fn env_vars_map_to_fields() {
        let a = from_env(&|k: &str| match k {
            "TRT_VERSION" => Some("10.13.0".into()),
            "GIT_COMMIT" => Some(" abc1234 ".into()),
            "GPU_NAME" => Some("".into()),
            _ => None,
        });
        assert_eq!(a.tensorrt.as_deref(), Some("10.13.0"));
        assert_eq!(a.commit.as_deref(), Some("abc1234"));
        assert_eq!(a.gpu, None);
        assert_eq!(a.link, None);
    }

    #[test]
    fn detected_files_skip_unknown_and_prefer_the_installed_version() {
        let t = tempfile::tempdir().unwrap();
        let a = t.path().join("a/sysinfo");
        let b = t.path().join("b/sysinfo");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("tensorrt_version.txt"), "unknown\n").unwrap();
        std::fs::write(b.join("tensorrt_version.txt"), "\n10.13.2.6\n").unwrap();
        std::fs::write(a.join("trtllm_version.txt"), "1.3.0rc1\n").unwrap();
        std::fs::write(b.join("trtllm_installed_version.txt"), "1.3.0\n").unwrap();
        let d = detect_in_dirs(&[a, b]);
        assert_eq!(
            d.tensorrt,
            Some(Found {
                value: "10.13.2.6".into(),
                from: "sysinfo/tensorrt_version.txt".into()
            })
        );
        assert_eq!(d.trtllm.as_ref().map(|f| f.value.as_str()), Some("1.3.0"));
        assert_eq!(detect_in_dirs(&[]), Detected::default());
    }

    #[test]
    fn commits() {
        assert!(same_commit("dd60747", "DD60747abcdef0123"));
        assert!(same_commit("abc", "abc"));
        assert!(!same_commit("abc", "abcdef0"));
        assert!(!same_commit("dd60747", "abc123"));
        assert!(!same_commit("", ""));
    }
}
