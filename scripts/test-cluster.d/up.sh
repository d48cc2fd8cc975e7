#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# up.sh — called as `scripts/test-cluster up [--verify]`. As root, on one Debian 12 host without systemd:
#   * installs the missing Debian packages (daemons, and what perf-run's jobs need on the "nodes"),
#   * creates the test user perfci and its work dir,
#   * starts sshd on 127.0.0.1:$PERFCI_SSH_PORT (keys only, alias slurm-login, pinned host key),
#     munged, MariaDB on 127.0.0.1:$PERFCI_MYSQL_PORT, slurmdbd, slurmctld and one slurmd per node,
#   * writes $PERFCI_STATE/env (what `scripts/test-cluster env` prints).
# Idempotent: a daemon that runs with an unchanged config is left alone; a changed config
# restarts only the daemons that read it. Undo everything with `scripts/test-cluster down`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
source "$PERFCI_HERE/daemons.sh"
require_root up

RUN_VERIFY=0
for arg in "$@"; do
  case $arg in
    --verify) RUN_VERIFY=1 ;;
    *) die "unknown option '$arg' for 'up'; the only option is --verify." ;;
  esac
done

T_ALL=$(now_ms)
# 0755, not 0700: munged (user munge) must traverse it to reach its own subdir (pitfall 5)
install -d -m 755 "$PERFCI_STATE"
: > "$PERFCI_STATE/timings.tsv"

# ---------------------------------------------------------------- packages
PKGS=(
  # the daemons and their clients
  openssh-server openssh-client munge slurmctld slurmd slurm-client slurmdbd mariadb-server mariadb-client
  # tools these scripts use: ss, envsubst, ps/pgrep
  iproute2 gettext-base procps
  # what perf-run's jobs and staging need on the "cluster nodes" (this host): rsync for the
  # workspace sync, Debian's python3 + pytest for tests/stub-trtllm (jobs get a clean login PATH
  # through ssh, so they use /usr/bin/python3, not a pyenv or venv python)
  rsync python3 python3-pytest python3-pytest-timeout python3-yaml
  # the install-step test builds a real wheel offline (pip wheel --no-build-isolation)
  python3-pip python3-setuptools python3-wheel
  # building perf-run itself: sqlx's TLS (native-tls) links the system OpenSSL
  libssl-dev pkg-config
  # the report's tests open report.html in a real headless browser under Jenkins' CSP
  chromium
)

install_packages() {
  local missing=() p
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then log "all needed Debian packages are already installed"; record_time apt_install 0; return; fi
  log "installing missing Debian packages: ${missing[*]}"
  # Maintainer scripts must not start daemons: they would take port 22 and the default paths
  # and collide with ours. The image ships a policy-rc.d that says 101; add one for the
  # duration of the install if it is absent (pitfall 4).
  local added_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; added_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Other tools on the machine may hold the dpkg/apt locks: wait for them (pitfall 3).
  APT=(apt-get -o DPkg::Lock::Timeout=600)
  APT_LOG=$PERFCI_STATE/apt.log
  apt_update() { "${APT[@]}" update -qq >"$APT_LOG" 2>&1; }
  apt_install() {
    "${APT[@]}" install -y -qq --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" >>"$APT_LOG" 2>&1
  }
  timed apt_update apt_update \
    || { tail -20 "$APT_LOG" >&2; die "'apt-get update' failed (output above); check that the Debian mirror is reachable."; }
  timed apt_install apt_install "${missing[@]}" \
    || { tail -30 "$APT_LOG" >&2; die "'apt-get install' failed (output above; all of it is in $APT_LOG)."; }
  ((added_policy)) && rm -f /usr/sbin/policy-rc.d
  return 0
}
install_packages

# ---------------------------------------------------------------- helpers
# render TEMPLATE DEST [MODE] [OWNER]: envsubst only the ${VARS} the template names.
# Prints "changed" when DEST's content changed.
render() {
  local tmpl=$PERFCI_HERE/templates/$1 dest=$2 mode=${3:-644} owner=${4:-root:root} vars
  # shellcheck disable=SC2016  # the literal text ${NAME}, as envsubst wants its list
  vars=$(grep -o '\${[A-Za-z_][A-Za-z0-9_]*}' "$tmpl" | sort -u | tr '\n' ' ')
  envsubst "$vars" < "$tmpl" > "$dest.new"
  chmod "$mode" "$dest.new"; chown "$owner" "$dest.new"
  if [[ -f $dest ]] && cmp -s "$dest.new" "$dest"; then rm -f "$dest.new"; else mv -f "$dest.new" "$dest"; echo changed; fi
}
random_secret() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n'; }

