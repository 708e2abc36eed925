#!/usr/bin/env bash
# Make sure a PostgreSQL server answers, then print ONE line on stdout: its server URL
# without a database name, e.g. postgres://postgres@127.0.0.1:5432.
#
# Where the server comes from, first match wins:
#   a. MAILGATE_PG_URL, if set (it must answer; nothing else is tried);
#   b. a server already answering on 127.0.0.1:5432;
#   c. a Debian cluster (/etc/postgresql/<version>/main), started with pg_ctlcluster;
#   d. a private cluster in <repo>/.dev/pg on 127.0.0.1:54329, created on first use
#      (the postgresql package is installed with apt-get if no initdb can be found).
# b and c are only used if the `postgres` role gets in over TCP without a password, which
# is what mailgate's tests and dev setup assume; otherwise we fall through to d.
#
# Options / environment:
#   --private, MAILGATE_PG_PRIVATE=1   skip b and c, always use the private cluster
#   MAILGATE_PG_PORT                   port of the private cluster (default 54329)
#
# Safe to run again and again: a running server is reused. Concurrent runs are serialised
# with a lock file, so two of them never start or create the same cluster twice.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Everything but the final URL goes to stderr: callers do url=$(scripts/ensure-postgres.sh).
# Keep the real stdout on fd 3 and point fd 1 at stderr, so that no tool's chatter
# (pg_ctl, apt-get, initdb...) can leak into the captured URL.
exec 3>&1 1>&2

log() { printf 'ensure-postgres: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
emit() { printf '%s\n' "$1" >&3; exit 0; }

private=${MAILGATE_PG_PRIVATE:-0}
for arg in "$@"; do
    case $arg in
        --private) private=1 ;;
        -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&3; exit 0 ;;
        *) die "unknown argument: $arg (try --help)" ;;
    esac
done

priv_port=${MAILGATE_PG_PORT:-54329}
priv_root=$repo/.dev/pg           # owned by the postgres user when we run as root
priv_data=$priv_root/data
priv_sock=$priv_root/run          # its Unix socket, so it never collides with the system one
priv_log=$priv_root/postgres.log

