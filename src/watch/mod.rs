//! Watching jobs: the job log streamed over the existing connection (the exit marker is the
//! completion event), a slow batched safety poll with backoff and jitter, progress display and
//! signals, and the loop that drives them (`driver`), what it is given and returns (`job`),
//! and the collection of a job's files (`collect`).

pub mod collect;
pub mod driver;
pub mod error;
pub mod job;
pub mod progress;
pub mod signals;
pub mod stream;
pub mod topology;

pub use error::WatchError;

use std::time::Duration;

/// Safety-poll pacing. The end of a job is an event (its exit marker, streamed), so the poll
/// only catches what the stream cannot see: a job refused or stuck pending (no log yet), or one
/// killed without a marker (node failure). One early look `min` after a start or a submit,
/// then a heartbeat every `max` (default 10 s, then 5 min), ±20 % jitter: a job costs sbatch,
/// at most one early poll and the confirmation, plus one poll per 5 minutes of silence
/// (reference anchors §5.5, "scheduler-polite polling"). Log activity postpones the next poll
/// instead of adding one.
#[derive(Debug, Clone)]
pub struct Backoff {
    pub min: Duration,
    pub max: Duration,
    current: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            current: min,
        }
    }

    /// The next interval (with jitter): `min` once, then `max`.
    pub fn next_interval(&mut self) -> Duration {
        let base = self.current;
        self.current = self.max;
        let jitter: f64 = 0.8 + 0.4 * rand::random::<f64>();
        Duration::from_secs_f64(base.as_secs_f64() * jitter)
    }

    /// The interval without advancing (used to postpone on activity).
    pub fn current(&self) -> Duration {
        self.current
    }

    /// Back to one early look (after a submit or a finished job).
    pub fn reset(&mut self) {
        self.current = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_early_look_then_a_heartbeat_with_jitter() {
        let mut b = Backoff::new(Duration::from_secs(10), Duration::from_secs(300));
        let first = b.next_interval();
        assert!(first >= Duration::from_secs(8) && first <= Duration::from_secs(12));
        for _ in 0..20 {
            let next = b.next_interval();
            assert!(
                next >= Duration::from_secs(240) && next <= Duration::from_secs(360),
                "{next:?}"
            );
        }
        b.reset();
        assert_eq!(b.current(), Duration::from_secs(10));
        // A 12-minute silent job: the early look and about one poll per 5 minutes.
        let mut b = Backoff::new(Duration::from_secs(10), Duration::from_secs(300));
        let (mut t, mut polls) = (Duration::ZERO, 0);
        loop {
            t += b.next_interval();
            if t > Duration::from_secs(720) {
                break;
            }
            polls += 1;
        }
        assert!((2..=4).contains(&polls), "{polls} polls");
    }
}
