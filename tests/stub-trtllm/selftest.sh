#!/usr/bin/env bash
# Self-test of the stub TensorRT-LLM checkout (no Slurm needed).
#
# Runs the stub's real pytest module with the exact command shape perf-run generates, in temp
# job workspaces: collection, one aggregated case, trtllm-llmapi-launch with 2 fake ranks, a
# disaggregated e2e and gen_only run with every role as a concurrent process, and each failure
# knob. Prints a timing per check. Usage: tests/stub-trtllm/selftest.sh   (KEEP=1 keeps the temp dir)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DEFS=$ROOT/tests/integration/defs
PY=${PYTHON:-/usr/bin/python3}
STAGE=GB200-PerfSanity-Stub-Selftest
TMP=$(mktemp -d "${TMPDIR:-/tmp}/stub-trtllm-selftest.XXXXXX")
export PERF_RUN_STUB_POLL_S=0.2
export TRTLLM_TEST_SERVER_READY_TIMEOUT=30
AGG_CFG=tiny_llama_fp8_grace_blackwell
DISAGG_CFG=gb200_tiny-llama-fp8_1k1k_con8_ctx1_tp1_gen1_tp2_eplb0_mtp0_ccb-UCX
BG_PIDS=()
FAILURES=0
START_ALL=$(date +%s.%N)

cleanup() {
    for pid in "${BG_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
ok() { printf '  ok    %-62s %5ss\n' "$1" "$(elapsed "$2")"; }
bad() { printf '  FAIL  %-62s %5ss\n        %s\n' "$1" "$(elapsed "$2")" "$3"; FAILURES=$((FAILURES + 1)); }
check() { # name start command...
    local name=$1 start=$2; shift 2
    local out
    if out=$("$@" 2>&1); then ok "$name" "$start"; else bad "$name" "$start" "$(echo "$out" | tail -5)"; fi
}

# pytest exactly as perf-run runs it. Usage: pytest_cmd WS CASE ROLE TIMEOUT [launcher]
pytest_cmd() {
    local ws=$1 case=$2 role=$3 timeout=$4 launcher=${5:-}
    local junit=$ws/results.xml
    [ -n "$role" ] && junit=$ws/results-$role.xml
    cd "$DEFS" && exec env LLM_ROOT="$ROOT" LLM_MODELS_ROOT="$TMP/models" \
        AGG_CONFIG_FOLDER="$ROOT/tests/scripts/perf-sanity/aggregated" \
        DISAGG_CONFIG_FOLDER="$ROOT/tests/scripts/perf-sanity/disaggregated" \
        jobWorkspace="$ws" stageName="$STAGE" ${role:+DISAGG_SERVING_TYPE=$role} \
        $launcher "$PY" -m pytest -vv --timeout-method=thread --timeout="$timeout" --rootdir "$DEFS" \
        --test-prefix="$STAGE" --output-dir="$ws" --csv="$ws/report.csv" -o junit_logging=out-err \
        --junit-xml="$junit" "perf/test_perf_sanity.py::test_e2e[$case]"
}

# Start every disagg role in the background. Usage: run_disagg WS CASE JOB ROLE...
# GEN_0 (tp2) runs as 2 ranks through trtllm-llmapi-launch, the other roles as one plain task.
# Sets RC_<ROLE> for each role.
# The YAML's worker env, as perf-run's batch script puts it on every rank of a worker step.
role_env() {  # role_env CTX|GEN: the YAML's worker env + that role's extra, as shell words
    "$PY" -c "import yaml, sys; e = yaml.safe_load(open(sys.argv[1])).get('environment', {}); print(e.get('worker_env_var', ''), e.get(sys.argv[2].lower() + '_worker_env_var', ''))" \
        "$ROOT/tests/scripts/perf-sanity/disaggregated/$DISAGG_CFG.yaml" "$1"
}
GEN_ENV=$(role_env GEN)
CTX_ENV=$(role_env CTX)

run_disagg() {
    local ws=$1 case=$2 job=$3; shift 3
    local step=0 role pids=() names=()
    mkdir -p "$ws"
    for role in "$@"; do
        if [ "$role" = GEN_0 ]; then
            ( export SLURM_JOB_ID=$job SLURM_STEP_ID=$step SLURM_PROCID=1 SLURM_LOCALID=1 SLURM_NTASKS=2 SLURMD_NODENAME=node1
              [ -z "${RANK1_WITHOUT_ENV:-}" ] && eval "export $GEN_ENV"
              pytest_cmd "$ws" "$case" "$role" 60 "$ROOT/tensorrt_llm/llmapi/trtllm-llmapi-launch" ) >"$ws/$role.rank1.out" 2>&1 &
            pids+=($!); names+=("GEN_0_rank1"); BG_PIDS+=($!)
        fi
        local launcher=""
        [ "$role" = GEN_0 ] && launcher="$ROOT/tensorrt_llm/llmapi/trtllm-llmapi-launch"
        ( export SLURM_JOB_ID=$job SLURM_STEP_ID=$step SLURM_PROCID=0 SLURM_LOCALID=0 SLURMD_NODENAME=node$step
          [ -n "$launcher" ] && export SLURM_NTASKS=2
          case $role in GEN_*) eval "export $GEN_ENV" ;; CTX_*) eval "export $CTX_ENV" ;; esac
          ( pytest_cmd "$ws" "$case" "$role" 60 "$launcher" ); rc=$?
          # What perf-run's batch script does once a gen srun is reaped.
          case $role in GEN_*) touch "$ws/$case/gen_server_${role#GEN_}.done" ;; esac
          exit $rc ) >"$ws/$role.out" 2>&1 &
        pids+=($!); names+=("$role"); BG_PIDS+=($!)
        step=$((step + 1))
    done
    local i
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}"
        printf -v "RC_${names[$i]}" '%s' "$?"
    done
}

