//! Progress display. On a terminal: one indicatif line per job (state, elapsed, pending reason,
//! last log line). Without one (Jenkins): a timestamped line on every state change and a
//! heartbeat every few minutes (indicatif draws nothing on a non-TTY, crates.md pitfall 8).
//! A disaggregated job's role states (watch::topology) go into its row on a terminal, and
//! without one into a line per change; a stalled role is a warning either way.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::output;

struct Row {
    label: String,
    bar: Option<ProgressBar>,
    state: String,
    reason: Option<String>,
    last_line: String,
    since: Instant,
    /// The roles of a disaggregated job, as the batch script's monitor last reported them.
    roles: Option<String>,
}

/// The display for one run.
pub struct Progress {
    mp: Option<MultiProgress>,
    rows: BTreeMap<String, Row>,
    last_heartbeat: Instant,
    last_redraw: Instant,
    heartbeat: Duration,
    follow: bool,
}

impl Progress {
    pub fn new(follow: bool, heartbeat: Duration) -> Progress {
        let mp = (output::stderr_is_tty() && !output::is_quiet()).then(|| {
            let mp = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            output::set_active_progress(Some(mp.clone()));
            mp
        });
        Progress {
            mp,
            rows: BTreeMap::new(),
            last_heartbeat: Instant::now(),
            last_redraw: Instant::now(),
            heartbeat,
            follow,
        }
    }

