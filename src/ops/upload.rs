//! `perf-run upload`: results → TRT_perf. (Owned by the perfdb work.)
use anyhow::Result;

use crate::cli::UploadArgs;
use crate::error::Exit;

pub async fn run(_args: UploadArgs) -> Result<Exit> {
    anyhow::bail!("`upload` is not implemented yet")
}
