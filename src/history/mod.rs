//! The local history of every measurement (`$PERF_RUN_HOME/history.db`, SQLite) and the
//! TRT_perf database read as a second source of the same series (issue #11).

pub mod model;
pub mod record;
pub mod store;

pub use model::{Acceptance, Direction, Point, Provenance, Series, SeriesKey};
pub use store::{
    CaseRecord, HistoryError, HistoryStore, Measurement, RunRecord, SeriesFilter, default_path,
};

pub mod trtperf;

use crate::perfdb::DbSettings;

/// Where `read_series` found its points.
#[derive(Debug, Clone, Default)]
pub struct Read {
    pub series: Vec<Series>,
    /// The TRT_perf database was asked (a database host is configured).
    pub trt_perf_asked: bool,
    /// Why TRT_perf could not be read, when it could not (the local history is still used).
    pub trt_perf_error: Option<String>,
}

/// The one query layer over both sources: the local history (when there is one) and, when a
/// database host is configured, TRT_perf; merged by [`trtperf::merge`] (the local record of
/// a run wins), then trimmed by the filter's point limits. A TRT_perf failure is reported in
/// [`Read::trt_perf_error`], never fatal.
pub async fn read_series(
    local: Option<&HistoryStore>,
    db: Option<&DbSettings>,
    filter: &SeriesFilter,
) -> Result<Read, HistoryError> {
    let wide = SeriesFilter {
        last_points: None,
        ..filter.clone()
    };
    let local_series = match local {
        Some(s) => s.series(&wide).await?,
        None => Vec::new(),
    };
    let mut read = Read::default();
    let remote = match db.filter(|d| d.host.is_some()) {
        Some(d) => {
            read.trt_perf_asked = true;
            match trtperf::series(d, &wide).await {
                Ok(s) => s,
                Err(e) => {
                    read.trt_perf_error = Some(format!("{e:#}"));
                    Vec::new()
                }
            }
        }
        None => Vec::new(),
    };
    let mut merged = trtperf::merge(local_series, remote);
    if let Some(k) = &filter.series_of_run {
        merged.retain(|s| s.points.iter().any(|p| &p.run_key == k));
    }
    for s in &mut merged {
        filter.trim_points(s);
    }
    merged.retain(|s| !s.points.is_empty());
    read.series = merged;
    Ok(read)
}
