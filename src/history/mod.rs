//! The local history of every measurement (`$PERF_RUN_HOME/history.db`, SQLite) and the
//! TRT_perf database read as a second source of the same series (issue #11).

pub mod model;
pub mod record;
pub mod store;

pub use model::{Acceptance, Direction, Point, Provenance, Series, SeriesKey};
pub use store::{CaseRecord, HistoryStore, Measurement, RunRecord, SeriesFilter, default_path};