# A Python checker for logs, JUnit files and collection output.
cat >"$TMP/check.py" <<'EOF'
import json, os, re, sys, xml.etree.ElementTree as ET
sys.path.insert(0, os.environ["DEFS"] + "/perf")
import stub_numbers, test_perf_sanity as t

def block(log, knob, **kw):
    """The log holds the exact block for stub_numbers.expected(**kw) and all 16 metrics."""
    import stub_client
    text = open(log).read()
    v = stub_numbers.expected(knob=knob, **kw)
    want = "\n".join(stub_client.block_lines(v))
    assert want in text, f"block for {kw} not found in {log}"
    m = t.parse_metrics(text, {**t.PERF_METRIC_LOG_QUERIES, **t.SPEC_DECODING_PERF_METRIC_LOG_QUERIES,
                               **t.GEN_ONLY_PERF_METRIC_LOG_QUERIES})
    missing = [k for k in t.PERF_METRIC_LOG_QUERIES if k not in m]
    assert not missing, f"missing metrics {missing}"
    for k in t.PERF_METRIC_LOG_QUERIES:
        assert f"{m[k]:.2f}" == f"{v[k]:.2f}", (k, m[k], v[k])
    assert text.startswith("Namespace(") and f"num_prompts={kw['concurrency'] * kw['iterations']}," in text
    assert f"max_concurrency={kw['concurrency']}," in text and f"random_input_len={kw['isl']}," in text

def literal(log, *lines):
    text = open(log).read().splitlines()
    for line in lines:
        assert line in text, f"line {line!r} not in {log}"

def junit(path, case, outcome, text=""):
    root = ET.parse(path).getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == 1, cases
    tc = cases[0]
    assert tc.get("classname") == os.environ["STAGE"] + ".perf.test_perf_sanity", tc.get("classname")
    assert tc.get("name") == f"test_e2e[{case}]", tc.get("name")
    failure = tc.find("failure")
    assert (failure is not None) == (outcome == "failed"), f"expected {outcome}"
    blob = ET.tostring(tc, encoding="unicode")
    assert text in blob, f"{text!r} not in JUnit testcase"

