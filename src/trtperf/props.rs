//! Run information from `session_properties.csv` and `gpu_monitoring.csv` (reference §7.3,
//! §9.2 steps 1–2). The `*_properties` columns are Python `str(OrderedDict(...))` strings.
//! Python ≥ 3.12 prints `OrderedDict({'device_product_name': 'NVIDIA GB200', 'pci_device_id': 1234})`
//! (the form the legacy parser's `'key': 'value'` regexes match, and the one perf-run writes);
//! older Pythons print `OrderedDict([('device_product_name', 'NVIDIA GB200'), ...])`, which
//! the legacy parser cannot read. Both forms are read here.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use regex::Regex;

use super::error::TrtPerfFileError;

/// What the properties file can fill (only where the flags left a field empty).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionProps {
    pub driver: String,
    pub cuda: String,
    pub cudnn: String,
    pub cublas: String,
    pub tensorrt: String,
    pub start_time: String,
    pub end_time: String,
    pub hostname: String,
    pub ip: String,
    pub gpu: String,
    pub os: String,
    pub cpu: String,
    pub sm_clock: String,
    pub mem_clock: String,
    pub commit: String,
    pub commit_time: String,
}

/// The value of `key` in a Python dict / OrderedDict repr, if present.
pub fn py_repr_get(repr: &str, key: &str) -> Option<String> {
    let k = regex::escape(key);
    // 'key': 'v'  |  ('key', 'v')  — single or double quotes, backslash escapes, or a bare value.
    let pat = format!(
        r#"['"]{k}['"]\s*[:,]\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|([^,)\]}}\s][^,)\]}}]*))"#
    );
    let re = Regex::new(&pat).ok()?;
    let c = re.captures(repr)?;
    let raw = c.get(1).or(c.get(2)).or(c.get(3))?.as_str();
    Some(py_unescape(raw).trim().to_string())
}

fn py_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(ch) = it.next() {
        if ch == '\\' {
            match it.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(ch);
        }
    }
    out
}

/// Read row 0 of `session_properties.csv` (§9.2 step 1).
pub fn read_session_properties(path: &Path) -> Result<SessionProps, TrtPerfFileError> {
    let row: HashMap<String, String> = first_row(path)?.into_iter().collect();
    let get = |k: &str| row.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let mut p = SessionProps {
        driver: get("nvidia_driver_version"),
        cuda: get("cuda_version"),
        // perf-run additions: cudnn is NOT NULL in TRT_perf.runs and the legacy script never
        // set it (§11 item 13); commit and commit time fill --commit / --commit-time.
        cudnn: get("cudnn_version"),
        cublas: get("cublas_version"),
        tensorrt: get("trt_version"),
        start_time: get("start_timestamp"),
        end_time: get("end_timestamp"),
        hostname: get("hostname"),
        ip: get("ip"),
        commit: get("trt_change_id"),
        commit_time: get("commit_timestamp"),
        ..Default::default()
    };
    let gpu_props = get("gpu_properties");
    if let Some(g) = py_repr_get(&gpu_props, "device_product_name") {
        p.gpu = super::rules::gpu_name(&g);
    }
    let os_props = get("os_properties");
    if let (Some(n), Some(v)) = (
        py_repr_get(&os_props, "name"),
        py_repr_get(&os_props, "version"),
    ) {
        p.os = format!("{n} {v}");
    }
    let cpu_props = get("cpu_properties");
    // `cpu_model` is what simple_collect.py writes; the legacy parser did not read it (§9.2).
    p.cpu = ["product_name", "shorthand_cpu_name", "cpu_model"]
        .iter()
        .find_map(|k| py_repr_get(&cpu_props, k).filter(|v| !v.is_empty()))
        .unwrap_or_default();
    p.sm_clock = [get("sm_clk"), get("Graph Clock(MHz)")]
        .into_iter()
        .find(|v| !v.is_empty())
        .unwrap_or_default();
    p.mem_clock = [get("mem_clk"), get("Memory Clock(MHz)")]
        .into_iter()
        .find(|v| !v.is_empty())
        .unwrap_or_default();
    Ok(p)
}

/// Most frequent `gpu_clock__MHz` and `memory_clock__MHz` (§9.2 step 2), as integer strings
/// (`str(int(x))` in the legacy script). Ties go to the value seen first. Streamed.
pub fn gpu_monitoring_clocks(path: &Path) -> Result<(String, String), TrtPerfFileError> {
    #[derive(Default)]
    struct Mode(Vec<(i64, usize)>);
    impl Mode {
        fn add(&mut self, v: &[u8]) {
            let Ok(x) = String::from_utf8_lossy(v).trim().parse::<f64>() else {
                return;
            };
            if !x.is_finite() {
                return;
            }
            let x = x.trunc() as i64;
            match self.0.iter_mut().find(|(v, _)| *v == x) {
                Some((_, n)) => *n += 1,
                None => self.0.push((x, 1)),
            }
        }
        fn best(&self) -> String {
            let mut best: Option<(i64, usize)> = None;
            for &(v, n) in &self.0 {
                if best.is_none_or(|(_, bn)| n > bn) {
                    best = Some((v, n));
                }
            }
            best.map(|(v, _)| v.to_string()).unwrap_or_default()
        }
    }
    let mut reader = open_csv(path)?;
    let bad = |source| not_csv(path, source);
    let headers = reader.byte_headers().map_err(bad)?.clone();
    let col = |name: &str| {
        headers.iter().position(|h| {
            String::from_utf8_lossy(h)
                .trim()
                .trim_start_matches('\u{feff}')
                == name
        })
    };
    let (gc, mc) = (col("gpu_clock__MHz"), col("memory_clock__MHz"));
    let (mut g, mut m) = (Mode::default(), Mode::default());
    let mut rec = csv::ByteRecord::new();
    while reader.read_byte_record(&mut rec).map_err(bad)? {
        if let Some(v) = gc.and_then(|i| rec.get(i)) {
            g.add(v);
        }
        if let Some(v) = mc.and_then(|i| rec.get(i)) {
            m.add(v);
        }
    }
    Ok((g.best(), m.best()))
}

