//! The `runs` row of a plan (reference §9.2 steps 1–2): each value from the first source that
//! has it (flag > environment > detected on the compute node > session properties > GPU
//! monitoring), with that source kept for messages and `summary.json`, and checked against
//! the column sizes.

use std::collections::BTreeMap;

use super::error::StoreError;
use super::plan::{PlanInputs, PlanOptions, RunInfoArgs, chars, flag, fmt_time, parse_time};
use super::rows::{RunRow, limits};
use super::runinfo::{self, RunValueSource};
use crate::trtperf::{props, rules};

/// `(column, flag, flag value, environment variable, environment value)`.
type FlagEnv<'a> = (
    &'static str,
    &'static str,
    &'a Option<String>,
    &'static str,
    &'a Option<String>,
);

/// The run values that flags and the environment can set; the flag wins (reference §9.1;
/// [`runinfo::ENV_VARS`]).
fn flag_env<'a>(a: &'a RunInfoArgs, e: &'a RunInfoArgs) -> [FlagEnv<'a>; 13] {
    [
        ("driver", "--driver", &a.driver, "DRIVER_VERSION", &e.driver),
        ("cpu", "--cpu-name", &a.cpu, "", &e.cpu),
        ("os", "--os", &a.os, "OS_VERSION", &e.os),
        ("gpu", "--gpu", &a.gpu, "GPU_NAME", &e.gpu),
        ("cuda", "--cuda", &a.cuda, "CUDA_VERSION", &e.cuda),
        (
            "tensorrt",
            "--tensorrt",
            &a.tensorrt,
            "TRT_VERSION",
            &e.tensorrt,
        ),
        ("trtllm", "--trtllm", &a.trtllm, "TRTLLM_VERSION", &e.trtllm),
        ("notes", "--notes", &a.notes, "PERF_RUN_NOTES", &e.notes),
        ("cl", "--commit", &a.commit, "GIT_COMMIT", &e.commit),
        ("link", "--link", &a.link, "BUILD_URL", &e.link),
        ("hostname", "--hostname", &a.hostname, "", &e.hostname),
        ("ip", "--ip", &a.ip, "", &e.ip),
        (
            "start_time",
            "--start-time",
            &a.start_time,
            "TEST_START_TIME",
            &e.start_time,
        ),
    ]
}

/// The `runs` row before the CSV is read (§9.2 steps 1–2), the source of each value, and
/// the properties file's commit time when it may be used (see below).
///
/// Order per column: flag > environment > detected on the compute node > session
/// properties > GPU monitoring (clocks). `commit_time` follows the commit actually recorded
/// in `cl`: `--commit-time`, else the properties file's `commit_timestamp` only when `cl`
/// is the properties file's own commit (`trt_change_id`), else NULL.
pub(super) type RunValues = (RunRow, BTreeMap<String, RunValueSource>);

