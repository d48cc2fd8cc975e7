#!/usr/bin/env python3
"""Stub of upstream's tests/scripts/perf-sanity/cache_transceiver_precheck/run_precheck.py.

Upstream runs it on every rank of each ctx/gen instance (same node slice, MPI shape, UCX and
worker env as the real server step) before any model is loaded, and the launch script stops
the job if one instance fails. The stub checks the same contract: the arguments
(`--config --work-dir --benchmark-mode --llm-src --role ctx|gen --server-idx N`), the role
(`DISAGG_SERVING_TYPE` = `<ROLE>_PRECHECK_<N>`) and that the YAML's worker env reached this
rank; it writes `<work-dir>/status/<role>_<N>.rank<R>.status` = PASS. The knob
`PERF_RUN_STUB_FAIL=precheck_fail` makes rank 0 of every instance fail, as a broken NIC would.
"""

import argparse
import os
import shlex
import sys

import yaml


def main():
    p = argparse.ArgumentParser()
    for a in ("--config", "--work-dir", "--benchmark-mode", "--llm-src", "--role"):
        p.add_argument(a, required=True)
    p.add_argument("--server-idx", type=int, required=True)
    args = p.parse_args()
    rank = os.environ.get("SLURM_PROCID", "0")
    who = f"[precheck stub] {args.role}_{args.server_idx} rank {rank}"
    if args.role not in ("ctx", "gen"):
        sys.exit(f"{who}: --role must be ctx or gen, not {args.role!r}")
    want_type = f"{args.role.upper()}_PRECHECK_{args.server_idx}"
    if os.environ.get("DISAGG_SERVING_TYPE") != want_type:
        sys.exit(f"{who}: DISAGG_SERVING_TYPE is {os.environ.get('DISAGG_SERVING_TYPE')!r}, expected {want_type!r}")
    with open(args.config) as f:
        env_cfg = (yaml.safe_load(f) or {}).get("environment", {}) or {}
    text = " ".join(x for x in (env_cfg.get("worker_env_var", ""), env_cfg.get(f"{args.role}_worker_env_var", "")) if x)
    expected = dict(w.split("=", 1) for w in shlex.split(text) if "=" in w)
    missing = [f"{k}={v}" for k, v in expected.items() if os.environ.get(k) != v]
    if missing:
        sys.exit(f"{who}: the worker env did not reach this rank: {', '.join(missing)}")
    if os.environ.get("PERF_RUN_STUB_FAIL") == "precheck_fail" and rank == "0":
        sys.exit(f"{who}: FAIL: KV-cache transfer probe to the peer instance timed out (stub knob precheck_fail)")
    status = os.path.join(args.work_dir, "status")
    os.makedirs(status, exist_ok=True)
    with open(os.path.join(status, f"{args.role}_{args.server_idx}.rank{rank}.status"), "w") as f:
        f.write("PASS\n")
    print(f"{who}: PASS ({args.benchmark_mode})", flush=True)


if __name__ == "__main__":
    main()
