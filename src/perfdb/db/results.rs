use super::*;

use sqlx::AssertSqlSafe;
use sqlx::mysql::MySqlConnection;

pub(super) fn approx_size(r: &ResultRow, key: &str) -> usize {
    // bytes on the wire, roughly: strings plus fixed-size numbers and per-value headers
    key.len() + r.perf_data.len() + r.log.len() + 9 * 12 + 64
}

pub(super) async fn insert_results(
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

pub(super) type MyQuery<'q> = sqlx::query::Query<'q, sqlx::MySql, sqlx::mysql::MySqlArguments>;

pub(super) fn bind_result<'q>(
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

pub(super) fn describe_row(r: &ResultRow) -> String {
    format!(
        "test {:?}, CSV line {}, batch size {}, precision {}",
        r.origin.test_name, r.origin.line, r.case.batchsize, r.case.precision
    )
}

/// A multi-row INSERT failed: InnoDB undid only that statement, so re-run its rows one by
/// one (still inside the transaction that is about to be rolled back) to name the row.
pub(super) async fn pinpoint_result(
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