def collect(out, ids_file):
    got = set(l.strip() for l in open(out) if l.startswith("perf/"))
    want = [l.strip() for l in open(ids_file) if l.strip()]
    missing = [w for w in want if f"perf/test_perf_sanity.py::test_e2e[{w}]" not in got]
    assert not missing, f"not collected: {missing}"
    assert len(got) == 51, f"{len(got)} ids collected"

def parse():
    ok = {"aggr_upload-a": ("a", None, "aggregated", None),
          "aggr-a-s1,s2": ("a", "s1,s2", "aggregated", None),
          "aggr_upload-ctx_only-x-y": ("x-y", None, "aggregated", "ctx_only"),
          "disagg_upload-e2e-x-y-UCX": ("x-y-UCX", None, "disaggregated", "e2e"),
          "disagg-gen_only-x": ("x", None, "disaggregated", "gen_only")}
    for s, want in ok.items():
        assert t.parse_test_string(s) == want, (s, t.parse_test_string(s))
    for s in ("aggr_upload", "disagg_upload-x", "disagg_upload-ctx_only-x", "perf-x", "disagg_upload-e2e-", "aggr-"):
        try:
            t.parse_test_string(s)
        except ValueError:
            continue
        raise AssertionError(f"{s!r} did not raise ValueError")

cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "block":
    log, knob, kw = args[0], args[1], json.loads(args[2])
    block(log, knob, **kw)
elif cmd == "literal":
    literal(*args)
elif cmd == "junit":
    junit(*args)
elif cmd == "collect":
    collect(*args)
elif cmd == "parse":
    parse()
EOF
export DEFS STAGE
chk() { "$PY" "$TMP/check.py" "$@"; }
file_is() { [ "$(cat "$1" 2>/dev/null)" = "$2" ] || { echo "$1: '$(cat "$1" 2>/dev/null)' != '$2'"; return 1; }; }
exists() { local f; for f in "$@"; do [ -e "$f" ] || { echo "missing $f"; return 1; }; done; }
rc_is() { [ "$1" = "$2" ] || { echo "exit code $1, expected $2"; return 1; }; }

echo "stub-trtllm selftest ($TMP)"

# ---- 0. static checks -----------------------------------------------------------------------
t0=$(now)
check "py_compile all Python files" "$t0" "$PY" -c '
import os, py_compile, sys
for i, f in enumerate(sys.argv[2:]):
    py_compile.compile(f, cfile=os.path.join(sys.argv[1], f"{i}.pyc"), doraise=True)' "$TMP" $(find "$ROOT" -name '*.py')
check "bash -n selftest.sh and trtllm-llmapi-launch" "$t0" bash -n "$0" "$ROOT/tensorrt_llm/llmapi/trtllm-llmapi-launch"
check "parse_test_string: G3 rules, ValueError otherwise" "$t0" chk parse