pub(super) fn run_values(
    inputs: &PlanInputs,
    opts: &PlanOptions,
    warnings: &mut Vec<String>,
) -> Result<RunValues, StoreError> {
    use runinfo::SourceKind::*;
    let a = &opts.info;
    let e = &opts.env;
    let sp = match &inputs.properties {
        Some(p) => Some((props::read_session_properties(p)?, p)),
        None => None,
    };
    let empty = props::SessionProps::default();
    let props_v = sp.as_ref().map(|(s, _)| s).unwrap_or(&empty);
    let det = &inputs.detected;
    let det_trt = det.tensorrt.as_ref();
    let det_llm = det.trtllm.as_ref();
    let mut run = RunRow::default();
    let mut sources: BTreeMap<String, RunValueSource> = BTreeMap::new();

    for (col, flag_name, fv, env_name, ev) in flag_env(a, e) {
        let f = flag(fv);
        let ev = flag(ev);
        let (det_v, det_from) = match col {
            "tensorrt" => det_trt.map(|d| (d.value.as_str(), d.from.as_str())),
            "trtllm" => det_llm.map(|d| (d.value.as_str(), d.from.as_str())),
            _ => None,
        }
        .unwrap_or(("", ""));
        let (prop_v, prop_from): (&str, &str) = match col {
            "driver" => (&props_v.driver, "nvidia_driver_version"),
            "cpu" => (&props_v.cpu, "cpu_properties"),
            "os" => (&props_v.os, "os_properties"),
            "gpu" => (&props_v.gpu, "gpu_properties"),
            "cuda" => (&props_v.cuda, "cuda_version"),
            "tensorrt" => (&props_v.tensorrt, "trt_version"),
            "cl" => (&props_v.commit, "trt_change_id"),
            "hostname" => (&props_v.hostname, "hostname"),
            "ip" => (&props_v.ip, "ip"),
            _ => ("", ""),
        };
        let prop_from = format!("session_properties.csv {prop_from}");
        let Some((mut v, src)) = runinfo::pick(&[
            runinfo::cand(&f, Flag, flag_name),
            runinfo::cand(&ev, Environment, env_name),
            runinfo::cand(det_v, Detected, det_from),
            runinfo::cand(prop_v, SessionProperties, &prop_from),
        ]) else {
            continue;
        };
        match col {
            // "--trtllm: first line used" (§9.1): often `python3 -c "import tensorrt_llm"` output.
            "trtllm" => v = v.lines().next().unwrap_or("").trim().to_string(),
            "gpu" => v = rules::gpu_name(&v),
            "start_time" if src.source != SessionProperties => {
                let what = match src.source {
                    Flag => "--start-time".to_string(),
                    _ => format!("The environment variable {}", src.from),
                };
                let t = parse_time(&v).ok_or_else(|| StoreError::BadTime {
                    what,
                    value: v.clone(),
                })?;
                v = fmt_time(t);
            }
            _ => {}
        }
        let slot = match col {
            "driver" => &mut run.driver,
            "cpu" => &mut run.cpu,
            "os" => &mut run.os,
            "gpu" => &mut run.gpu,
            "cuda" => &mut run.cuda,
            "tensorrt" => &mut run.tensorrt,
            "trtllm" => &mut run.trtllm,
            "notes" => &mut run.notes,
            "cl" => &mut run.cl,
            "link" => &mut run.link,
            "hostname" => &mut run.hostname,
            "ip" => &mut run.ip,
            _ => {
                run.start_time = Some(v);
                sources.insert(col.to_string(), src);
                continue;
            }
        };
        *slot = v;
        sources.insert(col.to_string(), src);
    }
    // Only the properties file knows these (perf-run additions: cudnn is NOT NULL in
    // TRT_perf.runs and the legacy script never set it, §11 item 13).
    for (col, v, from) in [
        ("cudnn", &props_v.cudnn, "cudnn_version"),
        ("cublas", &props_v.cublas, "cublas_version"),
    ] {
        if let Some((v, src)) = runinfo::pick(&[runinfo::cand(
            v,
            SessionProperties,
            &format!("session_properties.csv {from}"),
        )]) {
            match col {
                "cudnn" => run.cudnn = v,
                _ => run.cublas = v,
            }
            sources.insert(col.to_string(), src);
        }
    }

    let parse_flag_time = |name: &str, v: &Option<String>| -> Result<Option<String>, StoreError> {
        let s = flag(v);
        if s.is_empty() {
            return Ok(None);
        }
        parse_time(&s)
            .map(|t| Some(fmt_time(t)))
            .ok_or_else(|| StoreError::BadTime {
                what: name.to_string(),
                value: s.clone(),
            })
    };
    run.end_time = parse_flag_time("--end-time", &a.end_time)?;
    if run.end_time.is_some() {
        sources.insert("end_time".into(), flag_source(Flag, "--end-time"));
    }
    run.commit_time = parse_flag_time("--commit-time", &a.commit_time)?;
    if run.commit_time.is_some() {
        sources.insert("commit_time".into(), flag_source(Flag, "--commit-time"));
    }

    // §9.2 step 1: times from the properties file, where still empty.
    if let Some((sp, path)) = &sp {
        // The properties file's commit time describes the properties file's commit: use it
        // only for that commit (legacy-interop review item 5).
        let cl_is_props_commit = runinfo::same_commit(&run.cl, &sp.commit);
        if run.commit_time.is_none()
            && !sp.commit_time.is_empty()
            && !run.cl.is_empty()
            && !cl_is_props_commit
        {
            warnings.push(format!(
                "runs.commit_time is left empty: commit_timestamp in {} belongs to commit {:?}, but the run records commit {:?} (from {}); pass --commit-time for that commit.",
                path.display(),
                sp.commit,
                run.cl,
                sources.get("cl").map(|s| s.from.as_str()).unwrap_or("?")
            ));
        }
        for (col, slot, raw, what, usable) in [
            (
                "start_time",
                &mut run.start_time,
                &sp.start_time,
                "start_timestamp",
                true,
            ),
            (
                "end_time",
                &mut run.end_time,
                &sp.end_time,
                "end_timestamp",
                true,
            ),
            (
                "commit_time",
                &mut run.commit_time,
                &sp.commit_time,
                "commit_timestamp",
                cl_is_props_commit,
            ),
        ] {
            if slot.is_none() && !raw.is_empty() && usable {
                match parse_time(raw) {
                    Some(t) => {
                        *slot = Some(fmt_time(t));
                        sources.insert(
                            col.to_string(),
                            flag_source(SessionProperties, &format!("session_properties.csv {what}")),
                        );
                    }
                    None => warnings.push(format!(
                        "{what} {raw:?} in {} is not a time perf-run understands, so it is left empty.",
                        path.display()
                    )),
                }
            }
        }
    }

    // §9.2 step 2, without blanking what the flags gave.
    let (mon_sm, mon_mem) = match &inputs.gpu_monitoring {
        Some(g) => props::gpu_monitoring_clocks(g)?,
        None => (String::new(), String::new()),
    };
    for (col, fv, flag_name, mon, prop, prop_from) in [
        (
            "graphic_freq",
            &a.sm_clock,
            "--sm-clock",
            &mon_sm,
            &props_v.sm_clock,
            "session_properties.csv sm_clk",
        ),
        (
            "memory_freq",
            &a.mem_clock,
            "--mem-clock",
            &mon_mem,
            &props_v.mem_clock,
            "session_properties.csv mem_clk",
        ),
    ] {
        let f = flag(fv);
        if let Some((v, src)) = runinfo::pick(&[
            runinfo::cand(&f, Flag, flag_name),
            runinfo::cand(
                mon,
                GpuMonitoring,
                "gpu_monitoring.csv (most frequent value)",
            ),
            runinfo::cand(prop, SessionProperties, prop_from),
        ]) {
            match col {
                "graphic_freq" => run.graphic_freq = v,
                _ => run.memory_freq = v,
            }
            sources.insert(col.to_string(), src);
        }
    }
    Ok((run, sources))
}

