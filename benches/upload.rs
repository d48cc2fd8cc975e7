//! Benchmark: upload 10 000 `perf_result` rows in one run with perf-run's path (one
//! transaction, batched case lookups, multi-row INSERTs) versus the naive row-by-row path
//! (for each row: look the case up, insert it if missing, insert the result — every
//! statement autocommitted, as the legacy uploader did for cases) on the same server.
//!
//! Run: `cargo bench --bench upload` with the test services up (`scripts/test-cluster up`;
//! reads PERFCI_MYSQL_* or /tmp/perfci-svc/env). `PERF_RUN_BENCH_ROWS` changes the size,
//! `PERF_RUN_BENCH_REPS` the number of repetitions (default 3; medians are reported),
//! `PERF_RUN_BENCH_VERBOSE=1` prints the time of each phase.
//! Targets (issue): perf-run's path ≤ 1 s and ≥ 10× faster than the naive path.

use std::path::Path;
use std::time::{Duration, Instant};

use perf_run::perfdb::plan::{PlanInputs, PlanOptions, UploadPlan, build_plan};
use perf_run::perfdb::settings::DbOverrides;
use perf_run::perfdb::{DbSettings, db};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::{AssertSqlSafe, ConnectOptions, Row};

#[derive(Clone)]
struct MysqlEnv {
    host: String,
    port: u16,
    user: String,
    pass: String,
}

fn mysql_env() -> Option<MysqlEnv> {
    let file = std::fs::read_to_string("/tmp/perfci-svc/env").unwrap_or_default();
    let get = |k: &str| {
        std::env::var(k).ok().filter(|v| !v.is_empty()).or_else(|| {
            file.lines().find_map(|l| {
                l.trim()
                    .trim_start_matches("export ")
                    .strip_prefix(&format!("{k}="))
                    .map(|v| v.trim_matches('\'').trim_matches('"').to_string())
            })
        })
    };
    Some(MysqlEnv {
        host: get("PERFCI_MYSQL_HOST")?,
        port: get("PERFCI_MYSQL_PORT")?.parse().ok()?,
        user: get("PERFCI_MYSQL_USER")?,
        pass: get("PERFCI_MYSQL_PASS")?,
    })
}

fn opts(e: &MysqlEnv) -> MySqlConnectOptions {
    MySqlConnectOptions::new()
        .host(&e.host)
        .port(e.port)
        .username(&e.user)
        .password(&e.pass)
}

async fn create_db(e: &MysqlEnv, name: &str) -> MySqlConnection {
    let mut c = opts(e)
        .connect()
        .await
        .expect("connect to the test MariaDB");
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE DATABASE `{name}` CHARACTER SET utf8mb4"
    )))
    .execute(&mut c)
    .await
    .expect("create database");
    let mut c = opts(e).database(name).connect().await.expect("connect");
    let schema = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("sql/trt_perf_schema.sql"),
    )
    .expect("schema file");
    let body: String = schema
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    for stmt in body.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        sqlx::raw_sql(AssertSqlSafe(stmt.to_string()))
            .execute(&mut c)
            .await
            .expect("schema");
    }
    c
}

