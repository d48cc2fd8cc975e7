//! Progress display. On a TTY an indicatif bar set; elsewhere plain lines (see output.rs).

use std::sync::Mutex;

static ACTIVE: Mutex<Option<indicatif::MultiProgress>> = Mutex::new(None);

/// Run `f` (which prints to stderr) without tearing an active progress display.
pub fn suspend<R>(f: impl FnOnce() -> R) -> R {
    let guard = ACTIVE.lock().ok().and_then(|g| g.clone());
    match guard {
        Some(mp) => mp.suspend(f),
        None => f(),
    }
}

/// Install (or remove) the active multi-progress display.
pub fn set_active(mp: Option<indicatif::MultiProgress>) {
    if let Ok(mut g) = ACTIVE.lock() {
        *g = mp;
    }
}
