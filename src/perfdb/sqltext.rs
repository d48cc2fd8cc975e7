//! The SQL perf-run sends (reference §9.3, identifiers back-quoted as in the legacy script),
//! and the `--write-db no` rendering of it: every statement with its values as SQL literals,
//! long values shortened for reading, secrets redacted.

use std::fmt::Write as _;
use std::sync::LazyLock;

use regex::Regex;

use super::plan::{ResultRow, UploadPlan};
use super::settings::DbSettings;

/// Columns perf-run writes or reads, per table. Checked at connect time.
pub const REQUIRED_COLUMNS: [(&str, &[&str]); 3] = [
    (
        "runs",
        &[
            "id",
            "driver",
            "cpu",
            "os",
            "gpu",
            "cuda",
            "cudnn",
            "cublas",
            "graphic_freq",
            "memory_freq",
            "tensorrt",
            "notes",
            "cl",
            "trtllm",
            "start_time",
            "end_time",
            "link",
            "commit_time",
        ],
    ),
    (
        "cases",
        &["id", "format", "network", "batchsize", "precision", "cmd"],
    ),
    (
        "perf_result",
        &[
            "id",
            "UUID",
            "run_id",
            "case_id",
            "gpu_time",
            "total_time",
            "build_time",
            "throughput",
            "perf_data",
            "log",
        ],
    ),
];

pub const SCHEMA_COLUMNS: &str = "SELECT `TABLE_NAME`, `COLUMN_NAME` FROM information_schema.`COLUMNS` WHERE `TABLE_SCHEMA` = DATABASE() AND `TABLE_NAME` IN ('runs', 'cases', 'perf_result')";
pub const MAX_PACKET: &str = "SELECT @@max_allowed_packet";
pub const GET_LOCK: &str = "SELECT GET_LOCK(?, ?)";
pub const RELEASE_LOCK: &str = "SELECT RELEASE_LOCK(?)";
pub const FIND_RUN_BY_KEY: &str =
    "SELECT `run_id` FROM `perf_result` WHERE `UUID` = ? ORDER BY `run_id` LIMIT 1";

/// The case rows of runs the legacy uploader wrote (no run key: `UUID` is NULL) with this
/// start time and commit; the migration guard compares their cases with the plan's.
pub const FIND_LEGACY_RUN_CASES: &str = "SELECT r.`id`, c.`network`, c.`batchsize`, c.`precision`, c.`cmd` FROM `runs` r JOIN `perf_result` p ON p.`run_id` = r.`id` JOIN `cases` c ON c.`id` = p.`case_id` WHERE r.`start_time` = ? AND r.`cl` = ? AND p.`UUID` IS NULL ORDER BY r.`id`";

pub const RUN_COLUMNS: [&str; 17] = [
    "driver",
    "cpu",
    "os",
    "gpu",
    "cuda",
    "cudnn",
    "cublas",
    "graphic_freq",
    "memory_freq",
    "tensorrt",
    "notes",
    "cl",
    "trtllm",
    "start_time",
    "end_time",
    "link",
    "commit_time",
];
pub const INSERT_RUN: &str = "INSERT INTO `runs` (`driver`, `cpu`, `os`, `gpu`, `cuda`, `cudnn`, `cublas`, `graphic_freq`, `memory_freq`, `tensorrt`, `notes`, `cl`, `trtllm`, `start_time`, `end_time`, `link`, `commit_time`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// One lookup per distinct case, with the database's own comparison rules (§9.3).
pub const SELECT_CASE: &str = "SELECT `id` FROM `cases` WHERE `format` = ? AND `network` = ? AND `batchsize` = ? AND `precision` = ? AND `cmd` = ? ORDER BY `id` LIMIT 1";
pub const SELECT_CASES_BY_NETWORK_HEAD: &str = "SELECT `id`, `format`, `network`, `batchsize`, `precision`, `cmd` FROM `cases` WHERE `network` IN (";
pub const SELECT_CASES_BY_NETWORK_TAIL: &str = ") ORDER BY `id`";
pub const SELECT_CASES_FROM_ID: &str = "SELECT `id`, `format`, `network`, `batchsize`, `precision`, `cmd` FROM `cases` WHERE `id` >= ? ORDER BY `id`";
pub const INSERT_CASES_HEAD: &str =
    "INSERT INTO `cases` (`format`, `network`, `batchsize`, `precision`, `cmd`) VALUES ";