async fn drop_db(e: &MysqlEnv, name: &str) {
    if let Ok(mut c) = opts(e).connect().await {
        let _ = sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`")))
            .execute(&mut c)
            .await;
    }
}

async fn count(c: &mut MySqlConnection, table: &str) -> i64 {
    sqlx::query(AssertSqlSafe(format!("SELECT COUNT(*) FROM `{table}`")))
        .fetch_one(c)
        .await
        .expect("count")
        .get(0)
}

/// A long-format CSV with `n` distinct cases, two metrics each (2n CSV rows → n rows).
fn write_csv(path: &Path, n: usize) {
    let mut w = csv::Writer::from_path(path).expect("csv");
    w.write_record([
        "network_name",
        "test_name",
        "perf_metric",
        "total_time__sec",
        "state",
        "command",
        "metric_type",
    ])
    .expect("csv");
    for i in 0..n {
        let net = format!(
            "perf_sanity_bench[model-{}_bs:{}_con:{}]",
            i % 97,
            1 + i % 64,
            i
        );
        let cmd = format!(
            "trtllm-bench --model=model-{} --fp8 --concurrency={i}",
            i % 97
        );
        let test = format!("perf/test_perf_sanity.py::test_e2e[aggr_upload-{net}]");
        w.write_record([
            &net,
            &test,
            &format!("{}.5", 100 + i % 900),
            "12.5",
            "valid",
            &cmd,
            "INFERENCE_TIME",
        ])
        .expect("csv");
        w.write_record([
            &net,
            &test,
            &format!("{}.25", 1000 + i),
            "12.5",
            "valid",
            &cmd,
            "TOKEN_THROUGHPUT",
        ])
        .expect("csv");
    }
    w.flush().expect("csv");
}

/// The naive path: every statement autocommitted, one INSERT per perf_result row.
async fn naive_upload(c: &mut MySqlConnection, plan: &UploadPlan) -> usize {
    let r = &plan.run;
    let run_id = sqlx::query("INSERT INTO `runs` (`driver`, `cpu`, `os`, `gpu`, `cuda`, `cudnn`, `graphic_freq`, `memory_freq`, `tensorrt`, `notes`, `cl`, `trtllm`, `start_time`, `end_time`, `link`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(&r.driver).bind(&r.cpu).bind(&r.os).bind(&r.gpu).bind(&r.cuda).bind(&r.cudnn)
        .bind(&r.graphic_freq).bind(&r.memory_freq).bind(&r.tensorrt).bind(&r.notes).bind(&r.cl)
        .bind(&r.trtllm).bind(&r.start_time).bind(&r.end_time).bind(&r.link)
        .execute(&mut *c).await.expect("naive runs").last_insert_id();
    for x in &plan.results {
        let k = &x.case;
        let found = sqlx::query("SELECT `id` FROM `cases` WHERE `format` = ? AND `network` = ? AND `batchsize` = ? AND `precision` = ? AND `cmd` = ?")
            .bind(&k.format).bind(&k.network).bind(k.batchsize).bind(&k.precision).bind(&k.cmd)
            .fetch_optional(&mut *c).await.expect("naive select");
        let case_id: u64 = match found {
            Some(row) => row.get::<u32, _>(0).into(),
            None => sqlx::query("INSERT INTO `cases` (`format`, `network`, `batchsize`, `precision`, `cmd`) VALUES (?, ?, ?, ?, ?)")
                .bind(&k.format).bind(&k.network).bind(k.batchsize).bind(&k.precision).bind(&k.cmd)
                .execute(&mut *c).await.expect("naive case").last_insert_id(),
        };
        sqlx::query("INSERT INTO `perf_result` (`UUID`, `run_id`, `case_id`, `gpu_time`, `total_time`, `build_time`, `throughput`, `perf_data`, `log`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(&plan.run_key).bind(run_id).bind(case_id).bind(x.gpu_time).bind(x.total_time)
            .bind(x.build_time).bind(x.throughput).bind(&x.perf_data).bind(&x.log)
            .execute(&mut *c).await.expect("naive perf_result");
    }
    plan.results.len()
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let Some(env) = mysql_env() else {
        eprintln!(
            "upload bench: no test MariaDB (PERFCI_MYSQL_* or /tmp/perfci-svc/env); start it with `scripts/test-cluster up`."
        );
        std::process::exit(2);
    };
    let n: usize = std::env::var("PERF_RUN_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    if std::env::var("PERF_RUN_BENCH_VERBOSE").is_ok() {
        perf_run::output::set_verbosity(2);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let reps: usize = std::env::var("PERF_RUN_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&r| r > 0)
        .unwrap_or(3);
    let code = rt.block_on(run(env, n, reps));
    std::process::exit(code);
}

struct Rep {
    fast: Duration,
    fast_known: Duration,
    again: Duration,
    naive: Duration,
}

/// One repetition on two fresh databases.
async fn once(env: &MysqlEnv, plan: &UploadPlan) -> Rep {
    let n = plan.results.len();
    let tag = format!("{:08x}", rand::random::<u32>());
    let (a, b) = (
        format!("perfrun_t_bench_{tag}_a"),
        format!("perfrun_t_bench_{tag}_b"),
    );
    let mut ca = create_db(env, &a).await;
    let mut cb = create_db(env, &b).await;
    let settings_for = |schema: &str| {
        let e = env.clone();
        let schema = schema.to_string();
        DbSettings::resolve(&DbOverrides::default(), &move |k: &str| match k {
            "DB_HOST" => Some(e.host.clone()),
            "DB_PORT" => Some(e.port.to_string()),
            "DB_USER" => Some(e.user.clone()),
            "DB_PASSWORD" => Some(e.pass.clone()),
            "DB_SCHEMA" => Some(schema.clone()),
            _ => None,
        })
        .expect("settings")
    };

    // perf-run's path, all cases new (the worst case), then a second run whose cases exist,
    // then the second run again (found by its run key, nothing inserted).
    let sa = settings_for(&a);
    let t = Instant::now();
    let w = db::upload_plan(&sa, plan, false)
        .await
        .expect("perf-run upload");
    let fast = t.elapsed();
    assert!(matches!(w, db::Written::Inserted { rows, .. } if rows == n));
    let mut plan2 = plan.clone();
    plan2.run_key = format!("{}-second-run", plan.run_key);
    let t = Instant::now();
    let w2 = db::upload_plan(&sa, &plan2, false)
        .await
        .expect("perf-run upload 2");
    let fast_known = t.elapsed();
    assert!(
        matches!(w2, db::Written::Inserted { new_cases: 0, .. }),
        "{w2:?}"
    );
    let t = Instant::now();
    let w3 = db::upload_plan(&sa, &plan2, false)
        .await
        .expect("perf-run upload 3");
    let again = t.elapsed();
    assert!(matches!(w3, db::Written::AlreadyThere { .. }));

    // The naive path on an identical fresh database, same server, same process.
    let t = Instant::now();
    let rows = naive_upload(&mut cb, plan).await;
    let naive = t.elapsed();
    assert_eq!(rows, n);

    let (pa, pb) = (
        count(&mut ca, "perf_result").await,
        count(&mut cb, "perf_result").await,
    );
    let (kca, kcb) = (count(&mut ca, "cases").await, count(&mut cb, "cases").await);
    drop(ca);
    drop(cb);
    drop_db(env, &a).await;
    drop_db(env, &b).await;
    assert_eq!(pa as usize, 2 * n, "perf-run path rows (two runs)");
    assert_eq!(pb as usize, n, "naive path rows");
    assert_eq!((kca as usize, kcb as usize), (n, n));
    Rep {
        fast,
        fast_known,
        again,
        naive,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn spread(v: &[Duration]) -> String {
    let lo = v.iter().min().copied().unwrap_or_default();
    let hi = v.iter().max().copied().unwrap_or_default();
    format!("(min {:.3}, max {:.3})", lo.as_secs_f64(), hi.as_secs_f64())
}

async fn run(env: MysqlEnv, n: usize, reps: usize) -> i32 {
    let tmp = tempfile::tempdir().expect("tempdir");
    let csv_path = tmp.path().join("perf_script_test_results.csv");
    write_csv(&csv_path, n);
    let t = Instant::now();
    let plan = build_plan(
        &PlanInputs {
            metric_csv: csv_path,
            ..Default::default()
        },
        &PlanOptions {
            run_key: Some(format!("bench-{n}")),
            ..Default::default()
        },
    )
    .expect("plan");
    let t_plan = t.elapsed();
    assert_eq!(plan.results.len(), n);
    let version: String = match opts(&env).connect().await {
        Ok(mut c) => sqlx::query("SELECT VERSION()")
            .fetch_one(&mut c)
            .await
            .map(|r| r.get(0))
            .unwrap_or_default(),
        Err(_) => String::new(),
    };

    let mut reps_done = Vec::new();
    for _ in 0..reps {
        reps_done.push(once(&env, &plan).await);
    }
    let col = |f: fn(&Rep) -> Duration| reps_done.iter().map(f).collect::<Vec<_>>();
    let (fast, known, again, naive) = (
        col(|r| r.fast),
        col(|r| r.fast_known),
        col(|r| r.again),
        col(|r| r.naive),
    );
    let ratios: Vec<f64> = reps_done
        .iter()
        .map(|r| r.naive.as_secs_f64() / r.fast.as_secs_f64())
        .collect();
    let (m_fast, m_naive) = (median(fast.clone()), median(naive.clone()));
    let ratio = m_naive.as_secs_f64() / m_fast.as_secs_f64();
    let ok_time = m_fast <= Duration::from_secs(1);
    let ok_ratio = ratio >= 10.0;
    println!(
        "perf-run upload benchmark: {n} perf_result rows in one run ({n} distinct cases, {} CSV rows), MariaDB {version} at {}:{}, median of {reps} repetitions on fresh databases",
        2 * n,
        env.host,
        env.port
    );
    println!(
        "  build the plan from the CSV                     {}",
        secs(t_plan)
    );
    println!(
        "  perf-run path, all cases new (1 transaction)    {} {}",
        secs(m_fast),
        spread(&fast)
    );
    println!(
        "  perf-run path, cases already in the database    {} {}",
        secs(median(known.clone())),
        spread(&known)
    );
    println!(
        "  perf-run path, same run again (nothing to do)   {} {}",
        secs(median(again.clone())),
        spread(&again)
    );
    println!(
        "  naive path (autocommit, one INSERT per row)     {} {}",
        secs(m_naive),
        spread(&naive)
    );
    println!(
        "  speed-up (naive / perf-run, medians)            {ratio:.1}x (per repetition: {})",
        ratios
            .iter()
            .map(|r| format!("{r:.1}x"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  targets: perf-run path <= 1 s: {}; >= 10x faster: {}",
        if ok_time { "PASS" } else { "FAIL" },
        if ok_ratio { "PASS" } else { "FAIL" }
    );
    if ok_time && ok_ratio { 0 } else { 1 }
}