# Finds a PostgreSQL program: on PATH first, else in Debian's versioned directories
# (newest version first), which are not on PATH.
pg_bin() {
    local name=$1 found
    if found=$(command -v "$name" 2>/dev/null); then
        printf '%s\n' "$found"
        return 0
    fi
    found=$(ls -d /usr/lib/postgresql/*/bin/"$name" 2>/dev/null | sort -V | tail -n 1 || true)
    [[ -n $found ]] && printf '%s\n' "$found"
}

# pg_answers HOST PORT: does a server accept connections there?
pg_answers() {
    local isready
    if isready=$(pg_bin pg_isready); then
        "$isready" -q -h "$1" -p "$2" -t 3
    else
        # No client tools yet: fall back to "is the port open".
        timeout 3 bash -c "exec 9<>/dev/tcp/$1/$2" 2>/dev/null
    fi
}

# wait_ready HOST PORT [SECONDS]
wait_ready() {
    local deadline=$((SECONDS + ${3:-60}))
    until pg_answers "$1" "$2"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
}

# Runs a command that may leave a server running (pg_ctl start, pg_ctlcluster, apt-get's
# maintainer scripts) without our fd 3 (the caller's stdout) and fd 8 (the lock): a daemon
# that inherited them would keep `$(...)` in the caller waiting forever and hold the lock.
without_our_fds() { "$@" 3>&- 8>&-; }

# usable URL: can `postgres` log in without a password (trust auth)? Without psql we cannot
# tell, so we assume it can.
usable() {
    local psql
    psql=$(pg_bin psql) || return 0
    # -w: never prompt for a password; a prompt would hang a non-interactive caller.
    PGCONNECT_TIMEOUT=5 "$psql" -w -X -q -At -d "$1/postgres" -c 'SELECT 1' >/dev/null 2>&1
}

# ---------------------------------------------------------------------------- a. given URL
if [[ -n ${MAILGATE_PG_URL:-} ]]; then
    url=${MAILGATE_PG_URL%/}
    isready=$(pg_bin pg_isready) || die "pg_isready not found; install postgresql-client to check MAILGATE_PG_URL"
    "$isready" -q -t 5 -d "$url" || die "MAILGATE_PG_URL ($url) does not answer"
    log "using MAILGATE_PG_URL"
    emit "$url"
fi

# From here on we may start or create servers: one run at a time per checkout. The lock
# is released when this process exits (fd 8 closes). Installing packages can take minutes.
mkdir -p "$repo/.dev"
exec 8>"$repo/.dev/ensure-postgres.lock"
if ! flock -n 8; then
    log "another ensure-postgres run is in progress; waiting for it"
    flock -w 600 8 || die "timed out waiting for $repo/.dev/ensure-postgres.lock"
fi

if [[ $private != 1 ]]; then
    # ------------------------------------------------------------ b. something on 5432
    url=postgres://postgres@127.0.0.1:5432
    if pg_answers 127.0.0.1 5432; then
        if usable "$url"; then
            log "a server answers on 127.0.0.1:5432"
            emit "$url"
        fi
        log "a server answers on 127.0.0.1:5432, but user postgres cannot log in without a password; not using it"
    fi

    # ------------------------------------------------------------ c. a Debian cluster
    # pg_lsclusters prints: version cluster port status owner datadir logfile.
    if command -v pg_lsclusters >/dev/null && ls -d /etc/postgresql/*/main >/dev/null 2>&1; then
        read -r version _ port status _ < <(pg_lsclusters --no-header | awk '$2 == "main"' | sort -V | tail -n 1) || true
        if [[ -n ${version:-} ]]; then
            url=postgres://postgres@127.0.0.1:$port
            started=0
            if [[ $status != online* ]]; then
                log "starting Debian cluster $version/main (port $port)"
                # --skip-systemctl-redirect: start it directly, also where systemd is not running.
                without_our_fds pg_ctlcluster --skip-systemctl-redirect "$version" main start ||
                    log "pg_ctlcluster failed (it may have been started concurrently); checking anyway"
                started=1
            fi
            if wait_ready 127.0.0.1 "$port" 60; then
                if usable "$url"; then
                    log "Debian cluster $version/main answers on 127.0.0.1:$port"
                    emit "$url"
                fi
                log "Debian cluster $version/main does not let user postgres in without a password (see its pg_hba.conf); not using it"
                if ((started)); then
                    without_our_fds pg_ctlcluster --skip-systemctl-redirect "$version" main stop || true
                fi
            else
                log "Debian cluster $version/main did not become ready; see /var/log/postgresql/"
            fi
        fi
    fi
fi

# ---------------------------------------------------------------- d. the private cluster
url=postgres://postgres@127.0.0.1:$priv_port

# initdb and postgres refuse to run as root, so as root we run them as the postgres user.
if ((EUID == 0)); then
    as_pg() { (cd / && runuser -u postgres -- "$@"); }
else
    as_pg() { "$@"; }
fi

initdb=$(pg_bin initdb) || true
if [[ -z $initdb ]]; then
    log "no PostgreSQL server binaries found; installing the postgresql package"
    sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null || die "need root (or sudo) to install postgresql"
        sudo=(sudo)
    fi
    "${sudo[@]}" apt-get update
    without_our_fds "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
    initdb=$(pg_bin initdb) || die "postgresql is installed but initdb is still missing"
fi
# Take pg_ctl (and check the version) from the same directory as initdb; /usr/local/bin
# entries may be symlinks into /usr/lib/postgresql/<version>/bin.
bindir=$(dirname "$(readlink -f "$initdb")")
pg_ctl=$bindir/pg_ctl
[[ -x $pg_ctl ]] || die "no pg_ctl next to $initdb"

if ((EUID == 0)) && ! id -u postgres >/dev/null 2>&1; then
    log "creating the postgres system user"
    group_opt=(--user-group)
    getent group postgres >/dev/null && group_opt=(--gid postgres)
    useradd --system "${group_opt[@]}" --home-dir /var/lib/postgresql --shell /bin/bash postgres
fi

if [[ -f $priv_data/PG_VERSION ]] && as_pg "$pg_ctl" -D "$priv_data" status >/dev/null 2>&1; then
    log "private cluster already running ($priv_data)"
    wait_ready 127.0.0.1 "$priv_port" 30 || die "private cluster runs but does not answer on port $priv_port; see $priv_log"
    emit "$url"
fi

if pg_answers 127.0.0.1 "$priv_port"; then
    die "port $priv_port is taken by another server (not $priv_data); stop it or set MAILGATE_PG_PORT"
fi

if [[ ! -f $priv_data/PG_VERSION ]]; then
    log "creating a private cluster in $priv_data ($("$initdb" --version))"
    mkdir -p "$priv_root"
    if ((EUID == 0)); then
        chown postgres: "$priv_root"
        as_pg test -w "$priv_root" ||
            die "user postgres cannot write $priv_root (is a parent directory closed to other users?)"
    fi
    # initdb into a scratch directory and rename it into place, so an interrupted run never
    # leaves a half-made cluster behind that later runs would try to start.
    tmp=$priv_root/data.initdb.$$
    rm -rf "$tmp"
    as_pg "$initdb" -D "$tmp" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null ||
        { rm -rf "$tmp"; die "initdb failed"; }
    rm -rf "$priv_data"
    mv "$tmp" "$priv_data"
fi

log "starting the private cluster on 127.0.0.1:$priv_port (log: $priv_log)"
as_pg mkdir -p "$priv_sock"
# -k: our own socket directory, as /var/run/postgresql may not exist or be writable.
without_our_fds as_pg "$pg_ctl" -D "$priv_data" -l "$priv_log" -w -t 60 \
    -o "-p $priv_port -k '$priv_sock' -c listen_addresses=127.0.0.1" start >/dev/null ||
    { tail -n 20 "$priv_log" >&2 || true; die "could not start the private cluster"; }
wait_ready 127.0.0.1 "$priv_port" 60 || die "private cluster does not answer; see $priv_log"
emit "$url"
