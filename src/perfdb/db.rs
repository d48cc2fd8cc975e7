//! Talking to TRT_perf: connect (with a timeout and one-sentence errors), check the schema,
//! and write one run in ONE transaction — `runs`, get-or-create of each distinct case,
//! multi-row `perf_result` INSERTs, COMMIT; any error rolls everything back and names the
//! failing row (issue items 1, 4, 5).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlSslMode};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Row};

use super::plan::{CaseKey, ResultRow, UploadPlan};
use super::settings::{DbSettings, TlsMode};
use super::sqltext as q;

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

/// A hash of the case-insensitive, trailing-space-insensitive form of a key: how MySQL's
/// default `_ci` collations with PAD SPACE compare. Used only to decide when to ask the
/// database itself (a collision costs one extra lookup, never a wrong id).
fn loose_hash(k: &CaseKey) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut buf = String::with_capacity(
        k.format.len() + k.network.len() + k.precision.len() + k.cmd.len() + 4,
    );
    for field in [&k.format, &k.network, &k.precision, &k.cmd] {
        let f = field.trim_end_matches(' ');
        if f.is_ascii() {
            buf.extend(f.bytes().map(|b| char::from(b.to_ascii_lowercase())));
        } else {
            buf.extend(f.chars().flat_map(char::to_lowercase));
        }
        buf.push('\u{0}');
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    buf.hash(&mut h);
    k.batchsize.hash(&mut h);
    h.finish()
}

fn loose_eq(a: &CaseKey, b: &CaseKey) -> bool {
    let f = |x: &str, y: &str| {
        x.trim_end_matches(' ')
            .chars()
            .flat_map(char::to_lowercase)
            .eq(y.trim_end_matches(' ').chars().flat_map(char::to_lowercase))
    };
    a.batchsize == b.batchsize
        && f(&a.format, &b.format)
        && f(&a.network, &b.network)
        && f(&a.precision, &b.precision)
        && f(&a.cmd, &b.cmd)
}

fn decode_cases(
    rows: Vec<sqlx::mysql::MySqlRow>,
    out: &mut Vec<(u64, CaseKey)>,
) -> Result<(), DbFailure> {
    for row in rows {
        let Some(id) = int_at(&row, 0) else {
            return Err(DbFailure::Statement(
                "Reading cases.id failed (it is not an integer)".into(),
            ));
        };
        let text = |i: usize| -> String {
            row.try_get::<String, _>(i)
                .or_else(|_| {
                    row.try_get::<Vec<u8>, _>(i)
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                })
                .unwrap_or_default()
        };
        let batchsize = int_at(&row, 3)
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(u32::MAX);
        out.push((
            id,
            CaseKey {
                format: text(1),
                network: text(2),
                batchsize,
                precision: text(4),
                cmd: text(5),
            },
        ));
    }
    Ok(())
}

/// Cases with `id >= first` (read back what this transaction just inserted, in one query).
async fn select_from_id(
    conn: &mut MySqlConnection,
    first: u64,
) -> Result<Vec<(u64, CaseKey)>, DbFailure> {
    let rows = sqlx::query(q::SELECT_CASES_FROM_ID)
        .bind(first)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| statement_failure("Reading back the new cases", &e))?;
    let mut out = Vec::with_capacity(rows.len());
    decode_cases(rows, &mut out)?;
    Ok(out)
}

async fn select_by_network(
    conn: &mut MySqlConnection,
    networks: &[&str],
) -> Result<Vec<(u64, CaseKey)>, DbFailure> {
    let mut out = Vec::new();
    for chunk in networks.chunks(NETWORKS_PER_SELECT) {
        let sql = q::in_list(chunk.len());
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for n in chunk {
            query = query.bind(*n);
        }
        let rows = query
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| statement_failure("Looking up existing cases", &e))?;
        decode_cases(rows, &mut out)?;
    }
    Ok(out)
}

async fn select_one_case(
    conn: &mut MySqlConnection,
    k: &CaseKey,
) -> Result<Option<u64>, DbFailure> {
    let row = sqlx::query(q::SELECT_CASE)
        .bind(&k.format)
        .bind(&k.network)
        .bind(k.batchsize)
        .bind(&k.precision)
        .bind(&k.cmd)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| statement_failure("Looking up a case", &e))?;
    Ok(row.and_then(|r| int_at(&r, 0)))
}

