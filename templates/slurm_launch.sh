{% include "slurm_launch_prefix.sh" %}
srunArgs=({% for a in srun_args %} {{ a }}{% endfor %} )
{%- if disagg %}
# The router and the benchmark overlap a worker's node and need no GPU: no GPU GRES for them.
srunArgsNoGpu=({% for a in srun_args_no_gpu %} {{ a }}{% endfor %} )
{%- endif %}

# ---------------------------------------------------------------- exit marker
# perf-run watches for the marker file and the PERF_RUN_EXIT line: the end of the job is an
# event, not a guess. Written on every way out (success, failure, time limit, scancel).
perf_run_marker="$jobWorkspace/{{ files.exit_marker }}"
# The marker (and the time-limit warning) of an earlier attempt of this job (requeued by
# Slurm) are not this attempt's.
(( perf_run_attempt == 0 )) || rm -f "$perf_run_marker" "$jobWorkspace/{{ files.time_limit_warning }}"
declare -A perf_run_roles=()
perf_run_stop_steps() {
  local pid
  for pid in "${!perf_run_roles[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 30); do
    local alive=0
    for pid in "${!perf_run_roles[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    (( alive )) || return 0
    # A stop request kills this sleep too; under `set -e` that would end the shell with 143
    # after the marker already said otherwise.
    sleep 1 || true
  done
  for pid in "${!perf_run_roles[@]}"; do
    pkill -KILL -P "$pid" 2>/dev/null || true
    kill -KILL "$pid" 2>/dev/null || true
  done
}
perf_run_signalled=""
{%- if disagg %}
# The role monitor (below, "role monitor") is no step: it never decides the exit code, and it
# is killed (not asked) before the marker is written, so no line of it follows PERF_RUN_EXIT.
perf_run_monitor_pid=""
perf_run_stop_monitor() {
  [[ -n $perf_run_monitor_pid ]] || return 0
  kill -KILL "$perf_run_monitor_pid" 2>/dev/null || true
  wait "$perf_run_monitor_pid" 2>/dev/null || true
  perf_run_monitor_pid=""
}
{%- endif %}
# Only this shell writes the marker, once. A child forked for a background step still holds
# these traps until it execs srun (it expands `$(perf_run_slice …)` first); a SIGTERM from
# perf_run_stop_steps in that window used to make the child print its own PERF_RUN_EXIT.
perf_run_main_pid=$BASHPID
perf_run_marker_written=""
perf_run_write_marker() {
  [[ -z $perf_run_marker_written ]] || return 0
  perf_run_marker_written=1
  echo "PERF_RUN_EXIT code=$1 job=${SLURM_JOB_ID:-?} attempt=$perf_run_attempt at $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  printf '%s %s %s\n' "$1" "$(date +%s)" "$perf_run_attempt" > "$perf_run_marker.tmp" && mv -f "$perf_run_marker.tmp" "$perf_run_marker" || true
}
# The job's exit code, set by the EXIT trap's first command (or by a stop request): once it
# is set, the shell is on its way out and a stop request only records the end.
perf_run_exit_rc=""
perf_run_on_exit() {
  local rc=$perf_run_exit_rc
  trap - EXIT
  [[ $BASHPID == "$perf_run_main_pid" ]] || exit "$rc"
  if [[ -n $perf_run_signalled ]]; then
    # Time limit or scancel: Slurm SIGKILLs this script KillWait seconds after the SIGTERM
    # (30 s by default, often less), possibly before the steps are down; the end is recorded
    # first so it is never lost.
    trap '' TERM INT
{%- if disagg %}
    perf_run_stop_monitor
{%- endif %}
    perf_run_write_marker "$rc"
    perf_run_stop_steps
  else
    # A stop request while the steps are being stopped (the job ended just as Slurm or
    # scancel signalled it) records the end at once (perf_run_on_stop), then the steps are
    # still stopped.
{%- if disagg %}
    perf_run_stop_monitor
{%- endif %}
    perf_run_stop_steps
    trap '' TERM INT
    perf_run_write_marker "$rc"
  fi
  exit "$rc"
}
# SIGTERM (time limit, scancel) or SIGINT; $1 is the exit code it means (143, 130).
perf_run_on_stop() {
  [[ $BASHPID == "$perf_run_main_pid" ]] || exit "$1"
  if [[ -n $perf_run_exit_rc ]]; then
    # Already in the EXIT trap: record its code now, and let it finish stopping the steps.
    trap '' TERM INT
    perf_run_write_marker "$perf_run_exit_rc"
    return 0
  fi
  # Not yet on the way out, or the request landed before the EXIT trap's first command (its
  # code is not known then): the stop is the end. The EXIT trap cannot run twice, so the end
  # is recorded here, not by `exit` running it.
  trap - EXIT
  perf_run_signalled=1
  perf_run_exit_rc=$1
  (( $1 != 143 )) || echo "perf-run: the job was told to stop (SIGTERM: time limit or scancel)" >&2
  perf_run_on_exit
}
trap 'perf_run_exit_rc=${perf_run_exit_rc:-$?}; perf_run_on_exit' EXIT
trap 'perf_run_on_stop 143' TERM
trap 'perf_run_on_stop 130' INT
# Slurm's warning before the time limit (#SBATCH --signal=B:USR1@N, to this shell only): say
# so once, in the log and in a file perf-run collects, and let the steps run on. The points
# that finished are already on disk; at the limit the TERM path above records the end. A
# `wait` this signal interrupts returns 138 while the step runs on: perf_run_wait waits again.
perf_run_warned=""
perf_run_on_warning() {
  [[ $BASHPID == "$perf_run_main_pid" ]] || return 0
  [[ -z $perf_run_warned ]] || return 0
  perf_run_warned=1
  date -u +%Y-%m-%dT%H:%M:%SZ > "$jobWorkspace/{{ files.time_limit_warning }}" 2>/dev/null || true
  echo "PERF_RUN_TIME_LIMIT_WARNING job=${SLURM_JOB_ID:-?} attempt=$perf_run_attempt within_s={{ time_warning_s }} at $(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
trap perf_run_on_warning USR1
[[ -z ${perf_run_early_warning:-} ]] || perf_run_on_warning
# Every step's exit code, as its launcher recorded it (step_exit/<ROLE>): bash can lose a
# background job's status when a trapped signal (Slurm's USR1 warning) interrupts `wait` just
# as the job ends (bash 5.2 then says -1), so the code never depends on bash's job table.
perf_run_step_exit="$jobWorkspace/{{ files.step_exit }}"
rm -rf "$perf_run_step_exit"
mkdir -p "$perf_run_step_exit"
# perf_run_launch NAME DONE CMD...: run CMD in the background, in a subshell that passes a stop
# request (TERM) on to it, records its exit code in step_exit/NAME and then touches DONE (a
# sentinel relative to the job workspace, or ""); perf_run_roles[<pid>]=NAME.
perf_run_launch() {
  local name=$1 done=$2
  shift 2
  (
    trap - EXIT INT
    perf_run_child=""
    perf_run_stopping=""
    trap 'perf_run_stopping=1; [[ -z $perf_run_child ]] || kill -TERM "$perf_run_child" 2>/dev/null || true' TERM
    "$@" &
    perf_run_child=$!
    [[ -z $perf_run_stopping ]] || kill -TERM "$perf_run_child" 2>/dev/null || true
    while :; do
      rc=0
      wait "$perf_run_child" || rc=$?
      kill -0 "$perf_run_child" 2>/dev/null || break
    done
    echo "$rc" > "$perf_run_step_exit/$name" 2>/dev/null || true
    [[ -z $done ]] || touch "$jobWorkspace/$done" || true
    exit "$rc"
  ) &
  perf_run_last_pid=$!
  perf_run_roles[$perf_run_last_pid]=$name
}
# Wait for one background step and return its exit code, through any number of USR1 warnings.
perf_run_wait() {
  local rc role
  while :; do
    rc=0
    wait "$1" || rc=$?
    if (( rc > 128 )) && kill -0 "$1" 2>/dev/null; then continue; fi
    role=${perf_run_roles[$1]:-}
    if [[ -n $role && -s $perf_run_step_exit/$role ]]; then rc=$(< "$perf_run_step_exit/$role"); fi
    return "$rc"
  done
}

# ---------------------------------------------------------------- system information
# Recorded on the first node for the result files; `unknown` where a tool is missing. The
# host's view here; GPU, driver, CUDA and the Python packages are probed again inside the
# container below (where CUDA and TensorRT live) and those files win.
perf_run_probe() {
  local out=$1 v=""
  shift
  v=$("$@" 2>/dev/null | head -n 1) || v=""
  [[ -n $v ]] || v=unknown
  printf '%s\n' "$v" > "$out"
}
perf_run_sysinfo="$jobWorkspace/{{ files.sysinfo }}"
mkdir -p "$perf_run_sysinfo" "$jobWorkspace/logs"
perf_run_probe "$perf_run_sysinfo"/gpu.txt nvidia-smi --query-gpu=name --format=csv,noheader
perf_run_probe "$perf_run_sysinfo"/driver.txt nvidia-smi --query-gpu=driver_version --format=csv,noheader
perf_run_probe "$perf_run_sysinfo"/gpu_count.txt nvidia-smi --query-gpu=count -i 0 --format=csv,noheader
perf_run_probe "$perf_run_sysinfo"/cuda.txt sh -c 'nvcc --version | sed -n "s/.*release \([0-9.]*\).*/\1/p"'
perf_run_probe "$perf_run_sysinfo"/os.txt sh -c '. /etc/os-release && echo "$PRETTY_NAME"'
perf_run_probe "$perf_run_sysinfo"/cpu.txt sh -c 'lscpu | sed -n "s/^Model name:[[:space:]]*//p"'
perf_run_probe "$perf_run_sysinfo"/hostname.txt hostname
perf_run_probe "$perf_run_sysinfo"/trtllm_version.txt sed -n 's/^__version__ *= *"\(.*\)"/\1/p' "$LLM_ROOT/tensorrt_llm/version.py"
mapfile -t perf_run_nodes < <(scontrol show hostnames "$SLURM_JOB_NODELIST")
# A preparatory step runs in the background and is waited for: bash runs the TERM trap only
# between foreground commands, so a hanging foreground srun would hold back the exit marker.
# perf_run_prep NAME LOG CMD...: CMD's output goes to LOG (relative to the job workspace).
perf_run_prep() {
  local name=$1 log=$2 pid rc=0
  shift 2
  perf_run_launch "$name" "" "$@" > "$jobWorkspace/$log" 2>&1
  pid=$perf_run_last_pid
  perf_run_wait "$pid" || rc=$?
  unset "perf_run_roles[$pid]"
  return "$rc"
}
{%- if install %}

# ---------------------------------------------------------------- install
# The TensorRT-LLM under test is the wheel, not whatever the image holds (upstream
# slurm_install.sh): one task per node installs it into a node-local directory, behind a
# per-node lock, with retries; every role then puts that directory first on PYTHONPATH.
export PERF_RUN_SITE="/tmp/perf_run_trtllm_${SLURM_JOB_ID}"
echo "perf-run: installing ${PERF_RUN_TRTLLM_WHEEL##*/} on {{ total_nodes }} node(s); log: install.log"
if ! perf_run_prep INSTALL install.log srun "${srunArgs[@]}" --nodes={{ total_nodes }} --ntasks={{ total_nodes }} --ntasks-per-node=1 --kill-on-bad-exit=1 --job-name=INSTALL bash -c '
  set -u
  site=$PERF_RUN_SITE
  exec 9>"/tmp/perf_run_install_job${SLURM_JOB_ID}.lock"
  flock 9
  # Installed by this job (another task on this node): its .installed names this wheel. Anything
  # else there (a job with the same id on an earlier incarnation of the cluster, a broken
  # install) is not the build under test and goes.
  if [[ -f $site/.installed && $(cat "$site/.installed") == "$PERF_RUN_TRTLLM_WHEEL" ]]; then echo "$(hostname): already installed in $site"; exit 0; fi
  rm -rf "$site"
  for try in 1 2 3; do
    if python3 -m pip install --no-deps --force-reinstall --no-index --no-cache-dir --target "$site" "$PERF_RUN_TRTLLM_WHEEL"; then
      printf "%s\n" "$PERF_RUN_TRTLLM_WHEEL" > "$site/.installed"
      echo "$(hostname): installed ${PERF_RUN_TRTLLM_WHEEL##*/} in $site"
      exit 0
    fi
    echo "$(hostname): pip failed (try $try of 3)"
    sleep 5
  done
  exit 1'; then
  echo "perf-run: installing the TensorRT-LLM wheel failed on at least one node, so no test ran; see install.log:" >&2
  tail -n 20 "$jobWorkspace/install.log" >&2 || true
  exit 1
fi
{%- endif %}

# Inside the container, on the first node: what the roles will really run with.
cat > "$perf_run_sysinfo/probe.sh" <<'PERF_RUN_PROBE'
d=$jobWorkspace/{{ files.sysinfo }}
put() { local f=$1 v; shift; v=$("$@" 2>/dev/null | head -n 1) || v=""; [[ -n $v ]] && printf '%s\n' "$v" > "$d/$f"; return 0; }
put gpu.txt nvidia-smi --query-gpu=name --format=csv,noheader
put driver.txt nvidia-smi --query-gpu=driver_version --format=csv,noheader
put cuda.txt sh -c 'nvcc --version | sed -n "s/.*release \([0-9.]*\).*/\1/p"'
put tensorrt_version.txt python3 -c 'import importlib.metadata as m; print(m.version("tensorrt"))'
put trtllm_installed_version.txt python3 -c 'import importlib.metadata as m; print(m.version("tensorrt_llm"))'
put trtllm_installed_location.txt python3 -c 'import importlib.util as u; s = u.find_spec("tensorrt_llm"); print(s.origin if s else "")'
PERF_RUN_PROBE
perf_run_prep SYSINFO logs/sysinfo.log srun "${srunArgs[@]}" --nodes=1 --ntasks=1 --ntasks-per-node=1 --nodelist="${perf_run_nodes[0]}" --job-name=SYSINFO bash -c '{% if install %}export PYTHONPATH=$PERF_RUN_SITE${PYTHONPATH:+:$PYTHONPATH}; {% endif %}bash "$jobWorkspace/{{ files.sysinfo }}/probe.sh"' \
  || echo "perf-run: probing the container failed (see logs/sysinfo.log); the host values are kept" >&2

# ---------------------------------------------------------------- steps
perf_run_slice() { local IFS=,; echo "${perf_run_nodes[*]:$1:$2}"; }
# The test's per-case directory (<--output-dir>/<case>): role logs and sentinels live here,
# where upstream's test_perf_sanity.py reads them (upstream slurm_launch_draft.sh).
testOutputDir={{ paths.test_output_dir }}
if (( perf_run_attempt > 0 )); then
  # What the interrupted attempt wrote goes to attempt-<N>/, so no file of it is read as this
  # attempt's result.
  perf_run_old="$jobWorkspace/attempt-$((perf_run_attempt - 1))"
  mkdir -p "$perf_run_old"
  for perf_run_f in "$testOutputDir" "$jobWorkspace"/results*.xml; do
    if [[ -e $perf_run_f ]]; then mv -f "$perf_run_f" "$perf_run_old"/; fi
  done
  echo "perf-run: attempt $perf_run_attempt of job ${SLURM_JOB_ID:-?}; the files of attempt $((perf_run_attempt - 1)) are in attempt-$((perf_run_attempt - 1))/"
fi
mkdir -p "$testOutputDir"
{%- if precheck %}

# ---------------------------------------------------------------- cache-transceiver precheck
# upstream slurm_ct_precheck_gate.sh: every ctx/gen instance first runs run_precheck.py with its
# own node slice, MPI shape and env; if one fails, the job stops here, before any model loads.
mkdir -p "$jobWorkspace"/{{ precheck.work_rel }}/logs
declare -A perf_run_prechecks=()
{%- for s in steps %}{% if s.precheck_command %}
export DISAGG_SERVING_TYPE={{ s.name | replace(from="_", to="_PRECHECK_") }}
export pytestCommand={{ s.precheck_command }}
perf_run_launch {{ s.name | replace(from="_", to="_PRECHECK_") }} "" timeout -k 60 {{ precheck.timeout_s }} srun "${srunArgs[@]}"{% if s.mpi %} --mpi={{ s.mpi }}{% endif %} --nodes={{ s.nodes }} --ntasks={{ s.ntasks }} --ntasks-per-node={{ s.ntasks_per_node }} --nodelist="$(perf_run_slice {{ s.first_node }} {{ s.nodes }})" --kill-on-bad-exit=1 --job-name={{ s.name | replace(from="_", to="_PRECHECK_") }} bash -c 'cd "$PERF_RUN_DEFS_DIR" && eval "$pytestCommand"' > "$jobWorkspace"/{{ s.precheck_log }} 2>&1
perf_run_prechecks[$perf_run_last_pid]={{ s.name }}
{%- endif %}{% endfor %}
perf_run_precheck_failed=""
for pid in "${!perf_run_prechecks[@]}"; do
  perf_run_step_rc=0
  perf_run_wait "$pid" || perf_run_step_rc=$?
  unset "perf_run_roles[$pid]"
  (( perf_run_step_rc == 0 )) || perf_run_precheck_failed+=" ${perf_run_prechecks[$pid]} (exit code $perf_run_step_rc)"
done
if [[ -n $perf_run_precheck_failed ]]; then
  echo "perf-run: the cache-transceiver precheck failed for$perf_run_precheck_failed, so no server was started; see {{ precheck.work_rel }}/logs/" >&2
  exit 1
fi
echo "perf-run: the cache-transceiver precheck passed for every ctx/gen instance"
{%- endif %}
{% for s in steps %}
# {{ s.name }}: {{ s.nodes }} node(s), {{ s.ntasks }} task(s), {{ s.ntasks_per_node }} per node
{%- if disagg %}
export DISAGG_SERVING_TYPE={{ s.name }}
{%- endif %}
export pytestCommand={{ s.command }}
{%- if s.scrub_env %}
# One task on one node: clear PMI*/PMIX*/MPI*/OMPI*/SLURM* (but SLURM_PROCID) so pytest and the
# in-process executor do not initialise MPI (upstream slurm_run.sh).
{%- endif %}
{%- if s.log_append %}
rm -f "$jobWorkspace"/{{ s.log }}
{%- endif %}
{%- if s.done %}
rm -f "$jobWorkspace"/{{ s.done }}
# The gen log is complete only once its srun is reaped: the test waits for the sentinel.
{%- endif %}
perf_run_launch {{ s.name }} {% if s.done %}{{ s.done }}{% else %}""{% endif %} srun "${ {%- if s.overlap %}srunArgsNoGpu{% else %}srunArgs{% endif %}[@]}"{% if s.mpi %} --mpi={{ s.mpi }}{% endif %}{% if s.overlap %} --overlap{% endif %} --nodes={{ s.nodes }} --ntasks={{ s.ntasks }} --ntasks-per-node={{ s.ntasks_per_node }}{% if disagg %} --nodelist="$(perf_run_slice {{ s.first_node }} {{ s.nodes }})"{% endif %} --kill-on-bad-exit=1 --job-name={{ s.name }}{% if s.log %}{% if s.log_append %} --open-mode=append{% endif %} --output="$jobWorkspace"/{{ s.log }}{% endif %} bash -c '{% if s.scrub_env %}for v in ${!PMI@} ${!PMIX@} ${!MPI@} ${!OMPI@} ${!SLURM@}; do [[ $v == SLURM_PROCID ]] || unset "$v"; done; {% endif %}cd "$PERF_RUN_DEFS_DIR" && eval "$pytestCommand"'
{%- if launch_delay > 0 and not loop.last %}
sleep {{ launch_delay }}  # give pyxis time to set up the container before the next step
{%- endif %}
{% endfor %}
{%- if disagg %}
# ---------------------------------------------------------------- role monitor
# Live topology: a background loop (not a step, no scheduler call) reads, on the shared file
# system, what upstream's test itself waits for: hostnames-<job>-0/<ROLE>.txt (a ctx/gen worker
# published its address), hostnames-<job>-0/DISAGG_SERVER.0.addr (the router is up),
# benchmark_status.0.txt (the benchmark is done), and the size of each role's logs. It keeps
# heartbeat/<ROLE> (state, log bytes, last log line) and prints into this log one
# `PERF_RUN_ROLES …` line per change and one `PERF_RUN_ROLE_STALLED <ROLE> <N>s: <last log line>`
# line when a starting worker or router has written nothing for perf_run_stall_s seconds;
# perf-run reads both from the log it already streams.
perf_run_stall_s={{ stall_s }}
perf_run_last_line() {
  local f newest=""
  for f in "$@"; do
    [[ -f $f ]] || continue
    if [[ -z $newest || $f -nt $newest ]]; then newest=$f; fi
  done
  [[ -n $newest ]] || return 0
  tail -c 65536 "$newest" | tr '\r' '\n' | tr -d '\000-\010\013-\037\177' | grep -v '^[[:space:]]*$' | tail -n 1 | cut -c 1-300
}
perf_run_monitor() {
  set +eu +o pipefail
  trap - EXIT ERR
  trap 'exit 0' TERM INT
  local names=({% for s in steps %} {{ s.name }}{% endfor %} )
  local logs=({% for s in steps %} "$jobWorkspace"/{{ s.log }}{% endfor %} )
  local hn="$testOutputDir/hostnames-${SLURM_JOB_ID:-local}-0" hb="$jobWorkspace/heartbeat"
  local -A pid_of=() state=() size=() since=() stalled=()
  local p i n st sz f line files prev="" now nctx ngen uctx ugen router="waiting" bench="waiting" failed ended finished=""
  for p in "${!perf_run_roles[@]}"; do pid_of[${perf_run_roles[$p]}]=$p; done
  # A requeued job's new attempt starts afresh.
  rm -rf "$hb"
  mkdir -p "$hb"
  while :; do
    now=$SECONDS
    nctx=0 ngen=0 uctx=0 ugen=0 failed="" ended=""
    # Once the benchmark is done the roles stop by design: one last look, then their states
    # stay as they were (a stub benchmark can start and end between two looks).
    [[ -z $finished && -e $testOutputDir/benchmark_status.0.txt ]] && finished=1
    for n in "${names[@]}"; do
      st=${state[$n]:-}
      if [[ $finished != frozen || $n == BENCHMARK ]]; then
        case $n in
          CTX_*|GEN_*) st=starting; [[ -e $hn/$n.txt ]] && st=up ;;
          DISAGG_SERVER) st=starting; [[ -e $hn/DISAGG_SERVER.0.addr ]] && st=ready ;;
          BENCHMARK) st=waiting; [[ -e $hn/DISAGG_SERVER.0.addr ]] && st=running; [[ -n $finished ]] && st=done ;;
        esac
        if grep -qs "^$n: " "$hn/worker_failed"; then
          st=failed
        elif [[ -z $finished && -n ${pid_of[$n]:-} ]] && ! kill -0 "${pid_of[$n]}" 2>/dev/null; then
          st=ended
        fi
      fi
      case $n:$st in
        CTX_*:up) uctx=$((uctx + 1)) ;;
        GEN_*:up) ugen=$((ugen + 1)) ;;
      esac
      case $n in CTX_*) nctx=$((nctx + 1)) ;; GEN_*) ngen=$((ngen + 1)) ;; esac
      [[ $st == failed ]] && failed+=${failed:+,}$n
      [[ $st == ended ]] && ended+=${ended:+,}$n
      state[$n]=$st
    done
    # The router waits for every worker; the benchmark for the router.
    router=${state[DISAGG_SERVER]:-}
    [[ $router == starting ]] && (( uctx + ugen < nctx + ngen )) && router=waiting
    bench=${state[BENCHMARK]:-}
    line="PERF_RUN_ROLES"
    (( nctx > 0 )) && line+=" ctx=$uctx/$nctx"
    line+=" gen=$ugen/$ngen router=${router:-none} benchmark=${bench:-none}"
    [[ -n $failed ]] && line+=" failed=$failed"
    [[ -n $ended ]] && line+=" ended=$ended"
    if [[ $line != "$prev" ]]; then
      echo "$line"
      prev=$line
    fi
    for i in "${!names[@]}"; do
      n=${names[$i]}
      st=${state[$n]}
      [[ $n == DISAGG_SERVER ]] && st=$router
      # Its srun output and its server's log (the benchmark: its client logs).
      files=("${logs[$i]}")
      case $n in
        BENCHMARK) files+=("$testOutputDir"/trtllm-benchmark.0.*.log) ;;
        *) files+=("$testOutputDir/trtllm-serve.$n.0.log") ;;
      esac
      sz=0
      for f in "${files[@]}"; do
        [[ -f $f ]] && sz=$((sz + $(stat -c %s "$f" 2>/dev/null || echo 0)))
      done
      if [[ ${size[$n]:-} != "$sz:$st" ]]; then
        size[$n]="$sz:$st"
        since[$n]=$now
        stalled[$n]=""
        line=$(perf_run_last_line "${files[@]}")
        printf 'state=%s\nlog_bytes=%s\nchanged=%s\nlast_line=%s\n' "$st" "$sz" "$(date +%s)" "$line" > "$hb/$n.tmp" && mv -f "$hb/$n.tmp" "$hb/$n"
      fi
      # Only a role that is itself starting can stall; one that waits for another role is not
      # the one to look at, and a benchmark may rightly run for long without a line.
      case $n:$st in
        CTX_*:starting|GEN_*:starting|DISAGG_SERVER:starting) ;;
        *) continue ;;
      esac
      if [[ -z ${stalled[$n]} ]] && (( now - since[$n] >= perf_run_stall_s )); then
        stalled[$n]=1
        echo "PERF_RUN_ROLE_STALLED $n $((now - since[$n]))s: $(perf_run_last_line "${files[@]}")"
      fi
    done
    [[ -n $finished ]] && finished=frozen
    sleep 2 >/dev/null 2>&1 &
    wait $!
  done
}
perf_run_monitor 2>/dev/null &
perf_run_monitor_pid=$!
{%- endif %}
# ---------------------------------------------------------------- wait
{%- if disagg %}
# The benchmark decides the job's exit code. A worker or the router that dies first fails the
# job at once; a failed benchmark stops the remaining steps (reference §6).
perf_run_rc=0
while :; do
  wait -n || true
  perf_run_done=""
  for pid in "${!perf_run_roles[@]}"; do
    kill -0 "$pid" 2>/dev/null && continue
    perf_run_step_rc=0
    perf_run_wait "$pid" || perf_run_step_rc=$?
    role=${perf_run_roles[$pid]}
    unset "perf_run_roles[$pid]"
    echo "perf-run: step $role ended with exit code $perf_run_step_rc"
    if [[ $role == BENCHMARK ]]; then
      perf_run_rc=$perf_run_step_rc
      perf_run_done=1
    elif (( perf_run_step_rc != 0 )); then
      echo "perf-run: $role failed before the benchmark finished; stopping the job." >&2
      exit 1
    fi
  done
  [[ -n $perf_run_done ]] && break
done
if (( perf_run_rc != 0 )); then
  echo "perf-run: the benchmark failed (exit code $perf_run_rc); stopping the remaining steps." >&2
  exit "$perf_run_rc"
fi
# The workers and the router stop by themselves once the benchmark status file says Done.
for _ in $(seq 1 60); do
  [[ -z "${!perf_run_roles[*]}" ]] && break
  for pid in "${!perf_run_roles[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then wait "$pid" || true; unset "perf_run_roles[$pid]"; fi
  done
  sleep 1
done
exit 0
{%- else %}
perf_run_rc=0
for pid in "${!perf_run_roles[@]}"; do
  perf_run_wait "$pid" || perf_run_rc=$?
  unset "perf_run_roles[$pid]"
done
exit "$perf_run_rc"
{%- endif %}
