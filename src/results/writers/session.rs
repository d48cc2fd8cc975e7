//! `session_properties.csv` (reference §7.3): one row describing the run's host, in the
//! columns `trt_perf_parser.py` reads (§9.2 step 1). The `*_properties` cells are Python
//! `str(OrderedDict(...))` strings in the form Python ≥ 3.12 prints them,
//! `OrderedDict({'k': 'v'})`, because that is what the uploader parses: its regexes look for
//! `'device_product_name': '…'` in `gpu_properties`, `'name'` + `'version'` in `os_properties`
//! and `'product_name'` in `cpu_properties`, and never match the pre-3.12 form
//! `OrderedDict([('k', 'v')])` (legacy-interop review, item 4a).

use std::io::{self, Write};

use super::csv_time;
use crate::results::model::{RunInfo, UNKNOWN};

pub const HEADER: [&str; 16] = [
    "username",
    "start_timestamp",
    "hostname",
    "ip",
    "nvidia_driver_version",
    "nvidia_device_count",
    "os_properties",
    "cpu_properties",
    "gpu_properties",
    "trt_change_id",
    "trt_branch",
    "commit_timestamp",
    "cuda_version",
    "cublas_version",
    "cudnn_version",
    "end_timestamp",
];

pub fn write(w: &mut dyn Write, run: &RunInfo) -> io::Result<()> {
    let s = &run.sysinfo;
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    // `os.txt` holds e.g. "Ubuntu 24.04.1 LTS": name = first word, version = the rest.
    let (os_name, os_version) = match s.os.trim().split_once(' ') {
        Some((n, v)) if s.os != UNKNOWN => (n.to_string(), v.trim().to_string()),
        _ => (s.os.clone(), String::new()),
    };
    let record = [
        opt(&run.user),
        csv_time(run.started),
        opt(&run.hostname),
        opt(&run.ip),
        s.driver.clone(),
        s.gpu_count.map(|n| n.to_string()).unwrap_or_default(),
        ordered_dict(&[("name", &os_name), ("version", &os_version)]),
        ordered_dict(&[("product_name", &s.cpu)]),
        ordered_dict(&[("device_product_name", &s.gpu)]),
        opt(&run.trtllm_commit),
        opt(&run.trtllm_branch),
        opt(&run.commit_time),
        s.cuda.clone(),
        String::new(),
        String::new(),
        run.finished.map(csv_time).unwrap_or_default(),
    ];
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(w);
    out.write_record(HEADER)?;
    out.write_record(&record)?;
    out.flush()?;
    Ok(())
}

/// `OrderedDict({'k': 'v', …})`, exactly as Python ≥ 3.12 prints it (`OrderedDict()` when
/// empty).
pub fn ordered_dict(items: &[(&str, &str)]) -> String {
    if items.is_empty() {
        return "OrderedDict()".to_string();
    }
    let inner: Vec<String> = items
        .iter()
        .map(|(k, v)| format!("{}: {}", py_repr(k), py_repr(v)))
        .collect();
    format!("OrderedDict({{{}}})", inner.join(", "))
}

/// Python's `repr()` of a `str`.
pub fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_repr_matches() {
        assert_eq!(py_repr("NVIDIA GB200"), "'NVIDIA GB200'");
        assert_eq!(py_repr("it's"), "\"it's\"");
        assert_eq!(py_repr("a'b\"c"), "'a\\'b\"c'");
        assert_eq!(py_repr("x\\y\n"), "'x\\\\y\\n'");
        // What `str(OrderedDict(...))` prints on Python 3.12+.
        assert_eq!(
            ordered_dict(&[("device_product_name", "NVIDIA GB200"), ("n", "1")]),
            "OrderedDict({'device_product_name': 'NVIDIA GB200', 'n': '1'})"
        );
        assert_eq!(
            ordered_dict(&[("product_name", "O'Neil CPU")]),
            "OrderedDict({'product_name': \"O'Neil CPU\"})"
        );
        assert_eq!(ordered_dict(&[]), "OrderedDict()");
    }

    /// perf-run's own uploader (`trtperf::props`) reads back what is written, quotes and all.
    #[test]
    fn the_uploaders_reader_reads_it_back() {
        use crate::trtperf::props::py_repr_get;
        let written = ordered_dict(&[("name", "Ubuntu"), ("version", "24.04 (it's LTS)")]);
        assert_eq!(py_repr_get(&written, "name").as_deref(), Some("Ubuntu"));
        assert_eq!(
            py_repr_get(&written, "version").as_deref(),
            Some("24.04 (it's LTS)")
        );
    }

    /// The regexes of the legacy `trt_perf_parser.py` (`parse_session_properties`) find the
    /// GPU, OS and CPU in what perf-run writes.
    #[test]
    fn legacy_regexes_read_the_written_file() {
        use crate::results::model::{RunInfo, SysInfo};
        let mut run = RunInfo::new("r1", chrono::Utc::now());
        run.sysinfo = SysInfo {
            gpu: "NVIDIA GB200".into(),
            driver: "580.65".into(),
            cuda: "13.0".into(),
            os: "Ubuntu 24.04.2 LTS".into(),
            cpu: "Intel(R) Xeon(R) Processor".into(),
            gpu_count: Some(4),
            ..Default::default()
        };
        let mut buf = Vec::new();
        write(&mut buf, &run).unwrap();
        let mut r = csv::Reader::from_reader(buf.as_slice());
        let headers = r.headers().unwrap().clone();
        let row = r.records().next().unwrap().unwrap();
        let cell = |name: &str| {
            row.get(headers.iter().position(|h| h == name).unwrap())
                .unwrap()
                .to_string()
        };
        let legacy = |text: &str, key: &str| {
            assert!(text.starts_with("OrderedDict"), "{text}");
            regex::Regex::new(&format!(r"'{key}':\s*'([^']+)'"))
                .unwrap()
                .captures(text)
                .map(|c| c[1].to_string())
        };
        assert_eq!(
            legacy(&cell("gpu_properties"), "device_product_name").as_deref(),
            Some("NVIDIA GB200")
        );
        assert_eq!(
            legacy(&cell("os_properties"), "name").as_deref(),
            Some("Ubuntu")
        );
        assert_eq!(
            legacy(&cell("os_properties"), "version").as_deref(),
            Some("24.04.2 LTS")
        );
        assert_eq!(
            legacy(&cell("cpu_properties"), "product_name").as_deref(),
            Some("Intel(R) Xeon(R) Processor")
        );
    }
}
