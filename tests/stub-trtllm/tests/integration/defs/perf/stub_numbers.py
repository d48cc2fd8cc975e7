"""Deterministic numbers reported by the stub benchmark client.

The stub client really sends HTTP requests to the fake server, but the values it prints in the
"Serving Benchmark Result" block are NOT measured: they are the functions below of the test
configuration, so tests can assert exact values. Standard library only.

Command line (prints the values as JSON, e.g. for perf-run's own tests):

    python3 stub_numbers.py --concurrency 4 --iterations 2 --isl 128 --osl 64 --tp 1 \
        [--ctx-tp N] [--max-batch-size 512] [--max-draft-len 0] [--knob failed_requests|zero_tokens]
"""

import argparse
import json
import math
from collections import OrderedDict

# At most this many real HTTP requests are sent per client (num_prompts can be 10240).
SAMPLE_CAP = 32
# PERF_RUN_STUB_FAIL=failed_requests: the server answers HTTP 500 to request i when i % 4 == 0.
FAIL_EVERY = 4


def sample_size(num_prompts):
    """Number of real HTTP requests a client sends."""
    return min(num_prompts, SAMPLE_CAP)


def failing_request(index):
    """Whether request `index` fails under the failed_requests knob."""
    return index % FAIL_EVERY == 0


def scale_failures(num_prompts, sample, failed_in_sample):
    """Reported failed requests: the sample's failure ratio applied to num_prompts."""
    if sample == 0:
        return 0
    return num_prompts * failed_in_sample // sample


def compute(concurrency, iterations, isl, osl, tp=1, ctx_tp=None, max_batch_size=512,
            max_draft_len=0, failed=0, out_len=None, slowdown=1.0):
    """Values of the benchmark block, in print order (unrounded floats / ints).

    tp: tensor parallel size of the server that decodes (aggregated server or gen worker).
    ctx_tp: tensor parallel size of the server that does prefill (ctx worker); default tp.
    failed: reported failed requests. out_len: tokens returned per successful request
    (default osl; 0 under the zero_tokens knob).
    slowdown: every latency is this many times longer (PERF_RUN_STUB_SLOWDOWN), so
    the throughputs are that many times lower.
    """
    ctx_tp = ctx_tp or tp
    out_len = osl if out_len is None else out_len
    num_prompts = concurrency * iterations
    ok = num_prompts - failed
    c_eff = max(1, min(concurrency, max_batch_size))
    waves = math.ceil(concurrency / c_eff)
    spec = max_draft_len > 0
    al = 1.0 + 0.5 * max_draft_len

    ttft = (10.0 + isl * c_eff / (100.0 * ctx_tp)) * slowdown
    if out_len > 1:
        tpot = (4.0 + c_eff / 10.0) / (tp * al) * slowdown
        itl = tpot * al
        e2el = ttft + (out_len - 1) * tpot
    else:
        tpot = itl = 0.0
        e2el = ttft
    duration = iterations * waves * e2el / 1000.0
    user = out_len / (e2el / 1000.0)
    if ok == 0:  # nothing succeeded: the real client reports zeros
        ttft = tpot = itl = e2el = user = 0.0

    v = OrderedDict()
    v["total_requests"] = num_prompts
    v["successful_requests"] = ok
    v["failed_requests"] = failed
    v["duration_s"] = duration
    v["total_input_tokens"] = ok * isl
    v["total_output_tokens"] = ok * out_len
    v["seq_throughput"] = ok / duration
    v["token_throughput"] = ok * out_len / duration
    v["total_token_throughput"] = ok * (isl + out_len) / duration
    v["user_throughput"] = user
    if spec:
        v["al"] = al
    for name, mean in (("ttft", ttft), ("tpot", tpot), ("itl", itl), ("e2el", e2el)):
        v["mean_" + name] = mean
        v["median_" + name] = mean * 0.98
        v["std_" + name] = mean * 0.1
        v["p99_" + name] = mean * 1.5
    # gen_only: "Average Per Iter Device Step Time (ms)" = one decode iteration.
    v["device_step_time"] = itl
    return v


def expected(concurrency, iterations, isl, osl, knob="", **kwargs):
    """compute() with the effect of a PERF_RUN_STUB_FAIL knob applied, as the client sees it."""
    num_prompts = concurrency * iterations
    sample = sample_size(num_prompts)
    failed = 0
    out_len = osl
    if knob == "failed_requests":
        failed = scale_failures(num_prompts, sample, sum(failing_request(i) for i in range(sample)))
    elif knob == "zero_tokens":
        out_len = 0
    return compute(concurrency, iterations, isl, osl, failed=failed, out_len=out_len, **kwargs)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--concurrency", type=int, required=True)
    p.add_argument("--iterations", type=int, required=True)
    p.add_argument("--isl", type=int, required=True)
    p.add_argument("--osl", type=int, required=True)
    p.add_argument("--tp", type=int, default=1)
    p.add_argument("--ctx-tp", type=int, default=None)
    p.add_argument("--max-batch-size", type=int, default=512)
    p.add_argument("--max-draft-len", type=int, default=0)
    p.add_argument("--knob", default="", choices=["", "failed_requests", "zero_tokens"])
    a = p.parse_args()
    v = expected(a.concurrency, a.iterations, a.isl, a.osl, knob=a.knob, tp=a.tp, ctx_tp=a.ctx_tp,
                 max_batch_size=a.max_batch_size, max_draft_len=a.max_draft_len)
    print(json.dumps({k: (round(x, 2) if isinstance(x, float) else x) for k, x in v.items()},
                     indent=1))


if __name__ == "__main__":
    main()
