"""Stand-in for `python -m tensorrt_llm.serve.scripts.benchmark_serving` (runs in-process).

It parses the same command line upstream's test builds, prints `print(args)` (a Namespace),
sends real HTTP requests to the server (at most stub_numbers.SAMPLE_CAP of them), and prints the
"Serving Benchmark Result" block in benchmark_serving's exact format. The numbers in the block
come from stub_numbers (deterministic), adjusted by what the requests really returned: the
fraction of failed requests and the tokens per successful request.
"""

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import stub_numbers


def make_parser():
    """The benchmark_serving options test_perf_sanity passes, with upstream's defaults."""
    p = argparse.ArgumentParser(prog="benchmark_serving")
    p.add_argument("--backend", type=str, default="openai")
    p.add_argument("--base-url", type=str, default=None)
    p.add_argument("--host", type=str, default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--endpoint", type=str, default="/v1/completions")
    p.add_argument("--dataset-name", type=str, default="sharegpt")
    p.add_argument("--dataset-path", type=str, default=None)
    p.add_argument("--max-concurrency", type=int, default=None)
    p.add_argument("--model", type=str, required=True)
    p.add_argument("--tokenizer", type=str)
    p.add_argument("--num-prompts", type=int, default=1000)
    p.add_argument("--request-rate", type=float, default=float("inf"))
    p.add_argument("--burstiness", type=float, default=1.0)
    p.add_argument("--non-streaming", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--trust-remote-code", action="store_true")
    p.add_argument("--use-chat-template", action="store_true")
    p.add_argument("--ignore-eos", action="store_true")
    p.add_argument("--no-test-input", action="store_true")
    p.add_argument("--percentile-metrics", type=str, default="ttft,tpot,itl")
    p.add_argument("--metric-percentiles", type=str, default="99")
    p.add_argument("--random-input-len", type=int, default=1024)
    p.add_argument("--random-output-len", type=int, default=128)
    p.add_argument("--random-range-ratio", type=float, default=0.0)
    p.add_argument("--random-prefix-len", type=int, default=0)
    p.add_argument("--random-ids", action="store_true")
    p.add_argument("--tokenize-on-client", action="store_true")
    return p


def send_requests(args, sample):
    """POST `sample` completions; returns (failed_count, error_types, completion_tokens_of_successes)."""
    url = args.base_url or f"http://{args.host}:{args.port}"
    url += args.endpoint

    def one(i):
        body = {"model": args.model, "prompt": [(i + k) % 32000 for k in range(args.random_input_len)],
                "max_tokens": args.random_output_len, "ignore_eos": args.ignore_eos,
                "temperature": 0.0, "stream": False}
        req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
            "Content-Type": "application/json", "X-Stub-Request-Index": str(i)})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return None, json.loads(resp.read())["usage"]["completion_tokens"]
        except urllib.error.HTTPError as e:
            return f"HTTPError {e.code}", 0
        except (urllib.error.URLError, OSError, ValueError, KeyError) as e:
            return type(e).__name__, 0

    workers = max(1, min(args.max_concurrency or 1, 8))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(one, range(sample)))
    errors = {}
    tokens = []
    for err, n in results:
        if err:
            errors[err] = errors.get(err, 0) + 1
        else:
            tokens.append(n)
    return sum(errors.values()), errors, tokens


def block_lines(v):
    """benchmark_serving's result block for the values `v` of stub_numbers.compute()."""
    row = "{:<40} {:<10}".format
    rowf = "{:<40} {:<10.2f}".format
    out = ["{s:{c}^{n}}".format(s=" Serving Benchmark Result ", n=50, c="=")]
    out.append(row("Total requests:", v["total_requests"]))
    out.append(row("Successful requests:", v["successful_requests"]))
    out.append(row("Failed requests:", v["failed_requests"]))
    out.append(rowf("Benchmark duration (s):", v["duration_s"]))
    out.append(row("Total input tokens:", v["total_input_tokens"]))
    out.append(row("Total generated tokens:", v["total_output_tokens"]))
    out.append(rowf("Request throughput (req/s):", v["seq_throughput"]))
    out.append(rowf("Output token throughput (tok/s):", v["token_throughput"]))
    out.append(rowf("Total Token throughput (tok/s):", v["total_token_throughput"]))
    out.append(rowf("User throughput (tok/s):", v["user_throughput"]))
    if v["failed_requests"] > 0:
        out.append("=======================!FAILED REQUESTS!=======================")
        out.append(f"Total failed requests: {v['failed_requests']}")
        out.append("=====================!CHECK LOG FOR ERRORS!====================")
    if "al" in v:
        name = "Avg Decoded Tokens per Iter"
        out.append("{s:{c}^{n}}".format(s=name, n=50, c="-"))
        for stat in ("Mean", "Median"):
            out.append(rowf(f"{stat} {name}:", v["al"]))
        out.append(rowf(f"Std Dev {name}:", 0.0))
        out.append(rowf(f"Min {name}:", v["al"]))
        out.append(rowf(f"Max {name}:", v["al"]))
        out.append(rowf(f"P99 {name}:", v["al"]))
    for key, label, header in (("ttft", "TTFT", "Time to First Token"),
                               ("tpot", "TPOT", "Time per Output Token (excl. 1st token)"),
                               ("itl", "ITL", "Inter-token Latency"),
                               ("e2el", "E2EL", "End-to-end Latency")):
        out.append("{s:{c}^{n}}".format(s=header, n=50, c="-"))
        out.append(rowf(f"Mean {label} (ms):", v["mean_" + key]))
        out.append(rowf(f"Median {label} (ms):", v["median_" + key]))
        out.append(rowf(f"Std Dev {label} (ms):", v["std_" + key]))
        out.append(rowf(f"P99 {label} (ms):", v["p99_" + key]))
    out.append("=" * 50)
    return out



