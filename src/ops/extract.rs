//! `perf-run extract`: JUnit XML and benchmark logs → CSV, JSON, JUnit. (Owned by the results work.)
use anyhow::Result;

use crate::cli::ExtractArgs;
use crate::error::Exit;

pub fn run(_args: ExtractArgs) -> Result<Exit> {
    anyhow::bail!("`extract` is not implemented yet")
}
