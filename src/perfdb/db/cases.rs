use super::*;

use sqlx::mysql::MySqlConnection;
use sqlx::{AssertSqlSafe, Row};
use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// A hash of the case-insensitive, trailing-space-insensitive form of a key: how MySQL's
/// default `_ci` collations with PAD SPACE compare. Used only to decide when to ask the
/// database itself (a collision costs one extra lookup, never a wrong id).
pub(super) fn loose_hash(k: &CaseKey) -> u64 {
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

pub(super) fn loose_eq(a: &CaseKey, b: &CaseKey) -> bool {
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

pub(super) fn decode_cases(
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
pub(super) async fn select_from_id(
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

pub(super) async fn select_by_network(
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

pub(super) async fn select_one_case(
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
pub(super) async fn resolve_cases(
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

pub(super) async fn pinpoint_case(
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
