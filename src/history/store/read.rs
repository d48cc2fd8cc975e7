use super::*;

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row, Sqlite};
use std::collections::{HashMap, HashSet};

// Reading.
impl HistoryStore {
    /// Whether no run has been recorded yet.
    pub async fn is_empty(&self) -> Result<bool, HistoryError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM (SELECT 1 FROM runs LIMIT 1)")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| db_error(&self.path, "Reading", &e))?;
        Ok(n == 0)
    }

    /// How many runs are recorded.
    pub async fn run_count(&self) -> Result<u64, HistoryError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM runs")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| db_error(&self.path, "Reading", &e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The distinct metric names in the history (sorted), for "no such metric" messages.
    pub async fn metrics(&self) -> Result<Vec<String>, HistoryError> {
        sqlx::query_scalar("SELECT DISTINCT metric FROM series WHERE metric <> '' AND EXISTS (SELECT 1 FROM measurements m WHERE m.series_pk = series.id) ORDER BY metric")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| db_error(&self.path, "Reading", &e))
    }

    /// The run keys recorded, newest first (start time).
    pub async fn run_keys(&self) -> Result<Vec<String>, HistoryError> {
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
    pub async fn series(&self, filter: &SeriesFilter) -> Result<Vec<Series>, HistoryError> {
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
    pub async fn accept(&self, a: &Acceptance) -> Result<(), HistoryError> {
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
    pub async fn acceptances(
        &self,
        filter: &SeriesFilter,
    ) -> Result<Vec<Acceptance>, HistoryError> {
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
    ) -> Result<Option<Vec<Measurement>>, HistoryError> {
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
pub(super) struct RunInfo {
    pub(super) run_key: String,
    pub(super) time: DateTime<Utc>,
    pub(super) commit: Option<String>,
    pub(super) commit_time: Option<DateTime<Utc>>,
    pub(super) trtllm_version: Option<String>,
    pub(super) container_image: Option<String>,
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
pub(super) async fn run_pk(
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
pub(super) async fn read_series_keys(
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
