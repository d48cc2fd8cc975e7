//! Live topology of a disaggregated job: the lines the batch script's role monitor prints into
//! the job log (templates/slurm_launch.sh, "role monitor"), parsed from the log stream perf-run
//! already follows, so showing them costs no scheduler call and no extra connection.
//!
//! `PERF_RUN_ROLES ctx=1/1 gen=0/1 router=waiting benchmark=waiting [failed=GEN_0] [ended=CTX_0]`
//! is printed once per change; `PERF_RUN_ROLE_STALLED GEN_0 600s: <last log line>` once when a
//! starting worker or router has written nothing for the stall time.

/// The prefix of a role-state line.
pub const ROLES_LINE: &str = "PERF_RUN_ROLES";
/// The prefix of a stalled-role line.
pub const STALLED_LINE: &str = "PERF_RUN_ROLE_STALLED";

/// The state of every role, as one `PERF_RUN_ROLES` line says it (fields in their order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub fields: Vec<(String, String)>,
}

impl Topology {
    /// The value of one field (`ctx`, `gen`, `router`, `benchmark`, `failed`, `ended`).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// One short human line: `ctx 1/1 up, gen 0/1 up, router waiting, benchmark waiting`.
    pub fn describe(&self) -> String {
        self.fields
            .iter()
            .map(|(k, v)| match k.as_str() {
                "ctx" | "gen" => format!("{k} {v} up"),
                "failed" => format!("failed: {}", v.replace(',', ", ")),
                "ended" => format!("ended early: {}", v.replace(',', ", ")),
                _ => format!("{k} {v}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A role that has shown no progress for a while.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stall {
    pub role: String,
    pub secs: u64,
    pub last_line: String,
}

impl Stall {
    /// `GEN_0 has written nothing for 10m; its last log line: …`.
    pub fn describe(&self) -> String {
        let last = if self.last_line.trim().is_empty() {
            "its log is empty".to_string()
        } else {
            format!(
                "its last log line: {}",
                crate::error::escape_for_message(self.last_line.trim())
            )
        };
        format!(
            "{} has made no progress for {} (no new log output while it starts); {last}",
            self.role,
            humantime::format_duration(std::time::Duration::from_secs(self.secs))
        )
    }
}

/// A role name as the batch script writes it (`CTX_0`, `DISAGG_SERVER`, …).
fn is_role(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// A field value: short, printable, no spaces.
fn is_value(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | ',' | '-' | '.'))
}

/// Parse `PERF_RUN_ROLES k=v …`; None for any other line (or a malformed one).
pub fn parse_roles_line(line: &str) -> Option<Topology> {
    let rest = line.trim_end().strip_prefix(ROLES_LINE)?;
    if !rest.starts_with(' ') {
        return None;
    }
    let mut fields = Vec::new();
    for word in rest.split_whitespace() {
        let (k, v) = word.split_once('=')?;
        if !k.chars().all(|c| c.is_ascii_lowercase()) || k.is_empty() || !is_value(v) {
            return None;
        }
        fields.push((k.to_string(), v.to_string()));
    }
    (!fields.is_empty()).then_some(Topology { fields })
}

/// Parse `PERF_RUN_ROLE_STALLED <ROLE> <N>s: <last line>`.
pub fn parse_stall_line(line: &str) -> Option<Stall> {
    let rest = line.strip_prefix(STALLED_LINE)?.strip_prefix(' ')?;
    let (role, rest) = rest.split_once(' ')?;
    let (secs, last) = rest.split_once("s:")?;
    if !is_role(role) {
        return None;
    }
    Some(Stall {
        role: role.to_string(),
        secs: secs.trim().parse().ok()?,
        last_line: last.trim().to_string(),
    })
}

/// Whether a job-log line is one of the monitor's (not a line of the job's own output).
pub fn is_monitor_line(line: &str) -> bool {
    line.starts_with(ROLES_LINE) || line.starts_with(STALLED_LINE)
}

/// The line the batch script prints once when Slurm's time-limit warning (USR1) arrives:
/// `PERF_RUN_TIME_LIMIT_WARNING job=N attempt=A within_s=S at <time>`.
pub const TIME_LIMIT_WARNING_LINE: &str = "PERF_RUN_TIME_LIMIT_WARNING";

/// The time-limit warning line's `within_s` (None for any other line; 0 when the line has no
/// number).
pub fn parse_time_limit_warning(line: &str) -> Option<u64> {
    let rest = line.trim_start().strip_prefix(TIME_LIMIT_WARNING_LINE)?;
    if !rest.is_empty() && !rest.starts_with(' ') {
        return None;
    }
    Some(
        rest.split_whitespace()
            .find_map(|w| w.strip_prefix("within_s="))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_lines() {
        let t = parse_roles_line("PERF_RUN_ROLES ctx=1/1 gen=0/1 router=waiting benchmark=waiting")
            .unwrap();
        assert_eq!(t.get("ctx"), Some("1/1"));
        assert_eq!(t.get("benchmark"), Some("waiting"));
        assert_eq!(
            t.describe(),
            "ctx 1/1 up, gen 0/1 up, router waiting, benchmark waiting"
        );
        let t = parse_roles_line(
            "PERF_RUN_ROLES gen=1/2 router=starting benchmark=waiting failed=GEN_1,CTX_0 ended=GEN_0",
        )
        .unwrap();
        assert_eq!(t.get("ctx"), None, "gen_only without ctx servers");
        assert_eq!(
            t.describe(),
            "gen 1/2 up, router starting, benchmark waiting, failed: GEN_1, CTX_0, ended early: GEN_0"
        );
        for bad in [
            "PERF_RUN_ROLES",
            "PERF_RUN_ROLESX ctx=1/1",
            "PERF_RUN_ROLES ctx",
            "PERF_RUN_ROLES Ctx=1/1",
            "PERF_RUN_ROLES ctx=\u{1b}[2J",
            "perf-run: PERF_RUN_ROLES ctx=1/1",
            "echo PERF_RUN_ROLES ctx=1/1",
        ] {
            assert_eq!(parse_roles_line(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn stall_lines() {
        let s = parse_stall_line(
            "PERF_RUN_ROLE_STALLED GEN_0 12s: [stub trtllm-serve GEN_0] loading the model weights: 5s: x",
        )
        .unwrap();
        assert_eq!(s.role, "GEN_0");
        assert_eq!(s.secs, 12);
        assert_eq!(
            s.last_line,
            "[stub trtllm-serve GEN_0] loading the model weights: 5s: x"
        );
        assert!(
            s.describe()
                .starts_with("GEN_0 has made no progress for 12s")
        );
        assert!(
            s.describe().contains("last log line: [stub"),
            "{}",
            s.describe()
        );
        let empty = parse_stall_line("PERF_RUN_ROLE_STALLED CTX_1 600s: ").unwrap();
        assert_eq!(empty.last_line, "");
        assert!(empty.describe().ends_with("its log is empty"));
        // A terminal escape in a job's log line is shown escaped, not sent to the terminal.
        let esc = parse_stall_line("PERF_RUN_ROLE_STALLED CTX_1 600s: a\u{1b}[2Jb").unwrap();
        assert!(!esc.describe().contains('\u{1b}'), "{}", esc.describe());
        for bad in [
            "PERF_RUN_ROLE_STALLED",
            "PERF_RUN_ROLE_STALLED GEN_0",
            "PERF_RUN_ROLE_STALLED gen_0 5s: x",
            "PERF_RUN_ROLE_STALLED GEN_0 five s: x",
            "PERF_RUN_ROLE_STALLEDGEN_0 5s: x",
        ] {
            assert_eq!(parse_stall_line(bad), None, "{bad:?}");
        }
        assert!(is_monitor_line("PERF_RUN_ROLES ctx=0/1"));
        assert_eq!(
            parse_time_limit_warning(
                "PERF_RUN_TIME_LIMIT_WARNING job=7 attempt=0 within_s=120 at 2026-11-30T15:00:00Z"
            ),
            Some(120)
        );
        assert_eq!(
            parse_time_limit_warning("PERF_RUN_TIME_LIMIT_WARNING"),
            Some(0)
        );
        assert_eq!(
            parse_time_limit_warning("PERF_RUN_TIME_LIMIT_WARNINGS x"),
            None
        );
        assert_eq!(parse_time_limit_warning("perf-run: job 7 starting"), None);
        assert!(is_monitor_line("PERF_RUN_ROLE_STALLED GEN_0 5s: x"));
        assert!(!is_monitor_line("PERF_RUN_EXIT code=0"));
    }
}
