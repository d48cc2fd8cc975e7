//! The local history: `<runs home>/history.db`, SQLite through sqlx (versioned migrations in
//! `migrations/history/`). One run is recorded in one transaction, idempotently by its run key
//! (recording it again replaces its rows). WAL mode and a busy timeout let a report read while
//! a run records.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Sqlite};

use super::model::{Acceptance, Direction, Point, Provenance, Series, SeriesKey};
use crate::config::kexpr::KExpr;

mod read;
use read::*;
#[cfg(test)]
mod tests;

/// The name of the marker table every perf-run history has (see the first migration).
const MARKER_TABLE: &str = "perf_run_history_meta";

/// Rows per multi-row INSERT: 12 bound values each stays far below SQLite's limit of 32766
/// variables per statement.
const ROWS_PER_INSERT: usize = 1000;

/// How long a writer waits for another process's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(15);

/// The local history: `$PERF_RUN_HISTORY` (a history shared by runs homes, e.g. one per Jenkins
/// build), else `<runs home>/history.db` (`$PERF_RUN_HOME`, else `./perf-runs`).
pub fn default_path() -> PathBuf {
    match std::env::var("PERF_RUN_HISTORY") {
        Ok(p) if !p.is_empty() => PathBuf::from(p),
        _ => crate::journal::runs_home(&|k| std::env::var(k).ok()).join("history.db"),
    }
}

/// One case of a recorded run: where its numbers came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CaseRecord {
    pub test_id: String,
    pub case_name: Option<String>,
    pub config_name: Option<String>,
    /// sha256 (hex) of the perf-sanity config file's content, when the file was readable.
    pub config_hash: Option<String>,
    /// The plan's servers as JSON text (`plan.json` `servers`).
    pub server_config: Option<String>,
    /// The plan's clients as JSON text.
    pub client_config: Option<String>,
    pub gpu_count: Option<u32>,
    pub nodes: Option<u32>,
    pub container_image: Option<String>,
    /// `passed`, `failed`, `invalid`, … (summary.json), when known.
    pub status: Option<String>,
    pub failure_class: Option<String>,
}

/// One row of the long CSV, as the history keeps it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Line of the row in the long CSV.
    pub line: u64,
    pub test_name: String,
    /// The TRT_perf case network (`cases.network`): lower-cased, without `-REFIT`.
    pub network_name: String,
    /// `network_name` exactly as the CSV wrote it.
    pub csv_network: String,
    /// `metric_type` lower-cased, e.g. `token_throughput`.
    pub metric: String,
    /// `metric_type` as written.
    pub metric_type: String,
    /// The value, when `perf_metric` is a finite number.
    pub value: Option<f64>,
    /// `perf_metric` as written.
    pub raw_value: String,
    /// The CSV `state`: `valid`, `invalid` or `failed`.
    pub state: String,
    pub valid: bool,
    pub failure_class: Option<String>,
    /// Why the row is not valid or not uploadable, when it is not.
    pub note: Option<String>,
    /// Index into [`RunRecord::cases`].
    pub case: Option<usize>,
    pub gpu_type: String,
    pub gpu_count: u32,
    pub cluster: String,
}

/// Everything the history keeps about one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The idempotency key (the same one TRT_perf's `perf_result.UUID` gets).
    pub run_key: String,
    /// perf-run's run id, when recorded from a run directory.
    pub run_id: Option<String>,
    /// `run_dir` or `upload_flags`.
    pub origin: String,
    pub start_time: DateTime<Utc>,
    pub end_time: Option<DateTime<Utc>>,
    pub commit: Option<String>,
    pub commit_time: Option<DateTime<Utc>>,
    pub trtllm_version: Option<String>,
    pub tensorrt_version: Option<String>,
    pub gpu_type: String,
    /// GPUs of the run when no case says (0: unknown).
    pub gpu_count: u32,
    pub cluster: String,
    pub container_image: Option<String>,
    /// The CI job (Jenkins `BUILD_URL`, `--link`).
    pub link: Option<String>,
    pub hostname: Option<String>,
    pub driver: Option<String>,
    pub cuda: Option<String>,
    pub os: Option<String>,
    pub cpu: Option<String>,
    pub test_ids: Vec<String>,
    pub cases: Vec<CaseRecord>,
    pub measurements: Vec<Measurement>,
}

