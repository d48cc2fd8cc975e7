//! Talking to TRT_perf: connect (with a timeout and one-sentence errors), check the schema,
//! and write one run in ONE transaction — `runs`, get-or-create of each distinct case,
//! multi-row `perf_result` INSERTs, COMMIT; any error rolls everything back and names the
//! failing row (issue items 1, 4, 5).
//!
//! `cases.rs`: get-or-create of the `perf_cases` rows; `results.rs`: the `perf_result` inserts.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlSslMode};
use sqlx::{ConnectOptions, Connection, Row};

use super::plan::{CaseKey, ResultRow, UploadPlan};
use super::settings::{DbSettings, TlsMode};
use super::sqltext as q;

mod cases;
use cases::*;
mod results;
use results::*;

/// Why an upload did not happen. Every variant is a reason to keep the upload in the spool.
#[derive(Debug, thiserror::Error)]
pub enum DbFailure {
    /// DNS, refused connection, timeout, TLS: the server was not reached.
    #[error("{0}")]
    Unreachable(String),
    /// The server answered and refused the login or the schema.
    #[error("{0}")]
    Login(String),
    /// The schema lacks a table or column perf-run writes.
    #[error("{0}")]
    Schema(String),
    /// A statement failed; the transaction was rolled back.
    #[error("{0}")]
    Statement(String),
}

/// Result of one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    Inserted {
        run_id: u64,
        rows: usize,
        new_cases: usize,
    },
    AlreadyThere {
        run_id: u64,
    },
    /// Run `run_id`, written by the legacy uploader (no run key), has this run's start time,
    /// commit and cases; nothing was inserted (the migration guard; `--force` overrides).
    LegacyDuplicate {
        run_id: u64,
    },
}

/// Rows per multi-row INSERT (9 placeholders each; MySQL allows 65 535 per statement).
const ROWS_PER_INSERT: usize = 1000;
/// Networks per `IN (...)` lookup of existing cases.
const NETWORKS_PER_SELECT: usize = 1000;
/// Longest a whole upload may take once connected; past it the connection is dropped (the
/// server rolls the transaction back) and the upload is spooled instead of hanging a job.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// Seconds to wait for another upload of the same run key to finish.
const LOCK_WAIT_SECS: i64 = 60;

fn db_error(e: &sqlx::Error) -> Option<&MySqlDatabaseError> {
    match e {
        sqlx::Error::Database(d) => d.try_downcast_ref::<MySqlDatabaseError>(),
        _ => None,
    }
}

/// One sentence for a connection or login failure.
fn classify_connect(e: &sqlx::Error, s: &DbSettings, host: &str, user: &str) -> DbFailure {
    let at = format!("{host}:{}", s.port);
    if let Some(d) = db_error(e) {
        return match d.number() {
            1045 => DbFailure::Login(format!(
                "The database at {at} refused the login of user {user:?}: the user name or the password is not right; check DB_USER and the password {}.",
                s.password_source
            )),
            1044 => DbFailure::Login(format!(
                "User {user:?} may not use the schema {:?} on {at}; ask the database admin for access or fix --db-schema/DB_SCHEMA.",
                s.schema
            )),
            1049 => DbFailure::Schema(format!(
                "The database server at {at} has no schema {:?}; check --db-schema/DB_SCHEMA.",
                s.schema
            )),
            1130 => DbFailure::Login(format!(
                "The database at {at} does not accept connections from this machine for user {user:?} ({}).",
                d.message()
            )),
            n => DbFailure::Login(format!(
                "The database at {at} refused the connection: error {n}: {}.",
                d.message()
            )),
        };
    }
    match e {
        sqlx::Error::Io(io) => {
            let text = io.to_string();
            let lower = text.to_lowercase();
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                DbFailure::Unreachable(format!(
                    "Nothing is listening on {at} (connection refused); is the database server running, and are --db-host/--db-port right?"
                ))
            } else if lower.contains("lookup")
                || lower.contains("name or service not known")
                || lower.contains("no address associated")
                || lower.contains("nodename nor servname")
                || lower.contains("temporary failure in name resolution")
            {
                DbFailure::Unreachable(format!(
                    "The database host name {host:?} does not resolve ({text}); check --db-host/DB_HOST."
                ))
            } else {
                DbFailure::Unreachable(format!("Cannot reach the database at {at}: {text}."))
            }
        }
        sqlx::Error::Tls(t) => DbFailure::Unreachable(format!(
            "The TLS connection to the database at {at} failed ({t}); check --db-ssl-mode/DB_SSL_MODE (now {}) and --db-ssl-ca/DB_SSL_CA.",
            s.tls.name()
        )),
        sqlx::Error::Protocol(p) if p.contains("authentication plugin") => {
            // sqlx: "unknown authentication plugin: NAME (module:line)"
            let plugin = p
                .split("plugin:")
                .nth(1)
                .and_then(|t| t.split_whitespace().next())
                .unwrap_or("?");
            DbFailure::Login(format!(
                "The database at {at} wants user {user:?} to log in with the authentication plugin {plugin:?}, which perf-run does not support; ask the database admin for a user with mysql_native_password or caching_sha2_password (see docs/upload.md, \"Servers and logins\")."
            ))
        }
        other => {
            DbFailure::Unreachable(format!("Cannot connect to the database at {at}: {other}."))
        }
    }
}

