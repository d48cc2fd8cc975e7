//! The local history: `<runs home>/history.db`, SQLite through sqlx (versioned migrations in
//! `migrations/history/`). One run is recorded in one transaction, idempotently by its run key
//! (recording it again replaces its rows). WAL mode and a busy timeout let a report read while
//! a run records.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite};

use super::model::{Acceptance, Direction, Point, Provenance, Series, SeriesKey};
use crate::config::kexpr::KExpr;
use crate::error::UserError;

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

fn foreign(path: &Path, why: &str) -> UserError {
    UserError(format!(
        "{} is not a perf-run history ({why}); move it away or point PERF_RUN_HOME elsewhere, and perf-run will start a new history there.",
        path.display()
    ))
}

fn db_error(path: &Path, what: &str, e: &sqlx::Error) -> anyhow::Error {
    let text = e.to_string();
    if text.contains("file is not a database") || text.contains("malformed") {
        return foreign(path, "the file is not an SQLite database or is damaged").into();
    }
    anyhow::anyhow!(
        "{what} the history {} failed: {}",
        path.display(),
        text.trim_end_matches('.')
    )
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl HistoryStore {
    /// Open (creating and migrating when needed) the history at `path`. A file that is not
    /// SQLite, or an SQLite database of something else, is refused with one sentence.
    pub async fn open(path: &Path) -> anyhow::Result<HistoryStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                anyhow::anyhow!(
                    "Cannot create the directory {} for the history: {e}.",
                    dir.display()
                )
            })?;
        }
        if path.is_dir() {
            return Err(foreign(path, "it is a directory").into());
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
                return Err(foreign(path, "the file is not an SQLite database").into());
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
                )
                .into(),
                sqlx::migrate::MigrateError::Execute(e) => db_error(path, "Migrating", &e),
                other => anyhow::anyhow!(
                    "Migrating the history {} failed: {other}.",
                    path.display()
                ),
            })?;
        Ok(store)
    }

    /// Open the history at `path` for reading: `None` when there is no file yet (a reader
    /// never creates one). A foreign file is refused as by [`HistoryStore::open`].
    pub async fn open_if_exists(path: &Path) -> anyhow::Result<Option<HistoryStore>> {
        if path.exists() {
            Ok(Some(HistoryStore::open(path).await?))
        } else {
            Ok(None)
        }
    }

    /// Refuse an SQLite database that holds tables but is not a perf-run history.
    async fn check_identity(&self) -> anyhow::Result<()> {
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
            )
            .into());
        }
        let schema: Option<String> =
            sqlx::query_scalar("SELECT value FROM perf_run_history_meta WHERE name = 'schema'")
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| db_error(&self.path, "Reading", &e))?;
        if schema.as_deref() != Some("perf-run.history") {
            return Err(
                foreign(&self.path, "its marker table does not say perf-run.history").into(),
            );
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
    pub async fn record(&self, run: &RunRecord) -> anyhow::Result<usize> {
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

    /// Whether no run has been recorded yet.
    pub async fn is_empty(&self) -> anyhow::Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM (SELECT 1 FROM runs LIMIT 1)")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| db_error(&self.path, "Reading", &e))?;
        Ok(n == 0)
    }

    /// How many runs are recorded.
    pub async fn run_count(&self) -> anyhow::Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM runs")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| db_error(&self.path, "Reading", &e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The distinct metric names in the history (sorted), for "no such metric" messages.
    pub async fn metrics(&self) -> anyhow::Result<Vec<String>> {
        sqlx::query_scalar("SELECT DISTINCT metric FROM series WHERE metric <> '' AND EXISTS (SELECT 1 FROM measurements m WHERE m.series_pk = series.id) ORDER BY metric")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| db_error(&self.path, "Reading", &e))
    }

    /// The run keys recorded, newest first (start time).
    pub async fn run_keys(&self) -> anyhow::Result<Vec<String>> {
        sqlx::query_scalar("SELECT run_key FROM runs ORDER BY start_time DESC, id DESC")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| db_error(&self.path, "Reading", &e))
    }

    /// The series that pass `filter`, each oldest point first (`source = "local"`), sorted
    /// by key. Rows without a numeric value stay in the database but make no point.
    ///
    /// Three small reads (series keys, runs, cases) and one narrow read of the points: the
    /// `-k` expression is matched against the keys before any point is read.
    pub async fn series(&self, filter: &SeriesFilter) -> anyhow::Result<Vec<Series>> {
        let err = |e: sqlx::Error| db_error(&self.path, "Reading", &e);
        let mut conn = self.pool.acquire().await.map_err(err)?;
        let mut keys: HashMap<i64, SeriesKey> = read_series_keys(&mut conn)
            .await
            .map_err(err)?
            .into_iter()
            .filter(|(_, k)| filter.matches_key(k))
            .collect();
        // A run key that is not recorded selects nothing (-1 matches no run).
        let only_run = run_pk(&mut conn, filter.run_key.as_deref())
            .await
            .map_err(err)?;
        let series_run = run_pk(&mut conn, filter.series_of_run.as_deref())
            .await
            .map_err(err)?;
        if let Some(pk) = series_run {
            let in_run: HashSet<i64> =
                sqlx::query_scalar("SELECT DISTINCT series_pk FROM measurements WHERE run_pk = ?")
                    .bind(pk)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(err)?
                    .into_iter()
                    .collect();
            keys.retain(|id, _| in_run.contains(id));
        }
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM series")
            .fetch_one(&mut *conn)
            .await
            .map_err(err)?;

        let mut runs: HashMap<i64, RunInfo> = HashMap::new();
        for r in sqlx::query(
            "SELECT id, run_key, start_time, commit_sha, commit_time, trtllm_version, container_image FROM runs",
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(err)?
        {
            runs.insert(
                r.try_get(0)?,
                RunInfo {
                    run_key: r.try_get(1)?,
                    time: r.try_get(2)?,
                    commit: r.try_get(3)?,
                    commit_time: r.try_get(4)?,
                    trtllm_version: r.try_get(5)?,
                    container_image: r.try_get(6)?,
                },
            );
        }
        let mut cases: HashMap<i64, Provenance> = HashMap::new();
        for r in sqlx::query(
            "SELECT id, config_hash, config_name, container_image, nodes FROM run_cases",
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(err)?
        {
            cases.insert(
                r.try_get(0)?,
                Provenance {
                    config_hash: r.try_get(1)?,
                    config_name: r.try_get(2)?,
                    container_image: r.try_get(3)?,
                    trtllm_version: None,
                    nodes: r
                        .try_get::<Option<i64>, _>(4)?
                        .and_then(|n| u32::try_from(n).ok()),
                },
            );
        }

        let mut ids: Vec<i64> = keys.keys().copied().collect();
        ids.sort_unstable();
        let everything = i64::try_from(ids.len()).unwrap_or(i64::MAX) >= total;
        let chunks: Vec<&[i64]> = if everything {
            vec![&[]]
        } else {
            ids.chunks(ROWS_PER_INSERT * 10).collect()
        };
        let mut out: Vec<Series> = Vec::new();
        let mut current: Option<i64> = None;
        for chunk in chunks {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "SELECT m.series_pk, m.run_pk, m.case_pk, m.value, m.valid, m.failure_class \
                 FROM measurements m JOIN runs r ON r.id = m.run_pk WHERE m.value IS NOT NULL",
            );
            if !chunk.is_empty() {
                qb.push(" AND m.series_pk IN (");
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind(*id);
                }
                qb.push(")");
            }
            if let Some(pk) = only_run {
                qb.push(" AND m.run_pk = ").push_bind(pk);
            }
            if let Some(t) = filter.since {
                qb.push(" AND r.start_time >= ").push_bind(t);
            }
            if filter.valid_only {
                qb.push(" AND m.valid = 1");
            }
            qb.push(" ORDER BY m.series_pk, r.start_time, r.id, m.line");
            let rows = qb.build().fetch_all(&mut *conn).await.map_err(err)?;
            for r in rows {
                let sid: i64 = r.try_get(0)?;
                let Some(key) = keys.get(&sid) else { continue };
                let Some(run) = runs.get(&r.try_get::<i64, _>(1)?) else {
                    continue;
                };
                let case = r.try_get::<Option<i64>, _>(2)?.and_then(|c| cases.get(&c));
                let mut provenance = case.cloned().unwrap_or_default();
                provenance.trtllm_version = run.trtllm_version.clone();
                if provenance.container_image.is_none() {
                    provenance.container_image = run.container_image.clone();
                }
                let point = Point {
                    time: run.time,
                    value: r.try_get(3)?,
                    commit: run.commit.clone(),
                    commit_time: run.commit_time,
                    run_key: run.run_key.clone(),
                    valid: r.try_get(4)?,
                    failure_class: r.try_get(5)?,
                    source: "local".to_string(),
                    provenance,
                };
                match out.last_mut() {
                    Some(s) if current == Some(sid) => s.points.push(point),
                    _ => {
                        current = Some(sid);
                        out.push(Series {
                            direction: Direction::of_metric(&key.metric),
                            key: key.clone(),
                            points: vec![point],
                        });
                    }
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        if filter.last_points.is_some() {
            for s in &mut out {
                filter.trim_points(s);
            }
        }
        Ok(out)
    }

    /// Record that a change is accepted as the new normal.
    pub async fn accept(&self, a: &Acceptance) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO acceptances (test_name, network_name, metric, gpu_type, gpu_count, cluster, \
             since, reason, accepted_by, accepted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&a.key.test_name)
        .bind(&a.key.network_name)
        .bind(&a.key.metric)
        .bind(&a.key.gpu_type)
        .bind(i64::from(a.key.gpu_count))
        .bind(&a.key.cluster)
        .bind(a.since)
        .bind(&a.reason)
        .bind(&a.accepted_by)
        .bind(a.accepted_at)
        .execute(&self.pool)
        .await
        .map_err(|e| db_error(&self.path, "Recording an acceptance into", &e))?;
        Ok(())
    }

    /// The acceptances whose key passes `filter`, oldest `since` first.
    pub async fn acceptances(&self, filter: &SeriesFilter) -> anyhow::Result<Vec<Acceptance>> {
        let rows = sqlx::query(
            "SELECT test_name, network_name, metric, gpu_type, gpu_count, cluster, since, reason, \
             accepted_by, accepted_at FROM acceptances ORDER BY since, id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_error(&self.path, "Reading", &e))?;
        let mut out = Vec::new();
        for r in rows {
            let key = SeriesKey {
                test_name: r.try_get(0)?,
                network_name: r.try_get(1)?,
                metric: r.try_get(2)?,
                gpu_type: r.try_get(3)?,
                gpu_count: u32::try_from(r.try_get::<i64, _>(4)?).unwrap_or(0),
                cluster: r.try_get(5)?,
            };
            if !filter.matches_key(&key) {
                continue;
            }
            out.push(Acceptance {
                key,
                since: r.try_get(6)?,
                reason: r.try_get(7)?,
                accepted_by: r.try_get(8)?,
                accepted_at: r.try_get(9)?,
            });
        }
        Ok(out)
    }

    /// The measurements of one run (every row, valid or not), in CSV order; None when the
    /// run key is not recorded.
    pub async fn run_measurements(
        &self,
        run_key: &str,
    ) -> anyhow::Result<Option<Vec<Measurement>>> {
        let err = |e: sqlx::Error| db_error(&self.path, "Reading", &e);
        let pk: Option<i64> = sqlx::query_scalar("SELECT id FROM runs WHERE run_key = ?")
            .bind(run_key)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        let Some(pk) = pk else { return Ok(None) };
        let rows = sqlx::query(
            "SELECT m.line, s.test_name, s.network_name, m.csv_network, s.metric, m.metric_type, m.value, \
             m.raw_value, m.state, m.valid, m.failure_class, m.note, s.gpu_type, s.gpu_count, s.cluster \
             FROM measurements m JOIN series s ON s.id = m.series_pk WHERE m.run_pk = ? ORDER BY m.line, m.id",
        )
        .bind(pk)
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(Measurement {
                line: u64::try_from(r.try_get::<i64, _>(0)?).unwrap_or(0),
                test_name: r.try_get(1)?,
                network_name: r.try_get(2)?,
                csv_network: r.try_get(3)?,
                metric: r.try_get(4)?,
                metric_type: r.try_get(5)?,
                value: r.try_get(6)?,
                raw_value: r.try_get(7)?,
                state: r.try_get(8)?,
                valid: r.try_get(9)?,
                failure_class: r.try_get(10)?,
                note: r.try_get(11)?,
                case: None,
                gpu_type: r.try_get(12)?,
                gpu_count: u32::try_from(r.try_get::<i64, _>(13)?).unwrap_or(0),
                cluster: r.try_get(14)?,
            });
        }
        Ok(Some(out))
    }
}

/// What a point takes from its run.
struct RunInfo {
    run_key: String,
    time: DateTime<Utc>,
    commit: Option<String>,
    commit_time: Option<DateTime<Utc>>,
    trtllm_version: Option<String>,
    container_image: Option<String>,
}

impl Measurement {
    /// The series this measurement belongs to.
    pub fn key(&self) -> SeriesKey {
        let m = self;
        SeriesKey {
            test_name: m.test_name.clone(),
            network_name: m.network_name.clone(),
            metric: m.metric.clone(),
            gpu_type: m.gpu_type.clone(),
            gpu_count: m.gpu_count,
            cluster: m.cluster.clone(),
        }
    }
}

/// The id of a run key: None without a key, -1 (no run) for a key that is not recorded.
async fn run_pk(
    conn: &mut sqlx::SqliteConnection,
    key: Option<&str>,
) -> Result<Option<i64>, sqlx::Error> {
    let Some(k) = key else { return Ok(None) };
    let id: Option<i64> = sqlx::query_scalar("SELECT id FROM runs WHERE run_key = ?")
        .bind(k)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(Some(id.unwrap_or(-1)))
}

/// Every series (id, key).
async fn read_series_keys(
    conn: &mut sqlx::SqliteConnection,
) -> Result<Vec<(i64, SeriesKey)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, test_name, network_name, metric, gpu_type, gpu_count, cluster FROM series",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push((
            r.try_get(0)?,
            SeriesKey {
                test_name: r.try_get(1)?,
                network_name: r.try_get(2)?,
                metric: r.try_get(3)?,
                gpu_type: r.try_get(4)?,
                gpu_count: u32::try_from(r.try_get::<i64, _>(5)?).unwrap_or(0),
                cluster: r.try_get(6)?,
            },
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample_run(
        key: &str,
        start: &str,
        values: &[(&str, &str, f64, bool)],
    ) -> RunRecord {
        let start: DateTime<Utc> = DateTime::parse_from_rfc3339(start).unwrap().into();
        RunRecord {
            run_key: key.into(),
            origin: "test".into(),
            start_time: start,
            commit: Some(format!("c-{key}")),
            gpu_type: "H100".into(),
            gpu_count: 8,
            cluster: "lab".into(),
            test_ids: vec!["t".into()],
            cases: vec![CaseRecord {
                test_id: "t".into(),
                config_hash: Some("abc".into()),
                nodes: Some(1),
                ..Default::default()
            }],
            measurements: values
                .iter()
                .enumerate()
                .map(|(i, (test, metric, v, valid))| Measurement {
                    line: i as u64 + 2,
                    test_name: test.to_string(),
                    network_name: test.to_string(),
                    csv_network: test.to_string(),
                    metric: metric.to_string(),
                    metric_type: metric.to_uppercase(),
                    value: Some(*v),
                    raw_value: v.to_string(),
                    state: if *valid { "valid" } else { "invalid" }.into(),
                    valid: *valid,
                    failure_class: (!valid).then(|| "invalid_measurement".to_string()),
                    case: Some(0),
                    gpu_type: "H100".into(),
                    gpu_count: 8,
                    cluster: "lab".into(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    async fn temp_store() -> (tempfile::TempDir, HistoryStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = HistoryStore::open(&dir.path().join("history.db"))
            .await
            .unwrap();
        (dir, s)
    }

    #[tokio::test]
    async fn record_and_read_series_oldest_first() {
        let (_d, s) = temp_store().await;
        assert!(s.is_empty().await.unwrap());
        s.record(&sample_run(
            "b",
            "2026-11-02T00:00:00Z",
            &[
                ("case1", "token_throughput", 110.0, true),
                ("case1", "mean_ttft", 5.0, false),
            ],
        ))
        .await
        .unwrap();
        s.record(&sample_run(
            "a",
            "2026-11-01T00:00:00Z",
            &[("case1", "token_throughput", 100.0, true)],
        ))
        .await
        .unwrap();
        let all = s.series(&SeriesFilter::default()).await.unwrap();
        assert_eq!(all.len(), 2);
        let tp = all
            .iter()
            .find(|x| x.key.metric == "token_throughput")
            .unwrap();
        assert_eq!(tp.direction, Direction::HigherIsBetter);
        let vals: Vec<f64> = tp.points.iter().map(|p| p.value).collect();
        assert_eq!(vals, vec![100.0, 110.0]);
        assert_eq!(tp.points[0].commit.as_deref(), Some("c-a"));
        assert_eq!(tp.points[0].source, "local");
        assert_eq!(tp.points[0].provenance.config_hash.as_deref(), Some("abc"));
        let ttft = all.iter().find(|x| x.key.metric == "mean_ttft").unwrap();
        assert!(!ttft.points[0].valid);
        assert_eq!(
            ttft.points[0].failure_class.as_deref(),
            Some("invalid_measurement")
        );
        assert_eq!(
            s.metrics().await.unwrap(),
            vec!["mean_ttft", "token_throughput"]
        );
        let only = s
            .series(&SeriesFilter {
                metric: Some("mean_ttft".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(only.len(), 1);
    }

    #[tokio::test]
    async fn recording_again_replaces_the_run() {
        let (_d, s) = temp_store().await;
        let r = sample_run(
            "k",
            "2026-11-01T00:00:00Z",
            &[("c", "token_throughput", 1.0, true)],
        );
        s.record(&r).await.unwrap();
        let mut r2 = r.clone();
        r2.measurements[0].value = Some(2.0);
        s.record(&r2).await.unwrap();
        s.record(&r2).await.unwrap();
        let all = s.series(&SeriesFilter::default()).await.unwrap();
        assert_eq!(all[0].points.len(), 1);
        assert_eq!(all[0].points[0].value, 2.0);
        assert_eq!(s.run_count().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn k_expression_run_filters_and_last_points() {
        let (_d, s) = temp_store().await;
        for (i, day) in ["01", "02", "03"].iter().enumerate() {
            s.record(&sample_run(
                &format!("r{i}"),
                &format!("2026-11-{day}T00:00:00Z"),
                &[
                    ("llama_fp8", "token_throughput", i as f64, true),
                    ("deepseek", "token_throughput", 10.0 + i as f64, true),
                ],
            ))
            .await
            .unwrap();
        }
        let f = SeriesFilter {
            k_expr: Some(KExpr::parse("llama and not deepseek").unwrap()),
            last_points: Some(2),
            ..Default::default()
        };
        let got = s.series(&f).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].key.test_name, "llama_fp8");
        assert_eq!(
            got[0].points.iter().map(|p| p.value).collect::<Vec<_>>(),
            vec![1.0, 2.0]
        );
        let one = s
            .series(&SeriesFilter {
                run_key: Some("r1".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(one.len(), 2);
        assert!(
            one.iter()
                .all(|x| x.points.len() == 1 && x.points[0].run_key == "r1")
        );
        assert_eq!(s.run_keys().await.unwrap(), vec!["r2", "r1", "r0"]);
        let whole = s
            .series(&SeriesFilter {
                series_of_run: Some("r1".into()),
                k_expr: Some(KExpr::parse("deepseek").unwrap()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(whole.len(), 1);
        assert_eq!(
            whole[0].points.len(),
            3,
            "the whole series of a key r1 measured"
        );
        for f in [
            SeriesFilter {
                run_key: Some("nope".into()),
                ..Default::default()
            },
            SeriesFilter {
                series_of_run: Some("nope".into()),
                ..Default::default()
            },
        ] {
            assert!(s.series(&f).await.unwrap().is_empty());
        }
    }

    #[tokio::test]
    async fn acceptances_round_trip() {
        let (_d, s) = temp_store().await;
        let key = SeriesKey {
            test_name: "t".into(),
            network_name: "t".into(),
            metric: "token_throughput".into(),
            gpu_type: "H100".into(),
            gpu_count: 8,
            cluster: "lab".into(),
        };
        let a = Acceptance {
            key: key.clone(),
            since: DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
                .unwrap()
                .into(),
            reason: "new kernel".into(),
            accepted_by: Some("me".into()),
            accepted_at: DateTime::parse_from_rfc3339("2026-11-02T00:00:00Z")
                .unwrap()
                .into(),
        };
        s.accept(&a).await.unwrap();
        assert_eq!(
            s.acceptances(&SeriesFilter::default()).await.unwrap(),
            vec![a]
        );
        let none = s
            .acceptances(&SeriesFilter {
                metric: Some("mean_ttft".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(none.is_empty());
    }

    #[tokio::test]
    async fn foreign_files_are_refused_with_one_sentence() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("history.db");
        std::fs::write(&text, "hello, I am a text file\n").unwrap();
        let e = HistoryStore::open(&text).await.unwrap_err().to_string();
        assert!(e.contains("is not a perf-run history"), "{e}");
        assert!(e.contains("not an SQLite database"), "{e}");
        assert!(e.contains(&text.display().to_string()), "{e}");

        let other = dir.path().join("other.db");
        {
            let opts = SqliteConnectOptions::new()
                .filename(&other)
                .create_if_missing(true);
            let pool = SqlitePoolOptions::new().connect_with(opts).await.unwrap();
            sqlx::query("CREATE TABLE runs (id INTEGER PRIMARY KEY, x TEXT)")
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
        let e = HistoryStore::open(&other).await.unwrap_err().to_string();
        assert!(e.contains("other tables (runs)"), "{e}");

        // A history from a newer perf-run (a migration this one does not know).
        let newer = dir.path().join("newer.db");
        {
            let s = HistoryStore::open(&newer).await.unwrap();
            sqlx::query(
                "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) \
                 VALUES (9999, 'future', CURRENT_TIMESTAMP, 1, x'00', 0)",
            )
            .execute(&s.pool)
            .await
            .unwrap();
            s.close().await;
        }
        let e = HistoryStore::open(&newer).await.unwrap_err().to_string();
        assert!(
            e.contains("written by a newer perf-run (schema version 9999)"),
            "{e}"
        );

        // A reopened history is fine (migrations are idempotent).
        let ok = dir.path().join("ok.db");
        HistoryStore::open(&ok).await.unwrap().close().await;
        let s = HistoryStore::open(&ok).await.unwrap();
        assert!(s.is_empty().await.unwrap());
    }
}