    pub fn add(&mut self, key: &str, label: &str) {
        let bar = self.mp.as_ref().map(|mp| {
            let b = mp.add(ProgressBar::new_spinner());
            b.set_style(
                ProgressStyle::with_template("{spinner} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        self.rows.insert(
            key.to_string(),
            Row {
                label: label.to_string(),
                bar,
                state: "SUBMITTED".into(),
                reason: None,
                last_line: String::new(),
                since: Instant::now(),
                roles: None,
            },
        );
        self.redraw(key);
    }

    fn redraw(&self, key: &str) {
        let Some(r) = self.rows.get(key) else { return };
        if let Some(b) = &r.bar {
            let reason = r
                .reason
                .as_ref()
                .map(|x| format!(" ({x})"))
                .unwrap_or_default();
            let line: String = r.last_line.chars().take(80).collect();
            let roles = r
                .roles
                .as_ref()
                .map(|x| format!("  [{x}]"))
                .unwrap_or_default();
            b.set_message(format!(
                "{}  {}{reason}  {}{roles}  {}",
                r.label,
                r.state,
                humantime::format_duration(Duration::from_secs(r.since.elapsed().as_secs())),
                line
            ));
        }
    }

    /// A state change (printed as a line without a TTY).
    pub fn state(&mut self, key: &str, state: &str, reason: Option<&str>) {
        let Some(r) = self.rows.get_mut(key) else {
            return;
        };
        let changed = r.state != state || r.reason.as_deref() != reason;
        r.state = state.to_string();
        r.reason = reason.map(str::to_string);
        if changed && r.bar.is_none() {
            let why = reason
                .map(|x| {
                    let expl = crate::slurm::state::explain_reason(x)
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default();
                    format!(" ({x}{expl})")
                })
                .unwrap_or_default();
            output::info(format!("{} is {state}{why}", r.label));
        }
        self.redraw(key);
    }

    /// Something that happened to the job (a requeue), printed as a warning under its label.
    pub fn note(&mut self, key: &str, text: &str) {
        let label = self
            .rows
            .get(key)
            .map(|r| r.label.clone())
            .unwrap_or_else(|| key.to_string());
        output::warn(format!("{label}: {text}"));
        self.redraw(key);
    }

    /// The role states of a disaggregated job changed: shown in its row on a terminal,
    /// otherwise printed as one line (only when they differ from the last ones shown).
    pub fn roles(&mut self, key: &str, topology: &crate::watch::topology::Topology) {
        let Some(r) = self.rows.get_mut(key) else {
            return;
        };
        let text = topology.describe();
        if r.roles.as_deref() == Some(text.as_str()) {
            return;
        }
        r.roles = Some(text.clone());
        if r.bar.is_none() {
            output::info(format!("{} roles: {text}", r.label));
        }
        self.redraw(key);
    }

    /// A role of the job has made no progress for the stall time: a warning naming it.
    pub fn stalled(&mut self, key: &str, stall: &crate::watch::topology::Stall) {
        let label = self
            .rows
            .get(key)
            .map(|r| r.label.clone())
            .unwrap_or_else(|| key.to_string());
        output::warn(format!("{label}: {}", stall.describe()));
        self.redraw(key);
    }

    /// Slurm warned the job that its time limit is about `within_s` seconds away (0: unknown).
    pub fn time_limit_warning(&mut self, key: &str, within_s: u64) {
        let label = self
            .rows
            .get(key)
            .map(|r| r.label.clone())
            .unwrap_or_else(|| key.to_string());
        let when = if within_s > 0 {
            format!(
                "in about {}",
                humantime::format_duration(Duration::from_secs(within_s))
            )
        } else {
            "soon".to_string()
        };
        output::warn(format!(
            "{label}: Slurm warns that the job reaches its time limit {when}; the concurrency points that finished are kept, the one running then is lost"
        ));
        self.redraw(key);
    }

    /// The roles text shown for a job (tests).
    pub fn roles_of(&self, key: &str) -> Option<&str> {
        self.rows.get(key)?.roles.as_deref()
    }

    /// A line of the job log.
    pub fn log_line(&mut self, key: &str, line: &str) {
        let Some(r) = self.rows.get_mut(key) else {
            return;
        };
        let t = line.trim_end();
        // The role monitor's lines are shown as roles, not as the job's last output.
        if !t.trim().is_empty() && !crate::watch::topology::is_monitor_line(t) {
            r.last_line = t.to_string();
        }
        if self.follow {
            let label = r.label.clone();
            output::suspend_progress(|| eprintln!("[{label}] {t}"));
        }
        self.redraw(key);
    }

    /// The job is done; leave its final line on screen.
    pub fn finish(&mut self, key: &str, summary: &str) {
        if let Some(r) = self.rows.get_mut(key) {
            r.state = summary.to_string();
            match &r.bar {
                Some(b) => b.finish_with_message(format!("{}  {summary}", r.label)),
                None => output::info(format!("{} {summary}", r.label)),
            }
        }
    }

    /// Redraw elapsed times; without a TTY print a heartbeat every few minutes.
    /// Called on every turn of the watch loop: the bars' clocks are redrawn at most four
    /// times a second (and only when there are bars), so a turn costs the same for 10 or
    /// 1,000 jobs.
    pub fn tick(&mut self) {
        if self.mp.is_some() && self.last_redraw.elapsed() >= Duration::from_millis(250) {
            self.last_redraw = Instant::now();
            for k in self.rows.keys() {
                self.redraw(k);
            }
        }
        if self.mp.is_none() && self.last_heartbeat.elapsed() >= self.heartbeat {
            self.last_heartbeat = Instant::now();
            let busy: Vec<String> = self
                .rows
                .values()
                .filter(|r| !r.state.starts_with("finished"))
                .map(|r| {
                    format!(
                        "{} {} for {}",
                        r.label,
                        r.state,
                        humantime::format_duration(Duration::from_secs(
                            r.since.elapsed().as_secs()
                        ))
                    )
                })
                .collect();
            if !busy.is_empty() {
                output::info(format!("still waiting: {}", busy.join("; ")));
            }
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        output::set_active_progress(None);
        if let Some(mp) = &self.mp {
            let _ = mp.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::topology::parse_roles_line;

    #[test]
    fn roles_are_kept_per_job_and_a_repeat_is_no_change() {
        let mut p = Progress::new(false, Duration::from_secs(300));
        p.add("a", "[01] a");
        p.add("b", "[02] b");
        assert_eq!(p.roles_of("a"), None);
        let t = parse_roles_line("PERF_RUN_ROLES ctx=1/1 gen=0/1 router=waiting benchmark=waiting")
            .unwrap();
        p.roles("a", &t);
        assert_eq!(
            p.roles_of("a"),
            Some("ctx 1/1 up, gen 0/1 up, router waiting, benchmark waiting")
        );
        assert_eq!(p.roles_of("b"), None, "another job's row is untouched");
        // The monitor's lines never become the job's "last line".
        p.log_line("a", "real output");
        p.log_line(
            "a",
            "PERF_RUN_ROLES ctx=1/1 gen=1/1 router=ready benchmark=running",
        );
        assert_eq!(p.rows["a"].last_line, "real output");
        let t2 = parse_roles_line("PERF_RUN_ROLES ctx=1/1 gen=1/1 router=ready benchmark=running")
            .unwrap();
        p.roles("a", &t2);
        assert_eq!(
            p.roles_of("a"),
            Some("ctx 1/1 up, gen 1/1 up, router ready, benchmark running")
        );
        p.roles("unknown", &t2);
    }
}
