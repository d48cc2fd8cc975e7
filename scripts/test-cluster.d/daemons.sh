# shellcheck shell=bash
# daemons.sh — start / stop / check each daemon, one function each. No config rendering here:
# up.sh renders the configs, then calls these; the fault subcommands (restart-sshd,
# stop-slurmdbd, restart-slurmctld, ...) call them on a running system with its configs as they are.
#
# Every daemon is started with stdin from /dev/null and stdout/stderr to a log file, so a CI
# harness that reads our stdout through a pipe sees EOF when we exit (no daemon holds the pipe).

# ---------------------------------------------------------------- sshd
sshd_running() { pid_alive "$SSH_DIR/sshd.pid" "$SSHD"; }
start_sshd() {
  if sshd_running; then log "sshd is already running"; return 0; fi
  require_port_free "$PERFCI_SSH_PORT" sshd
  install -d -m 755 /run/sshd          # privilege-separation dir that systemd would create (pitfall 7)
  "$SSHD" -t -f "$SSH_DIR/sshd_config" || die "sshd rejects its config $SSH_DIR/sshd_config (see the message above)."
  local t0; t0=$(now_ms)
  "$SSHD" -f "$SSH_DIR/sshd_config" -E "$SSH_DIR/sshd.log" </dev/null >/dev/null 2>&1
  wait_until 10 tcp_listening "$PERFCI_SSH_PORT" \
    || { tail -5 "$SSH_DIR/sshd.log" >&2; die "sshd started but is not listening on port $PERFCI_SSH_PORT after 10 s; its log is above."; }
  record_time sshd_start $(( $(now_ms) - t0 ))
}
# stop_sshd keep|drop : stop the listening sshd. Sessions that are already open (ssh ControlMaster
# connections, running commands) survive this, as they do a real `systemctl restart ssh`.
# With "drop", they are cut too: every sshd process running as the test user is our session
# process (AllowUsers $PERFCI_USER; this sshd is the only one serving that user).
stop_sshd() {
  stop_pidfile "$SSH_DIR/sshd.pid" "$SSHD" sshd
  [[ $1 == drop ]] || return 0
  local uid pid; uid=$(id -u "$PERFCI_USER" 2>/dev/null) || return 0
  for pid in $(ps -o pid= -u "$uid" 2>/dev/null); do
    [[ "$(readlink -f "/proc/$pid/exe" 2>/dev/null)" == "$(readlink -f "$SSHD")" ]] || continue
    log "cutting open ssh session of $PERFCI_USER (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
  done
}

# ---------------------------------------------------------------- munged
munged_running() { pid_alive "$PERFCI_STATE/munge/munged.pid" "$MUNGED"; }
start_munged() {
  if munged_running; then log "munged is already running"; return 0; fi
  local d=$PERFCI_STATE/munge t0
  install -d -m 755 -o munge -g munge /run/munge     # default socket dir: slurm and the munge CLI need no options
  t0=$(now_ms)
  runuser -u munge -- "$MUNGED" --key-file="$d/munge.key" --pid-file="$d/munged.pid" \
        --log-file="$d/munged.log" --seed-file="$d/munged.seed" </dev/null >/dev/null 2>&1 \
    || die "munged did not start; its log is $d/munged.log."
  wait_until 10 bash -c 'munge -n | unmunge' || die "munged started but does not answer 'munge -n | unmunge' after 10 s; see $d/munged.log."
  record_time munged_start $(( $(now_ms) - t0 ))
}

# ---------------------------------------------------------------- mariadbd
mariadbd_running() { pid_alive "$PERFCI_STATE/mysql/mariadbd.pid" "$MARIADBD"; }
start_mariadbd() {
  if mariadbd_running; then log "mariadbd is already running"; return 0; fi
  local d=$PERFCI_STATE/mysql t0
  require_port_free "$PERFCI_MYSQL_PORT" mariadbd
  install -d -m 755 -o mysql -g mysql /run/mysqld
  t0=$(now_ms)
  # mariadbd does not daemonize: setsid detaches it from our session and process group.
  setsid "$MARIADBD" --defaults-file="$d/my.cnf" </dev/null >>"$d/mariadbd.out" 2>&1 &
  wait_until 60 mariadb-admin --socket="$MYSQL_SOCK" ping \
    || { tail -20 "$d/mariadbd.err" >&2; die "mariadbd did not answer a ping within 60 s; its error log is above."; }
  wait_until 10 tcp_listening "$PERFCI_MYSQL_PORT" || die "mariadbd answers on its socket but not on TCP port $PERFCI_MYSQL_PORT; see $d/mariadbd.err."
  record_time mariadbd_start $(( $(now_ms) - t0 ))
}

