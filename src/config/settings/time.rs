//! A Slurm time limit (`--time`, `PERF_RUN_TIME`, profile `time`, `TIMEOUT (N)` of a test
//! list), validated and bounded.

use serde::Serialize;

/// A Slurm time limit, validated; kept in the form the user wrote (sbatch understands it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlurmTime {
    pub text: String,
    pub seconds: u64,
}

/// The longest time limit perf-run accepts (365 days): anything longer is a typo, and bigger
/// numbers would overflow (security review B7).
pub const MAX_TIME_MINUTES: u64 = 365 * 24 * 60;
pub const MAX_TIME_SECONDS: u64 = MAX_TIME_MINUTES * 60;

impl SlurmTime {
    /// Accepts Slurm's forms: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S`, up to
    /// [`MAX_TIME_SECONDS`].
    pub fn parse(text: &str) -> Option<SlurmTime> {
        let t = text.trim();
        if t.is_empty()
            || !t
                .chars()
                .all(|c| c.is_ascii_digit() || c == ':' || c == '-')
        {
            return None;
        }
        let (days, rest) = match t.split_once('-') {
            Some((d, r)) => (d.parse::<u64>().ok()?, Some(r)),
            None => (0, None),
        };
        let nums =
            |s: &str| -> Option<Vec<u64>> { s.split(':').map(|p| p.parse::<u64>().ok()).collect() };
        // Checked: a huge number is refused, never wrapped (security review B7).
        let hms = |h: u64, m: u64, s: u64| -> Option<u64> {
            h.checked_mul(3600)?
                .checked_add(m.checked_mul(60)?)?
                .checked_add(s)
        };
        let seconds = match rest {
            Some(r) => {
                let v = nums(r)?;
                match v.as_slice() {
                    [h] => hms(*h, 0, 0)?,
                    [h, m] => hms(*h, *m, 0)?,
                    [h, m, s] => hms(*h, *m, *s)?,
                    _ => return None,
                }
            }
            None => {
                let v = nums(t)?;
                match v.as_slice() {
                    [m] => hms(0, *m, 0)?,
                    [m, s] => hms(0, *m, *s)?,
                    [h, m, s] => hms(*h, *m, *s)?,
                    _ => return None,
                }
            }
        }
        .checked_add(days.checked_mul(86400)?)?;
        if seconds == 0 || seconds > MAX_TIME_SECONDS {
            return None;
        }
        Some(SlurmTime {
            text: t.to_string(),
            seconds,
        })
    }

    /// `m` minutes, at most [`MAX_TIME_SECONDS`] (callers check their input against
    /// [`MAX_TIME_MINUTES`] first; this never wraps).
    pub fn from_minutes(m: u64) -> SlurmTime {
        let m = m.min(MAX_TIME_MINUTES);
        SlurmTime {
            text: format!("{:02}:{:02}:00", m / 60, m % 60),
            seconds: m * 60,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_times() {
        assert_eq!(SlurmTime::parse("90").unwrap().seconds, 5400);
        assert_eq!(SlurmTime::parse("04:00:00").unwrap().seconds, 14400);
        assert_eq!(SlurmTime::parse("1-02").unwrap().seconds, 86400 + 7200);
        assert_eq!(SlurmTime::parse("2:30").unwrap().seconds, 150);
        assert!(SlurmTime::parse("0").is_none());
        assert!(SlurmTime::parse("4h").is_none());
        assert!(SlurmTime::parse("1:2:3:4").is_none());
        assert!(SlurmTime::parse("307445734561825861").is_none());
        assert!(SlurmTime::parse("18446744073709551615:59").is_none());
        assert!(SlurmTime::parse("365-00:00:01").is_none());
        assert_eq!(
            SlurmTime::parse("365-00").unwrap().seconds,
            MAX_TIME_SECONDS
        );
        assert_eq!(SlurmTime::from_minutes(90).text, "01:30:00");
    }
}
