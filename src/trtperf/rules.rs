//! The per-row rules of the legacy `trt_perf_parser.py` (reference §9.2): batch size,
//! precision, command normalisation, metric-type → `perf_data` key, and which metric feeds
//! `gpu_time` / `build_time` / `throughput`. They are kept as they are so that perf-run's rows
//! land on the same `cases` as years of history — with one deliberate change: the framework
//! (`cases.format`) comes from the data instead of always being "ONNX" (§11 item 13).

use std::sync::LazyLock;

use regex::{NoExpand, Regex};

fn re(p: &str) -> Regex {
    // The patterns are constants of this file; a typo fails every test at once.
    Regex::new(p).expect("constant regex")
}

/// The first `[...]` of a test name (non-greedy, as the legacy `\[(.*?)\]`).
pub fn bracket_param(name: &str) -> Option<&str> {
    static BRACKET: LazyLock<Regex> = LazyLock::new(|| re(r"\[(.*?)\]"));
    BRACKET
        .captures(name)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str())
}

/// §9.2 step 3: `test_perf_metric` tests of these metrics use the bracket of the test name as
/// the network name.
pub fn network_for_row<'a>(network_name: &'a str, test_name: &'a str) -> &'a str {
    const PER_INPUT: [&str; 6] = [
        "inference_time",
        "context_gpu_memory",
        "token_throughput",
        "seq_throughput",
        "seq_latency",
        "kv_cache_size",
    ];
    if test_name.contains("test_perf_metric") {
        let lower = test_name.to_lowercase();
        if PER_INPUT.iter().any(|m| lower.contains(m))
            && let Some(b) = bracket_param(test_name)
        {
            return b;
        }
    }
    network_name
}

/// §9.2 step 4: the network column is the network name without `-REFIT`, lower-cased.
pub fn case_network(network: &str) -> String {
    network.replace("-REFIT", "").to_lowercase()
}

/// §9.2 step 4, batch size: the legacy patterns, tried in this order. `"0"` means several
/// batch sizes (`bs:32+64`) or none found.
pub fn batch_size(network: &str) -> String {
    static MULTI_COLON: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)(bs:|maxbs:)(\d+\+\d+)"));
    static SINGLE_COLON: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)(bs:|maxbs:)(\d+)"));
    static MULTI: LazyLock<Vec<Regex>> = LazyLock::new(|| {
        [
            r"[-_/]bs_(\d+\+\d+)",
            r"[-_/]batch_size_(\d+\+\d+)",
            r"[-_/]bs(\d+\+\d+)",
            r"[-_/]b(\d+\+\d+)",
            r"batch(\d+\+\d+)",
        ]
        .iter()
        .map(|p| re(p))
        .collect()
    });
    static SINGLE: LazyLock<Vec<Regex>> = LazyLock::new(|| {
        [
            r"[-_/]bs_(\d+)",
            r"[-_/]batch_size_(\d+)",
            r"[-_/]bs(\d+)",
            r"[-_/]b(\d+)",
            r"batch(\d+)",
        ]
        .iter()
        .map(|p| re(p))
        .collect()
    });
    if MULTI_COLON.is_match(network) {
        return "0".into();
    }
    if let Some(c) = SINGLE_COLON.captures(network) {
        return c[2].to_string();
    }
    if MULTI.iter().any(|r| r.is_match(network)) {
        return "0".into();
    }
    for r in SINGLE.iter() {
        if let Some(c) = r.captures(network) {
            return c[1].to_string();
        }
    }
    "0".into()
}

/// Pre-Ampere GPUs default to FP32 instead of TF32 (§9.2 step 4; the legacy list).
pub fn is_pre_ampere(gpu: &str) -> bool {
    const PRE_AMPERE: [&str; 12] = [
        "P100",
        "P40",
        "P4",
        "Titan X",
        "V100",
        "Titan RTX",
        "RTX 6000",
        "RTX 8000",
        "RTX 2080",
        "T4",
        "TU104",
        "GTX1080",
    ];
    let g = gpu.to_lowercase();
    PRE_AMPERE.iter().any(|p| g.contains(&p.to_lowercase()))
}