/// Connect and log in, within `settings.connect_timeout`. The options are built here and
/// never formatted (their `Debug` contains the password, reference crates.md pitfall 5).
pub async fn connect(settings: &DbSettings) -> Result<MySqlConnection, DbFailure> {
    let (host, user, password) = settings
        .require_complete()
        .map_err(|e| DbFailure::Login(e.to_string()))?;
    let mut options = MySqlConnectOptions::new()
        .host(host)
        .port(settings.port)
        .username(user)
        .password(password.expose_secret())
        .database(&settings.schema)
        .charset("utf8mb4")
        .statement_cache_capacity(16)
        .ssl_mode(match settings.tls {
            TlsMode::Disabled => MySqlSslMode::Disabled,
            TlsMode::Preferred => MySqlSslMode::Preferred,
            TlsMode::Required => MySqlSslMode::Required,
            TlsMode::VerifyCa => MySqlSslMode::VerifyCa,
            TlsMode::VerifyIdentity => MySqlSslMode::VerifyIdentity,
        });
    if let Some(ca) = &settings.tls_ca {
        options = options.ssl_ca(ca);
    }
    match tokio::time::timeout(settings.connect_timeout, options.connect()).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(classify_connect(&e, settings, host, user)),
        Err(_) => Err(DbFailure::Unreachable(format!(
            "The database at {host}:{} did not answer within {} s; is the host reachable from here (firewall, VPN)?",
            settings.port,
            settings.connect_timeout.as_secs()
        ))),
    }
}

/// An integer column as u64, whatever its signedness and width.
fn int_at(row: &sqlx::mysql::MySqlRow, i: usize) -> Option<u64> {
    row.try_get::<Option<u64>, _>(i).ok().flatten().or_else(|| {
        row.try_get::<Option<i64>, _>(i)
            .ok()
            .flatten()
            .and_then(|v| u64::try_from(v).ok())
    })
}

/// Check that the schema has every column perf-run writes; name the first missing one.
pub async fn check_schema(
    conn: &mut MySqlConnection,
    settings: &DbSettings,
) -> Result<(), DbFailure> {
    let rows = sqlx::query(q::SCHEMA_COLUMNS)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| statement_failure("Reading the table columns", &e))?;
    let mut have: HashMap<String, BTreeSet<String>> = HashMap::new();
    for r in rows {
        let t: String = r.try_get(0).unwrap_or_default();
        let c: String = r.try_get(1).unwrap_or_default();
        have.entry(t).or_default().insert(c.to_lowercase());
    }
    for (table, cols) in q::REQUIRED_COLUMNS {
        let Some(present) = have.get(table) else {
            return Err(DbFailure::Schema(format!(
                "The schema {} has no table `{table}`; create it with sql/trt_perf_schema.sql or point --db-schema at the TRT_perf database.",
                settings.target()
            )));
        };
        for c in cols {
            if !present.contains(&c.to_lowercase()) {
                return Err(DbFailure::Schema(format!(
                    "The table `{table}` in {} has no column `{c}`, which perf-run writes; add it (see sql/trt_perf_schema.sql) or point --db-schema at the TRT_perf database.",
                    settings.target()
                )));
            }
        }
    }
    Ok(())
}

