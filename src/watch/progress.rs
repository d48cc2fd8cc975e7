//! Progress display. On a terminal: one indicatif line per job (state, elapsed, pending reason,
//! last log line). Without one (Jenkins): a timestamped line on every state change and a
//! heartbeat every few minutes (indicatif draws nothing on a non-TTY, crates.md pitfall 8).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::output;

static ACTIVE: Mutex<Option<MultiProgress>> = Mutex::new(None);

/// Run `f` (which prints to stderr) without tearing an active progress display.
pub fn suspend<R>(f: impl FnOnce() -> R) -> R {
    let mp = ACTIVE.lock().ok().and_then(|g| g.clone());
    match mp {
        Some(mp) => mp.suspend(f),
        None => f(),
    }
}

struct Row {
    label: String,
    bar: Option<ProgressBar>,
    state: String,
    reason: Option<String>,
    last_line: String,
    since: Instant,
}

/// The display for one run.
pub struct Progress {
    mp: Option<MultiProgress>,
    rows: BTreeMap<String, Row>,
    last_heartbeat: Instant,
    heartbeat: Duration,
    follow: bool,
}

impl Progress {
    pub fn new(follow: bool, heartbeat: Duration) -> Progress {
        let mp = (output::stderr_is_tty() && !output::is_quiet()).then(|| {
            let mp = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            if let Ok(mut g) = ACTIVE.lock() {
                *g = Some(mp.clone());
            }
            mp
        });
        Progress {
            mp,
            rows: BTreeMap::new(),
            last_heartbeat: Instant::now(),
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
            b.set_message(format!(
                "{}  {}{reason}  {}  {}",
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

    /// A line of the job log.
    pub fn log_line(&mut self, key: &str, line: &str) {
        let Some(r) = self.rows.get_mut(key) else {
            return;
        };
        let t = line.trim_end();
        if !t.trim().is_empty() {
            r.last_line = t.to_string();
        }
        if self.follow {
            let label = r.label.clone();
            suspend(|| eprintln!("[{label}] {t}"));
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
    pub fn tick(&mut self) {
        let keys: Vec<String> = self.rows.keys().cloned().collect();
        for k in &keys {
            self.redraw(k);
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
        if let Ok(mut g) = ACTIVE.lock() {
            *g = None;
        }
        if let Some(mp) = &self.mp {
            let _ = mp.clear();
        }
    }
}