/// §9.2 step 4, precision from substrings of the command, checked in the legacy order.
/// (Note the legacy order checks `float16` before `bfloat16`, so a command saying only
/// `bfloat16` is FP16; kept so that rows keep matching historical cases.)
pub fn precision(command: &str, gpu: &str) -> &'static str {
    let has = |subs: &[&str]| subs.iter().any(|s| command.contains(s));
    if has(&["float16", "--fp16", "-fp16"]) {
        "FP16"
    } else if has(&["int8"]) {
        "INT8"
    } else if has(&["bfloat16", "--bf16", "-bf16"]) {
        "BF16"
    } else if has(&["float32", "--noTF32", "-fp32"]) {
        "FP32"
    } else if has(&["fp8"]) {
        "FP8"
    } else if has(&["fp4", "nvfp4"]) {
        "FP4"
    } else if is_pre_ampere(gpu) {
        "FP32"
    } else {
        "TF32"
    }
}

/// §9.2 step 4, `format_command`: drop paths and options that do not change performance so
/// the same benchmark maps to the same `cases.cmd` across machines and days.
pub fn format_command(cmd: &str) -> String {
    static MASTER: LazyLock<Regex> = LazyLock::new(|| re(r"=/.*?/master/"));
    static AUTO_SYNC: LazyLock<Regex> = LazyLock::new(|| re(r"=/.*?auto_sync/data/"));
    static DATA: LazyLock<Regex> = LazyLock::new(|| re(r"=.*/data/"));
    static PATH_RULES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
        [
            (r"/\S*?demo/BERT/", ""),
            (r"/\S*?/workspace/generated_engine_data/", ""),
            (r"/\S*?/joc/bert_tf/", ""),
            (r"/\S*?/performance.cache", "performance.cache"),
            (r"/\S*?/benchmark.py", "benchmark.py"),
            (r"/\S*?/build.py", "build.py"),
            (r"/\S*?/gptSessionBenchmark", "gptSessionBenchmark"),
            (r"/\S*?/gptManagerBenchmark", "gptManagerBenchmark"),
            (r"/\S*?/bertBenchmark", "bertBenchmark"),
            (r"/\S*?/common/", ""),
            (r"\d{4}-\d{2}-\d{2}.*?/", "*/"),
            (r"/tmp.*? ", "/tmp* "),
        ]
        .iter()
        .map(|(p, r)| (re(p), *r))
        .collect()
    });
    static ENGINE: LazyLock<Regex> = LazyLock::new(|| re(r" /[^ ]+profile.engine"));
    static ONNX_DATA: LazyLock<Regex> = LazyLock::new(|| re(r" /[^ ]+/onnx_data/"));
    static PROXY: LazyLock<Regex> = LazyLock::new(|| re(r"=/.*proxy_engine/"));
    const FILTER_OPTIONS: [&str; 18] = [
        " --nvtxMode=verbose",
        " --dumpEngineInfo",
        " --separateProfileRun",
        " --dumpProfile",
        " --dataTransfers",
        " --noDataTransfers",
        " --noBuilderCache",
        " --safe",
        " --dumpLayerInfo",
        " --dump_layer_info",
        " --dump_profile",
        " --profilingVerbosity=detailed",
        " --explicitBatch",
        " --useCudaGraph",
        " --useSpinWait",
        " --refit",
        " --monitorMemory",
        " --monitor_memory",
    ];
    static FILTER_PATTERNS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
        [
            r" --avgTiming=\d+",
            r" --minTiming=\d+",
            r" --timingCacheFile=.*cache",
            r" --preview=.*",
            r" --profiling_verbosity=.*",
            r" --output_dir=.*workspace\S*",
            r" --output_dir=.*tmp\S*",
            r" --engine_dir=.*workspace\S*",
            r" --engine_dir=.*tmp\S*",
            r" --checkpoint_dir=.*tmp\S*",
            r" --encoder_engine_dir=.*workspace\S*",
            r" --decoder_engine_dir=.*workspace\S*",
            r" --dataset=.*workspace\S*",
            r" --dataset=.*tmp\S*",
            r" --workspace=\d+",
            r" --workspace=[^\s]+",
            r"/[^/]+/llm_models",
            r" --num_runs=\d+",
            r" --warm_up=\d+",
            r" --opt_num_tokens=\d+",
            r" --opt_batch_size=\d+",
            r" --duration=\d+",
            r" --input_timing_cache=[^ ]+",
            r" --output_timing_cache=[^ ]+",
        ]
        .iter()
        .map(|p| re(p))
        .collect()
    });
    fn tidy(s: &str) -> String {
        s.trim().replace('\\', "/").trim_matches('"').to_string()
    }

    let cmd = cmd
        .replace("trtexec_internal", "trtexec")
        .replace("trtexec_safe", "trtexec");
    let cmd = MASTER
        .replace_all(&tidy(&cmd), NoExpand("=data/"))
        .into_owned();
    let cmd = AUTO_SYNC.replace_all(&cmd, NoExpand("=")).into_owned();
    let mut cmd = DATA
        .replace_all(&tidy(&cmd), NoExpand("=data/"))
        .into_owned();
    for (r, with) in PATH_RULES.iter() {
        cmd = r.replace_all(&cmd, NoExpand(with)).into_owned();
    }
    cmd = cmd.replace(" --log_level=info", "");
    cmd = ENGINE
        .replace_all(&cmd, NoExpand(" profile.engine"))
        .into_owned();
    cmd = ONNX_DATA
        .replace_all(&cmd, NoExpand("/onnx_data/"))
        .into_owned();
    cmd = cmd.replace('"', " ");
    if cmd.contains("proxy_engine") {
        cmd = PROXY.replace_all(&cmd, NoExpand("=")).into_owned();
    }
    for o in FILTER_OPTIONS {
        cmd = cmd.replace(o, "");
    }
    for r in FILTER_PATTERNS.iter() {
        cmd = r.replace_all(&cmd, NoExpand("")).into_owned();
    }
    cmd.trim().to_string()
}

