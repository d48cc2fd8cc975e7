-- perf-run history (issue #11): every measurement of every run, valid and invalid, with
-- provenance. Times are RFC 3339 UTC text (sqlx's chrono encoding), so they sort as text.

-- Marks the file as a perf-run history (a foreign database with a `runs` table is refused).
CREATE TABLE perf_run_history_meta (
    name  TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
INSERT INTO perf_run_history_meta (name, value) VALUES ('schema', 'perf-run.history');

-- One run of perf-run, or one legacy upload (`perf-run upload --source-metric-csv`).
CREATE TABLE runs (
    id               INTEGER PRIMARY KEY,
    run_key          TEXT NOT NULL UNIQUE,
    run_id           TEXT,
    origin           TEXT NOT NULL,
    start_time       TEXT NOT NULL,
    end_time         TEXT,
    commit_sha       TEXT,
    commit_time      TEXT,
    trtllm_version   TEXT,
    tensorrt_version TEXT,
    gpu_type         TEXT NOT NULL,
    gpu_count        INTEGER NOT NULL,
    cluster          TEXT NOT NULL,
    container_image  TEXT,
    link             TEXT,
    hostname         TEXT,
    driver           TEXT,
    cuda             TEXT,
    os               TEXT,
    cpu              TEXT,
    test_ids         TEXT NOT NULL,
    recorded_at      TEXT NOT NULL,
    recorded_by      TEXT NOT NULL
);
CREATE INDEX runs_start_time ON runs (start_time);

-- The provenance of one case of a run (its plan): config, servers, clients, shape, image.
CREATE TABLE run_cases (
    id              INTEGER PRIMARY KEY,
    run_pk          INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    test_id         TEXT NOT NULL,
    case_name       TEXT,
    config_name     TEXT,
    config_hash     TEXT,
    server_config   TEXT,
    client_config   TEXT,
    gpu_count       INTEGER,
    nodes           INTEGER,
    container_image TEXT,
    status          TEXT,
    failure_class   TEXT
);
CREATE INDEX run_cases_run ON run_cases (run_pk);

-- One series: what a measurement is compared with (issue #11: test case, metric, GPU type,
-- GPU count, cluster). Never deleted; measurements point at it.
CREATE TABLE series (
    id           INTEGER PRIMARY KEY,
    test_name    TEXT NOT NULL,
    network_name TEXT NOT NULL,
    metric       TEXT NOT NULL,
    gpu_type     TEXT NOT NULL,
    gpu_count    INTEGER NOT NULL,
    cluster      TEXT NOT NULL,
    UNIQUE (test_name, network_name, metric, gpu_type, gpu_count, cluster)
);
CREATE INDEX series_metric ON series (metric);

-- Every row of the run's long CSV: one metric of one test, valid or not. `case_pk` is the
-- run's case (run_cases.id; deleted with the run, like the measurement).
CREATE TABLE measurements (
    id            INTEGER PRIMARY KEY,
    run_pk        INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    series_pk     INTEGER NOT NULL REFERENCES series (id),
    case_pk       INTEGER,
    line          INTEGER NOT NULL,
    csv_network   TEXT NOT NULL,
    metric_type   TEXT NOT NULL,
    value         REAL,
    raw_value     TEXT NOT NULL,
    state         TEXT NOT NULL,
    valid         INTEGER NOT NULL,
    failure_class TEXT,
    note          TEXT
);
CREATE INDEX measurements_series ON measurements (series_pk, run_pk);
CREATE INDEX measurements_run ON measurements (run_pk);

-- Every measurement with its series key and run, for people querying the file with sqlite3.
CREATE VIEW measurement_rows AS
SELECT r.run_key, r.start_time, r.commit_sha, s.test_name, s.network_name, s.metric,
       s.gpu_type, s.gpu_count, s.cluster, m.value, m.valid, m.state, m.failure_class,
       m.note, m.line, m.csv_network, m.metric_type, m.raw_value
FROM measurements m JOIN series s ON s.id = m.series_pk JOIN runs r ON r.id = m.run_pk;

-- A change point someone accepted as the new normal (`perf-run regress --accept`).
CREATE TABLE acceptances (
    id           INTEGER PRIMARY KEY,
    test_name    TEXT NOT NULL,
    network_name TEXT NOT NULL,
    metric       TEXT NOT NULL,
    gpu_type     TEXT NOT NULL,
    gpu_count    INTEGER NOT NULL,
    cluster      TEXT NOT NULL,
    since        TEXT NOT NULL,
    reason       TEXT NOT NULL,
    accepted_by  TEXT,
    accepted_at  TEXT NOT NULL
);
CREATE INDEX acceptances_key ON acceptances (metric, test_name);