# ---- 1. collection ----------------------------------------------------------------------------
t0=$(now)
( cd "$DEFS" && env LLM_ROOT="$ROOT" "$PY" -m pytest --collect-only -q perf/test_perf_sanity.py ) >"$TMP/collect.out" 2>&1
{
    printf '%s\n' "aggr_upload-$AGG_CFG" "aggr-$AGG_CFG-tiny_llama_fp8_tp2" \
        "aggr_upload-$AGG_CFG-tiny_llama_fp8_tp1,tiny_llama_fp8_tp2" \
        "aggr_upload-deepseek_r1_fp4_v2_2_nodes_grace_blackwell-r1_fp4_v2_dep8_mtp1_1k1k" \
        "aggr_upload-deepseek_r1_fp4_v2_2_nodes_grace_blackwell-r1_fp4_v2_tep8_mtp3" \
        "disagg_upload-e2e-$DISAGG_CFG" "disagg-gen_only-$DISAGG_CFG" "aggr_upload-ctx_only-$DISAGG_CFG" \
        "disagg_upload-e2e-gb200_deepseek-r1-fp4_1k1k_con1024_ctx1_dep4_gen1_dep8_eplb0_mtp0_ccb-UCX" \
        "aggr-ctx_only-gb200_deepseek-r1-fp4_1k1k_con1024_ctx1_dep4_gen1_dep8_eplb0_mtp0_ccb-UCX"
    # every upstream test-db id whose config the stub has (the fixture lists are in the repo)
    for f in "$ROOT"/../fixtures/trtllm/test-db/*.yml; do
        [ -e "$f" ] || continue
        sed -n 's/^ *- perf\/test_perf_sanity.py::test_e2e\[\(.*\)\].*/\1/p' "$f" |
            grep -E 'deepseek_r1_fp4_v2_grace_blackwell|gb200_deepseek-r1-fp4_1k1k_con1024_ctx1_dep4_gen1_dep8'
    done
} >"$TMP/ids.txt"
check "collect: 51 ids incl. fixture configs and test-db ids" "$t0" chk collect "$TMP/collect.out" "$TMP/ids.txt"
t0=$(now)
( cd "$DEFS" && env LLM_ROOT="$ROOT" "$PY" -m pytest --collect-only -q "perf/test_perf_sanity.py::test_e2e[aggr_upload-no_such_config]" ) >"$TMP/bogus.out" 2>&1
rc=$?
check "collect: bogus id is 'not found' (exit 4)" "$t0" bash -c "[ $rc = 4 ] && grep -q 'not found' '$TMP/bogus.out'"

# ---- 2. aggregated, one server (tp1, no launcher) -------------------------------------------
t0=$(now)
WS=$TMP/aggr
CASE=aggr_upload-$AGG_CFG-tiny_llama_fp8_tp1
( pytest_cmd "$WS" "$CASE" "" 60 ) >"$TMP/aggr.out" 2>&1
rc=$?
D=$WS/$CASE
check "aggr: exit 0" "$t0" rc_is $rc 0
check "aggr: per-test files" "$t0" exists "$D/trtllm-serve.0.log" "$D/trtllm-serve.0.addr" \
    "$D/extra-llm-api-config.aggr.tiny_llama_fp8_tp1.yml" "$D/trtllm-benchmark.0.0.log" "$WS/report.csv"
check "aggr: exact block (stub_numbers) + 16 metrics" "$t0" chk block "$D/trtllm-benchmark.0.0.log" "" \
    '{"concurrency": 4, "iterations": 2, "isl": 128, "osl": 64, "tp": 1, "max_batch_size": 64}'
check "aggr: literal padded lines" "$t0" chk literal "$D/trtllm-benchmark.0.0.log" \
    "============ Serving Benchmark Result ============" \
    "Total requests:                          8         " \
    "Mean TTFT (ms):                          15.12     " \
    "P99 E2EL (ms):                           438.48    " \
    "=================================================="
check "aggr: JUnit passed, block in <system-out>" "$t0" chk junit "$WS/results.xml" "$CASE" passed "Serving Benchmark Result"
check "aggr: report.csv says passed" "$t0" grep -q ",passed," "$WS/report.csv"