pub const CASE_TUPLE: &str = "(?, ?, ?, ?, ?)";
pub const INSERT_RESULTS_HEAD: &str = "INSERT INTO `perf_result` (`UUID`, `run_id`, `case_id`, `gpu_time`, `total_time`, `build_time`, `throughput`, `perf_data`, `log`) VALUES ";
pub const RESULT_TUPLE: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// `HEAD` + `n` copies of `tuple` separated by commas. Only constant text and `?`
/// placeholders go into the statement; every value is bound.
pub fn multi_row(head: &str, tuple: &str, n: usize) -> String {
    let mut s = String::with_capacity(head.len() + n * (tuple.len() + 2));
    s.push_str(head);
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(tuple);
    }
    s
}

pub fn in_list(n: usize) -> String {
    let mut s = String::from(SELECT_CASES_BY_NETWORK_HEAD);
    for i in 0..n {
        s.push_str(if i == 0 { "?" } else { ", ?" });
    }
    s.push_str(SELECT_CASES_BY_NETWORK_TAIL);
    s
}

/// Hide secrets in text shown to people: the DB password itself, `user:password@` in URLs,
/// and `password=` / `token=` / `secret=` / `api_key=` values.
pub fn redact(text: &str, password: Option<&str>) -> String {
    static USERINFO: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(://[^/\s:@']+:)[^@\s/']+@").expect("re"));
    static KV: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)\b((?:password|passwd|pwd|token|secret|api[_-]?key)=)[^&\s']+")
            .expect("re")
    });
    let mut t = text.to_string();
    if let Some(p) = password
        && p.len() >= 4
    {
        t = t.replace(p, "<redacted>");
    }
    let t = USERINFO.replace_all(&t, "${1}<redacted>@");
    KV.replace_all(&t, "${1}<redacted>").into_owned()
}

const SHOW_CHARS: usize = 240;