/// Get-or-create every distinct case: one batched lookup by network, exact matches taken
/// directly, near matches (differing only in letter case or trailing spaces) settled by the
/// database's own `=` as the legacy per-case SELECT did, the rest inserted with multi-row
/// INSERTs and read back. Returns the id of each result row's case and how many were new.
async fn resolve_cases(
    conn: &mut MySqlConnection,
    results: &[ResultRow],
) -> Result<(Vec<u64>, usize), DbFailure> {
    let mut distinct: Vec<&CaseKey> = Vec::new();
    let mut seen: HashSet<&CaseKey> = HashSet::new();
    for r in results {
        if seen.insert(&r.case) {
            distinct.push(&r.case);
        }
    }
    let mut networks: Vec<&str> = distinct.iter().map(|k| k.network.as_str()).collect();
    networks.sort_unstable();
    networks.dedup();

    let t = Instant::now();
    let existing = select_by_network(conn, &networks).await?;
    crate::output::debug(format!(
        "cases: looked up {} networks, {} existing cases, in {:.0?}",
        networks.len(),
        existing.len(),
        t.elapsed()
    ));
    let mut exact: HashMap<&CaseKey, u64> = HashMap::with_capacity(existing.len());
    for (id, k) in &existing {
        exact.entry(k).or_insert(*id);
    }
    let mut ids: HashMap<&CaseKey, u64> = HashMap::with_capacity(distinct.len());
    let mut unmatched: Vec<&CaseKey> = Vec::new();
    for k in &distinct {
        match exact.get(*k) {
            Some(id) => {
                ids.insert(k, *id);
            }
            None => unmatched.push(k),
        }
    }
    let mut missing: Vec<&CaseKey> = Vec::new();
    if !unmatched.is_empty() {
        // Near matches (letter case, trailing spaces) are settled by the database's own `=`.
        let near: HashSet<u64> = existing.iter().map(|(_, k)| loose_hash(k)).collect();
        for k in unmatched {
            if !near.is_empty() && near.contains(&loose_hash(k)) {
                match select_one_case(conn, k).await? {
                    Some(id) => {
                        ids.insert(k, id);
                    }
                    None => missing.push(k),
                }
            } else {
                missing.push(k);
            }
        }
    }

    // Insert the missing cases; keys that only differ in letter case among themselves are
    // inserted once (the legacy per-case SELECT would have found the first one).
    let mut to_insert: Vec<&CaseKey> = Vec::new();
    let mut later: Vec<&CaseKey> = Vec::new();
    let mut by_loose: HashMap<u64, Vec<&CaseKey>> = HashMap::with_capacity(missing.len());
    for k in &missing {
        let group = by_loose.entry(loose_hash(k)).or_default();
        if group.iter().any(|g| loose_eq(g, k)) {
            later.push(k);
        } else {
            group.push(k);
            to_insert.push(k);
        }
    }
    let mut first_id: Option<u64> = None;
    let t = Instant::now();
    for (ci, chunk) in to_insert.chunks(ROWS_PER_INSERT).enumerate() {
        let sql = q::multi_row(q::INSERT_CASES_HEAD, q::CASE_TUPLE, chunk.len());
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for k in chunk {
            query = query
                .bind(&k.format)
                .bind(&k.network)
                .bind(k.batchsize)
                .bind(&k.precision)
                .bind(&k.cmd);
        }
        match query.execute(&mut *conn).await {
            // LAST_INSERT_ID is the first id of the statement; ids only grow, so every case
            // inserted here has an id >= the first one.
            Ok(r) => {
                first_id.get_or_insert(r.last_insert_id());
            }
            Err(e) => {
                let first = ci * ROWS_PER_INSERT;
                return Err(pinpoint_case(conn, chunk, first, to_insert.len(), &e).await);
            }
        }
    }
    if let Some(first) = first_id {
        crate::output::debug(format!(
            "cases: inserted {} in {:.0?}",
            to_insert.len(),
            t.elapsed()
        ));
        let t = Instant::now();
        let back = select_from_id(conn, first).await?;
        crate::output::debug(format!(
            "cases: read back {} in {:.0?}",
            back.len(),
            t.elapsed()
        ));
        let mut exact_back: HashMap<&CaseKey, u64> = HashMap::with_capacity(back.len());
        for (id, k) in &back {
            exact_back.entry(k).or_insert(*id);
        }
        for k in &to_insert {
            match exact_back.get(*k) {
                Some(id) => {
                    ids.insert(k, *id);
                }
                None => match select_one_case(conn, k).await? {
                    Some(id) => {
                        ids.insert(k, id);
                    }
                    None => {
                        return Err(DbFailure::Statement(format!(
                            "The case (network {:?}, batch size {}, precision {}) was inserted but cannot be read back, so the database changed the value; check that its sql_mode is strict",
                            k.network, k.batchsize, k.precision
                        )));
                    }
                },
            }
        }
    }
    for k in later {
        match select_one_case(conn, k).await? {
            Some(id) => {
                ids.insert(k, id);
            }
            None => {
                return Err(DbFailure::Statement(format!(
                    "The case (network {:?}, batch size {}, precision {}) cannot be found after inserting it",
                    k.network, k.batchsize, k.precision
                )));
            }
        }
    }
    let per_row = results
        .iter()
        .map(|r| ids.get(&r.case).copied().unwrap_or(0))
        .collect();
    Ok((per_row, to_insert.len()))
}