# ---- 3. trtllm-llmapi-launch with 2 fake ranks (tp2 server) ----------------------------------
t0=$(now)
WS=$TMP/launch
CASE=aggr-$AGG_CFG-tiny_llama_fp8_tp2
LAUNCH=$ROOT/tensorrt_llm/llmapi/trtllm-llmapi-launch
mkdir -p "$WS"
( export SLURM_JOB_ID=4242 SLURM_STEP_ID=0 SLURM_PROCID=1 SLURM_NTASKS=2; pytest_cmd "$WS" "$CASE" "" 60 "$LAUNCH" ) >"$WS/rank1.out" 2>&1 &
R1=$!; BG_PIDS+=($R1)
( export SLURM_JOB_ID=4242 SLURM_STEP_ID=0 SLURM_PROCID=0 SLURM_NTASKS=2; pytest_cmd "$WS" "$CASE" "" 60 "$LAUNCH" ) >"$WS/rank0.out" 2>&1
rc0=$?; wait $R1; rc1=$?
check "llmapi-launch: rank 0 runs pytest, exit 0" "$t0" rc_is $rc0 0
check "llmapi-launch: rank 1 waits for the marker, exit 0" "$t0" rc_is $rc1 0
check "llmapi-launch: only rank 0 ran pytest" "$t0" bash -c "grep -q PASSED '$WS/rank0.out' && ! grep -q 'test session starts' '$WS/rank1.out'"
check "llmapi-launch: done marker holds rank 0's exit code" "$t0" file_is "$WS/.trtllm-llmapi-launch/job4242_step0.done" 0
check "llmapi-launch: tp2 numbers" "$t0" chk block "$WS/$CASE/trtllm-benchmark.0.0.log" "" \
    '{"concurrency": 4, "iterations": 2, "isl": 128, "osl": 64, "tp": 2, "max_batch_size": 64}'

# ---- 4. disaggregated e2e: GEN_0 (2 ranks), CTX_0, DISAGG_SERVER, BENCHMARK concurrently -------
t0=$(now)
WS=$TMP/disagg
CASE=disagg_upload-e2e-$DISAGG_CFG
run_disagg "$WS" "$CASE" 5001 GEN_0 CTX_0 DISAGG_SERVER BENCHMARK
D=$WS/$CASE
check "disagg e2e: all roles exit 0" "$t0" bash -c "[ $RC_GEN_0$RC_GEN_0_rank1$RC_CTX_0$RC_DISAGG_SERVER$RC_BENCHMARK = 00000 ] || { echo 'GEN_0 $RC_GEN_0 rank1 $RC_GEN_0_rank1 CTX_0 $RC_CTX_0 DISAGG_SERVER $RC_DISAGG_SERVER BENCHMARK $RC_BENCHMARK'; exit 1; }"
check "disagg e2e: coordination and output files" "$t0" exists "$D/hostnames-5001-0/CTX_0.txt" \
    "$D/hostnames-5001-0/GEN_0.txt" "$D/hostnames-5001-0/DISAGG_SERVER.0.addr" "$D/server_config.0.yaml" \
    "$D/extra-llm-api-config.ctx.e2e-$DISAGG_CFG.yml" "$D/extra-llm-api-config.gen.e2e-$DISAGG_CFG.yml" \
    "$D/internal_request_auth_key.txt" "$D/trtllm-serve.CTX_0.0.log" "$D/trtllm-serve.GEN_0.0.log" \
    "$D/trtllm-serve.DISAGG_SERVER.0.log" "$D/trtllm-benchmark.0.0.log" \
    "$WS/results-GEN_0.xml" "$WS/results-CTX_0.xml" "$WS/results-DISAGG_SERVER.xml" "$WS/results-BENCHMARK.xml"
check "disagg e2e: benchmark_status.0.txt = Done" "$t0" file_is "$D/benchmark_status.0.txt" Done
check "disagg e2e: server_config has 1 ctx + 1 gen url" "$t0" "$PY" -c "
import yaml; c = yaml.safe_load(open('$D/server_config.0.yaml'))
assert len(c['context_servers']['urls']) == 1 and len(c['generation_servers']['urls']) == 1, c"
check "disagg e2e: benchmark block + 16 metrics" "$t0" chk block "$D/trtllm-benchmark.0.0.log" "" \
    '{"concurrency": 8, "iterations": 1, "isl": 1024, "osl": 1024, "tp": 2, "ctx_tp": 1, "max_batch_size": 64}'