# ---------------------------------------------------------------- secrets
# The perfrun DB password is written down in one place only: the env file (mode 600).
# Order: the password already in the env file (so a re-run never changes it under running
# tests) > PERFCI_MYSQL_PASS from the environment > a new random one.
if [[ -f $ENV_FILE ]]; then
  # shellcheck disable=SC1090
  PERFCI_MYSQL_PASS=$(source "$ENV_FILE" && printf '%s' "${PERFCI_MYSQL_PASS:-}")
fi
[[ -n ${PERFCI_MYSQL_PASS:-} ]] || PERFCI_MYSQL_PASS=$(random_secret)
# It goes into SQL, a URL and a shell-quoted env file unescaped: allow only safe characters.
[[ $PERFCI_MYSQL_PASS =~ ^[A-Za-z0-9._~-]+$ ]] \
  || die "PERFCI_MYSQL_PASS may only contain letters, digits and . _ ~ - (it is used in a URL and in SQL); unset it to get a random one."
# slurmdbd's own DB password lives only in slurmdbd.conf (slurm-owned, mode 600).
PERFCI_SLURMDB_PASS=$(sed -n 's/^StoragePass=//p' "$SLURM_ETC/slurmdbd.conf" 2>/dev/null || true)
[[ -n $PERFCI_SLURMDB_PASS ]] || PERFCI_SLURMDB_PASS=$(random_secret)
export PERFCI_SLURMDB_PASS

# ---------------------------------------------------------------- test user and work dir
if ! id -u "$PERFCI_USER" >/dev/null 2>&1; then
  useradd -m -s /bin/bash "$PERFCI_USER"
fi
# useradd leaves '!' (locked) in /etc/shadow and sshd with UsePAM=no then refuses even key
# logins; '*' means no password but not locked (pitfall 6).
usermod -p '*' "$PERFCI_USER"
PERFCI_HOME=$(perfci_home)
PERFCI_WORKDIR=$PERFCI_HOME/perf-run
install -d -m 755 -o "$PERFCI_USER" -g "$PERFCI_USER" "$PERFCI_WORKDIR"