/// §9.2 step 5, `metrics_map`: the `perf_data` key of a metric type; any other type is
/// its lower-case name (e.g. `DISAGG_SERVER_TTFT` → `disagg_server_ttft`).
pub fn perf_data_key(metric_type: &str) -> String {
    let k = match metric_type {
        "PEAK_CPU_MEMORY" => "trt_peak_cpu_mem__MB",
        "PEAK_GPU_MEMORY" | "INFERENCE_PEAK_GPU_MEMORY" => "trt_peak_gpu_mem__GB",
        "BUILD_PEAK_CPU_MEMORY" => "trt_build_peak_cpu_memory__MB",
        "BUILD_PEAK_GPU_MEMORY" => "trt_build_peak_gpu_mem__MB",
        "BUILD_TIME" => "engine_build_time__sec",
        "LATENCY" | "INFERENCE_TIME" => "run_time__msec",
        "SEQ_LATENCY" => "seq_latency__msec",
        "FIRST_TOKEN_TIME" | "SERVER_TTFT" => "first_token_time__msec",
        "SERVER_MEDIAN_TTFT" => "server_median_ttft",
        "SERVER_MEAN_TTFT" => "mean_ttft__msec",
        "SERVER_P99_TTFT" => "p99_ttft__msec",
        "OUTPUT_TOKEN_TIME" | "SERVER_TPOT" => "output_token_time__msec",
        "SERVER_MEDIAN_TPOT" => "server_median_tpot",
        "SERVER_MEAN_TPOT" => "mean_tpot__msec",
        "SERVER_P99_TPOT" => "p99_tpot__msec",
        "SERVER_ITL" => "itl__msec",
        "SERVER_MEDIAN_ITL" => "server_median_itl",
        "SERVER_MEAN_ITL" => "mean_itl__msec",
        "SERVER_P99_ITL" => "p99_itl__msec",
        "SERVER_E2EL" => "server_e2el__msec",
        "SERVER_MEDIAN_E2EL" => "server_median_e2el",
        "SERVER_MEAN_E2EL" => "server_mean_e2el",
        "SERVER_P99_E2EL" => "server_p99_e2el",
        "TOKENS_PER_SEC" | "TOKEN_THROUGHPUT" => "tokens_per__sec",
        "SEQ_THROUGHPUT" => "seq_per__sec",
        "ENGINE_SIZE" => "engine_file_size__MB",
        "CONTEXT_GPU_MEMORY" => "execution_context_allocated_gpu_mem__MB",
        "KV_CACHE_SIZE" => "kv_cache_size__GB",
        other => return other.to_lowercase(),
    };
    k.to_string()
}

