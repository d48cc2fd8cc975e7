use super::*;
use crate::perfdb::SourceFiles;

fn write(p: &Path, s: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, s).unwrap();
}

const CSV: &str = "network_name,test_name,perf_metric,start_timestamp,end_timestamp,state,command,metric_type\n\
perf_sanity[aggr-cfg-srv-con4]_bs:64_con:4,perf_sanity[aggr-cfg-srv-con4]_bs:64_con:4,875.5,2026-11-30 09:31:08,2026-11-30 09:31:09,valid,bench --con=4,TOKEN_THROUGHPUT\n\
perf_sanity[aggr-cfg-srv-con4]_bs:64_con:4,perf_sanity[aggr-cfg-srv-con4]_bs:64_con:4,15.1,2026-11-30 09:31:08,2026-11-30 09:31:09,valid,bench --con=4,FIRST_TOKEN_TIME\n\
perf_sanity[aggr-cfg-srv2-con8]_bs:64_con:8,perf_sanity[aggr-cfg-srv2-con8]_bs:64_con:8,0,2026-11-30 09:31:08,2026-11-30 09:31:09,invalid,bench --con=8,TOKEN_THROUGHPUT\n";

#[test]
fn a_run_directory_gives_provenance_and_keeps_invalid_rows() {
    let d = tempfile::tempdir().unwrap();
    let run = d.path().join("20261130-093107-b944");
    write(&run.join("results/perf_script_test_results.csv"), CSV);
    let cfg = d.path().join("cfg.yaml");
    write(&cfg, "server_configs: []\n");
    write(
        &run.join("run.json"),
        r#"{"run_id":"20261130-093107-b944","cluster":{"name":"lab"},"cases":[
            {"case_dir":"00-a","test_id":"perf/t.py::test_e2e[aggr-cfg-srv]","case_name":"aggr-cfg-srv"},
            {"case_dir":"01-b","test_id":"perf/t.py::test_e2e[aggr-cfg-srv2]","case_name":"aggr-cfg-srv2"}]}"#,
    );
    write(
        &run.join("cases/00-a/plan.json"),
        &format!(
            r#"{{"config_name":"cfg","config_path":"{}","total_gpus":4,"total_nodes":1,
            "srun_args":["--container-image=nvcr.io/x:1"],
            "servers":[{{"name":"srv","gpus":4,"clients":[{{"name":"con4","concurrency":4}}]}}]}}"#,
            cfg.display()
        ),
    );
    write(
        &run.join("results/summary.json"),
        r#"{"cases":[{"test_id":"perf/t.py::test_e2e[aggr-cfg-srv]","status":"passed","failure_class":null,"job":{"job_id":"6"}},
        {"test_id":"perf/t.py::test_e2e[aggr-cfg-srv2]","status":"invalid","failure_class":"invalid_measurement"}],
        "run":{"run_id":"20261130-093107-b944","cluster":"lab","trtllm_commit":"ebc6777","commit_time":"2026-11-30 09:30:42",
        "sysinfo":{"gpu":"NVIDIA H100","gpu_count":8}}}"#,
    );
    let rec = run_record_from_dir(&run, &UploadOptions::default()).unwrap();
    assert_eq!(rec.origin, "run_dir");
    assert_eq!(rec.run_id.as_deref(), Some("20261130-093107-b944"));
    assert_eq!(rec.cluster, "lab");
    assert_eq!(rec.gpu_type, "H100");
    assert_eq!(rec.commit.as_deref(), Some("ebc6777"));
    assert_eq!(rec.container_image.as_deref(), Some("nvcr.io/x:1"));
    assert_eq!(rec.cases.len(), 2);
    let c0 = &rec.cases[0];
    assert_eq!(c0.config_name.as_deref(), Some("cfg"));
    assert_eq!(
        c0.config_hash.as_deref(),
        Some(hex::encode(Sha256::digest(b"server_configs: []\n")).as_str())
    );
    assert_eq!(c0.gpu_count, Some(4));
    assert!(c0.client_config.as_deref().unwrap().contains("con4"));
    assert!(!c0.server_config.as_deref().unwrap().contains("clients"));
    assert_eq!(rec.measurements.len(), 3);
    let m = &rec.measurements;
    assert_eq!(m[0].metric, "token_throughput");
    assert_eq!(m[0].value, Some(875.5));
    assert!(m[0].valid);
    assert_eq!(m[0].case, Some(0));
    assert_eq!(m[0].gpu_count, 4, "the case's GPUs win over the host's");
    assert_eq!(m[2].case, Some(1), "longest case name wins");
    assert!(!m[2].valid);
    assert_eq!(m[2].value, Some(0.0));
    assert_eq!(m[2].failure_class.as_deref(), Some("invalid_measurement"));
    assert_eq!(m[2].gpu_count, 8, "no plan.json: the host's GPU count");
    assert_eq!(
        rec.start_time,
        DateTime::parse_from_rfc3339("2026-11-30T09:31:08Z").unwrap()
    );
}

#[test]
fn legacy_flags_record_and_a_file_with_only_invalid_rows_is_kept() {
    let d = tempfile::tempdir().unwrap();
    let csv = d.path().join("m.csv");
    write(
        &csv,
        "network_name,test_name,perf_metric,state,command,metric_type\n\
         n1,t1,10,failed,c,INFERENCE_TIME\n\
         n2,t2,abc,valid,c,INFERENCE_TIME\n",
    );
    let opts = UploadOptions {
        info: perfdb::RunInfoArgs {
            start_time: Some("2026-11-01 10:00:00".into()),
            commit: Some("abc123".into()),
            gpu: Some("NVIDIA B200".into()),
            ..Default::default()
        },
        sources: SourceFiles {
            metric_csv: Some(csv),
            ..Default::default()
        },
        ..Default::default()
    };
    let rec = run_record_from_files(&opts).unwrap();
    assert_eq!(rec.origin, "upload_flags");
    assert_eq!(rec.commit.as_deref(), Some("abc123"));
    assert_eq!(rec.gpu_type, "B200");
    assert_eq!(rec.measurements.len(), 2);
    assert!(rec.measurements.iter().all(|m| !m.valid));
    assert_eq!(
        rec.measurements[0].failure_class.as_deref(),
        Some("test_failed")
    );
    assert_eq!(rec.measurements[1].value, None);
    assert_eq!(rec.test_ids, vec!["t1", "t2"]);
}