# ---------------------------------------------------------------- ssh
setup_ssh() {
  local d=$SSH_DIR changed
  install -d -m 700 "$d"
  [[ -f $d/ssh_host_ed25519_key ]] || ssh-keygen -q -t ed25519 -N '' -C perfci-ci-host -f "$d/ssh_host_ed25519_key"
  [[ -f $d/id_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C perfci-ci-client -f "$d/id_ed25519"

  # server side: the client key may log in as perfci
  install -d -m 700 -o "$PERFCI_USER" -g "$PERFCI_USER" "$PERFCI_HOME/.ssh"
  install -m 600 -o "$PERFCI_USER" -g "$PERFCI_USER" "$d/id_ed25519.pub" "$PERFCI_HOME/.ssh/authorized_keys"

  # Client side: known_hosts pins the generated host key; HostKeyAlias makes it one entry, and
  # StrictHostKeyChecking=yes means nothing is ever trusted on first use.
  echo "$PERFCI_SSH_ALIAS,[127.0.0.1]:$PERFCI_SSH_PORT,[localhost]:$PERFCI_SSH_PORT $(cut -d' ' -f1,2 "$d/ssh_host_ed25519_key.pub")" > "$d/known_hosts"
  chmod 644 "$d/known_hosts"
  # Three copies of the `Host slurm-login` alias: for `ssh -F`, for every user through the
  # system-wide drop-in (/etc/ssh/ssh_config includes ssh_config.d/*.conf), and perfci's own.
  SSH_IDENTITY=$d/id_ed25519 SSH_KNOWN_HOSTS=$d/known_hosts render ssh_client.conf.tmpl "$d/config" 600 >/dev/null
  SSH_IDENTITY=$d/id_ed25519 SSH_KNOWN_HOSTS=$d/known_hosts render ssh_client.conf.tmpl "$SSH_DROPIN" 644 >/dev/null
  install -m 600 -o "$PERFCI_USER" -g "$PERFCI_USER" "$d/id_ed25519" "$PERFCI_HOME/.ssh/id_ed25519_perfci_ci"
  install -m 644 -o "$PERFCI_USER" -g "$PERFCI_USER" "$d/known_hosts" "$PERFCI_HOME/.ssh/known_hosts_perfci_ci"
  SSH_IDENTITY=$PERFCI_HOME/.ssh/id_ed25519_perfci_ci SSH_KNOWN_HOSTS=$PERFCI_HOME/.ssh/known_hosts_perfci_ci \
    render ssh_client.conf.tmpl "$PERFCI_HOME/.ssh/config" 600 "$PERFCI_USER:$PERFCI_USER" >/dev/null

  changed=$(render sshd_config.tmpl "$d/sshd_config" 600)
  if [[ $changed ]] && sshd_running; then log "sshd_config changed, restarting sshd"; stop_sshd keep; fi
  start_sshd
}
setup_ssh

# ---------------------------------------------------------------- munge
setup_munge() {
  local d=$PERFCI_STATE/munge
  install -d -m 700 -o munge -g munge "$d"
  # Our own key, made once per state dir; /etc/munge/munge.key is not used.
  [[ -f $d/munge.key ]] || runuser -u munge -- mungekey --create --keyfile="$d/munge.key"
  start_munged
}
setup_munge

# ---------------------------------------------------------------- mariadb
setup_mariadb() {
  local d=$PERFCI_STATE/mysql changed t0
  install -d -m 750 -o mysql -g mysql "$d"
  changed=$(render my.cnf.tmpl "$d/my.cnf" 644)
  if [[ ! -d $d/data/mysql ]]; then
    install_db() {
      mariadb-install-db --no-defaults --user=mysql --datadir="$d/data" \
          --auth-root-authentication-method=socket --skip-test-db > "$d/install-db.log" 2>&1
    }
    timed mariadb_install_db install_db || { cat "$d/install-db.log" >&2; die "mariadb-install-db failed (output above)."; }
  fi
  if [[ $changed ]] && mariadbd_running; then
    log "my.cnf changed, restarting mariadbd"; stop_pidfile "$d/mariadbd.pid" "$MARIADBD" mariadbd 60
  fi
  start_mariadbd

  t0=$(now_ms)
  # Users for both 'localhost' (socket, and clients that map 127.0.0.1 to localhost) and
  # '127.0.0.1' (TCP). perfrun also owns every database named perfrun_<something>, so each
  # test can CREATE DATABASE perfrun_t_<random> and drop it again ('\_' is a literal '_';
  # a bare '_' would be a one-character wildcard). The passwords travel on stdin, not argv.
  mariadb --socket="$MYSQL_SOCK" -uroot <<SQL || die "could not create the MariaDB databases and users (the SQL error is above)."
CREATE DATABASE IF NOT EXISTS \`$PERFCI_MYSQL_DB\` CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS '$PERFCI_MYSQL_USER'@'127.0.0.1' IDENTIFIED BY '$PERFCI_MYSQL_PASS';
CREATE USER IF NOT EXISTS '$PERFCI_MYSQL_USER'@'localhost' IDENTIFIED BY '$PERFCI_MYSQL_PASS';
ALTER USER '$PERFCI_MYSQL_USER'@'127.0.0.1' IDENTIFIED BY '$PERFCI_MYSQL_PASS';
ALTER USER '$PERFCI_MYSQL_USER'@'localhost' IDENTIFIED BY '$PERFCI_MYSQL_PASS';
GRANT ALL PRIVILEGES ON \`$PERFCI_MYSQL_DB\`.* TO '$PERFCI_MYSQL_USER'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`$PERFCI_MYSQL_DB\`.* TO '$PERFCI_MYSQL_USER'@'localhost';
GRANT ALL PRIVILEGES ON \`${PERFCI_MYSQL_DB}\_%\`.* TO '$PERFCI_MYSQL_USER'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`${PERFCI_MYSQL_DB}\_%\`.* TO '$PERFCI_MYSQL_USER'@'localhost';
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$PERFCI_SLURMDB_PASS';
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$PERFCI_SLURMDB_PASS';
ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$PERFCI_SLURMDB_PASS';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$PERFCI_SLURMDB_PASS';
GRANT ALL PRIVILEGES ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
GRANT ALL PRIVILEGES ON slurm_acct_db.* TO 'slurm'@'localhost';
SQL
  record_time mariadb_create_db_user $(( $(now_ms) - t0 ))
}
setup_mariadb

# ---------------------------------------------------------------- slurm
setup_slurm() {
  local n i gres="" node_spec ch_conf ch_dbd=""
  install -d -m 755 -o slurm -g slurm "$SLURM_DIR" "$SLURM_DIR/ctld" "$SLURM_DIR/log"
  install -d -m 755 "$SLURM_DIR/d"
  for n in $(slurm_node_names); do install -d -m 755 "$SLURM_DIR/d/$n"; done

  # Fake GPUs: a count-only gres/gpu drains the node, so each "GPU" is a char device with
  # /dev/null's numbers, and gres.conf says AutoDetect=off (pitfall 11).
  install -d -m 755 "$PERFCI_STATE/fakegpu"
  for ((i = 0; i < PERFCI_SLURM_GPUS_PER_NODE; i++)); do
    [[ -c $PERFCI_STATE/fakegpu/nvidia$i ]] || mknod -m 666 "$PERFCI_STATE/fakegpu/nvidia$i" c 1 3
  done

  ((PERFCI_SLURM_GPUS_PER_NODE > 0)) && gres="Gres=gpu:$PERFCI_SLURM_GPUS_PER_NODE"
  if ((PERFCI_SLURM_NODES <= 1)); then
    node_spec=localhost
    SLURM_NODE_LINES="NodeName=localhost NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$PERFCI_SLURM_MEM_MB $gres State=UNKNOWN"
  else
    node_spec="n[1-$PERFCI_SLURM_NODES]"
    # Several slurmd on one host (Debian's build has MULTIPLE_SLURMD): same NodeHostname,
    # one port each. SlurmdParameters=config_overrides lets 4x4 CPUs live on 2 real cores.
    SLURM_NODE_LINES="NodeName=$node_spec NodeHostname=localhost NodeAddr=127.0.0.1 Port=[$((PERFCI_SLURMD_BASE_PORT + 1))-$((PERFCI_SLURMD_BASE_PORT + PERFCI_SLURM_NODES))] CPUs=$PERFCI_SLURM_CPUS_PER_NODE RealMemory=$PERFCI_SLURM_MEM_MB $gres State=UNKNOWN"
  fi
  if [[ $PERFCI_ACCOUNTING == dbd ]]; then
    SLURM_ACCOUNTING_LINES=$'AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=localhost\nAccountingStoragePort=6819\nAccountingStorageTRES=gres/gpu'
  else
    SLURM_ACCOUNTING_LINES='AccountingStorageType=accounting_storage/none'
  fi
  if ((PERFCI_SLURM_GPUS_PER_NODE > 0)); then SLURM_GRES_TYPES_LINE=GresTypes=gpu
  else SLURM_GRES_TYPES_LINE='# no GresTypes: sbatch rejects --gpus* and --gres=gpu (Invalid generic resource specification)'; fi
  export SLURM_NODE_LINES SLURM_ACCOUNTING_LINES SLURM_GRES_TYPES_LINE
  export SLURM_CTLD_HOST='localhost(127.0.0.1)' SLURM_NODE_SPEC=$node_spec SLURM_GPU_MAX_INDEX=$((PERFCI_SLURM_GPUS_PER_NODE - 1))

  install -d -m 755 "$SLURM_ETC"
  ch_conf=$(render slurm.conf.tmpl "$SLURM_ETC/slurm.conf" 644)
  if ((PERFCI_SLURM_GPUS_PER_NODE > 0)); then
    [[ $(render gres.conf.tmpl "$SLURM_ETC/gres.conf" 644) ]] && ch_conf=changed
  elif [[ -f $SLURM_ETC/gres.conf ]]; then
    rm -f "$SLURM_ETC/gres.conf"; ch_conf=changed
  fi

  # slurmdbd first, so slurmctld registers the cluster with it when it starts
  if [[ $PERFCI_ACCOUNTING == dbd ]]; then
    # must be owned by SlurmUser and mode 600, or slurmdbd refuses it
    ch_dbd=$(render slurmdbd.conf.tmpl "$SLURM_ETC/slurmdbd.conf" 600 slurm:slurm)
    if [[ $ch_dbd ]] && slurmdbd_running; then log "slurmdbd.conf changed, restarting slurmdbd"; stop_slurmdbd; fi
    start_slurmdbd
  else
    stop_slurmdbd
    rm -f "$SLURM_ETC/slurmdbd.conf"
  fi

  # A changed slurm.conf (other node count, GPUs, accounting) restarts every Slurm daemon.
  if [[ $ch_conf ]] && { slurmctld_running || compgen -G "$SLURM_DIR/slurmd-*.pid" >/dev/null; }; then
    log "slurm.conf changed, restarting slurmctld and the slurmd"
    stop_slurmds
    stop_slurmctld
  fi
  start_slurmctld
  start_slurmds
  wait_nodes_ready 60
  if [[ $PERFCI_ACCOUNTING == dbd ]]; then
    wait_until 30 bash -c "sacctmgr -n -P list cluster format=cluster | grep -qx '$PERFCI_SLURM_CLUSTER'" \
      || die "slurmctld did not register cluster '$PERFCI_SLURM_CLUSTER' with slurmdbd within 30 s; see $SLURM_DIR/log/slurmctld.log and slurmdbd.log."
  fi
}
setup_slurm

# ---------------------------------------------------------------- env file for tests
write_env() {
  local tmp=$ENV_FILE.new
  kv() { printf "export %s='%s'\n" "$1" "$2"; }   # every value here is free of single quotes
  {
    echo "# Connection settings of perf-run's test services, written by 'scripts/test-cluster up'."
    echo "# Load them with: eval \"\$(scripts/test-cluster env)\". Holds the DB password: keep it mode 600."
    kv PERFCI_STATE "$PERFCI_STATE"
    kv PERFCI_USER "$PERFCI_USER"
    kv PERFCI_WORKDIR "$PERFCI_WORKDIR"
    kv PERFCI_SSH_ALIAS "$PERFCI_SSH_ALIAS"
    kv PERFCI_SSH_HOST 127.0.0.1
    kv PERFCI_SSH_PORT "$PERFCI_SSH_PORT"
    kv PERFCI_SSH_CONFIG "$SSH_DIR/config"
    kv PERFCI_SSH_KEY "$SSH_DIR/id_ed25519"
    kv PERFCI_SSH_KNOWN_HOSTS "$SSH_DIR/known_hosts"
    kv PERFCI_MYSQL_HOST 127.0.0.1
    kv PERFCI_MYSQL_PORT "$PERFCI_MYSQL_PORT"
    kv PERFCI_MYSQL_DB "$PERFCI_MYSQL_DB"
    kv PERFCI_MYSQL_USER "$PERFCI_MYSQL_USER"
    kv PERFCI_MYSQL_PASS "$PERFCI_MYSQL_PASS"
    kv PERFCI_MYSQL_URL "mysql://$PERFCI_MYSQL_USER:$PERFCI_MYSQL_PASS@127.0.0.1:$PERFCI_MYSQL_PORT/$PERFCI_MYSQL_DB"
    kv PERFCI_SLURM_PARTITION debug
    kv PERFCI_SLURM_NODES "$PERFCI_SLURM_NODES"
    kv PERFCI_GPUS_PER_NODE "$PERFCI_SLURM_GPUS_PER_NODE"
    kv PERFCI_ACCOUNTING "$PERFCI_ACCOUNTING"
    kv PERFCI_SLURM_TOPOLOGY "$( ((PERFCI_SLURM_NODES > 1)) && echo multislurmd || echo single)"
  } > "$tmp"
  chmod 600 "$tmp"
  mv -f "$tmp" "$ENV_FILE"
}
write_env

record_time up_total $(( $(now_ms) - T_ALL ))
log "all services are up after $(( ($(now_ms) - T_ALL) / 1000 )) s. Load their settings with: eval \"\$(scripts/test-cluster env)\""

if ((RUN_VERIFY)); then
  "$PERFCI_HERE/verify.sh"
fi