def slowdown():
    """PERF_RUN_STUB_SLOWDOWN: a factor > 0 on every latency (default 1), to make a
    regression for perf-run's verdict tests. A bad value fails the client."""
    text = os.environ.get("PERF_RUN_STUB_SLOWDOWN", "").strip()
    if not text:
        return 1.0
    f = float(text)
    if not f > 0:
        raise ValueError(f"PERF_RUN_STUB_SLOWDOWN={text!r} is not a factor above 0")
    return f

def stub_sleep_s():
    """PERF_RUN_STUB_SLEEP_S: seconds the client spends "benchmarking" before its requests."""
    text = os.environ.get("PERF_RUN_STUB_SLEEP_S", "").strip()
    if not text:
        return 0.0
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"PERF_RUN_STUB_SLEEP_S={text!r} is not a number of seconds") from None
    if value < 0:
        raise ValueError(f"PERF_RUN_STUB_SLEEP_S={text!r} must not be negative")
    return value


def run(cmd, log_path, profile, knob="", stdout=None):
    """Run the client for `cmd` (argv after the module name); output goes to log_path and stdout.

    profile: server facts for stub_numbers.compute() (tp, ctx_tp, max_batch_size, max_draft_len).
    Returns the whole output text.
    """
    stdout = stdout or sys.stdout
    args = make_parser().parse_args(cmd)
    with open(log_path, "w") as log:

        def emit(line=""):
            log.write(line + "\n")
            log.flush()
            stdout.write(line + "\n")
            stdout.flush()

        emit(str(args))
        emit("Skipping initial test run. Starting main benchmark run...")
        hang_from = os.environ.get("PERF_RUN_STUB_HANG_FROM_CONCURRENCY", "").strip()
        if hang_from and (args.max_concurrency or 1) >= int(hang_from):
            emit(f"[stub] PERF_RUN_STUB_HANG_FROM_CONCURRENCY={hang_from}: this client sleeps forever")
            while True:
                time.sleep(60)
        if knob == "hang":
            emit("[stub] PERF_RUN_STUB_FAIL=hang: the benchmark client sleeps forever")
            while True:
                time.sleep(60)
        emit(f"Traffic request rate: {args.request_rate}")
        emit(f"Burstiness factor: {args.burstiness} (Poisson process)")
        emit(f"Maximum request concurrency: {args.max_concurrency}")
        alloc_mb = os.environ.get("PERF_RUN_STUB_ALLOC_MB", "").strip()
        if alloc_mb:
            # perf-run's OOM test: hold this much touched memory while the client "runs", so
            # Slurm's memory limit (the test cluster's `tinymem` partition) kills the step.
            emit(f"[stub] PERF_RUN_STUB_ALLOC_MB={alloc_mb}: holding {alloc_mb} MB")
            ballast = bytearray(int(alloc_mb) * 1024 * 1024)
            for i in range(0, len(ballast), 4096):
                ballast[i] = 1
        sleep_s = stub_sleep_s()
        if sleep_s > 0:
            # A longer benchmark for perf-run's watcher tests: progress lines every 5 s.
            emit(f"[stub] PERF_RUN_STUB_SLEEP_S={sleep_s:g}: the client runs for {sleep_s:g} s first")
            end = time.monotonic() + sleep_s
            while (left := end - time.monotonic()) > 0:
                time.sleep(min(5.0, left))
                emit(f"[stub] still benchmarking, {max(0.0, end - time.monotonic()):.0f} s left")

        concurrency = args.max_concurrency or 1
        num_prompts = args.num_prompts
        sample = stub_numbers.sample_size(num_prompts)
        failed_sample, errors, tokens = send_requests(args, sample)
        emit(f"[stub] sent {sample} of {num_prompts} requests for real: "
             f"{sample - failed_sample} ok, {failed_sample} failed; reported numbers are "
             f"deterministic (stub_numbers.py)")
        failed = stub_numbers.scale_failures(num_prompts, sample, failed_sample)
        out_len = sum(tokens) // len(tokens) if tokens else 0
        values = stub_numbers.compute(
            concurrency, max(1, num_prompts // concurrency), args.random_input_len,
            args.random_output_len, failed=failed, out_len=out_len, slowdown=slowdown(),
            **profile)
        for err, count in errors.items():
            emit(f"Error type: {err}, Count: {count} requests")
        emit(f"Total failed requests: {failed}")
        for line in block_lines(values):
            emit(line)
    with open(log_path) as f:
        return f.read()