check "disagg e2e: BENCHMARK JUnit has the block" "$t0" chk junit "$WS/results-BENCHMARK.xml" "$CASE" passed "Serving Benchmark Result"

# ---- 5. disaggregated gen_only: GEN_0, CTX_0, DISAGG_SERVER, BENCHMARK (upstream keeps ctx) ------------------------------
t0=$(now)
WS=$TMP/genonly
CASE=disagg-gen_only-$DISAGG_CFG
run_disagg "$WS" "$CASE" 5002 GEN_0 CTX_0 DISAGG_SERVER BENCHMARK
check "disagg gen_only: all roles exit 0" "$t0" bash -c "[ $RC_GEN_0$RC_CTX_0$RC_DISAGG_SERVER$RC_BENCHMARK = 0000 ]"
check "disagg gen_only: device step time line" "$t0" grep -q "^Average Per Iter Device Step Time (ms): " "$WS/$CASE/trtllm-benchmark.0.0.log"
# After gen_server_0.done the benchmark parses the worker's iteration lines in gen_server_0.log
# (tp2, c8: 2.40 ms; iterations < 5, written 10x slower, are skipped).
check "disagg gen_only: step time parsed from gen_server_0.log" "$t0" bash -c \
    "grep -q 'prev_device_step_time' '$WS/$CASE/gen_server_0.log' && grep -q '^Average Per Iter Device Step Time (ms): 2.40$' '$WS/$CASE/trtllm-benchmark.0.0.log'"

# ---- 5b. a worker rank without the YAML's env fails the role ---------------------------------
t0=$(now)
WS=$TMP/rankenv
CASE=disagg_upload-e2e-$DISAGG_CFG
RANK1_WITHOUT_ENV=1 run_disagg "$WS" "$CASE" 5003 GEN_0 CTX_0 DISAGG_SERVER BENCHMARK
check "rank env: GEN_0 fails when rank 1 lacks the worker env" "$t0" bash -c \
    "[ $RC_GEN_0 != 0 ] && grep -q 'did not reach every rank: rank 1 has TLLM_LOG_LEVEL' '$WS/GEN_0.out'"

# ---- 6. failure knobs -------------------------------------------------------------------------
CASE=aggr_upload-$AGG_CFG-tiny_llama_fp8_tp1
t0=$(now); WS=$TMP/knob-failed
( export PERF_RUN_STUB_FAIL=failed_requests; pytest_cmd "$WS" "$CASE" "" 60 ) >"$TMP/knob-failed.out" 2>&1; rc=$?
check "knob failed_requests (aggr): test fails" "$t0" rc_is $rc 1
check "knob failed_requests (aggr): Failed requests 2 + banners" "$t0" chk block "$WS/$CASE/trtllm-benchmark.0.0.log" failed_requests \
    '{"concurrency": 4, "iterations": 2, "isl": 128, "osl": 64, "tp": 1, "max_batch_size": 64}'
check "knob failed_requests (aggr): JUnit failure message" "$t0" chk junit "$WS/results.xml" "$CASE" failed "Benchmark output contains 2 failed requests."

t0=$(now); WS=$TMP/knob-zero
( export PERF_RUN_STUB_FAIL=zero_tokens; pytest_cmd "$WS" "$CASE" "" 60 ) >"$TMP/knob-zero.out" 2>&1; rc=$?
check "knob zero_tokens (aggr): test passes" "$t0" rc_is $rc 0
check "knob zero_tokens (aggr): 0 generated tokens" "$t0" chk literal "$WS/$CASE/trtllm-benchmark.0.0.log" \
    "Total generated tokens:                  0         " "Output token throughput (tok/s):         0.00      "

