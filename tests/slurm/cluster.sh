#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the Slurm launcher's tests.
#
#   bash tests/slurm/cluster.sh start   # install slurm-wlm + munge if missing, start the
#                                       # daemons, return once the node is idle
#   bash tests/slurm/cluster.sh stop    # stop the daemons this script started
#
# Needs root (it installs packages and writes /etc/slurm). No systemd: munged,
# slurmctld and slurmd run as plain daemons. No accounting database: sacct does
# not work here, and maggot does not need it.
set -euo pipefail

SLURM_CONF=/etc/slurm/slurm.conf
STATE_DIR=/var/lib/maggot-test-slurm
LOG_DIR=/var/log/slurm
PID_DIR=/run/maggot-test-slurm
START_TIMEOUT=60

log() { echo "cluster.sh: $*" >&2; }

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
        && command -v munged >/dev/null && command -v sbatch >/dev/null; then
        return
    fi
    if [ "$(id -u)" != 0 ]; then
        log "slurm-wlm and munge are not installed; run as root to install them"
        exit 1
    fi
    log "installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q slurm-wlm munge >/dev/null
}

write_config() {
    local host node_line
    host=$(hostname -s)
    # the machine's CPUs and memory, as slurmd itself detects them
    node_line=$(slurmd -C | head -n 1)
    mkdir -p /etc/slurm "$STATE_DIR/ctld" "$STATE_DIR/d" "$LOG_DIR" "$PID_DIR"
    cat >"$SLURM_CONF" <<CONF
ClusterName=maggot-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
StateSaveLocation=$STATE_DIR/ctld
SlurmdSpoolDir=$STATE_DIR/d
SlurmctldPidFile=$PID_DIR/slurmctld.pid
SlurmdPidFile=$PID_DIR/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
KillWait=5
MinJobAge=60
$node_line State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
    cat >/etc/slurm/cgroup.conf <<CONF
CgroupPlugin=cgroup/v1
CgroupAutomount=no
CONF
}

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_munge() {
    if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
        return
    fi
    if [ ! -s /etc/munge/munge.key ]; then
        mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null \
            || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    runuser -u munge -- /usr/sbin/munged --pid-file="/run/munge/munged.pid"
    cp /run/munge/munged.pid "$PID_DIR/munged.pid"
}

node_state() { sinfo -h -N -o '%t' 2>/dev/null | head -n 1; }

wait_for_idle() {
    local deadline=$((SECONDS + START_TIMEOUT)) state
    while [ $SECONDS -lt $deadline ]; do
        state=$(node_state || true)
        case "$state" in
            idle) return 0 ;;
            down* | drain* | unk*) scontrol update nodename="$(hostname -s)" state=resume 2>/dev/null || true ;;
        esac
        sleep 0.5
    done
    log "the node did not become idle within ${START_TIMEOUT}s (state: ${state:-none}); see $LOG_DIR"
    return 1
}

start() {
    install_packages
    mkdir -p "$PID_DIR"
    if running "$PID_DIR/slurmctld.pid" && running "$PID_DIR/slurmd.pid" && [ "$(node_state)" = idle ]; then
        log "already running"
        return 0
    fi
    write_config
    start_munge
    running "$PID_DIR/slurmctld.pid" || slurmctld
    running "$PID_DIR/slurmd.pid" || slurmd
    wait_for_idle
    log "node $(hostname -s) is idle: $(sinfo -h -o '%P %D %t %C')"
}

stop_daemon() {
    local pid_file=$1
    if running "$pid_file"; then
        local pid
        pid=$(cat "$pid_file")
        kill "$pid"
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    rm -f "$pid_file"
}

stop() {
    stop_daemon "$PID_DIR/slurmd.pid"
    stop_daemon "$PID_DIR/slurmctld.pid"
    stop_daemon "$PID_DIR/munged.pid"
    log "stopped"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *)
        echo "usage: $0 start|stop" >&2
        exit 2
        ;;
esac