/// A value as a MySQL string literal, shortened to [`SHOW_CHARS`] characters for reading.
pub fn literal(s: &str) -> String {
    let mut out = String::from("'");
    for ch in s.chars().take(SHOW_CHARS) {
        match ch {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    let total = s.chars().count();
    if total > SHOW_CHARS {
        let _ = write!(
            out,
            " /* {} more characters not shown; all are sent */",
            total - SHOW_CHARS
        );
    }
    out
}

fn opt_literal(s: &Option<String>) -> String {
    s.as_deref().map(literal).unwrap_or_else(|| "NULL".into())
}

fn num(v: f64) -> String {
    format!("{v:?}")
}

/// The `--write-db no` text: what would be written, statement by statement.
pub fn render_dry_run(plan: &UploadPlan, settings: &DbSettings, force: bool) -> String {
    let mut o = String::new();
    let r = &plan.run;
    let _ = writeln!(
        o,
        "-- perf-run upload --write-db no: nothing is sent to any database; this is what would be written."
    );
    let _ = writeln!(
        o,
        "-- Target: {} (password {}, never shown). All statements below run in ONE transaction.",
        settings.target(),
        settings.password_source
    );
    let _ = writeln!(
        o,
        "-- Source: {} ({} rows used, {} not uploaded).",
        plan.metric_csv.display(),
        plan.rows_used,
        plan.skipped.len()
    );
    let _ = writeln!(o, "-- Run key: {} ({}).", plan.run_key, plan.run_key_origin);
    let _ = writeln!(
        o,
        "-- Rows per table: runs 1; cases up to {} (each distinct case is looked up and inserted only when missing); perf_result {}.",
        plan.case_count(),
        plan.results.len()
    );
    o.push('\n');
    if force {
        let _ = writeln!(
            o,
            "-- --force-reupload: neither the run key nor a legacy upload is looked up; the run is inserted even if it is already there."
        );
    } else {
        let _ = writeln!(
            o,
            "-- If this finds a row, the run is already uploaded and nothing below runs:"
        );
        let _ = writeln!(
            o,
            "{};",
            FIND_RUN_BY_KEY.replace('?', &literal(&plan.run_key))
        );
        if let (Some(start), false) = (&r.start_time, r.cl.trim().is_empty()) {
            let _ = writeln!(
                o,
                "-- If a run found here has every case below, the legacy uploader already wrote this run and nothing below runs (--force skips this):"
            );
            let _ = writeln!(
                o,
                "{};",
                FIND_LEGACY_RUN_CASES
                    .replacen('?', &literal(start), 1)
                    .replacen('?', &literal(r.cl.trim()), 1)
            );
        }
    }
    let _ = writeln!(o, "START TRANSACTION;");
    let run_values = [
        literal(&r.driver),
        literal(&r.cpu),
        literal(&r.os),
        literal(&r.gpu),
        literal(&r.cuda),
        literal(&r.cudnn),
        r.cublas_value()
            .map(literal)
            .unwrap_or_else(|| "NULL".into()),
        literal(&r.graphic_freq),
        literal(&r.memory_freq),
        literal(&r.tensorrt),
        literal(&r.notes),
        literal(&r.cl),
        literal(&r.trtllm),
        opt_literal(&r.start_time),
        opt_literal(&r.end_time),
        literal(&r.link),
        opt_literal(&r.commit_time),
    ];
    let _ = writeln!(
        o,
        "{} VALUES ({});  -- @run_id := LAST_INSERT_ID()",
        INSERT_RUN.split(" VALUES ").next().unwrap_or(INSERT_RUN),
        run_values.join(", ")
    );
    let mut networks: Vec<&str> = plan
        .results
        .iter()
        .map(|x| x.case.network.as_str())
        .collect();
    networks.sort_unstable();
    networks.dedup();
    let _ = writeln!(
        o,
        "{}{}{};  -- existing cases, matched to the ones below",
        SELECT_CASES_BY_NETWORK_HEAD,
        networks
            .iter()
            .map(|n| literal(n))
            .collect::<Vec<_>>()
            .join(", "),
        SELECT_CASES_BY_NETWORK_TAIL
    );
    let _ = writeln!(
        o,
        "{}  -- only the cases not found above:",
        INSERT_CASES_HEAD.trim_end()
    );
    for (i, x) in plan.results.iter().enumerate() {
        let c = &x.case;
        let _ = writeln!(
            o,
            "  ({}, {}, {}, {}, {}){}  -- @case_{}",
            literal(&c.format),
            literal(&c.network),
            c.batchsize,
            literal(&c.precision),
            literal(&c.cmd),
            if i + 1 == plan.results.len() {
                ";"
            } else {
                ","
            },
            i + 1
        );
    }
    let _ = writeln!(o, "{}", INSERT_RESULTS_HEAD.trim_end());
    for (i, x) in plan.results.iter().enumerate() {
        let _ = writeln!(
            o,
            "  {}{}  -- CSV line {}",
            result_values(plan, x, i),
            if i + 1 == plan.results.len() {
                ";"
            } else {
                ","
            },
            x.origin.line
        );
    }
    let _ = writeln!(o, "COMMIT;");
    if !plan.skipped.is_empty() {
        let _ = writeln!(o, "\n-- Not uploaded ({} CSV rows):", plan.skipped.len());
        for s in &plan.skipped {
            let _ = writeln!(
                o,
                "--   line {}: {} {}: {}",
                s.line, s.test_name, s.metric_type, s.reason
            );
        }
    }
    for w in &plan.warnings {
        let _ = writeln!(o, "-- Warning: {w}");
    }
    redact(&o, settings.password_text())
}

fn result_values(plan: &UploadPlan, x: &ResultRow, i: usize) -> String {
    format!(
        "({}, @run_id, @case_{}, {}, {}, {}, {}, {}, {})",
        literal(&plan.run_key),
        i + 1,
        num(x.gpu_time),
        num(x.total_time),
        num(x.build_time),
        num(x.throughput),
        literal(&x.perf_data),
        literal(&x.log)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_have_only_placeholders() {
        let s = multi_row(INSERT_RESULTS_HEAD, RESULT_TUPLE, 3);
        assert_eq!(s.matches('?').count(), 27);
        assert!(s.ends_with("(?, ?, ?, ?, ?, ?, ?, ?, ?)"));
        assert_eq!(
            in_list(2),
            "SELECT `id`, `format`, `network`, `batchsize`, `precision`, `cmd` FROM `cases` WHERE `network` IN (?, ?) ORDER BY `id`"
        );
        assert_eq!(INSERT_RUN.matches('?').count(), RUN_COLUMNS.len());
        for c in RUN_COLUMNS {
            assert!(INSERT_RUN.contains(&format!("`{c}`")));
        }
    }

    #[test]
    fn literals() {
        assert_eq!(literal("it's a\\b\nc"), r"'it''s a\\b\nc'");
        let long = "x".repeat(300);
        assert!(literal(&long).contains("60 more characters"));
    }

    #[test]
    fn redaction() {
        let t = "see https://bob:pa55word@ci.example/job?token=abc&x=1 and hunter22 password=zzz";
        let r = redact(t, Some("hunter22"));
        assert!(!r.contains("pa55word"));
        assert!(!r.contains("abc&"));
        assert!(!r.contains("hunter22"));
        assert!(!r.contains("zzz"));
        assert!(r.contains("https://bob:<redacted>@ci.example"));
        assert!(r.contains("x=1"));
        // too short to redact safely: left alone rather than mangling the output
        assert_eq!(redact("a b c", Some("a")), "a b c");
    }
}
