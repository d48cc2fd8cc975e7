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
KNOBS = ("worker_crash", "failed_requests", "zero_tokens", "hang")

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


def parse_test_string(test_case_name):
    """(config_base_name, select_pattern, runtime_mode, benchmark_mode) of a test id (G3 rules)."""
    labels = test_case_name.split("-")
    if len(labels) < 2:
        raise ValueError(f"perf_sanity test must have a config file: {test_case_name!r}")
    prefix = labels[0]
    if "disagg" in prefix:
        if len(labels) < 3:
            raise ValueError(f"Disagg test must have benchmark_mode and config: {test_case_name!r}")
        if labels[1] not in ("e2e", "gen_only"):
            raise ValueError(f"Invalid benchmark_mode for disagg: {labels[1]!r}")
        result = ("-".join(labels[2:]), None, "disaggregated", labels[1])
    elif "aggr" in prefix:
        if len(labels) > 2 and labels[1] == "ctx_only":
            result = ("-".join(labels[2:]), None, "aggregated", "ctx_only")
        else:
            result = (labels[1], "-".join(labels[2:]) or None, "aggregated", None)
    else:
        raise ValueError(f"Invalid test name prefix: {prefix!r}")
    if not result[0]:
        raise ValueError(f"Empty config name in {test_case_name!r}")
    return result


def get_config_dir(benchmark_mode):
    folder = DISAGG_CONFIG_FOLDER if benchmark_mode in ("e2e", "gen_only", "ctx_only") else AGG_CONFIG_FOLDER
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
        if self.benchmark_mode in ("e2e", "gen_only", "ctx_only"):
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
        if mode == "gen_only":
            # Stub: gen_only runs without ctx workers (any CTX_<i> task that is started anyway
            # just waits for the benchmark and exits 0). Upstream G3 drops them only for
            # benchmark.mode gen_only_no_context.
            self.num_ctx = 0
        worker_env = environment.get("worker_env_var", "")
        ctx_env = " ".join(p for p in (worker_env, environment.get("ctx_worker_env_var", "")) if p)
        gen_env = " ".join(p for p in (worker_env, environment.get("gen_worker_env_var", "")) if p)
        self.server_env_var = environment.get("server_env_var", "")
        client_env = environment.get("client_env_var", "")

        raw = benchmark.get("concurrency_list", "1")
        values = [int(x) for x in (raw.split() if isinstance(raw, str) else raw if isinstance(raw, list) else [raw])]
        if mode == "gen_only":
            values = values[:1]

        name = f"{mode}-{base}"
        if mode == "ctx_only":
            ctx = dict(workers.get("ctx", {}))
            ctx.pop("cache_transceiver_config", None)
            ctx["disable_overlap_scheduler"] = True
            server = ServerConfig({"concurrency": -1, "name": name, "model_name": model_name,
                                   "gpus_per_node": gpus_per_node, "disagg_run_type": "aggr", **ctx}, ctx_env)
            self.server_configs = [server]
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
                          "iterations": 1 if mode == "gen_only" else benchmark.get("multi_round", 1),
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
                if self.benchmark_mode == "gen_only":
                    output += self.append_device_step_time(idx, c_idx, client, profile)
                outputs.append(output)
            for output in outputs:
                check_benchmark_errors(output)
        except Exception as e:
            report_error(e, self.disagg_logs(idx))
            raise
        finally:
            with open(status, "w") as f:
                f.write("Done")
        return outputs

    def append_device_step_time(self, idx, c_idx, client, profile):
        """gen_only: upstream parses gen_server_<i>.log; the stub appends the formula value."""
        value = stub_numbers.compute(client.concurrency, client.iterations, client.isl, client.osl,
                                     **profile)["device_step_time"]
        line = f"Average Per Iter Device Step Time (ms): {value:.2f}"
        with open(os.path.join(self.test_output_dir, f"trtllm-benchmark.{idx}.{c_idx}.log"), "a") as f:
            f.write(f"\n{line}\n")
        print(line, flush=True)
        return f"\n{line}\n"

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
                if self.benchmark_mode == "gen_only" and \
                        "mean_gen_worker_per_iter_device_step_time" not in metrics:
                    error_msg += f"gen_only test Server {idx} Client {c_idx} is missing the device step time. "
        if error_msg:
            raise RuntimeError(error_msg)


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
    return cases


def get_multi_test_cases():
    """Upstream's hard-coded MULTI_TEST_TEST_CASES (comma-separated server names)."""
    tiny = "tiny_llama_fp8_grace_blackwell"
    if not os.path.exists(os.path.join(get_config_dir(None), f"{tiny}.yaml")):
        return []
    return [f"aggr_upload-{tiny}-tiny_llama_fp8_tp1,tiny_llama_fp8_tp2"]


PERF_SANITY_TEST_CASES = list(dict.fromkeys(get_aggr_test_cases() + get_disagg_test_cases()
                                            + get_multi_test_cases()))


@pytest.mark.parametrize("perf_sanity_test_case", PERF_SANITY_TEST_CASES)
def test_e2e(output_dir, perf_sanity_test_case):
    config = PerfSanityTestConfig(perf_sanity_test_case, output_dir)
    config.parse_config_file()
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