fn statement_failure(what: &str, e: &sqlx::Error) -> DbFailure {
    let detail = match db_error(e) {
        Some(d) => format!("error {}: {}", d.number(), d.message()),
        None => e.to_string(),
    };
    DbFailure::Statement(format!("{what} failed ({detail})"))
}

fn lock_name(run_key: &str) -> String {
    // GET_LOCK names are at most 64 characters.
    let h = hex::encode(Sha256::digest(run_key.as_bytes()));
    format!("perf-run:{}", &h[..40])
}

/// Find the run a key was uploaded as.
pub async fn find_run(conn: &mut MySqlConnection, run_key: &str) -> Result<Option<u64>, DbFailure> {
    let row = sqlx::query(q::FIND_RUN_BY_KEY)
        .bind(run_key)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| statement_failure("Looking up the run key in perf_result.UUID", &e))?;
    Ok(row.and_then(|r| int_at(&r, 0)))
}

/// The case identity the legacy uploader and perf-run share: everything but `format`
/// (legacy: always ONNX; perf-run: from the data), compared as MySQL's `_ci` collations do.
type CaseIdentity = (String, u64, String, String);

fn case_identity(network: &str, batchsize: u64, precision: &str, cmd: &str) -> CaseIdentity {
    let norm = |s: &str| s.trim_end_matches(' ').to_lowercase();
    (norm(network), batchsize, norm(precision), norm(cmd))
}

/// The migration guard: a run the legacy uploader wrote (its `perf_result.UUID` is NULL)
/// with the same start time and commit (`cl`) whose cases include every case of this plan.
/// Without a start time or a commit nothing identifies the run, and nothing is looked up.
pub async fn find_legacy_run(
    conn: &mut MySqlConnection,
    plan: &UploadPlan,
) -> Result<Option<u64>, DbFailure> {
    let (Some(start), cl) = (plan.run.start_time.as_deref(), plan.run.cl.trim()) else {
        return Ok(None);
    };
    if cl.is_empty() {
        return Ok(None);
    }
    let rows = sqlx::query(q::FIND_LEGACY_RUN_CASES)
        .bind(start)
        .bind(cl)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| statement_failure("Looking for a legacy upload of this run", &e))?;
    let mut runs: Vec<(u64, HashSet<CaseIdentity>)> = Vec::new();
    for r in rows {
        let Some(id) = int_at(&r, 0) else { continue };
        let text = |i: usize| -> String {
            r.try_get::<String, _>(i)
                .or_else(|_| {
                    r.try_get::<Vec<u8>, _>(i)
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                })
                .unwrap_or_default()
        };
        let key = case_identity(
            &text(1),
            int_at(&r, 2).unwrap_or(u64::MAX),
            &text(3),
            &text(4),
        );
        match runs.last_mut() {
            Some((last, set)) if *last == id => {
                set.insert(key);
            }
            _ => runs.push((id, HashSet::from([key]))),
        }
    }
    let ours: HashSet<CaseIdentity> = plan
        .results
        .iter()
        .map(|r| {
            case_identity(
                &r.case.network,
                u64::from(r.case.batchsize),
                &r.case.precision,
                &r.case.cmd,
            )
        })
        .collect();
    Ok(runs
        .into_iter()
        .find(|(_, theirs)| ours.is_subset(theirs))
        .map(|(id, _)| id))
}

/// Write the plan: look up the run key and a legacy upload of the same run (unless
/// `force`), then one transaction.
pub async fn write_plan(
    conn: &mut MySqlConnection,
    plan: &UploadPlan,
    force: bool,
) -> Result<Written, DbFailure> {
    let lock = lock_name(&plan.run_key);
    let got = sqlx::query(q::GET_LOCK)
        .bind(&lock)
        .bind(LOCK_WAIT_SECS)
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| statement_failure("Taking the upload lock of this run key", &e))?;
    if int_at(&got, 0) != Some(1) {
        return Err(DbFailure::Statement(format!(
            "Another upload of the same run (key {}) has held the database lock for over {LOCK_WAIT_SECS} s; retry later",
            plan.run_key
        )));
    }
    let result = write_locked(conn, plan, force).await;
    let _ = sqlx::query(q::RELEASE_LOCK)
        .bind(&lock)
        .execute(&mut *conn)
        .await;
    result
}

