//! The one place that prints. Human messages go to stderr, machine output (JSON, generated
//! files in render mode) to stdout. On a terminal messages are coloured; in Jenkins (no TTY)
//! every line carries a timestamp so the console log reads as a timeline.

use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

static VERBOSITY: AtomicU8 = AtomicU8::new(0);
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `--quiet`: no progress messages; warnings, errors, the run summary and machine output stay.
pub fn set_quiet(q: bool) {
    QUIET.store(q, Ordering::Relaxed);
}

pub fn is_quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// `--color`: `Some(true)` always, `Some(false)` never, `None` decided by the stream each
/// message goes to (a terminal, and neither `NO_COLOR` nor `CLICOLOR=0` set).
pub fn set_color(choice: Option<bool>) {
    if let Some(on) = choice {
        console::set_colors_enabled(on);
        console::set_colors_enabled_stderr(on);
    }
}
static IS_TTY: OnceLock<bool> = OnceLock::new();

pub fn set_verbosity(v: u8) {
    VERBOSITY.store(v, Ordering::Relaxed);
}

pub fn verbosity() -> u8 {
    VERBOSITY.load(Ordering::Relaxed)
}

/// Whether stderr is a terminal (progress bars, colours) or a log (Jenkins).
pub fn stderr_is_tty() -> bool {
    *IS_TTY.get_or_init(|| console::Term::stderr().is_term())
}

/// Whether lines get perf-run's own timestamp: off on a terminal, and off when
/// `PERF_RUN_TIMESTAMPS=0` (for a CI console that stamps every line itself, such as Jenkins'
/// `timestamps()` option).
fn stamps_wanted() -> bool {
    static WANTED: OnceLock<bool> = OnceLock::new();
    *WANTED.get_or_init(|| {
        !stderr_is_tty()
            && !matches!(
                std::env::var("PERF_RUN_TIMESTAMPS").as_deref(),
                Ok("0" | "false" | "no" | "off")
            )
    })
}

fn stamp() -> String {
    if !stamps_wanted() {
        String::new()
    } else {
        format!("[{}] ", chrono::Local::now().format("%Y-%m-%d %H:%M:%S"))
    }
}

/// The progress display on screen now (`watch::progress` registers it): every line printed
/// goes above it instead of tearing it. Kept here, in the lowest layer, so printing never
/// depends on the watcher.
static ACTIVE_PROGRESS: std::sync::Mutex<Option<indicatif::MultiProgress>> =
    std::sync::Mutex::new(None);

/// Register (or, with `None`, remove) the progress display lines are printed above.
pub fn set_active_progress(mp: Option<indicatif::MultiProgress>) {
    if let Ok(mut g) = ACTIVE_PROGRESS.lock() {
        *g = mp;
    }
}

/// Run `f` (which prints to stderr) without tearing an active progress display.
pub fn suspend_progress<R>(f: impl FnOnce() -> R) -> R {
    let mp = ACTIVE_PROGRESS.lock().ok().and_then(|g| g.clone());
    match mp {
        Some(mp) => mp.suspend(f),
        None => f(),
    }
}

fn emit(tag: &str, style: console::Style, msg: &str) {
    let tag = if console::colors_enabled_stderr() {
        style.apply_to(tag).to_string()
    } else {
        tag.to_string()
    };
    let line = format!("{}{tag} {msg}\n", stamp());
    suspend_progress(|| {
        let _ = std::io::stderr().write_all(line.as_bytes());
    });
}

/// A normal progress message (not with `--quiet`).
pub fn info(msg: impl AsRef<str>) {
    if QUIET.load(Ordering::Relaxed) {
        return;
    }
    emit(
        "perf-run:",
        console::Style::new().cyan().bold(),
        msg.as_ref(),
    );
}

/// Something the user should look at, but not fatal.
pub fn warn(msg: impl AsRef<str>) {
    emit(
        "warning:",
        console::Style::new().yellow().bold(),
        msg.as_ref(),
    );
}

/// The one error line `main` prints before exiting.
pub fn error(msg: impl AsRef<str>) {
    emit(
        "error:",
        console::Style::new().red().bold(),
        &crate::error::one_line_message(msg.as_ref()),
    );
}

/// Only with `-v`.
pub fn detail(msg: impl AsRef<str>) {
    if verbosity() >= 1 {
        emit("  ..", console::Style::new().dim(), msg.as_ref());
    }
}

/// Only with `-vv`.
pub fn debug(msg: impl AsRef<str>) {
    if verbosity() >= 2 {
        emit("debug:", console::Style::new().dim(), msg.as_ref());
    }
}

/// Machine-readable output (stdout).
pub fn data(text: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_ref().as_bytes());
    if !text.as_ref().ends_with('\n') {
        let _ = out.write_all(b"\n");
    }
    let _ = out.flush();
}
