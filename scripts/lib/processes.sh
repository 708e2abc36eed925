# Helpers for scripts that start graph-sim and mailgate in the background and wait for them. Sourced, not run.
# shellcheck shell=bash

# alive PID: running and not a zombie (`kill -0` succeeds on zombies).
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

# show_logs_of FILE...: the last lines of each non-empty log, on stderr.
show_logs_of() {
    local f
    for f in "$@"; do
        [[ -s $f ]] || continue
        printf '\n--- last lines of %s ---\n' "$f" >&2
        tail -n 30 "$f" >&2
    done
}

# wait_listening PID LOGFILE PREFIX: waits for the "PREFIX http://ADDR" line the program prints once its socket is
# bound, and prints ADDR (the real one, even for port 0). Fails if the program exits first or 30 s pass.
wait_listening() {
    local pid=$1 logfile=$2 prefix=$3 deadline=$((SECONDS + 30)) addr=''
    while ((SECONDS < deadline)); do
        # The log appears only once the background process has opened it.
        [[ -f $logfile ]] && addr=$(sed -n "s|^$prefix http://\([^ ]*\).*|\1|p" "$logfile" | head -n 1)
        [[ -n $addr ]] && { printf '%s\n' "$addr"; return 0; }
        alive "$pid" || return 1
        sleep 0.2
    done
    return 1
}