/// Which points a reader wants. Empty = everything.
#[derive(Debug, Clone, Default)]
pub struct SeriesFilter {
    /// A pytest-style `-k` expression matched against `test_name` (and the network name).
    pub k_expr: Option<KExpr>,
    /// Exactly this metric (`token_throughput`, …).
    pub metric: Option<String>,
    /// Only the points of this run.
    pub run_key: Option<String>,
    /// Whole series, but only of the keys this run measured.
    pub series_of_run: Option<String>,
    pub gpu_type: Option<String>,
    pub cluster: Option<String>,
    /// Only points at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only valid points.
    pub valid_only: bool,
    /// Keep only the newest N points of each series.
    pub last_points: Option<usize>,
}

impl SeriesFilter {
    /// Whether a series key passes the `-k`, metric, GPU and cluster parts of the filter.
    pub fn matches_key(&self, key: &SeriesKey) -> bool {
        if let Some(m) = &self.metric
            && &key.metric != m
        {
            return false;
        }
        if let Some(g) = &self.gpu_type
            && &key.gpu_type != g
        {
            return false;
        }
        if let Some(c) = &self.cluster
            && &key.cluster != c
        {
            return false;
        }
        match &self.k_expr {
            Some(k) => k.matches(&key.test_name) || k.matches(&key.network_name),
            None => true,
        }
    }

    /// Apply the time, validity and point-count parts to a series already read.
    pub fn trim_points(&self, s: &mut Series) {
        if let Some(since) = self.since {
            s.points.retain(|p| p.time >= since);
        }
        if self.valid_only {
            s.points.retain(|p| p.valid);
        }
        if let Some(rk) = &self.run_key {
            s.points.retain(|p| &p.run_key == rk);
        }
        if let Some(n) = self.last_points
            && s.points.len() > n
        {
            s.points.drain(..s.points.len() - n);
        }
    }
}

/// The local history database.
#[derive(Debug, Clone)]
pub struct HistoryStore {
    pool: SqlitePool,
    path: PathBuf,
}

