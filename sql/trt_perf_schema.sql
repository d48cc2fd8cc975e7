-- TRT_perf schema (reference §9.3, from the docstring of the legacy trt_perf_parser.py),
-- used to create fresh and test databases. Apply it inside the target schema, e.g.
--   mariadb -h HOST -u USER -p TRT_perf < sql/trt_perf_schema.sql
--
-- Differences from the documented production tables, all additive:
--   * runs.commit_time: the legacy INSERT writes it although the docstring does not list it
--     (reference §9.3, §12 item 3). Its production type is unknown; DATETIME here.
--   * indexes perf-run's lookups use (perf_result.UUID for the run key, cases by network).
--     perf-run works without them on the production database, only slower.
-- Column sizes are those perf-run checks values against before uploading (src/perfdb/plan.rs).

CREATE TABLE IF NOT EXISTS `runs` (
  `id`           int unsigned  NOT NULL AUTO_INCREMENT,
  `start_time`   datetime      NULL DEFAULT NULL,
  `end_time`     datetime      NULL DEFAULT NULL,
  `driver`       varchar(150)  NOT NULL,
  `cuda`         varchar(150)  NOT NULL,
  `cudnn`        varchar(150)  NOT NULL,
  `tensorrt`     varchar(150)  NOT NULL,
  `gpu`          varchar(150)  NOT NULL,
  `graphic_freq` varchar(150)  NOT NULL,
  `memory_freq`  varchar(150)  NOT NULL,
  `cpu`          varchar(150)  NULL DEFAULT NULL,
  `cl`           varchar(150)  NULL DEFAULT NULL,
  `os`           varchar(150)  NOT NULL,
  `notes`        varchar(2000) NULL DEFAULT NULL,
  `cublas`       varchar(150)  NULL DEFAULT NULL,
  `link`         varchar(2000) NULL DEFAULT NULL,
  `vbios`        varchar(150)  NULL DEFAULT NULL,
  `trtllm`       varchar(150)  NULL DEFAULT NULL,
  `commit_time`  datetime      NULL DEFAULT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS `cases` (
  `id`        int unsigned  NOT NULL AUTO_INCREMENT,
  `cmd`       varchar(2000) NOT NULL,
  `batchsize` int unsigned  NOT NULL,
  `format`    varchar(150)  NOT NULL,
  `network`   varchar(150)  NOT NULL,
  `precision` varchar(50)   NOT NULL,
  PRIMARY KEY (`id`),
  KEY `cases_network` (`network`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS `perf_result` (
  `id`            int unsigned  NOT NULL AUTO_INCREMENT,
  `UUID`          varchar(1500) NULL DEFAULT NULL,
  `case_id`       int unsigned  NOT NULL,
  `run_id`        int unsigned  NOT NULL,
  `gpu_time`      float(16,6)   NOT NULL,
  `total_time`    float(16,6)   NULL DEFAULT NULL,
  `fp16_vs_fp32`  float(16,6)   NULL DEFAULT NULL,
  `int8_vs_fp16`  float(16,6)   NULL DEFAULT NULL,
  `int8_vs_fp32`  float(16,6)   NULL DEFAULT NULL,
  `build_time`    float(16,6)   NULL DEFAULT NULL,
  `perf_data`     json          NULL DEFAULT NULL,
  `perf_baseline` json          NULL DEFAULT NULL,
  `throughput`    float(16,6)   NULL DEFAULT NULL,
  `log`           longtext      NULL DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `perf_result_case_id` (`case_id`),
  KEY `perf_result_run_id` (`run_id`),
  KEY `perf_result_uuid` (`UUID`(191))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