t0=$(now); WS=$TMP/knob-crash
( export PERF_RUN_STUB_FAIL=worker_crash; pytest_cmd "$WS" "$CASE" "" 60 ) >"$TMP/knob-crash.out" 2>&1; rc=$?
check "knob worker_crash (aggr): test fails quickly" "$t0" rc_is $rc 1
check "knob worker_crash (aggr): clear message" "$t0" chk junit "$WS/results.xml" "$CASE" failed "exited with code 1"

t0=$(now); WS=$TMP/knob-hang
( export PERF_RUN_STUB_FAIL=hang; pytest_cmd "$WS" "$CASE" "" 3 ) >"$TMP/knob-hang.out" 2>&1; rc=$?
check "knob hang (aggr): client hangs until pytest --timeout=3" "$t0" bash -c "[ $rc != 0 ] && grep -q 'Timeout' '$TMP/knob-hang.out' && grep -q 'sleeps forever' '$WS/$CASE/trtllm-benchmark.0.0.log'"
sleep 1.5
check "knob hang (aggr): orphaned fake server exited" "$t0" bash -c "! $PY -c \"import socket; socket.create_connection(('127.0.0.1', int(open('$WS/$CASE/trtllm-serve.0.addr').read().split(':')[1])), 1)\" 2>/dev/null"

t0=$(now); WS=$TMP/knob-bogus
( export PERF_RUN_STUB_FAIL=explode; pytest_cmd "$WS" "$CASE" "" 60 ) >"$TMP/knob-bogus.out" 2>&1; rc=$?
check "knob unknown value: fails with a clear message" "$t0" bash -c "[ $rc = 1 ] && grep -q 'is not a stub knob' '$TMP/knob-bogus.out'"

t0=$(now); WS=$TMP/knob-dcrash
CASE=disagg_upload-e2e-$DISAGG_CFG
export PERF_RUN_STUB_FAIL=worker_crash
run_disagg "$WS" "$CASE" 5003 GEN_0 CTX_0 DISAGG_SERVER BENCHMARK
unset PERF_RUN_STUB_FAIL
check "knob worker_crash (disagg GEN_0): GEN_0 and BENCHMARK fail, others pass" "$t0" bash -c "[ $RC_GEN_0$RC_CTX_0$RC_DISAGG_SERVER$RC_BENCHMARK = 1001 ] || { echo 'GEN_0 $RC_GEN_0 CTX_0 $RC_CTX_0 DISAGG_SERVER $RC_DISAGG_SERVER BENCHMARK $RC_BENCHMARK'; exit 1; }"
check "knob worker_crash (disagg): worker_failed marker" "$t0" grep -q "^GEN_0: " "$WS/$CASE/hostnames-5003-0/worker_failed"
check "knob worker_crash (disagg): BENCHMARK names the dead worker" "$t0" chk junit "$WS/results-BENCHMARK.xml" "$CASE" failed "GEN_0: trtllm-serve (GEN_0) exited with code 1"

t0=$(now); WS=$TMP/knob-dfailed
export PERF_RUN_STUB_FAIL=failed_requests
run_disagg "$WS" "$CASE" 5004 GEN_0 CTX_0 DISAGG_SERVER BENCHMARK
unset PERF_RUN_STUB_FAIL
check "knob failed_requests (disagg): only BENCHMARK fails" "$t0" bash -c "[ $RC_GEN_0$RC_CTX_0$RC_DISAGG_SERVER$RC_BENCHMARK = 0001 ]"
check "knob failed_requests (disagg): Failed requests 2" "$t0" chk block "$WS/$CASE/trtllm-benchmark.0.0.log" failed_requests \
    '{"concurrency": 8, "iterations": 1, "isl": 1024, "osl": 1024, "tp": 2, "ctx_tp": 1, "max_batch_size": 64}'

echo "total $(elapsed "$START_ALL")s, $FAILURES failure(s)"
[ "$FAILURES" = 0 ]
