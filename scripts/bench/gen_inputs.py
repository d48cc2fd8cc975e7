#!/usr/bin/env python3
"""Generate benchmark inputs for `perf-run extract`: a client log and a JUnit XML file of a
chosen size, with realistic content (reference §8.2 result blocks with trailing padding,
tqdm progress redraws with \\r, TensorRT-LLM iteration logs, warnings, tracebacks, and
characters that need XML escaping).

usage: gen_inputs.py LOG_PATH LOG_MB JUNIT_PATH JUNIT_MB
"""
import random
import sys

random.seed(20261122)


def block(rate, failed=0):
    """One `Serving Benchmark Result` block as benchmark_serving prints it (§8.2)."""
    row = lambda label, value: "{:<40} {:<10}".format(label, value)
    rowf = lambda label, value: "{:<40} {:<10.2f}".format(label, value)
    lines = ["{s:{c}^{n}}".format(s=" Serving Benchmark Result ", n=50, c="=")]
    lines += [
        row("Total requests:", 1280),
        row("Successful requests:", 1280 - failed),
        row("Failed requests:", failed),
        rowf("Benchmark duration (s):", 401.5),
        row("Total input tokens:", 1310720),
        row("Total generated tokens:", 1310720),
        rowf("Request throughput (req/s):", rate),
        rowf("Output token throughput (tok/s):", rate * 1024),
        rowf("Total Token throughput (tok/s):", rate * 2048),
        rowf("User throughput (tok/s):", 31.7),
    ]
    if failed:
        lines += ["{s:{c}^{n}}".format(s="!FAILED REQUESTS!", n=63, c="="),
                  "Total failed requests: %d" % failed,
                  "{s:{c}^{n}}".format(s="!CHECK LOG FOR ERRORS!", n=62, c="=")]
    for title, short in [("Time to First Token", "TTFT"),
                         ("Time per Output Token (excl. 1st token)", "TPOT"),
                         ("Inter-token Latency", "ITL"),
                         ("End-to-end Latency", "E2EL")]:
        lines.append("{s:{c}^{n}}".format(s=title, n=50, c="-"))
        for stat, v in [("Mean", 112.5), ("Median", 101.25), ("P99", 480.75)]:
            lines.append(rowf("%s %s (ms):" % (stat, short), v))
    lines.append("=" * 50)
    return "\n".join(lines) + "\n"


def namespace(con):
    return ("Namespace(backend='openai', base_url=None, host='10.0.0.12', port=8000, "
            "endpoint='/v1/completions', dataset_name='random', dataset_path=None, "
            "max_concurrency=%d, model='/models/DeepSeek-R1-0528-FP4', tokenizer=None, "
            "use_beam_search=False, num_prompts=1280, random_input_len=1024, "
            "random_output_len=1024, random_range_ratio=0.0, ignore_eos=True, "
            "percentile_metrics='ttft,tpot,itl,e2el', metric_percentiles='99')\n" % con)


def noise_chunk(size, for_xml):
    """About `size` bytes of the lines a real client/server log is made of."""
    out = []
    n = 0
    it = 0
    while n < size:
        r = random.random()
        it += 1
        if r < 0.55:
            line = ("[TensorRT-LLM][INFO] iter = %d, global_rank = 0, rank = 0, "
                    "currank_total_requests = %d/1280, host_step_time = %.3fms, "
                    "prev_device_step_time = %.3fms, timestamp = 2025-10-31 00:%02d:%02d, "
                    "num_scheduled_requests: 32, states = {'num_ctx_requests': 0, "
                    "'num_ctx_tokens': 0, 'num_generation_tokens': 32}\n"
                    % (it, it % 1280, random.uniform(5, 20), random.uniform(5, 20), it % 60, it % 60))
        elif r < 0.80:
            pct = it % 101
            bar = "█" * (pct // 10) + " " * (10 - pct // 10)
            line = "".join(" %3d%%|%s| %d/1280 [00:%02d<00:%02d, %.2fit/s]\r"
                           % (pct, bar, pct * 12, it % 60, (it * 7) % 60, random.uniform(1, 40))
                           for _ in range(4)) + "\n"
        elif r < 0.90:
            line = ("INFO:     10.0.0.%d:%d - \"POST /v1/completions HTTP/1.1\" 200 OK\n"
                    % (it % 255, 40000 + it % 20000))
        elif r < 0.96:
            line = ("[11/22/2025-17:%02d:%02d] [TRT-LLM] [W] Request throughput is below the "
                    "target <expected> & batch size = %d; 'Failed' attempts: %d\n"
                    % (it % 60, it % 60, it % 512, it % 3))
        else:
            line = ("Traceback (most recent call last):\n"
                    "  File \"/usr/lib/python3/dist-packages/aiohttp/client.py\", line 1187, in send\n"
                    "    raise ClientConnectionError(\"<connection reset>\") from exc\n")
        if for_xml:
            line = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        out.append(line)
        n += len(line.encode())
    return "".join(out)


def gen_log(path, mb):
    target = mb * 1_000_000
    chunks = [noise_chunk(4_000_000, False) for _ in range(3)]
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(namespace(64))
        n = 0
        i = 0
        while n < target:
            c = chunks[i % len(chunks)]
            f.write(c)
            n += len(c.encode())
            i += 1
            if i % 10 == 0:
                # A result block every ~40 MB (identical: duplicates, no contradiction).
                b = block(1.25)
                f.write(b)
                n += len(b)
        f.write(block(1.25))


def gen_junit(path, mb):
    target = mb * 1_000_000
    per_case = 2_500_000
    cases = max(1, target // per_case)
    chunk = noise_chunk(per_case // 4, True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write('<?xml version="1.0" encoding="utf-8"?>\n<testsuites>\n'
                '<testsuite name="pytest" errors="0" failures="%d" skipped="0" tests="%d" '
                'time="%d.5" timestamp="2025-10-31T00:53:53.000000" hostname="gb200-node-001">\n'
                % (cases // 10, cases, cases * 700))
        for k in range(cases):
            name = "test_e2e[aggr_upload-deepseek_r1_fp4_v2_grace_blackwell-r1_fp4_v2_dep4_mtp1_%d]" % k
            f.write('<testcase classname="perf.test_perf_sanity" name="%s" time="703.296">' % name)
            if k % 10 == 9:
                f.write('<failure message="AssertionError: Failed requests &gt; 0">'
                        'Traceback (most recent call last):\n  File "test_perf_sanity.py", line 1234\n'
                        'AssertionError: Failed requests &gt; 0</failure>')
            f.write("<system-out>")
            for c, con in enumerate([8, 64, 256, 1024]):
                f.write(namespace(con).replace("'", "&apos;"))
                f.write(chunk)
                f.write(block(1.0 + c, failed=3 if (k % 10 == 9 and c == 3) else 0))
            f.write("</system-out></testcase>\n")
        f.write("</testsuite>\n</testsuites>\n")


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    gen_log(sys.argv[1], int(sys.argv[2]))
    gen_junit(sys.argv[3], int(sys.argv[4]))
