#!/usr/bin/env bash
# Make sure a PgBouncer binary is installed, then print ONE line on stdout: its path.
# Installs Debian's pgbouncer package with apt-get when none is found (root, or sudo). Nothing is
# started: a caller runs it with a private configuration (tests/api/pooler.rs does).
set -euo pipefail

# Everything but the path goes to stderr: callers do bin=$(scripts/ensure-pgbouncer.sh).
exec 3>&1 1>&2

log() { printf 'ensure-pgbouncer: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

find_bin() {
    command -v pgbouncer 2>/dev/null || { [[ -x /usr/sbin/pgbouncer ]] && echo /usr/sbin/pgbouncer; }
}

if bin=$(find_bin); then
    printf '%s\n' "$bin" >&3
    exit 0
fi

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkdir -p "$repo/.dev"
# One install at a time per checkout (tests run in parallel).
exec 8>"$repo/.dev/ensure-pgbouncer.lock"
flock -w 600 8 || die "timed out waiting for $repo/.dev/ensure-pgbouncer.lock"
if bin=$(find_bin); then
    printf '%s\n' "$bin" >&3
    exit 0
fi

log "no pgbouncer found; installing the pgbouncer package"
sudo=()
if ((EUID != 0)); then
    command -v sudo >/dev/null || die "need root (or sudo) to install pgbouncer"
    sudo=(sudo)
fi
"${sudo[@]}" apt-get update
# The package's own service is not wanted: policy-rc.d-less systems may start it; it is stopped at once.
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y pgbouncer 3>&- 8>&-
"${sudo[@]}" service pgbouncer stop 2>/dev/null || true
bin=$(find_bin) || die "pgbouncer is installed but its binary is not found"
printf '%s\n' "$bin" >&3
