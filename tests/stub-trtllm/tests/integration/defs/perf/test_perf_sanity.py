"""Stub of TensorRT-LLM's perf-sanity test (tests/integration/defs/perf/test_perf_sanity.py, G3).

Same test ids, config folders, roles, coordination files, output files, metric regexes and
failure checks as upstream, but the servers are fake (tensorrt_llm/commands/serve.py), the
benchmark client runs in-process (stub_client.py) and its numbers are deterministic
(stub_numbers.py). Nothing is uploaded anywhere. See ../../../../README.md for the contract.
"""

import copy
import fcntl
import glob
import os
import re
import secrets
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import yaml

import stub_client
import stub_numbers


def get_llm_root():
    """LLM_ROOT env, else the checkout this file lives in (<root>/tests/integration/defs/perf/)."""
    root = os.environ.get("LLM_ROOT")
    if not root:
        here = os.path.dirname(os.path.abspath(__file__))
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(here))))
    return root


def llm_models_root():
    return os.environ.get("LLM_MODELS_ROOT", "/scratch.trt_llm_data/llm-models")


def print_info(msg):
    print(f"[INFO] {msg}", flush=True)


DEFAULT_TIMEOUT = 10800  # slurm.timeout default for disagg configs (G3)
DEFAULT_READY_TIMEOUT = 600  # stub default; upstream uses 3600
CONFIG_WAIT_TIMEOUT = 600  # non-_0 workers wait this long for the _0 worker's config file
KNOBS = ("worker_crash", "failed_requests", "zero_tokens", "hang", "precheck_fail")

AGG_CONFIG_FOLDER = os.environ.get("AGG_CONFIG_FOLDER", "tests/scripts/perf-sanity/aggregated")
DISAGG_CONFIG_FOLDER = os.environ.get("DISAGG_CONFIG_FOLDER", "tests/scripts/perf-sanity/disaggregated")

# Upstream's PERF_METRIC_LOG_QUERIES: the 16 metrics every client must report.
PERF_METRIC_LOG_QUERIES = {
    "seq_throughput": re.compile(r"Request throughput \(req\/s\):\s+(-?[\d\.]+)"),
    "token_throughput": re.compile(r"Output token throughput \(tok\/s\):\s+(-?[\d\.]+)"),
    "total_token_throughput": re.compile(r"Total Token throughput \(tok\/s\):\s+(-?[\d\.]+)"),
    "user_throughput": re.compile(r"User throughput \(tok\/s\):\s+(-?[\d\.]+)"),
    "mean_ttft": re.compile(r"Mean TTFT \(ms\):\s+(-?[\d\.]+)"),
    "median_ttft": re.compile(r"Median TTFT \(ms\):\s+(-?[\d\.]+)"),
    "p99_ttft": re.compile(r"P99 TTFT \(ms\):\s+(-?[\d\.]+)"),
    "mean_itl": re.compile(r"Mean ITL \(ms\):\s+(-?[\d\.]+)"),
    "median_itl": re.compile(r"Median ITL \(ms\):\s+(-?[\d\.]+)"),
    "p99_itl": re.compile(r"P99 ITL \(ms\):\s+(-?[\d\.]+)"),
    "mean_tpot": re.compile(r"Mean TPOT \(ms\):\s+(-?[\d\.]+)"),
    "median_tpot": re.compile(r"Median TPOT \(ms\):\s+(-?[\d\.]+)"),
    "p99_tpot": re.compile(r"P99 TPOT \(ms\):\s+(-?[\d\.]+)"),
    "mean_e2el": re.compile(r"Mean E2EL \(ms\):\s+(-?[\d\.]+)"),
    "median_e2el": re.compile(r"Median E2EL \(ms\):\s+(-?[\d\.]+)"),
    "p99_e2el": re.compile(r"P99 E2EL \(ms\):\s+(-?[\d\.]+)"),
}
SPEC_DECODING_PERF_METRIC_LOG_QUERIES = {
    "al": re.compile(r"Mean Avg Decoded Tokens per Iter:\s+(-?[\d\.]+)"),
}
# gen_only: how long BENCHMARK waits for the gen_server_<i>.done sentinels (upstream: 120 s).
GEN_LOG_SENTINEL_TIMEOUT = 120
GEN_ONLY_PERF_METRIC_LOG_QUERIES = {
    "mean_gen_worker_per_iter_device_step_time": re.compile(
        r"Average Per Iter Device Step Time \(ms\):\s+(-?[\d\.]+)"),
}


# ---------------------------------------------------------------------------------------------
# Stub knobs and small helpers


def stub_knob():
    knob = os.environ.get("PERF_RUN_STUB_FAIL", "").strip()
    if knob and knob not in KNOBS:
        raise ValueError(f"PERF_RUN_STUB_FAIL={knob!r} is not a stub knob; expected one of {KNOBS}")
    return knob


def stub_fail_role():
    role = os.environ.get("PERF_RUN_STUB_FAIL_ROLE", "").strip() or "GEN_0"
    if not re.fullmatch(r"(CTX|GEN)_\d+|DISAGG_SERVER", role):
        raise ValueError(f"PERF_RUN_STUB_FAIL_ROLE={role!r}: expected CTX_<i>, GEN_<i> or DISAGG_SERVER")
    return role


def poll_interval():
    return float(os.environ.get("PERF_RUN_STUB_POLL_S", "") or 0.5)


def server_ready_timeout(mode):
    """TRTLLM_TEST_<mode>_SERVER_READY_TIMEOUT > TRTLLM_TEST_SERVER_READY_TIMEOUT > 600 s."""
    for var in (f"TRTLLM_TEST_{mode}_SERVER_READY_TIMEOUT", "TRTLLM_TEST_SERVER_READY_TIMEOUT"):
        raw = os.environ.get(var, "")
        if raw.strip().isdigit() and int(raw) > 0:
            return int(raw)
    return DEFAULT_READY_TIMEOUT


