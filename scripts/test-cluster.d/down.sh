#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# down.sh — called as `scripts/test-cluster down [--keep-logs DIR]`. Stops what up.sh started
# (by the PIDs in its own pid files, never by name) and removes its state: jobs, daemons,
# ControlMaster sockets, $PERFCI_STATE, the rendered /etc/slurm and ssh drop-in files, the
# test user and its home. Installed packages stay. Safe to run again and again.
#   --keep-logs DIR (or PERFCI_KEEP_LOGS_DIR=DIR)  copy the daemons' logs there first (CI artifacts)
#   PERFCI_KEEP_USER=1                             keep the perfci user and its home
# Not `set -e`: one failed step must not leave the rest running.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
source "$PERFCI_HERE/daemons.sh"
require_root down

KEEP_LOGS=${PERFCI_KEEP_LOGS_DIR:-}
while (($#)); do
  case $1 in
    --keep-logs) [[ $# -ge 2 ]] || die "--keep-logs needs a directory, e.g. --keep-logs target/ci-service-logs."
                 KEEP_LOGS=$2; shift 2 ;;
    *) die "unknown option '$1' for 'down'; the only option is --keep-logs DIR." ;;
  esac
done

S=$PERFCI_STATE
T0=$(now_ms)

# 0. logs first, while they exist (never the env file: it holds the DB password)
if [[ -n $KEEP_LOGS && -d $S ]]; then
  mkdir -p "$KEEP_LOGS" && KEEP_LOGS=$(cd "$KEEP_LOGS" && pwd)
  if (cd "$S" && find . \( -name '*.log' -o -name '*.err' -o -name '*.out' -o -name timings.tsv \) -print0 \
        | xargs -0 -r cp --parents -t "$KEEP_LOGS"); then
    log "copied the service logs to $KEEP_LOGS"
  else
    log "could not copy every service log to $KEEP_LOGS (going on with the shutdown)"
  fi
fi

# 1. jobs: cancel everything still queued or running, so no slurmstepd outlives its slurmd
if slurmctld_running; then
  mapfile -t jobs < <(squeue -h -o %i 2>/dev/null)
  if ((${#jobs[@]})); then
    log "cancelling ${#jobs[@]} Slurm job(s): ${jobs[*]}"
    scancel "${jobs[@]}" 2>/dev/null || true
    # shellcheck disable=SC2016  # expanded by the inner bash, on every poll
    wait_until 30 bash -c '[ -z "$(squeue -h -o %i)" ]' || log "some jobs are still listed 30 s after scancel; stopping the daemons anyway"
  fi
fi

# 2. Slurm daemons
stop_slurmds
stop_slurmctld
stop_slurmdbd
# slurmstepd left behind (only if a job survived scancel): they have files open in our spool dir
for p in /proc/[0-9]*; do
  [[ "$(readlink -f "$p/exe" 2>/dev/null)" == /usr/sbin/slurmstepd ]] || continue
  if find "$p/fd" -lname "$S/slurm/*" 2>/dev/null | grep -q .; then
    log "killing leftover slurmstepd pid ${p#/proc/}"; kill -KILL "${p#/proc/}" 2>/dev/null || true
  fi
done

# 3. MariaDB, munge
stop_pidfile "$S/mysql/mariadbd.pid" "$MARIADBD" mariadbd 60
stop_pidfile "$S/munge/munged.pid" "$MUNGED" munged

# 4. ssh: ControlMaster processes that used a ControlPath in our state dir, then our sshd
for sock in "$S"/ssh/cm-*; do
  [[ -S $sock ]] && ssh -o ControlPath="$sock" -O exit "$PERFCI_SSH_ALIAS" 2>/dev/null
done
stop_sshd keep

# 5. processes of the test user (ssh sessions, job processes that escaped scancel, pitfall 23):
#    only that uid, by PID
if [[ ${PERFCI_KEEP_USER:-0} != 1 ]] && id -u "$PERFCI_USER" >/dev/null 2>&1; then
  uid=$(id -u "$PERFCI_USER")
  for pid in $(ps -o pid= -u "$uid" 2>/dev/null); do
    proc_gone "$pid" && continue      # an exited session process PID 1 has not reaped yet
    log "killing leftover $PERFCI_USER process $pid ($(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | cut -c1-60))"
    kill -KILL "$pid" 2>/dev/null || true
  done
  wait_until 5 bash -c "[ -z \"\$(ps -o pid=,stat= -u $uid | grep -v ' Z')\" ]" || true
  userdel -r "$PERFCI_USER" 2>/dev/null || userdel -f -r "$PERFCI_USER" 2>/dev/null \
    || log "could not delete user $PERFCI_USER; 'ps -u $PERFCI_USER' shows what still runs as it"
fi

# 6. files
rm -f "$SLURM_ETC/slurm.conf" "$SLURM_ETC/gres.conf" "$SLURM_ETC/slurmdbd.conf" "$SSH_DROPIN"
rm -rf "$S"
rmdir /run/mysqld /run/munge 2>/dev/null || true
log "all services are stopped and their state is removed ($(( $(now_ms) - T0 )) ms)"
