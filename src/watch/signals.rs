//! SIGINT / SIGTERM / SIGHUP handling (a Jenkins abort sends SIGTERM). The first signal is turned into
//! an event the pipeline reacts to (cancel own jobs, collect, journal, exit 130/143/129); a second
//! signal exits at once.

use std::sync::atomic::{AtomicU8, Ordering};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::error::Exit;

/// Which signal arrived first, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    Int,
    Term,
    Hup,
}

impl Interrupt {
    pub fn exit(self) -> Exit {
        match self {
            Interrupt::Int => Exit::Interrupted,
            Interrupt::Term => Exit::Terminated,
            Interrupt::Hup => Exit::HungUp,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Interrupt::Int => "SIGINT",
            Interrupt::Term => "SIGTERM",
            Interrupt::Hup => "SIGHUP",
        }
    }
}

static SEEN: AtomicU8 = AtomicU8::new(0);

static SENDER: std::sync::OnceLock<watch::Sender<Option<Interrupt>>> = std::sync::OnceLock::new();

/// Another view of the installed handlers (for a later stage, e.g. the upload after a run).
pub fn subscribe() -> Option<watch::Receiver<Option<Interrupt>>> {
    SENDER.get().map(|tx| tx.subscribe())
}

/// The first signal, whenever it comes (at once if it already came).
pub async fn first(rx: &mut watch::Receiver<Option<Interrupt>>) -> Interrupt {
    loop {
        if let Some(s) = *rx.borrow_and_update() {
            return s;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Start listening; the receiver changes to `Some(..)` on the first signal.
pub fn install() -> std::io::Result<watch::Receiver<Option<Interrupt>>> {
    install_doing("cancelling this run's jobs and collecting what exists")
}

/// [`install`], saying `doing` when the first signal arrives.
pub fn install_doing(doing: &'static str) -> std::io::Result<watch::Receiver<Option<Interrupt>>> {
    if let Some(rx) = subscribe() {
        return Ok(rx);
    }
    let (tx, rx) = watch::channel(None);
    let _ = SENDER.set(tx.clone());
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    // A closed terminal or an ssh session that dropped: the same orderly end as SIGTERM.
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        loop {
            let which = tokio::select! {
                _ = int.recv() => Interrupt::Int,
                _ = term.recv() => Interrupt::Term,
                _ = hup.recv() => Interrupt::Hup,
            };
            if SEEN.fetch_add(1, Ordering::SeqCst) >= 1 {
                crate::output::error(format!(
                    "second {} received: exiting now without cleaning up (jobs may still run; `perf-run cancel` stops them)",
                    which.name()
                ));
                std::process::exit(which.exit().code());
            }
            crate::output::warn(format!(
                "{} received: {doing} (send it again to exit at once)",
                which.name()
            ));
            let _ = tx.send(Some(which));
        }
    });
    Ok(rx)
}