def to_env_dict(env_vars):
    return dict(kv.split("=", 1) for kv in (env_vars or "").split() if "=" in kv)


def serve_script():
    return os.path.join(get_llm_root(), "tensorrt_llm", "commands", "serve.py")


def get_model_path(model_name):
    path = os.path.join(llm_models_root(), model_name)
    return path if os.path.exists(path) else model_name


def http_status(url, timeout=2):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, OSError):
        return 0


def read_addr(path):
    try:
        with open(path) as f:
            reported = f.read().strip()
    except FileNotFoundError:
        return None
    if not reported:
        return None
    host, _, port = reported.rpartition(":")
    return host, int(port)


def wait_until(what, ready, timeout, check=None):
    """Poll ready() until it returns a true value; check() may raise to fail fast."""
    deadline = time.time() + timeout
    while True:
        if check:
            check()
        value = ready()
        if value:
            return value
        if time.time() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(poll_interval())


def check_alive(proc, name, log_path):
    if proc is not None and proc.poll() is not None:
        last = tail(log_path, 1).strip()
        raise RuntimeError(f"{name} exited with code {proc.returncode} (log: {log_path}; last line: {last})")


def tail(path, lines=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def report_error(error, log_files):
    print_info(f"Test failed: {error}")
    for path in log_files:
        if os.path.exists(path):
            print_info(f"---- last lines of {path} ----\n{tail(path)}")


def start_server(cmd, log_path, role, env_vars=""):
    env = copy.deepcopy(os.environ)
    env.update(to_env_dict(env_vars))
    env["STUB_SERVER_ROLE"] = role
    env["PYTHONUNBUFFERED"] = "1"
    print_info(f"Starting server ({role}). cmd is {cmd}")
    with open(log_path, "w") as log:
        return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)


def stop_server(proc):
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------------------------------------
# Configs


class ServerConfig:
    """The ServerConfig fields the stub needs, plus the extra-llm-api-config payload."""

    EXCLUDE_KEYS = ("mode", "concurrency", "name", "model_name", "disagg_run_type", "gpus",
                    "gpus_per_node", "match_mode", "client_configs", "backend",
                    "extra_llm_api_config_path", "server_env_var")

    def __init__(self, data, env_vars=""):
        self.model_name = data["model_name"]
        self.env_vars = env_vars
        self.disagg_run_type = data.get("disagg_run_type", "aggr")
        self.tp = data.get("tensor_parallel_size", 1)
        self.ep = data.get("moe_expert_parallel_size", 1)
        self.pp = data.get("pipeline_parallel_size", 1)
        self.cp = data.get("context_parallel_size", 1)
        self.gpus = data.get("gpus", self.tp * self.cp * self.pp)
        self.gpus_per_node = data.get("gpus_per_node", 0) or self.gpus
        self.max_batch_size = data.get("max_batch_size", 512)
        self.backend = data.get("backend", "pytorch")
        spec = data.get("speculative_config") or {}
        self.spec_decoding_type = spec.get("decoding_type", "")
        self.max_draft_len = spec.get("max_draft_len", spec.get("num_nextn_predict_layers", 0))
        self.name = data.get("name", "") or (
            f"{self.model_name}_tp{self.tp}_ep{self.ep}_pp{self.pp}_cp{self.cp}_bs{self.max_batch_size}")
        self.extra_llm_api_config_data = {k: v for k, v in data.items() if k not in self.EXCLUDE_KEYS}

    def config_path(self, test_output_dir):
        return os.path.join(test_output_dir, f"extra-llm-api-config.{self.disagg_run_type}.{self.name}.yml")

    def write_extra_llm_api_config(self, test_output_dir):
        path = self.config_path(test_output_dir)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            yaml.dump(self.extra_llm_api_config_data, f, default_flow_style=False, sort_keys=False)
        os.replace(tmp, path)
        return path

    def to_cmd(self, test_output_dir, host, report_addr):
        return [sys.executable, serve_script(), get_model_path(self.model_name), "--backend",
                self.backend, "--config", self.config_path(test_output_dir), "--host", host,
                "--port", "0", "--report_addr", report_addr]


class ClientConfig:
    def __init__(self, data, model_name, env_vars=""):
        self.model_name = model_name
        self.concurrency = data.get("concurrency", 1)
        self.iterations = data.get("iterations", 1)
        self.isl = data.get("isl", 1024)
        self.osl = data.get("osl", 1024)
        self.random_range_ratio = data.get("random_range_ratio", 0.0)
        self.backend = data.get("backend", "openai")
        self.use_chat_template = data.get("use_chat_template", False)
        self.streaming = data.get("streaming", True)
        self.trust_remote_code = data.get("trust_remote_code", True)
        self.env_vars = env_vars
        self.name = data.get("name", "") or (
            f"con{self.concurrency}_iter{self.iterations}_isl{self.isl}_osl{self.osl}")

    def to_cmd(self, host, port):
        """benchmark_serving arguments as upstream builds them (always the random dataset)."""
        model = get_model_path(self.model_name)
        cmd = ["--model", model, "--tokenizer", model,
               "--num-prompts", str(self.concurrency * self.iterations),
               "--max-concurrency", str(self.concurrency),
               "--percentile-metrics", "ttft,tpot,itl,e2el", "--ignore-eos", "--no-test-input",
               "--dataset-name", "random", "--random-ids", "--tokenize-on-client",
               "--random-input-len", str(self.isl), "--random-output-len", str(self.osl),
               "--random-range-ratio", str(self.random_range_ratio)]
        if self.backend:
            cmd += ["--backend", self.backend]
        if self.use_chat_template:
            cmd.append("--use-chat-template")
        if not self.streaming:
            cmd.append("--non-streaming")
        if self.trust_remote_code:
            cmd.append("--trust-remote-code")
        return cmd + ["--host", host, "--port", str(port)]


