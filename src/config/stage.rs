//! The CI stage a run belongs to: a test list's `condition.terms.stage` selects by it
//! (`--stage`), and the verdicts' threshold follows it (docs/verdicts.md).

use serde::{Deserialize, Serialize};

/// Which gate the threshold follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    PreMerge,
    PostMerge,
}

impl Stage {
    /// The name CI and test-db use (`pre_merge`, `post_merge`; `condition.terms.stage`).
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::PreMerge => "pre_merge",
            Stage::PostMerge => "post_merge",
        }
    }
}
