# shellcheck shell=bash
# shellcheck disable=SC2034  # the names set here are used by the scripts that source this file
# common.sh — settings and helpers shared by every scripts/test-cluster subcommand.
# Adapted from shared/test-services (see its REPORT.md; "pitfall N" below cites that report).
# Every setting can be overridden from the environment.

: "${PERFCI_STATE:=/tmp/perfci-svc}"          # all runtime state: keys, pids, logs, spool, DB data, env file
: "${PERFCI_USER:=perfci}"                    # unprivileged login/job user
: "${PERFCI_SSH_PORT:=2222}"
: "${PERFCI_SSH_ALIAS:=slurm-login}"
: "${PERFCI_SLURM_NODES:=4}"                  # 1 => NodeName=localhost; N>1 => n[1-N], one slurmd each on this host
: "${PERFCI_SLURM_CPUS_PER_NODE:=4}"          # only for N>1 (oversubscribes the real cores on purpose)
: "${PERFCI_SLURM_MEM_MB:=4096}"              # RealMemory per node (kept well under the real 24 GiB)
: "${PERFCI_SLURM_GPUS_PER_NODE:=4}"          # fake GPUs: char devices 1:3 (same as /dev/null), pitfall 11
: "${PERFCI_SLURM_CLUSTER:=perfci}"
: "${PERFCI_SLURMD_BASE_PORT:=17000}"         # node nI listens on BASE+I
: "${PERFCI_ACCOUNTING:=dbd}"                 # dbd => slurmdbd+MariaDB (sacct works); none => jobcomp only (sacct -c)
: "${PERFCI_MYSQL_PORT:=3306}"
: "${PERFCI_MYSQL_DB:=perfrun}"
: "${PERFCI_MYSQL_USER:=perfrun}"
# PERFCI_MYSQL_PASS: not defaulted here. `up` keeps the one in the existing env file, or makes a
# random one; the env file (mode 600) is the only place it is written down.

# CI may hand us a thin PATH (env -i PATH=/usr/bin:/bin): daemons and admin tools live in sbin
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}"
PERFCI_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MYSQL_SOCK=/run/mysqld/mysqld.sock
SSH_DROPIN=/etc/ssh/ssh_config.d/perfci-slurm.conf
SLURM_ETC=/etc/slurm
ENV_FILE=$PERFCI_STATE/env
SLURM_DIR=$PERFCI_STATE/slurm
SSH_DIR=$PERFCI_STATE/ssh
export PERFCI_STATE PERFCI_USER PERFCI_SSH_PORT PERFCI_SSH_ALIAS PERFCI_SLURM_NODES \
       PERFCI_SLURM_CPUS_PER_NODE PERFCI_SLURM_MEM_MB PERFCI_SLURM_GPUS_PER_NODE \
       PERFCI_SLURM_CLUSTER PERFCI_SLURMD_BASE_PORT PERFCI_ACCOUNTING PERFCI_MYSQL_PORT \
       PERFCI_MYSQL_DB PERFCI_MYSQL_USER

# Daemon executables. Compared through readlink -f (pitfall 1: /usr/sbin/slurmd is an alternatives link).
SSHD=/usr/sbin/sshd
MUNGED=/usr/sbin/munged
MARIADBD=/usr/sbin/mariadbd
SLURMDBD=/usr/sbin/slurmdbd
SLURMCTLD=/usr/sbin/slurmctld
SLURMD=/usr/sbin/slurmd

now_ms() { date +%s%3N; }
# All progress goes to stderr, so `scripts/test-cluster env` stays clean for eval.
log() { printf '[%s] test-cluster: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[%s] test-cluster: ERROR: %s\n' "$(date +%H:%M:%S)" "$*" >&2; exit 1; }
require_root() { [[ $(id -u) -eq 0 ]] || die "this must run as root (it starts, reads and signals root-owned daemons); try: sudo scripts/test-cluster ${1:-}"; }

# Timings are appended to $PERFCI_STATE/timings.tsv as "name<TAB>milliseconds".
record_time() {
  [[ -d $PERFCI_STATE ]] && printf '%s\t%s\n' "$1" "$2" >> "$PERFCI_STATE/timings.tsv"
  log "timing: $1 = $2 ms"
}

# timed NAME CMD... : run CMD, record its wall time under NAME, return its status.
timed() {
  local name=$1; shift
  local t0 rc=0; t0=$(now_ms)
  "$@" || rc=$?
  record_time "$name" $(( $(now_ms) - t0 ))
  return $rc
}

# wait_until TIMEOUT_S CMD... : poll CMD every 50 ms until it succeeds; 1 on timeout.
wait_until() {
  local timeout=$1; shift
  local deadline=$(( $(now_ms) + timeout * 1000 ))
  until "$@" >/dev/null 2>&1; do
    (( $(now_ms) > deadline )) && return 1
    sleep 0.05
  done
}

# tcp_listening PORT : something listens on that TCP port. No connection is made, so
# slurmdbd does not log "Could not read msg_size" (pitfall 20).
tcp_listening() { ss -Hltn "sport = :$1" | grep -q .; }
# require_port_free PORT WHAT : refuse to start a daemon whose port someone else holds,
# because the readiness check would be fooled by the foreign listener (pitfall 19).
require_port_free() {
  tcp_listening "$1" || return 0
  die "cannot start $2: TCP port $1 is already taken by another process ($(ss -Hltnp "sport = :$1" | head -1 | awk '{print $NF}')). Stop that process, or run 'scripts/test-cluster down' if it is a leftover of ours."
}

# proc_gone PID : no such process, or a zombie that PID 1 has not reaped yet (pitfall 2)
proc_gone() {
  [[ -d /proc/$1 ]] || return 0
  [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" == Z ]]
}

# pidfile_pid PIDFILE : the digits in it (empty if none)
pidfile_pid() { [[ -s $1 ]] && tr -dc '0-9' < "$1"; }

# pid_alive PIDFILE EXE : the pid in the file is alive and runs EXE (guards against PID reuse).
pid_alive() {
  local f=$1 exe=$2 pid
  pid=$(pidfile_pid "$f") || return 1
  [[ -n $pid ]] || return 1
  proc_gone "$pid" && return 1
  [[ "$(readlink -f "/proc/$pid/exe" 2>/dev/null)" == "$(readlink -f "$exe")" ]]
}

# stop_pidfile PIDFILE EXE NAME [TIMEOUT_S] : SIGTERM the one PID we started, SIGKILL after timeout.
# Never kills by name: other engineers' processes on this machine are not ours to stop.
stop_pidfile() {
  local f=$1 exe=$2 name=$3 timeout=${4:-20} pid
  if ! pid_alive "$f" "$exe"; then rm -f "$f"; return 0; fi
  pid=$(pidfile_pid "$f")
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_until "$timeout" proc_gone "$pid"; then
    log "$name (pid $pid) did not stop within ${timeout}s of SIGTERM, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_until 5 proc_gone "$pid" || true
  fi
  rm -f "$f"
}

slurm_node_names() {
  if (( PERFCI_SLURM_NODES <= 1 )); then echo localhost
  else local i; for ((i = 1; i <= PERFCI_SLURM_NODES; i++)); do echo "n$i"; done
  fi
}

# slurmd_port NODE : the TCP port that node's slurmd listens on
slurmd_port() { if (( PERFCI_SLURM_NODES <= 1 )); then echo 6818; else echo $(( PERFCI_SLURMD_BASE_PORT + ${1#n} )); fi; }

# perfci_home : home of the test user (empty if the user does not exist)
perfci_home() { getent passwd "$PERFCI_USER" | cut -d: -f6; }