async fn pinpoint_case(
    conn: &mut MySqlConnection,
    chunk: &[&CaseKey],
    first: usize,
    total: usize,
    err: &sqlx::Error,
) -> DbFailure {
    let sql = q::multi_row(q::INSERT_CASES_HEAD, q::CASE_TUPLE, 1);
    for (i, k) in chunk.iter().enumerate() {
        let r = sqlx::query(AssertSqlSafe(sql.clone()))
            .bind(&k.format)
            .bind(&k.network)
            .bind(k.batchsize)
            .bind(&k.precision)
            .bind(&k.cmd)
            .execute(&mut *conn)
            .await;
        if let Err(e) = r {
            return statement_failure(
                &format!(
                    "Inserting new case {} of {} (network {:?}, batch size {}, precision {})",
                    first + i + 1,
                    total,
                    k.network,
                    k.batchsize,
                    k.precision
                ),
                &e,
            );
        }
    }
    statement_failure(
        &format!(
            "Inserting new cases {}–{} of {}",
            first + 1,
            first + chunk.len(),
            total
        ),
        err,
    )
}

fn approx_size(r: &ResultRow, key: &str) -> usize {
    // bytes on the wire, roughly: strings plus fixed-size numbers and per-value headers
    key.len() + r.perf_data.len() + r.log.len() + 9 * 12 + 64
}

async fn insert_results(
    conn: &mut MySqlConnection,
    plan: &UploadPlan,
    run_id: u64,
    case_ids: &[u64],
    max_packet: u64,
) -> Result<(), DbFailure> {
    // Keep each statement well inside max_allowed_packet.
    let budget = (max_packet as usize / 2).clamp(64 << 10, 32 << 20);
    let rows = &plan.results;
    let mut start = 0;
    while start < rows.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < rows.len() && end - start < ROWS_PER_INSERT {
            let sz = approx_size(&rows[end], &plan.run_key);
            if end > start && bytes + sz > budget {
                break;
            }
            bytes += sz;
            end += 1;
        }
        let sql = q::multi_row(q::INSERT_RESULTS_HEAD, q::RESULT_TUPLE, end - start);
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (row, &case_id) in rows[start..end].iter().zip(&case_ids[start..end]) {
            query = bind_result(query, plan, run_id, case_id, row);
        }
        if let Err(e) = query.execute(&mut *conn).await {
            return Err(pinpoint_result(conn, plan, run_id, case_ids, start, end, &e).await);
        }
        start = end;
    }
    Ok(())
}

type MyQuery<'q> = sqlx::query::Query<'q, sqlx::MySql, sqlx::mysql::MySqlArguments>;

fn bind_result<'q>(
    query: MyQuery<'q>,
    plan: &'q UploadPlan,
    run_id: u64,
    case_id: u64,
    r: &'q ResultRow,
) -> MyQuery<'q> {
    query
        .bind(&plan.run_key)
        .bind(run_id)
        .bind(case_id)
        .bind(r.gpu_time)
        .bind(r.total_time)
        .bind(r.build_time)
        .bind(r.throughput)
        .bind(&r.perf_data)
        .bind(&r.log)
}

fn describe_row(r: &ResultRow) -> String {
    format!(
        "test {:?}, CSV line {}, batch size {}, precision {}",
        r.origin.test_name, r.origin.line, r.case.batchsize, r.case.precision
    )
}

/// A multi-row INSERT failed: InnoDB undid only that statement, so re-run its rows one by
/// one (still inside the transaction that is about to be rolled back) to name the row.
async fn pinpoint_result(
    conn: &mut MySqlConnection,
    plan: &UploadPlan,
    run_id: u64,
    case_ids: &[u64],
    start: usize,
    end: usize,
    err: &sqlx::Error,
) -> DbFailure {
    let total = plan.results.len();
    if end - start > 1 {
        let sql = q::multi_row(q::INSERT_RESULTS_HEAD, q::RESULT_TUPLE, 1);
        let rows = plan.results[start..end].iter().zip(&case_ids[start..end]);
        for (i, (row, &case_id)) in rows.enumerate() {
            let query = sqlx::query(AssertSqlSafe(sql.clone()));
            let r = bind_result(query, plan, run_id, case_id, row)
                .execute(&mut *conn)
                .await;
            if let Err(e) = r {
                return statement_failure(
                    &format!(
                        "Inserting perf_result row {} of {total} ({})",
                        start + i + 1,
                        describe_row(row)
                    ),
                    &e,
                );
            }
        }
    } else {
        return statement_failure(
            &format!(
                "Inserting perf_result row {} of {total} ({})",
                start + 1,
                describe_row(&plan.results[start])
            ),
            err,
        );
    }
    statement_failure(
        &format!("Inserting perf_result rows {}–{end} of {total}", start + 1),
        err,
    )
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