fn open_csv(path: &Path) -> Result<csv::Reader<BufReader<File>>, TrtPerfFileError> {
    let file = File::open(path).map_err(|source| TrtPerfFileError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(BufReader::new(file)))
}

fn not_csv(path: &Path, source: csv::Error) -> TrtPerfFileError {
    TrtPerfFileError::NotCsv {
        path: path.to_path_buf(),
        source,
    }
}

/// The first data row of a plain CSV (session_properties.csv), as column → value.
pub fn first_row(path: &Path) -> Result<Vec<(String, String)>, TrtPerfFileError> {
    let mut rows = read_all(path, 1)?;
    Ok(rows.pop().unwrap_or_default())
}

/// Up to `limit` rows of a plain CSV as column → value pairs (header order kept). Bytes that
/// are not UTF-8 are replaced; a short row reads its missing columns as "".
pub fn read_all(path: &Path, limit: usize) -> Result<Vec<Vec<(String, String)>>, TrtPerfFileError> {
    let mut reader = open_csv(path)?;
    let bad = |source| not_csv(path, source);
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

    #[test]
    fn python_reprs() {
        let od = "OrderedDict([('device_product_name', 'NVIDIA GB200'), ('pci_device_id', 1234)])";
        assert_eq!(
            py_repr_get(od, "device_product_name").as_deref(),
            Some("NVIDIA GB200")
        );
        assert_eq!(py_repr_get(od, "pci_device_id").as_deref(), Some("1234"));
        // Python >= 3.12 form, which perf-run writes and the legacy parser reads.
        let od312 = "OrderedDict({'device_product_name': 'NVIDIA GB200', 'pci_device_id': 1234})";
        assert_eq!(
            py_repr_get(od312, "device_product_name").as_deref(),
            Some("NVIDIA GB200")
        );
        assert_eq!(py_repr_get(od312, "pci_device_id").as_deref(), Some("1234"));
        // (That perf-run's own writer's output reads back is tested next to the writer,
        // results::writers::session.)
        let d = "{'name': 'Ubuntu', 'version': \"22.04 (it's LTS)\"}";
        assert_eq!(py_repr_get(d, "name").as_deref(), Some("Ubuntu"));
        assert_eq!(
            py_repr_get(d, "version").as_deref(),
            Some("22.04 (it's LTS)")
        );
        assert_eq!(py_repr_get(d, "missing"), None);
        assert_eq!(
            py_repr_get("[('product_name', 'O\\'Neil CPU')]", "product_name").as_deref(),
            Some("O'Neil CPU")
        );
    }

    #[test]
    fn session_properties_fill() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("session_properties.csv");
        let mut w = csv::Writer::from_path(&p).unwrap();
        w.write_record([
            "username",
            "start_timestamp",
            "hostname",
            "ip",
            "nvidia_driver_version",
            "os_properties",
            "cpu_properties",
            "gpu_properties",
            "cuda_version",
            "cudnn_version",
            "end_timestamp",
        ])
        .unwrap();
        w.write_record([
            "u",
            "2025-10-31 00:53:53 +0000",
            "node1",
            "10.0.0.1",
            "580.65",
            "OrderedDict([('name', 'Ubuntu'), ('version', '24.04')])",
            "OrderedDict([('cpu_model', 'Grace')])",
            "OrderedDict([('device_product_name', 'NVIDIA GB200')])",
            "12.9",
            "9.10",
            "2025-10-31 01:53:53",
        ])
        .unwrap();
        w.flush().unwrap();
        let s = read_session_properties(&p).unwrap();
        assert_eq!(s.gpu, "GB200");
        assert_eq!(s.os, "Ubuntu 24.04");
        assert_eq!(s.cpu, "Grace");
        assert_eq!(s.driver, "580.65");
        assert_eq!(s.cudnn, "9.10");
        assert_eq!(s.start_time, "2025-10-31 00:53:53 +0000");
    }

    #[test]
    fn unreadable_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.csv");
        let e = read_session_properties(&missing).unwrap_err().to_string();
        assert!(
            e.starts_with("Cannot open ") && e.contains("nope.csv"),
            "{e}"
        );
        // A directory opens but does not read.
        let e = gpu_monitoring_clocks(dir.path()).unwrap_err().to_string();
        assert!(e.contains("is not valid CSV"), "{e}");
    }

    #[test]
    fn monitoring_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("gpu_monitoring.csv");
        std::fs::write(
            &p,
            "gpu_id,gpu_clock__MHz,memory_clock__MHz\n0,1980.0,3996\n0,1980,3996\n0,2062,3996\n0,,x\n",
        )
        .unwrap();
        assert_eq!(
            gpu_monitoring_clocks(&p).unwrap(),
            ("1980".to_string(), "3996".to_string())
        );
    }
}
