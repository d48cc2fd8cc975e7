//! The job lifecycle commands: `perf-run status`, `logs`, `cancel` and `doctor`.

mod status;
pub use status::*;
mod logs;
pub use logs::*;
mod cancel;
pub use cancel::*;
mod doctor;
pub use doctor::*;
#[cfg(test)]
mod tests;
