//! Watching jobs: the job log streamed over the existing connection (the exit marker is the
//! completion event), a slow batched safety poll with backoff and jitter, progress display and
//! signals. The loop that drives them lives in `ops::pipeline`.

pub mod progress;
pub mod signals;
pub mod stream;

use std::time::Duration;

/// Safety-poll pacing: starts at `min`, grows ×1.6 per quiet cycle up to `max`, ±20 % jitter
/// (reference anchors §5.5). Log activity postpones the next poll instead of adding one.
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

    /// The next interval (with jitter), then grow.
    pub fn next_interval(&mut self) -> Duration {
        let base = self.current;
        self.current =
            Duration::from_secs_f64((self.current.as_secs_f64() * 1.6).min(self.max.as_secs_f64()));
        let jitter: f64 = 0.8 + 0.4 * rand::random::<f64>();
        Duration::from_secs_f64(base.as_secs_f64() * jitter)
    }

    /// The interval without growing (used to postpone on activity).
    pub fn current(&self) -> Duration {
        self.current
    }

    pub fn reset(&mut self) {
        self.current = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_the_cap_with_jitter() {
        let mut b = Backoff::new(Duration::from_secs(10), Duration::from_secs(180));
        let first = b.next_interval();
        assert!(first >= Duration::from_secs(8) && first <= Duration::from_secs(12));
        for _ in 0..20 {
            b.next_interval();
        }
        let capped = b.next_interval();
        assert!(
            capped >= Duration::from_secs(144) && capped <= Duration::from_secs(216),
            "{capped:?}"
        );
        b.reset();
        assert_eq!(b.current(), Duration::from_secs(10));
    }
}