async fn write_locked(
    conn: &mut MySqlConnection,
    plan: &UploadPlan,
    force: bool,
) -> Result<Written, DbFailure> {
    if !force && let Some(run_id) = find_run(conn, &plan.run_key).await? {
        return Ok(Written::AlreadyThere { run_id });
    }
    if !force && let Some(run_id) = find_legacy_run(conn, plan).await? {
        return Ok(Written::LegacyDuplicate { run_id });
    }
    let packet: u64 = match sqlx::query(q::MAX_PACKET).fetch_one(&mut *conn).await {
        Ok(row) => int_at(&row, 0).unwrap_or(16 << 20),
        Err(_) => 16 << 20,
    };
    let mut tx = conn
        .begin()
        .await
        .map_err(|e| statement_failure("Starting the transaction", &e))?;
    match write_in_tx(&mut tx, plan, packet).await {
        Ok(w) => {
            tx.commit()
                .await
                .map_err(|e| statement_failure("COMMIT", &e))?;
            Ok(w)
        }
        Err(f) => {
            let _ = tx.rollback().await;
            Err(match f {
                DbFailure::Statement(m) => DbFailure::Statement(format!(
                    "{m}; the transaction was rolled back, nothing of this run was committed"
                )),
                other => other,
            })
        }
    }
}

async fn write_in_tx(
    conn: &mut MySqlConnection,
    plan: &UploadPlan,
    max_packet: u64,
) -> Result<Written, DbFailure> {
    let r = &plan.run;
    let res = sqlx::query(q::INSERT_RUN)
        .bind(&r.driver)
        .bind(&r.cpu)
        .bind(&r.os)
        .bind(&r.gpu)
        .bind(&r.cuda)
        .bind(&r.cudnn)
        .bind(r.cublas_value())
        .bind(&r.graphic_freq)
        .bind(&r.memory_freq)
        .bind(&r.tensorrt)
        .bind(&r.notes)
        .bind(&r.cl)
        .bind(&r.trtllm)
        .bind(&r.start_time)
        .bind(&r.end_time)
        .bind(&r.link)
        .bind(&r.commit_time)
        .execute(&mut *conn)
        .await
        .map_err(|e| statement_failure("Inserting the runs row", &e))?;
    let run_id = res.last_insert_id();

    let t = Instant::now();
    let (case_ids, new_cases) = resolve_cases(conn, &plan.results).await?;
    crate::output::debug(format!(
        "cases: {} distinct, {new_cases} new, resolved in {:.0?}",
        plan.case_count(),
        t.elapsed()
    ));
    let t = Instant::now();
    insert_results(conn, plan, run_id, &case_ids, max_packet).await?;
    crate::output::debug(format!(
        "perf_result: {} rows inserted in {:.0?}",
        plan.results.len(),
        t.elapsed()
    ));
    Ok(Written::Inserted {
        run_id,
        rows: plan.results.len(),
        new_cases,
    })
}

/// Connect, check the schema, write. Used by uploads and spool retries.
pub async fn upload_plan(
    settings: &DbSettings,
    plan: &UploadPlan,
    force: bool,
) -> Result<Written, DbFailure> {
    let mut conn = connect(settings).await?;
    let work = async {
        check_schema(&mut conn, settings).await?;
        write_plan(&mut conn, plan, force).await
    };
    let w = match tokio::time::timeout(UPLOAD_TIMEOUT, work).await {
        Ok(w) => w,
        Err(_) => {
            return Err(DbFailure::Statement(format!(
                "The upload did not finish within {} minutes, so perf-run gave up and the server rolled it back; is the database overloaded or the network stalled?",
                UPLOAD_TIMEOUT.as_secs() / 60
            )));
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), conn.close()).await;
    w
}