# ---------------------------------------------------------------- slurmdbd
slurmdbd_running() { pid_alive "$SLURM_DIR/slurmdbd.pid" "$SLURMDBD"; }
start_slurmdbd() {
  if slurmdbd_running; then log "slurmdbd is already running"; return 0; fi
  [[ -f $SLURM_ETC/slurmdbd.conf ]] || die "there is no $SLURM_ETC/slurmdbd.conf; run 'scripts/test-cluster up' first."
  require_port_free 6819 slurmdbd
  local t0; t0=$(now_ms)
  "$SLURMDBD" </dev/null >/dev/null 2>&1 || die "slurmdbd refused to start; see $SLURM_DIR/log/slurmdbd.log."
  wait_until 60 tcp_listening 6819 \
    || { tail -20 "$SLURM_DIR/log/slurmdbd.log" >&2; die "slurmdbd is not listening on port 6819 after 60 s; its log is above."; }
  record_time slurmdbd_start $(( $(now_ms) - t0 ))
}
stop_slurmdbd() { stop_pidfile "$SLURM_DIR/slurmdbd.pid" "$SLURMDBD" slurmdbd 30; }

# ---------------------------------------------------------------- slurmctld
slurmctld_running() { pid_alive "$SLURM_DIR/slurmctld.pid" "$SLURMCTLD"; }
start_slurmctld() {
  if slurmctld_running; then log "slurmctld is already running"; return 0; fi
  require_port_free 6817 slurmctld
  local t0; t0=$(now_ms)
  # No -c: slurmctld recovers jobs and node states from StateSaveLocation, so running jobs
  # survive a restart. A fresh `up` after `down` starts clean because down removed that dir.
  "$SLURMCTLD" </dev/null >/dev/null 2>&1 || die "slurmctld refused to start; see $SLURM_DIR/log/slurmctld.log."
  wait_until 30 bash -c 'scontrol ping | grep -q "is UP"' \
    || { tail -20 "$SLURM_DIR/log/slurmctld.log" >&2; die "slurmctld does not answer 'scontrol ping' after 30 s; its log is above."; }
  record_time slurmctld_start $(( $(now_ms) - t0 ))
}
# SIGTERM makes slurmctld save its state before it exits.
stop_slurmctld() { stop_pidfile "$SLURM_DIR/slurmctld.pid" "$SLURMCTLD" slurmctld; }

# ---------------------------------------------------------------- slurmd (one per node)
slurmd_running() { pid_alive "$SLURM_DIR/slurmd-$1.pid" "$SLURMD"; }
start_slurmds() {
  local n
  for n in $(slurm_node_names); do
    slurmd_running "$n" && continue
    require_port_free "$(slurmd_port "$n")" "slurmd $n"
    install -d -m 755 "$SLURM_DIR/d/$n"     # per-node SlurmdSpoolDir must exist (pitfall 10)
    # -N: the node name need not match `hostname` (pitfall 9)
    "$SLURMD" -N "$n" </dev/null >/dev/null 2>&1 || die "slurmd for node $n refused to start; see $SLURM_DIR/log/slurmd-$n.log."
  done
}
stop_slurmds() {
  local f
  for f in "$SLURM_DIR"/slurmd-*.pid; do
    [[ -e $f ]] && stop_pidfile "$f" "$SLURMD" "slurmd $(basename "$f" .pid)"
  done
  return 0
}

# nodes_ready : every node is idle/mix/alloc and responding (a trailing * = not responding),
# none drained or invalid.
nodes_ready() {
  local states; states=$(sinfo -h -N -o '%N %t' 2>/dev/null) || return 1
  [[ -n $states ]] && ! grep -Evq ' (idle|mix|alloc)$' <<<"$states"
}
wait_nodes_ready() {
  local t0; t0=$(now_ms)
  if ! wait_until "${1:-60}" nodes_ready; then
    sinfo -N -R >&2; sinfo -N >&2
    die "the Slurm nodes are not ready after ${1:-60} s (listed above with their reasons); see $SLURM_DIR/log/slurmd-*.log."
  fi
  record_time slurm_nodes_ready $(( $(now_ms) - t0 ))
}

# ---------------------------------------------------------------- status
# status_lines : "NAME running|not running" for every service; returns 1 if any is down.
status_lines() {
  local all=0 n
  line() { if "${@:2}"; then printf '%-14s running\n' "$1"; else printf '%-14s not running\n' "$1"; all=1; fi; }
  line sshd sshd_running
  line munged munged_running
  line mariadbd mariadbd_running
  if [[ $PERFCI_ACCOUNTING == dbd ]]; then line slurmdbd slurmdbd_running
  else printf '%-14s not used (PERFCI_ACCOUNTING=none)\n' slurmdbd; fi
  line slurmctld slurmctld_running
  for n in $(slurm_node_names); do line "slurmd $n" slurmd_running "$n"; done
  return $all
}
