#!/usr/bin/env bash
# Stop the mailgate and graph-sim processes that scripts/dev-up.sh started, as recorded in
# .dev/mailgate.pid and .dev/graph-sim.pid. Postgres is left running (it is shared, and
# cheap to leave up); the mailgate_dev database and the logs in .dev/ are kept.
set -euo pipefail

dev=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.dev

log() { printf 'dev-down: %s\n' "$*" >&2; }

# alive PID: is the process there and not a zombie? (`kill -0` succeeds on zombies.)
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }            # the state follows the parenthesised command name
    [[ ${stat%% *} != Z ]]
}

# is_ours PID NAME: is PID still running the program NAME? A pid file can outlive its
# process, and the kernel may since have given the pid to something unrelated.
is_ours() {
    local argv0
    argv0=$(tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | head -n 1) || return 1
    [[ $(basename -- "$argv0") == "$2" ]]
}

stopped=0
# mailgate first, so that it does not spend its last seconds retrying a vanished Graph.
for name in mailgate graph-sim; do
    pidfile=$dev/$name.pid
    [[ -f $pidfile ]] || continue
    pid=$(<"$pidfile")
    if [[ ! $pid =~ ^[0-9]+$ ]] || ! alive "$pid"; then
        log "$name (pid ${pid:-?}) was not running"
    elif ! is_ours "$pid" "$name"; then
        log "pid $pid is no longer $name; leaving it alone"
    else
        log "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        # mailgate finishes the sends in flight first, for up to its Graph timeout (30 s) + 5 s.
        deadline=$((SECONDS + 45))
        while alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
        if alive "$pid"; then
            log "$name did not stop in time; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        stopped=$((stopped + 1))
    fi
    rm -f "$pidfile"
done

((stopped > 0)) || log "nothing to stop"