def parse_select_pattern(select_pattern):
    return [name.strip() for name in select_pattern.split(",")]


TEST_ID_MODIFIERS = ("time_breakdown",)
AGGREGATED_DISAGG_YAML_MODES = ("ctx_only", "gen_only_no_context")


def _split_modifier(rest, test_case_name):
    """Upstream 2026: `<prefix>-<mode>[-<modifier>]-<stem>`, modifiers from a closed list."""
    modifier = rest[0] if rest and rest[0] in TEST_ID_MODIFIERS else None
    if modifier:
        rest = rest[1:]
    if not rest:
        raise ValueError(f"test-case id has a modifier but no config: {test_case_name!r}")
    return modifier, "-".join(rest)


def parse_test_string(test_case_name):
    """(config_base_name, select_pattern, runtime_mode, benchmark_mode) of a test id (upstream
    2026 rules: the time_breakdown modifier; aggr ctx_only / gen_only_no_context read a disagg
    config on the aggregated launch path)."""
    labels = test_case_name.split("-")
    if len(labels) < 2:
        raise ValueError(f"perf_sanity test must have a config file: {test_case_name!r}")
    prefix = labels[0]
    if "disagg" in prefix:
        if len(labels) < 3:
            raise ValueError(f"Disagg test must have benchmark_mode and config: {test_case_name!r}")
        if labels[1] not in ("e2e", "gen_only"):
            raise ValueError(f"Invalid benchmark_mode for disagg: {labels[1]!r}")
        _, stem = _split_modifier(labels[2:], test_case_name)
        result = (stem, None, "disaggregated", labels[1])
    elif "aggr" in prefix:
        if len(labels) > 2 and labels[1] in AGGREGATED_DISAGG_YAML_MODES:
            _, stem = _split_modifier(labels[2:], test_case_name)
            result = (stem, None, "aggregated", labels[1])
        else:
            result = (labels[1], "-".join(labels[2:]) or None, "aggregated", None)
    else:
        raise ValueError(f"Invalid test name prefix: {prefix!r}")
    if not result[0]:
        raise ValueError(f"Empty config name in {test_case_name!r}")
    return result


DISAGG_CONFIG_MODES = ("e2e", "gen_only", "ctx_only", "gen_only_no_context")


def get_config_dir(benchmark_mode):
    folder = DISAGG_CONFIG_FOLDER if benchmark_mode in DISAGG_CONFIG_MODES else AGG_CONFIG_FOLDER
    return folder if os.path.isabs(folder) else os.path.join(get_llm_root(), folder)


# ---------------------------------------------------------------------------------------------
# The test

