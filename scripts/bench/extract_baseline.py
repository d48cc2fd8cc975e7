#!/usr/bin/env python3
"""Python baseline for `scripts/bench-extract`: the same job as `perf-run extract`, done the
legacy way — ElementTree over the JUnit file, `re.search` per line over each test case's
`<system-out>` (and over a client log read line by line), with the perf-sanity metric regexes
and parse rule of test_perf_sanity.py (reference §8.1), then a long CSV of the results.

usage: extract_baseline.py (--junit-xml FILE | --log FILE) --output CSV
"""
import argparse
import csv
import re
import xml.etree.ElementTree as ET

# reference §8.1, PERF_METRIC_LOG_QUERIES, in order (+ the two optional ones).
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
    "al": re.compile(r"Mean Avg Decoded Tokens per Iter:\s+(-?[\d\.]+)"),
    "mean_gen_worker_per_iter_device_step_time": re.compile(
        r"Average Per Iter Device Step Time \(ms\):\s+(-?[\d\.]+)"),
}
FAILED = re.compile(r"Failed requests:\s+(\d+)")
HEADER = "Serving Benchmark Result"


def parse_lines(lines):
    """Blocks of metrics in order; the §8.1 rule within each block."""
    blocks = []
    cur = None
    for line in lines:
        if HEADER in line:
            cur = {"metrics": {}, "failed": 0, "markers": False}
            blocks.append(cur)
        if cur is None:
            cur = {"metrics": {}, "failed": 0, "markers": False}
            blocks.append(cur)
        for metric, regex in PERF_METRIC_LOG_QUERIES.items():
            if metric in cur["metrics"]:
                continue
            m = regex.search(line)
            if m:
                cur["metrics"][metric] = float(m.group(1))
                break
        m = FAILED.search(line)
        if m:
            cur["failed"] = int(m.group(1))
        if "!FAILED REQUESTS!" in line or "!CHECK LOG FOR ERRORS!" in line:
            cur["markers"] = True
    return [b for b in blocks if b["metrics"]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--junit-xml")
    ap.add_argument("--log")
    ap.add_argument("--output", required=True)
    a = ap.parse_args()
    rows = []
    if a.junit_xml:
        root = ET.parse(a.junit_xml).getroot()
        for tc in root.iter("testcase"):
            out = tc.find("system-out")
            text = out.text if out is not None and out.text else ""
            failed = tc.find("failure") is not None or tc.find("error") is not None
            for i, b in enumerate(parse_lines(text.splitlines())):
                rows.append((tc.get("name"), i, b, failed))
    if a.log:
        with open(a.log, encoding="utf-8", errors="replace") as f:
            blocks = parse_lines(f)
        # One client per log: the first value of each metric wins (§8.1).
        merged = {"metrics": {}, "failed": 0, "markers": False}
        for b in blocks:
            for k, v in b["metrics"].items():
                merged["metrics"].setdefault(k, v)
            merged["failed"] = merged["failed"] or b["failed"]
            merged["markers"] = merged["markers"] or b["markers"]
        rows.append((a.log, 0, merged, False))
    complete = 0
    with open(a.output, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["network_name", "perf_metric", "state", "metric_type"])
        for name, i, b, failed in rows:
            ok = len([k for k in b["metrics"] if k not in ("al", "mean_gen_worker_per_iter_device_step_time")]) == 16
            complete += ok
            state = "valid" if ok and not b["failed"] and not b["markers"] and not failed else "invalid"
            for k, v in b["metrics"].items():
                w.writerow(["%s-%d" % (name, i), v, state, k.upper()])
    print("baseline: %d client result(s), %d with all 16 required metrics" % (len(rows), complete))


if __name__ == "__main__":
    main()