/// Why the history could not be opened, read or written: one sentence naming the file.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(
        "{} is not a perf-run history ({why}); move it away or point PERF_RUN_HOME elsewhere, and perf-run will start a new history there.",
        path.display()
    )]
    NotAHistory { path: PathBuf, why: String },
    #[error("Cannot create the directory {} for the history: {source}.", dir.display())]
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    /// `what` is the operation ("Reading", "Recording a run into", …).
    #[error("{what} the history {} failed: {message}", path.display())]
    Database {
        what: &'static str,
        path: PathBuf,
        message: String,
    },
    /// A column that does not hold what this perf-run wrote (a damaged or hand-edited file).
    #[error("A row of the history could not be read ({0}); the file may be damaged.")]
    Row(#[from] sqlx::Error),
    /// A run without a single measurement row; `what` names it.
    #[error("Nothing to record: {what}")]
    NothingToRecord { what: String },
    /// What was to be recorded could not be read (the uploader's file contract).
    #[error(transparent)]
    Input(#[from] crate::perfdb::StoreError),
    /// TRT_perf as the second source: `message` is the database's one sentence.
    #[error("Reading the history from the TRT_perf database {target} failed: {message}.")]
    TrtPerf { target: String, message: String },
}

impl HistoryError {
    /// A foreign file is the user's to move; a database that fails is the machine's trouble.
    pub fn exit(&self) -> crate::error::Exit {
        match self {
            HistoryError::NotAHistory { .. } | HistoryError::NothingToRecord { .. } => {
                crate::error::Exit::Usage
            }
            HistoryError::Input(e) => e.exit(),
            _ => crate::error::Exit::Infra,
        }
    }
}

fn foreign(path: &Path, why: &str) -> HistoryError {
    HistoryError::NotAHistory {
        path: path.to_path_buf(),
        why: why.to_string(),
    }
}

fn db_error(path: &Path, what: &'static str, e: &impl std::fmt::Display) -> HistoryError {
    let text = e.to_string();
    if text.contains("file is not a database") || text.contains("malformed") {
        return foreign(path, "the file is not an SQLite database or is damaged");
    }
    HistoryError::Database {
        what,
        path: path.to_path_buf(),
        message: text.trim_end_matches('.').to_string(),
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl HistoryStore {
    /// Open (creating and migrating when needed) the history at `path`. A file that is not
    /// SQLite, or an SQLite database of something else, is refused with one sentence.
    pub async fn open(path: &Path) -> Result<HistoryStore, HistoryError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| HistoryError::CreateDir {
                dir: dir.to_path_buf(),
                source,
            })?;
        }
        if path.is_dir() {
            return Err(foreign(path, "it is a directory"));
        }
        if let Ok(meta) = std::fs::metadata(path)
            && meta.len() > 0
        {
            let mut head = [0u8; 16];
            use std::io::Read;
            let ok = std::fs::File::open(path)
                .and_then(|mut f| f.read_exact(&mut head))
                .is_ok();
            if !ok || &head != b"SQLite format 3\0" {
                return Err(foreign(path, "the file is not an SQLite database"));
            }
        }
        let url = format!("sqlite://{}", path.display());
        let opts = SqliteConnectOptions::from_str(&url)
            .map_err(|e| db_error(path, "Opening", &e))?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .map_err(|e| db_error(path, "Opening", &e))?;
        let store = HistoryStore {
            pool,
            path: path.to_path_buf(),
        };
        store.check_identity().await?;
        sqlx::migrate!("migrations/history")
            .run(&store.pool)
            .await
            .map_err(|e| match e {
                sqlx::migrate::MigrateError::VersionMissing(v) => foreign(
                    path,
                    &format!(
                        "it was written by a newer perf-run (schema version {v}); use that perf-run to read it"
                    ),
                ),
                sqlx::migrate::MigrateError::Execute(e) => db_error(path, "Migrating", &e),
                other => db_error(path, "Migrating", &other),
            })?;
        Ok(store)
    }

    /// Open the history at `path` for reading: `None` when there is no file yet (a reader
    /// never creates one). A foreign file is refused as by [`HistoryStore::open`].
    pub async fn open_if_exists(path: &Path) -> Result<Option<HistoryStore>, HistoryError> {
        if path.exists() {
            Ok(Some(HistoryStore::open(path).await?))
        } else {
            Ok(None)
        }
    }

    /// Refuse an SQLite database that holds tables but is not a perf-run history.
    async fn check_identity(&self) -> Result<(), HistoryError> {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_error(&self.path, "Reading", &e))?;
        if names.is_empty() {
            return Ok(());
        }
        if !names.iter().any(|n| n == MARKER_TABLE) {
            let shown: Vec<&str> = names.iter().take(3).map(String::as_str).collect();
            return Err(foreign(
                &self.path,
                &format!(
                    "it is an SQLite database with other tables ({})",
                    shown.join(", ")
                ),
            ));
        }
        let schema: Option<String> =
            sqlx::query_scalar("SELECT value FROM perf_run_history_meta WHERE name = 'schema'")
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| db_error(&self.path, "Reading", &e))?;
        if schema.as_deref() != Some("perf-run.history") {
            return Err(foreign(
                &self.path,
                "its marker table does not say perf-run.history",
            ));
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Close the pool (checkpoints the WAL). Dropping the store also closes it, eventually.
    pub async fn close(self) {
        self.pool.close().await;
    }

    /// Record one run: replaces whatever was recorded under the same run key, in one
    /// transaction. Returns the number of measurements written.
    pub async fn record(&self, run: &RunRecord) -> Result<usize, HistoryError> {
        let p = &self.path;
        let err = |e: sqlx::Error| db_error(p, "Recording a run into", &e);
        let mut tx = self.pool.begin().await.map_err(err)?;
        sqlx::query("DELETE FROM runs WHERE run_key = ?")
            .bind(&run.run_key)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        let test_ids = serde_json::to_string(&run.test_ids).unwrap_or_else(|_| "[]".into());
        let recorded_by = format!("perf-run {}", env!("CARGO_PKG_VERSION"));
        let run_pk: i64 = sqlx::query_scalar(
            "INSERT INTO runs (run_key, run_id, origin, start_time, end_time, commit_sha, commit_time, \
             trtllm_version, tensorrt_version, gpu_type, gpu_count, cluster, container_image, link, \
             hostname, driver, cuda, os, cpu, test_ids, recorded_at, recorded_by) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&run.run_key)
        .bind(&run.run_id)
        .bind(&run.origin)
        .bind(run.start_time)
        .bind(run.end_time)
        .bind(&run.commit)
        .bind(run.commit_time)
        .bind(&run.trtllm_version)
        .bind(&run.tensorrt_version)
        .bind(&run.gpu_type)
        .bind(i64::from(run.gpu_count))
        .bind(&run.cluster)
        .bind(&run.container_image)
        .bind(&run.link)
        .bind(&run.hostname)
        .bind(&run.driver)
        .bind(&run.cuda)
        .bind(&run.os)
        .bind(&run.cpu)
        .bind(test_ids)
        .bind(Utc::now())
        .bind(recorded_by)
        .fetch_one(&mut *tx)
        .await
        .map_err(err)?;

        let mut case_pks = Vec::with_capacity(run.cases.len());
        for c in &run.cases {
            let pk: i64 = sqlx::query_scalar(
                "INSERT INTO run_cases (run_pk, test_id, case_name, config_name, config_hash, \
                 server_config, client_config, gpu_count, nodes, container_image, status, failure_class) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            )
            .bind(run_pk)
            .bind(&c.test_id)
            .bind(&c.case_name)
            .bind(&c.config_name)
            .bind(&c.config_hash)
            .bind(&c.server_config)
            .bind(&c.client_config)
            .bind(c.gpu_count.map(i64::from))
            .bind(c.nodes.map(i64::from))
            .bind(&c.container_image)
            .bind(&c.status)
            .bind(&c.failure_class)
            .fetch_one(&mut *tx)
            .await
            .map_err(err)?;
            case_pks.push(pk);
        }

        // The run's series: created when new, then their ids.
        let row_keys: Vec<SeriesKey> = run.measurements.iter().map(Measurement::key).collect();
        let mut keys: Vec<&SeriesKey> = row_keys.iter().collect();
        keys.sort();
        keys.dedup();
        for chunk in keys.chunks(ROWS_PER_INSERT) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT OR IGNORE INTO series (test_name, network_name, metric, gpu_type, gpu_count, cluster) ",
            );
            qb.push_values(chunk, |mut b, k| {
                b.push_bind(k.test_name.as_str())
                    .push_bind(k.network_name.as_str())
                    .push_bind(k.metric.as_str())
                    .push_bind(k.gpu_type.as_str())
                    .push_bind(i64::from(k.gpu_count))
                    .push_bind(k.cluster.as_str());
            });
            qb.build().execute(&mut *tx).await.map_err(err)?;
        }
        let mut series_ids: HashMap<SeriesKey, i64> = HashMap::with_capacity(keys.len());
        for (id, key) in read_series_keys(&mut tx).await.map_err(err)? {
            series_ids.insert(key, id);
        }

        let row_series: Vec<i64> = row_keys
            .iter()
            .map(|k| series_ids.get(k).copied().unwrap_or(0))
            .collect();
        let rows: Vec<(&Measurement, i64)> = run.measurements.iter().zip(row_series).collect();
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO measurements (run_pk, series_pk, case_pk, line, csv_network, metric_type, \
                 value, raw_value, state, valid, failure_class, note) ",
            );
            qb.push_values(chunk, |mut b, (m, sid)| {
                b.push_bind(run_pk)
                    .push_bind(*sid)
                    .push_bind(m.case.and_then(|i| case_pks.get(i).copied()))
                    .push_bind(to_i64(m.line))
                    .push_bind(m.csv_network.as_str())
                    .push_bind(m.metric_type.as_str())
                    .push_bind(m.value.filter(|v| v.is_finite()))
                    .push_bind(m.raw_value.as_str())
                    .push_bind(m.state.as_str())
                    .push_bind(m.valid)
                    .push_bind(m.failure_class.as_deref())
                    .push_bind(m.note.as_deref());
            });
            qb.build().execute(&mut *tx).await.map_err(err)?;
        }
        tx.commit().await.map_err(err)?;
        Ok(run.measurements.len())
    }
}
