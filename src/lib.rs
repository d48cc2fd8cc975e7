//! perf-run: TensorRT-LLM perf-sanity benchmarks on Slurm, from "which pytest case?" to rows in
//! the TRT_perf database. See docs/ARCHITECTURE.md for the map of the code.

pub mod cli;
pub mod config;
pub mod error;
pub mod finish;
pub mod fsutil;
pub mod history;
pub mod journal;
pub mod judge;
pub mod ops;
pub mod output;
pub mod perfdb;
pub mod plan;
pub mod remote;
pub mod render;
pub mod report;
pub mod results;
pub mod shell;
pub mod slurm;
pub mod trtperf;
pub mod watch;

pub use error::Exit;