/// Which `perf_result` number column a metric type feeds (§9.2 step 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberColumn {
    GpuTime,
    BuildTime,
    Throughput,
}

pub fn number_column(metric_type: &str) -> Option<NumberColumn> {
    match metric_type {
        "INFERENCE_TIME" | "LATENCY" | "SERVER_E2EL" | "SERVER_MEDIAN_E2EL" => {
            Some(NumberColumn::GpuTime)
        }
        "BUILD_TIME" => Some(NumberColumn::BuildTime),
        "TOKEN_THROUGHPUT" | "TOKENS_PER_SEC" => Some(NumberColumn::Throughput),
        _ => None,
    }
}

/// The framework (`cases.format`), from the data instead of the legacy constant "ONNX"
/// (§11 item 13). Decided on the test name, network name and command, lower-cased, in order:
///
/// 1. `-onnx-`, `test_perf_onnx` or `trtexec` → `ONNX` (the TensorRT ONNX benchmarks);
/// 2. `autodeploy` → `AUTODEPLOY` (TensorRT-LLM's AutoDeploy backend, `-_autodeploy-`);
/// 3. `pytorch`, `test_perf_sanity`, `disagg`, `aggr_upload`, `trtllm-serve` → `PYTORCH`
///    (perf-sanity and the disagg framework run TensorRT-LLM's PyTorch backend);
/// 4. anything else → `TRT-LLM` (test_perf.py names without a backend token are the
///    TensorRT engine backend).
///
/// Upper case, as the legacy script upper-cases the framework. `--framework` overrides it.
pub fn framework(test_name: &str, network: &str, command: &str) -> &'static str {
    let hay = format!("{test_name}\n{network}\n{command}").to_lowercase();
    let any = |subs: &[&str]| subs.iter().any(|s| hay.contains(s));
    if any(&["-onnx-", "test_perf_onnx", "trtexec"]) {
        "ONNX"
    } else if any(&["autodeploy"]) {
        "AUTODEPLOY"
    } else if any(&[
        "pytorch",
        "test_perf_sanity",
        "disagg",
        "aggr_upload",
        "trtllm-serve",
    ]) {
        "PYTORCH"
    } else {
        "TRT-LLM"
    }
}

/// `--gpu` and `device_product_name` lose the word "NVIDIA" (reference §9.1).
pub fn gpu_name(raw: &str) -> String {
    raw.replace("NVIDIA", "").trim().to_string()
}