pub(super) fn flag_source(kind: runinfo::SourceKind, from: &str) -> RunValueSource {
    RunValueSource {
        source: kind,
        from: from.to_string(),
    }
}

pub(super) fn check_run_lengths(run: &RunRow) -> Result<(), StoreError> {
    let checks: [(&'static str, &'static str, &str, usize); 14] = [
        ("driver", "--driver", &run.driver, limits::VARCHAR_150),
        ("cpu", "--cpu", &run.cpu, limits::VARCHAR_150),
        ("os", "--os", &run.os, limits::VARCHAR_150),
        ("gpu", "--gpu", &run.gpu, limits::VARCHAR_150),
        ("cuda", "--cuda", &run.cuda, limits::VARCHAR_150),
        ("cudnn", "cudnn_version", &run.cudnn, limits::VARCHAR_150),
        ("cublas", "cublas_version", &run.cublas, limits::VARCHAR_150),
        (
            "graphic_freq",
            "--sm-clock",
            &run.graphic_freq,
            limits::VARCHAR_150,
        ),
        (
            "memory_freq",
            "--mem-clock",
            &run.memory_freq,
            limits::VARCHAR_150,
        ),
        ("tensorrt", "--tensorrt", &run.tensorrt, limits::VARCHAR_150),
        ("cl", "--commit", &run.cl, limits::VARCHAR_150),
        ("notes", "--notes", &run.notes, limits::NOTES),
        ("link", "--link", &run.link, limits::LINK),
        ("trtllm", "--trtllm", &run.trtllm, limits::VARCHAR_150),
    ];
    for (column, flag, v, max) in checks {
        if chars(v) > max {
            return Err(StoreError::RunValueTooLong {
                flag,
                column,
                length: chars(v),
                max,
            });
        }
    }
    Ok(())
}