class PerfSanityTestConfig:
    def __init__(self, test_case_name, output_dir):
        self.case = test_case_name
        self.output_dir = output_dir
        self.knob = stub_knob()
        self.fail_role = stub_fail_role()
        config_base, self.select_pattern, runtime, self.benchmark_mode = parse_test_string(test_case_name)
        self.runtime = "multi_node_disagg_server" if runtime == "disaggregated" else "aggr_server"
        self.config_file = config_base if config_base.endswith(".yaml") else f"{config_base}.yaml"
        self.config_dir = get_config_dir(self.benchmark_mode)
        self.disagg_serving_type = os.environ.get("DISAGG_SERVING_TYPE", "BENCHMARK")
        self.test_output_dir = os.path.join(output_dir, test_case_name)
        os.makedirs(self.test_output_dir, exist_ok=True)
        self.server_configs = []  # aggr: [ServerConfig]; disagg: [(ctx, gen)]
        self.server_client_configs = {}

    # -- config parsing ------------------------------------------------------------------------

    def parse_config_file(self):
        path = os.path.join(self.config_dir, self.config_file)
        with open(path) as f:
            config = yaml.safe_load(f)
        if self.benchmark_mode in DISAGG_CONFIG_MODES:
            self._parse_disagg(config)
        else:
            self._parse_aggr(config)

    def _parse_aggr(self, config):
        selected = parse_select_pattern(self.select_pattern) if self.select_pattern else None
        model_name = config.get("metadata", {}).get("model_name", "")
        gpus_per_node = config.get("hardware", {}).get("gpus_per_node", 0)
        for data in config["server_configs"]:
            if selected is not None and data.get("name") not in selected:
                continue
            data = dict(data, concurrency=-1, gpus_per_node=gpus_per_node)
            data.setdefault("model_name", model_name)
            server = ServerConfig(data, data.get("server_env_var", ""))
            idx = len(self.server_configs)
            self.server_configs.append(server)
            self.server_client_configs[idx] = [
                ClientConfig(c, data["model_name"], c.get("client_env_var", ""))
                for c in data["client_configs"]]
        if selected is not None:
            missing = set(selected) - {s.name for s in self.server_configs}
            if missing:
                raise ValueError(f"server configs {sorted(missing)} not found in {self.config_file}")

    def _parse_disagg(self, config):
        base = os.path.splitext(self.config_file)[0]
        mode = self.benchmark_mode
        metadata = config.get("metadata", {})
        self.hardware = dict(config.get("hardware", {}))
        benchmark = config.get("benchmark", {})
        environment = config.get("environment", {})
        workers = config.get("worker_config", {})
        self.timeout = config.get("slurm", {}).get("timeout", DEFAULT_TIMEOUT)
        model_name = metadata.get("model_name", "")
        if not model_name:
            raise ValueError("model_name is required in metadata section")
        gpus_per_node = self.hardware.get("gpus_per_node", 0)
        self.num_ctx = self.hardware.get("num_ctx_servers", 0)
        self.num_gen = self.hardware.get("num_gen_servers", 0)
        if mode == "gen_only" and "gen_only_no_context" in benchmark.get("mode", "e2e"):
            # upstream: the YAML's benchmark.mode gen_only_no_context runs no ctx servers
            self.num_ctx = 0
        worker_env = environment.get("worker_env_var", "")
        ctx_env = " ".join(p for p in (worker_env, environment.get("ctx_worker_env_var", "")) if p)
        gen_env = " ".join(p for p in (worker_env, environment.get("gen_worker_env_var", "")) if p)
        self.server_env_var = environment.get("server_env_var", "")
        client_env = environment.get("client_env_var", "")

        raw = benchmark.get("concurrency_list", "1")
        values = [int(x) for x in (raw.split() if isinstance(raw, str) else raw if isinstance(raw, list) else [raw])]
        gen_only = mode in ("gen_only", "gen_only_no_context")
        if gen_only:
            values = values[:1]

        name = f"{mode}-{base}"
        if mode == "ctx_only":
            ctx = dict(workers.get("ctx", {}))
            ctx.pop("cache_transceiver_config", None)
            ctx["disable_overlap_scheduler"] = True
            server = ServerConfig({"concurrency": -1, "name": name, "model_name": model_name,
                                   "gpus_per_node": gpus_per_node, "disagg_run_type": "aggr", **ctx}, ctx_env)
            self.server_configs = [server]
        elif mode == "gen_only_no_context":
            # upstream 2026: the gen worker alone, worker + proxy + client in this one process
            if os.environ.get("TRTLLM_DISAGG_BENCHMARK_GEN_ONLY") != "1":
                raise RuntimeError("gen_only_no_context needs TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1 "
                                   "on every rank (the proxy and the workers read it)")
            gen = dict(workers.get("gen", {}))
            server = ServerConfig({"concurrency": -1, "name": name, "model_name": model_name,
                                   "gpus_per_node": gpus_per_node, "disagg_run_type": "aggr", **gen}, gen_env)
            self.server_configs = [server]
            self.num_ctx, self.num_gen = 0, 1
        else:
            key = self._internal_request_auth_key(config)
            common = {"internal_request_auth_key": key, "concurrency": values[0], "name": name,
                      "model_name": model_name, "gpus_per_node": gpus_per_node}
            ctx = ServerConfig({**common, "disagg_run_type": "ctx", **workers.get("ctx", {})}, ctx_env)
            gen = ServerConfig({**common, "disagg_run_type": "gen", **workers.get("gen", {})}, gen_env)
            self.server_configs = [(ctx, gen)]
        osl = 1 if mode == "ctx_only" else benchmark.get("output_length", 1024)
        self.server_client_configs = {0: [
            ClientConfig({"concurrency": c,
                          "iterations": 1 if gen_only else benchmark.get("multi_round", 1),
                          "isl": benchmark.get("input_length", 1024), "osl": osl,
                          "random_range_ratio": benchmark.get("benchmark_ratio", 0.0),
                          "backend": "openai", "use_chat_template": False,
                          "streaming": benchmark.get("streaming", True)}, model_name, client_env)
            for c in values]}

    def _internal_request_auth_key(self, config):
        if config.get("internal_request_auth_key"):
            return config["internal_request_auth_key"]
        key_path = os.path.join(self.test_output_dir, "internal_request_auth_key.txt")
        with open(f"{key_path}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if os.path.exists(key_path):
                    with open(key_path) as f:
                        key = f.read().strip()
                    if key:
                        return key
                key = secrets.token_hex(32)
                with open(key_path, "w") as f:
                    f.write(f"{key}\n")
                return key
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    # -- running -------------------------------------------------------------------------------

    def run_client(self, server_idx, client_idx, client, host, port, profile):
        log_path = os.path.join(self.test_output_dir, f"trtllm-benchmark.{server_idx}.{client_idx}.log")
        cmd = client.to_cmd(host, port)
        print_info(f"Starting client. cmd is python -m tensorrt_llm.serve.scripts.benchmark_serving {' '.join(cmd)}")
        return stub_client.run(cmd, log_path, profile, knob=self.knob)

    def run_aggr(self):
        outputs = {}
        for idx, server in enumerate(self.server_configs):
            server.write_extra_llm_api_config(self.test_output_dir)
            addr_path = os.path.join(self.test_output_dir, f"trtllm-serve.{idx}.addr")
            log_path = os.path.join(self.test_output_dir, f"trtllm-serve.{idx}.log")
            if os.path.exists(addr_path):
                os.remove(addr_path)
            proc = None
            try:
                proc = start_server(server.to_cmd(self.test_output_dir, "localhost", addr_path),
                                    log_path, "AGGR", server.env_vars)
                alive = lambda: check_alive(proc, f"trtllm-serve {idx} ({server.name})", log_path)  # noqa: E731
                host, port = wait_until(f"{addr_path}", lambda: read_addr(addr_path), DEFAULT_TIMEOUT, alive)
                wait_until(f"http://{host}:{port}/health", lambda: http_status(f"http://{host}:{port}/health") == 200,
                           server_ready_timeout("AGG"), alive)
                profile = {"tp": server.tp, "max_batch_size": server.max_batch_size,
                           "max_draft_len": server.max_draft_len if server.spec_decoding_type else 0}
                outputs[idx] = [self.run_client(idx, c_idx, client, host, port, profile)
                                for c_idx, client in enumerate(self.server_client_configs[idx])]
                for output in outputs[idx]:
                    check_benchmark_errors(output)
                if self.benchmark_mode == "gen_only_no_context":
                    # In-process case: the test appends the server's iteration lines to the
                    # log the launch script's srun appends to (upstream aggregated draft).
                    client = self.server_client_configs[idx][0]
                    append_iteration_lines(os.path.join(self.test_output_dir, "gen_server_0.log"),
                                           client, profile)
                    outputs[idx] = self.append_device_step_time(idx, outputs[idx], 1)
            except Exception as e:
                report_error(e, [log_path] + sorted(glob.glob(os.path.join(
                    self.test_output_dir, f"trtllm-benchmark.{idx}.*.log"))))
                raise
            finally:
                stop_server(proc)
        return outputs

    def hostnames_dir(self, idx=0):
        path = os.path.join(self.test_output_dir, f"hostnames-{os.environ.get('SLURM_JOB_ID', 'local')}-{idx}")
        os.makedirs(path, exist_ok=True)
        return path

    def failure_marker(self, idx=0):
        return os.path.join(self.hostnames_dir(idx), "worker_failed")

    def mark_failed(self, reason, idx=0):
        with open(self.failure_marker(idx), "a") as f:
            f.write(f"{self.disagg_serving_type}: {reason}\n")

    def check_no_failed_worker(self, idx=0):
        marker = self.failure_marker(idx)
        if os.path.exists(marker):
            with open(marker) as f:
                raise RuntimeError(f"a disaggregated task failed ({marker}): {f.read().strip()}")

    def status_file(self, idx=0):
        return os.path.join(self.test_output_dir, f"benchmark_status.{idx}.txt")

    def wait_for_benchmark_done(self, proc, name, log_path, idx=0):
        """Wait for BENCHMARK's status file; fail fast (and leave a marker) if our server dies."""
        def benchmark_done():
            return os.path.exists(self.status_file(idx))

        def alive():
            if proc is not None and proc.poll() is not None and not benchmark_done():
                self.mark_failed(f"{name} exited with code {proc.returncode} (log: {log_path})", idx)
                check_alive(proc, name, log_path)

        wait_until(self.status_file(idx), benchmark_done, self.timeout, alive)
        print_info(f"Benchmark status file found, terminating server {self.disagg_serving_type}")

    def run_disagg(self):
        role = self.disagg_serving_type
        idx = 0
        ctx, gen = self.server_configs[idx]
        if re.fullmatch(r"(CTX|GEN)_\d+", role):
            self.run_worker(role, ctx if role.startswith("CTX") else gen, idx)
            return {}
        if role == "DISAGG_SERVER":
            self.run_disagg_server(idx)
            return {}
        if role != "BENCHMARK":
            raise ValueError(f"DISAGG_SERVING_TYPE={role!r}: expected CTX_<i>, GEN_<i>, DISAGG_SERVER or BENCHMARK")
        return {idx: self.run_benchmark(idx, ctx, gen)}

    def run_worker(self, role, server, idx):
        config_path = server.config_path(self.test_output_dir)
        if role in ("CTX_0", "GEN_0"):
            server.write_extra_llm_api_config(self.test_output_dir)
        else:
            wait_until(config_path, lambda: os.path.exists(config_path), CONFIG_WAIT_TIMEOUT)
        hostname_file = os.path.join(self.hostnames_dir(idx), f"{role}.txt")
        log_path = os.path.join(self.test_output_dir, f"trtllm-serve.{role}.{idx}.log")
        proc = None
        try:
            proc = start_server(server.to_cmd(self.test_output_dir, socket.gethostname(), hostname_file),
                                log_path, role, server.env_vars)
            self.wait_for_benchmark_done(proc, f"trtllm-serve ({role})", log_path, idx)
            if role.startswith("GEN") and self.benchmark_mode == "gen_only":
                # The worker ranks' per-iteration lines reach the gen srun's output file
                # (gen_server_<i>.log) and nowhere else, upstream; the stub appends them there.
                client = self.server_client_configs[idx][0]
                profile = {"tp": server.tp, "max_batch_size": server.max_batch_size,
                           "max_draft_len": server.max_draft_len if server.spec_decoding_type else 0}
                append_iteration_lines(os.path.join(self.test_output_dir, f"gen_server_{role[4:]}.log"),
                                       client, profile)
        finally:
            print_info(f"Server {role} stopped")
            stop_server(proc)

    def run_disagg_server(self, idx):
        hostnames = self.hostnames_dir(idx)
        addr_path = os.path.join(hostnames, f"DISAGG_SERVER.{idx}.addr")
        if os.path.exists(addr_path):
            os.remove(addr_path)
        expected = self.num_ctx + self.num_gen

        def published():
            if os.path.exists(self.status_file(idx)):  # BENCHMARK already gave up
                return "benchmark done"
            files = [f for f in os.listdir(hostnames) if f.endswith(".txt")]
            ctx = sorted(f for f in files if f.startswith("CTX"))
            gen = sorted(f for f in files if f.startswith("GEN"))
            if self.num_ctx == 0:
                ctx = []
            return (ctx, gen) if len(ctx) + len(gen) >= expected else None

        def read(files):
            urls = []
            for name in files:
                with open(os.path.join(hostnames, name)) as f:
                    urls.append(f.read().strip())
            return urls

        try:
            found = wait_until(f"{expected} worker addresses in {hostnames}", published, self.timeout)
        except Exception as e:
            self.mark_failed(str(e), idx)
            raise
        if found == "benchmark done":
            print_info("Benchmark status file found before all workers published; not starting the router")
            return
        ctx_files, gen_files = found
        server_config = {
            "hostname": socket.gethostname(), "port": 0, "backend": "pytorch",
            "internal_request_auth_key": self.server_configs[idx][0].extra_llm_api_config_data.get(
                "internal_request_auth_key", ""),
            "context_servers": {"num_instances": self.num_ctx, "urls": read(ctx_files)},
            "generation_servers": {"num_instances": self.num_gen, "urls": read(gen_files)},
        }
        config_path = os.path.join(self.test_output_dir, f"server_config.{idx}.yaml")
        with open(config_path, "w") as f:
            yaml.dump(server_config, f)
        print_info(f"Server config file {config_path} generated")
        log_path = os.path.join(self.test_output_dir, f"trtllm-serve.DISAGG_SERVER.{idx}.log")
        cmd = [sys.executable, serve_script(), "disaggregated", "-c", config_path, "-t", str(self.timeout),
               "-r", str(self.timeout), "--report_addr", addr_path]
        proc = None
        try:
            proc = start_server(cmd, log_path, "DISAGG_SERVER", self.server_env_var)
            self.wait_for_benchmark_done(proc, "trtllm-serve disaggregated", log_path, idx)
        finally:
            print_info("Disagg server DISAGG_SERVER stopped")
            stop_server(proc)

    def run_benchmark(self, idx, ctx, gen):
        status = self.status_file(idx)
        if os.path.exists(status):  # left over from an earlier run in the same output dir
            os.remove(status)
        hostnames = self.hostnames_dir(idx)
        addr_path = os.path.join(hostnames, f"DISAGG_SERVER.{idx}.addr")
        outputs = []
        try:
            timeout = server_ready_timeout("DISAGG")
            deadline = time.time() + timeout
            host, port = wait_until(addr_path, lambda: read_addr(addr_path), timeout, self.check_no_failed_worker)
            url = f"http://{host}:{port}/health"
            wait_until(url, lambda: http_status(url) == 200, max(1, deadline - time.time()),
                       self.check_no_failed_worker)
            profile = {"tp": gen.tp, "ctx_tp": ctx.tp if self.num_ctx else gen.tp,
                       "max_batch_size": gen.max_batch_size,
                       "max_draft_len": gen.max_draft_len if gen.spec_decoding_type else 0}
            for c_idx, client in enumerate(self.server_client_configs[idx]):
                output = self.run_client(idx, c_idx, client, host, port, profile)
                outputs.append(output)
            for output in outputs:
                check_benchmark_errors(output)
        except Exception as e:
            report_error(e, self.disagg_logs(idx))
            raise
        finally:
            with open(status, "w") as f:
                f.write("Done")
        if self.benchmark_mode == "gen_only":
            # After the status file: the gen workers stop, their sruns are reaped, the launch
            # script touches gen_server_<i>.done, and only then is each gen log complete.
            self.wait_for_gen_log_sentinels()
            outputs = self.append_device_step_time(idx, outputs, self.num_gen)
        return outputs

    def wait_for_gen_log_sentinels(self, timeout=GEN_LOG_SENTINEL_TIMEOUT):
        """Upstream: wait (at most 120 s, a timeout is not an error) for gen_server_<i>.done."""
        sentinels = [os.path.join(self.test_output_dir, f"gen_server_{i}.done") for i in range(self.num_gen)]
        deadline = time.monotonic() + timeout
        while True:
            missing = [p for p in sentinels if not os.path.exists(p)]
            if not missing:
                return True
            if time.monotonic() > deadline:
                print_info(f"Timeout ({timeout}s) waiting for gen worker log sentinels {missing}; "
                           "parsing current log contents.")
                return False
            time.sleep(poll_interval())

    def append_device_step_time(self, idx, outputs, num_gen_servers):
        """Parse gen_server_<i>.log as upstream does and append the summary to every client log."""
        stats = parse_gen_worker_device_step_time(self.test_output_dir, num_gen_servers)
        if stats is None:
            return outputs
        lines = "\n".join([
            f"Average Per Iter Device Step Time (ms): {stats['mean']:.2f}",
            f"Median Per Iter Device Step Time (ms): {stats['median']:.4f}",
            f"Stdev Per Iter Device Step Time (ms): {stats['std']:.4f}",
            f"P75 Per Iter Device Step Time (ms): {stats['p75']:.4f}",
            f"P99 Per Iter Device Step Time (ms): {stats['p99']:.4f}",
        ])
        for c_idx in range(len(outputs)):
            with open(os.path.join(self.test_output_dir, f"trtllm-benchmark.{idx}.{c_idx}.log"), "a") as f:
                f.write(f"\n{lines}\n")
        print(lines, flush=True)
        return [o + f"\n{lines}\n" for o in outputs]

    def disagg_logs(self, idx):
        d = self.test_output_dir
        return (sorted(glob.glob(os.path.join(d, f"trtllm-serve.*.{idx}.log")))
                + sorted(glob.glob(os.path.join(d, f"trtllm-benchmark.{idx}.*.log"))))

    # -- results -------------------------------------------------------------------------------

    def spec_decoding(self, idx):
        servers = self.server_configs[idx]
        servers = servers if isinstance(servers, tuple) else (servers,)
        return any(s.spec_decoding_type for s in servers)

    def check_test_failure(self, outputs):
        all_queries = {**PERF_METRIC_LOG_QUERIES, **SPEC_DECODING_PERF_METRIC_LOG_QUERIES,
                       **GEN_ONLY_PERF_METRIC_LOG_QUERIES}
        error_msg = ""
        for idx, clients in self.server_client_configs.items():
            results = [parse_metrics(o, all_queries) for o in outputs.get(idx, [])]
            if len(results) != len(clients):
                error_msg += (f"Server {idx}'s perf results number: {len(results)} is not equal to "
                              f"client number: {len(clients)}. ")
            for c_idx, metrics in enumerate(results):
                print_info(f"Server {idx} client {c_idx} ({clients[c_idx].name}) metrics: {metrics}")
                missing = [k for k in PERF_METRIC_LOG_QUERIES if k not in metrics]
                if missing:
                    error_msg += (f"Some metrics in Server {idx} Client {c_idx} are missing: {missing}. "
                                  f"The parsed metrics is {metrics}. ")
                if self.spec_decoding(idx) and "al" not in metrics:
                    error_msg += (f"Speculative decoding test Server {idx} Client {c_idx} is missing "
                                  f"'Mean Avg Decoded Tokens per Iter' in benchmark output. ")
                if self.benchmark_mode in ("gen_only", "gen_only_no_context") and \
                        "mean_gen_worker_per_iter_device_step_time" not in metrics:
                    error_msg += (f"gen_only test Server {idx} Client {c_idx} is missing "
                                  f"'prev_device_step_time' in gen_server_*.log under {self.output_dir}. ")
        if error_msg:
            raise RuntimeError(error_msg)


_DEVICE_STEP_TIME_RE = re.compile(r"iter\s*=\s*(\d+),.*?prev_device_step_time\s*=\s*([\d.]+)\s*ms")
_NUM_GEN_TOKENS_RE = re.compile(r"'num_generation_tokens':\s*(\d+)")
_ITER_NSR_RE = re.compile(r"iter\s*=\s*(\d+),.*?num_scheduled_requests\s*=\s*(\d+)")


def append_iteration_lines(path, client, profile):
    """The per-iteration lines a gen worker prints (`prev_device_step_time`), with the stub's
    deterministic step time; iterations 0-4 (transfer wait, warm-up) are slower, as upstream's
    parser expects and skips. O_APPEND, like every writer of this log."""
    c_eff = max(1, min(client.concurrency, profile.get("max_batch_size") or client.concurrency))
    value = stub_numbers.compute(client.concurrency, client.iterations, client.isl, client.osl,
                                 **profile)["device_step_time"]
    with open(path, "a") as f:
        for it in range(12):
            step = value * (10 if it < 5 else 1)
            f.write(f"[TRT-LLM] [I] iter = {it}, global_rank = 0, rank = 0, currank_total_requests = "
                    f"{c_eff}/{c_eff}, host_step_time = 1.0ms, prev_device_step_time = {step:.4f} ms, "
                    f"num_scheduled_requests = {c_eff}, states = {{'num_ctx_requests': 0, "
                    f"'num_ctx_tokens': 0, 'num_generation_tokens': {c_eff}}}\n")


def _percentile(values, q):
    values = sorted(values)
    k = (len(values) - 1) * q / 100.0
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def parse_gen_worker_device_step_time(output_dir, num_gen_servers):
    """Upstream's scan: rows with iter >= 5, skipping a row right after an idle iteration, the
    most common num_generation_tokens bucket per file, statistics averaged across files."""
    per_file = []
    for i in range(num_gen_servers):
        path = os.path.join(output_dir, f"gen_server_{i}.log")
        if not os.path.exists(path):
            continue
        by_ngen = {}
        pred_iter = pred_nsr = None
        with open(path, errors="replace") as f:
            for line in f:
                if "prev_device_step_time" not in line:
                    continue
                m = _DEVICE_STEP_TIME_RE.search(line)
                if not m:
                    continue
                cur_iter = int(m.group(1))
                nsr = _ITER_NSR_RE.search(line)
                skip = cur_iter < 5 or (pred_nsr == 0 and pred_iter is not None and pred_iter == cur_iter - 1)
                pred_iter, pred_nsr = cur_iter, int(nsr.group(2)) if nsr else None
                if skip:
                    continue
                ngen = _NUM_GEN_TOKENS_RE.search(line)
                by_ngen.setdefault(int(ngen.group(1)) if ngen else -1, []).append(float(m.group(2)))
        if not by_ngen:
            continue
        values = max(by_ngen.items(), key=lambda kv: (len(kv[1]), kv[0]))[1]
        mean = sum(values) / len(values)
        std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5 if len(values) > 1 else 0.0
        per_file.append({"mean": mean, "median": _percentile(values, 50), "std": std,
                         "p75": _percentile(values, 75), "p99": _percentile(values, 99)})
    if not per_file:
        return None
    return {k: sum(d[k] for d in per_file) / len(per_file) for k in per_file[0]}


def parse_metrics(output, queries):
    """Upstream's rule: per line, the first not-yet-found metric whose regex matches wins."""
    metrics = {}
    for line in output.split("\n"):
        for name, regex in queries.items():
            if name in metrics:
                continue
            match = regex.search(line)
            if match:
                metrics[name] = float(match.group(1))
                break
    return metrics


def check_benchmark_errors(output):
    if not output:
        return
    failed = re.search(r"Failed requests:\s+(\d+)", output)
    if failed and int(failed.group(1)) > 0:
        raise RuntimeError(f"Benchmark output contains {int(failed.group(1))} failed requests.")
    if "!FAILED REQUESTS!" in output or "!CHECK LOG FOR ERRORS!" in output:
        raise RuntimeError("Benchmark output contains failure markers.")
    if not failed:
        ok = re.search(r"Successful requests:\s+(\d+)", output)
        num_prompts = re.search(r"num_prompts=(\d+)", output)
        if ok and num_prompts and int(num_prompts.group(1)) > int(ok.group(1)):
            raise RuntimeError(f"SA benchmark: {int(num_prompts.group(1)) - int(ok.group(1))} of "
                               f"{num_prompts.group(1)} requests failed ({ok.group(1)} successful).")


# ---------------------------------------------------------------------------------------------
# Parametrization (built at import time from the YAML files present, like upstream)

AGG_TEST_TYPES = ["aggr_upload", "aggr"]
DISAGG_TEST_TYPES = ["disagg_upload", "disagg"]


def get_server_config_names(yaml_path):
    try:
        with open(yaml_path) as f:
            data = yaml.safe_load(f)
        return [c.get("name", "") for c in data["server_configs"]]
    except Exception:
        return []


def get_aggr_test_cases():
    cases = []
    for path in sorted(glob.glob(os.path.join(get_config_dir(None), "*.yaml"))):
        base = os.path.splitext(os.path.basename(path))[0]
        names = get_server_config_names(path)
        for test_type in AGG_TEST_TYPES:
            cases.append(f"{test_type}-{base}")
            cases += [f"{test_type}-{base}-{name}" for name in names]
    return cases


def get_disagg_test_cases():
    cases = []
    paths = glob.glob(os.path.join(get_config_dir("e2e"), "*.yaml"))
    for base in sorted(os.path.splitext(os.path.basename(p))[0] for p in paths):
        for test_type in DISAGG_TEST_TYPES:
            cases.append(f"{test_type}-e2e-{base}")
            cases.append(f"{test_type}-gen_only-{base}")
        for test_type in AGG_TEST_TYPES:
            cases.append(f"{test_type}-ctx_only-{base}")
            cases.append(f"{test_type}-gen_only_no_context-{base}")
        cases.append(f"disagg_upload-e2e-time_breakdown-{base}")
    return cases


def get_multi_test_cases():
    """Upstream's hard-coded MULTI_TEST_TEST_CASES (comma-separated server names)."""
    tiny = "tiny_llama_fp8_grace_blackwell"
    if not os.path.exists(os.path.join(get_config_dir(None), f"{tiny}.yaml")):
        return []
    return [f"aggr_upload-{tiny}-tiny_llama_fp8_tp1,tiny_llama_fp8_tp2"]


PERF_SANITY_TEST_CASES = list(dict.fromkeys(get_aggr_test_cases() + get_disagg_test_cases()
                                            + get_multi_test_cases()))


def check_env_on_every_rank(env_vars):
    """Under trtllm-llmapi-launch (several ranks), every rank must carry the YAML's env vars
    with the same values: a rank without them diverges (spec decoding, MoE comm method) and
    hangs or measures something else. The stub launcher records each rank's environment."""
    ntasks = int(os.environ.get("SLURM_NTASKS", "1") or 1)
    # What a shell makes of the string (quoted tokens lose their quotes), as the launch
    # script's `eval` does on every rank.
    expected = dict(w.split("=", 1) for w in shlex.split(env_vars or "") if "=" in w)
    if ntasks <= 1 or not expected:
        return
    job = os.environ.get("SLURM_JOB_ID", os.environ.get("SLURM_JOBID", "local"))
    step = os.environ.get("SLURM_STEP_ID", os.environ.get("SLURM_STEPID", "0"))
    base = os.path.join(os.environ.get("jobWorkspace") or os.environ.get("TMPDIR") or "/tmp",
                        ".trtllm-llmapi-launch")
    if not os.path.exists(os.path.join(base, f"job{job}_step{step}.rank0.env")):
        return  # not started by the launcher
    problems = []
    for rank in range(1, ntasks):
        path = os.path.join(base, f"job{job}_step{step}.rank{rank}.env")
        wait_until(path, lambda p=path: os.path.exists(p), 60)
        with open(path, errors="replace") as f:
            got = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
        for k, v in expected.items():
            if got.get(k) != v:
                problems.append(f"rank {rank} has {k}={got.get(k)!r}, the config says {v!r}")
    if problems:
        raise RuntimeError("the config's env vars did not reach every rank: " + "; ".join(problems))


def check_trtllm_under_test(test_output_dir):
    """The product under test is whatever `import tensorrt_llm` gives (upstream imports it
    from site-packages, never from the checkout). When perf-run installed a wheel
    (PERF_RUN_TRTLLM_WHEEL), that must be it: otherwise the numbers belong to another build."""
    import importlib.metadata
    import importlib.util
    spec = importlib.util.find_spec("tensorrt_llm")
    version = location = None
    if spec is not None:
        import tensorrt_llm
        location = spec.origin
        try:
            version = importlib.metadata.version("tensorrt_llm")
        except importlib.metadata.PackageNotFoundError:
            version = getattr(tensorrt_llm, "__version__", None)
    with open(os.path.join(test_output_dir, "tensorrt_llm_under_test.txt"), "w") as f:
        f.write(f"{version} {location}\n")
    print_info(f"TensorRT-LLM under test: {version} from {location}")
    wheel = os.environ.get("PERF_RUN_TRTLLM_WHEEL", "")
    if wheel:
        want = os.path.basename(wheel).split("-")[1]
        if version != want:
            raise RuntimeError(f"the TensorRT-LLM under test is {version} from {location}, "
                               f"not the installed wheel {os.path.basename(wheel)}")


@pytest.mark.parametrize("perf_sanity_test_case", PERF_SANITY_TEST_CASES)
def test_e2e(output_dir, perf_sanity_test_case):
    config = PerfSanityTestConfig(perf_sanity_test_case, output_dir)
    check_trtllm_under_test(config.test_output_dir)
    config.parse_config_file()
    role = config.disagg_serving_type
    if config.runtime == "aggr_server":
        for server in config.server_configs:
            check_env_on_every_rank(server.env_vars)
    elif re.fullmatch(r"(CTX|GEN)_\d+", role):
        ctx, gen = config.server_configs[0]
        check_env_on_every_rank((ctx if role.startswith("CTX") else gen).env_vars)
    if config.runtime == "aggr_server":
        outputs = config.run_aggr()
    else:
        outputs = config.run_disagg()
        if config.disagg_serving_type != "BENCHMARK":
            print_info(f"Disagg serving type is {config.disagg_serving_type}, "
                       "skipping perf result parsing and upload.")
            return
    config.check_test_failure(outputs)
    print_info("Stub: results are never uploaded (OPEN_SEARCH_DB_BASE_URL is ignored).")