/// Legacy rows that `trt_perf_parser.py` filters out by `turtle_case_name` (§9.2 step 3).
pub fn legacy_filtered(turtle_case_name: &str) -> bool {
    turtle_case_name.contains("test_perf.py::test_perf_onnx_")
        || (turtle_case_name.contains("test_builder_perf.py::")
            && !turtle_case_name.contains("allCache"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "test_benchmark[disagg_perf_file:deepseek-r1-fp4_015_8k1k_dep:16_bs:64_mtp:0_ccbackend:UCX]_con:1075";

    #[test]
    fn batch_size_rules_in_order() {
        assert_eq!(batch_size(SAMPLE), "64");
        assert_eq!(batch_size("net-bs:32+64-x"), "0");
        assert_eq!(batch_size("net-MAXBS:512"), "512");
        assert_eq!(batch_size("model/bs_32+64"), "0");
        assert_eq!(batch_size("model/bs_32"), "32");
        assert_eq!(batch_size("model-batch_size_16"), "16");
        assert_eq!(batch_size("model_bs128"), "128");
        assert_eq!(batch_size("model-b16"), "16");
        assert_eq!(batch_size("modelbatch8"), "8");
        assert_eq!(batch_size("plain-model"), "0");
        // bs: wins over a later -b pattern
        assert_eq!(batch_size("x-b8-bs:4"), "4");
    }

    #[test]
    fn precision_rules_in_order() {
        let fixture_cmd = "disagg_benchmark --model=deepseek-r1-fp4 --fp4 --concurrency=1075";
        assert_eq!(precision(fixture_cmd, "GB200"), "FP4");
        assert_eq!(precision("run --fp16 --int8", ""), "FP16");
        assert_eq!(precision("run --int8", ""), "INT8");
        assert_eq!(precision("run --bf16", ""), "BF16");
        assert_eq!(
            precision("dtype=bfloat16", ""),
            "FP16",
            "legacy order: float16 first"
        );
        assert_eq!(precision("run --noTF32", ""), "FP32");
        assert_eq!(precision("quant fp8", ""), "FP8");
        assert_eq!(precision("nvfp4 model", ""), "FP4");
        assert_eq!(precision("run", "Tesla V100-SXM2"), "FP32");
        assert_eq!(precision("run", "H100"), "TF32");
    }

    /// The one precision rule, as `trt_perf_parser.py` `get_precision_from_command` applies
    /// it: case-sensitive substrings, legacy order, TF32 (FP32 on a pre-Ampere GPU) when
    /// nothing matches. The rows marked `writer` are where the long-CSV writer's former copy
    /// (lower-cased, no GPU) said otherwise (shown in the comment); the uploader's answer wins.
    #[test]
    fn precision_table() {
        for (command, gpu, want) in [
            (
                "perf_sanity_benchmark --fp4 --model=deepseek-r1-fp4",
                "GB200",
                "FP4",
            ),
            ("perf_sanity_benchmark --fp8 --model=m", "H100", "FP8"),
            ("run --fp16", "", "FP16"),
            ("run --int8", "", "INT8"),
            ("run --bf16", "", "BF16"),
            ("dtype=bfloat16", "", "FP16"),
            ("run -fp32", "", "FP32"),
            ("run --noTF32", "", "FP32"),
            ("quant fp8", "", "FP8"),
            ("nvfp4 model", "", "FP4"),
            ("run", "GB200", "TF32"),
            ("run", "unknown", "TF32"),
            ("run", "", "TF32"),
            // writer: FP8 (it lower-cased the model name)
            (
                "perf_sanity_benchmark --fp4 --model=Llama-3.3-70B-FP8",
                "GB200",
                "FP4",
            ),
            // writer: FP8, INT8, BF16, FP4, FP16 (upper case)
            ("perf_sanity_benchmark --model=Llama-FP8", "H100", "TF32"),
            ("perf_sanity_benchmark --model=Qwen-INT8", "H100", "TF32"),
            ("perf_sanity_benchmark --model=Llama-BF16", "H100", "TF32"),
            ("perf_sanity_benchmark --model=NVFP4-model", "H100", "TF32"),
            ("perf_sanity_benchmark --FP16", "GB200", "TF32"),
            // writer: FP32 (`--notf32` is not `--noTF32`)
            ("run --notf32", "H100", "TF32"),
            // writer: TF32 (it had no GPU)
            ("run", "Tesla V100-SXM2", "FP32"),
            ("run", "T4", "FP32"),
            ("run", "NVIDIA RTX 8000", "FP32"),
            ("perf_sanity_benchmark --model=Llama-FP8", "V100", "FP32"),
            (
                "perf_sanity_benchmark --concurrency=4 --tp=4 --ep=4 --pp=1",
                "T4",
                "FP32",
            ),
        ] {
            assert_eq!(precision(command, gpu), want, "{command:?} on {gpu:?}");
        }
    }

    #[test]
    fn format_command_strips_paths_and_options() {
        assert_eq!(
            format_command("disagg_benchmark --model=deepseek-r1-fp4 --fp4 --concurrency=1075"),
            "disagg_benchmark --model=deepseek-r1-fp4 --fp4 --concurrency=1075"
        );
        assert_eq!(
            format_command(
                "trtexec_internal --onnx=/home/u/ws/master/models/r50.onnx --fp16 --avgTiming=8 --useSpinWait --log_level=info"
            ),
            "trtexec --onnx=data/models/r50.onnx --fp16"
        );
        assert_eq!(
            format_command(
                "/opt/x/gptManagerBenchmark --engine_dir=/tmp/abc/workspace/eng --num_runs=10 --warm_up=2 --duration=60 --max_batch=8"
            ),
            "gptManagerBenchmark --max_batch=8"
        );
        assert_eq!(
            format_command("\"python3 /a/b/benchmark.py -m gpt\""),
            "python3 benchmark.py -m gpt"
        );
        assert_eq!(
            format_command("run --out=/tmp/xyz --x 2024-01-02_10/y"),
            "run --out=/tmp* --x */y"
        );
    }

    #[test]
    fn metric_keys() {
        assert_eq!(perf_data_key("DISAGG_SERVER_TTFT"), "disagg_server_ttft");
        assert_eq!(perf_data_key("DISAGG_SERVER_E2EL"), "disagg_server_e2el");
        assert_eq!(
            perf_data_key("MEDIAN_FIRST_TOKEN_TIME"),
            "median_first_token_time"
        );
        assert_eq!(perf_data_key("INFERENCE_TIME"), "run_time__msec");
        assert_eq!(perf_data_key("TOKEN_THROUGHPUT"), "tokens_per__sec");
        assert_eq!(perf_data_key("KV_CACHE_SIZE"), "kv_cache_size__GB");
        assert_eq!(number_column("SERVER_E2EL"), Some(NumberColumn::GpuTime));
        assert_eq!(number_column("DISAGG_SERVER_E2EL"), None);
        assert_eq!(number_column("BUILD_TIME"), Some(NumberColumn::BuildTime));
        assert_eq!(
            number_column("TOKENS_PER_SEC"),
            Some(NumberColumn::Throughput)
        );
    }

    #[test]
    fn framework_from_data() {
        assert_eq!(
            framework(SAMPLE, SAMPLE, "disagg_benchmark --fp4"),
            "PYTORCH"
        );
        assert_eq!(
            framework(
                "perf/test_perf_sanity.py::test_e2e[aggr_upload-cfg-srv]",
                "",
                ""
            ),
            "PYTORCH"
        );
        assert_eq!(
            framework(
                "test_perf[llama_8b-bench-pytorch-bfloat16-input_output_len:128,128]",
                "",
                ""
            ),
            "PYTORCH"
        );
        assert_eq!(
            framework("test_perf[llama_8b-bench-_autodeploy-float16]", "", ""),
            "AUTODEPLOY"
        );
        assert_eq!(
            framework("test_perf[llama_8b-bench-bfloat16-maxbs:256]", "", ""),
            "TRT-LLM"
        );
        assert_eq!(
            framework("x", "resnet-onnx-fp16", "trtexec --onnx=x"),
            "ONNX"
        );
    }

    #[test]
    fn network_rules() {
        assert_eq!(
            case_network(SAMPLE),
            "test_benchmark[disagg_perf_file:deepseek-r1-fp4_015_8k1k_dep:16_bs:64_mtp:0_ccbackend:ucx]_con:1075"
        );
        assert_eq!(case_network("GPT-REFIT-x"), "gpt-x");
        assert_eq!(
            network_for_row("net", "test_perf_metric_inference_time[llama-bs:1]"),
            "llama-bs:1"
        );
        assert_eq!(network_for_row("net", "test_perf_metric_other[x]"), "net");
        assert_eq!(bracket_param("a[b]c[d]"), Some("b"));
        assert_eq!(gpu_name("NVIDIA GB200"), "GB200");
        assert!(legacy_filtered("test_perf.py::test_perf_onnx_resnet"));
        assert!(legacy_filtered("test_builder_perf.py::x"));
        assert!(!legacy_filtered("test_builder_perf.py::x_allCache"));
    }
}
