//! The run mode of a case: one aggregated server, several aggregated servers, or a
//! disaggregated (context + generation) run. Planning decides it from the config; a TXT test
//! list can name it per line (`# mode:multi-agg`), and `--mode` filters a list by it.

use serde::{Deserialize, Serialize};

/// How a case runs. Serde reads and writes `single-agg`, `multi-agg`, `disagg` (run.json,
/// journal.jsonl, `render --json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    #[serde(rename = "single-agg")]
    SingleAgg,
    #[serde(rename = "multi-agg")]
    MultiAgg,
    #[serde(rename = "disagg")]
    Disagg,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::SingleAgg, Mode::MultiAgg, Mode::Disagg];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::SingleAgg => "single-agg",
            Mode::MultiAgg => "multi-agg",
            Mode::Disagg => "disagg",
        }
    }

    /// The mode named `s` (`single-agg`, `multi-agg`, `disagg`), as [`Mode::as_str`] spells it.
    pub fn from_name(s: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.as_str() == s)
    }
}
