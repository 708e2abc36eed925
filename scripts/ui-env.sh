#!/usr/bin/env bash
# Makes (once) what the dashboard's browser test (tests/api/ui.rs) needs, and prints where it is:
#   - a Chromium: `chromium` on PATH, else Debian's `chromium` package installed with apt-get (as root, or sudo);
#   - playwright-core from npm, pinned by tests/ui/package.json and package-lock.json, installed with `npm ci` into
#     .dev/ui-node and reinstalled only when those two files change. Needs Node.js 20 or newer with npm.
# Prints on stdout two lines, `chromium=PATH` and `node_modules=PATH`; everything else goes to stderr. Exits non-zero,
# saying why, when either cannot be had: the test then fails with that reason, it is never skipped.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec 3>&1 1>&2

log() { printf 'ui-env: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

node_dir=.dev/ui-node
mkdir -p .dev
# Test binaries run side by side; one installs while the others wait for it.
exec 9>.dev/ui-env.lock
flock -w 900 9 || die "timed out waiting for .dev/ui-env.lock"

if ! chromium=$(command -v chromium); then
    log "chromium not found; installing Debian's chromium package (once)"
    sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null || die "chromium is missing and installing it needs root or sudo: apt-get install chromium"
        sudo=(sudo)
    fi
    command -v apt-get >/dev/null || die "chromium is missing and there is no apt-get to install it with; install Chromium"
    "${sudo[@]}" apt-get update -q || die "apt-get update failed"
    # Fonts: without one the page renders as boxes in the screenshot.
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        chromium fonts-dejavu-core 9>&- || die "apt-get install chromium failed"
    chromium=$(command -v chromium) || die "the chromium package is installed but chromium is not on PATH"
fi
# Debian's wrapper prints a harmless shell warning on some machines; the version line is what matters.
"$chromium" --headless --no-sandbox --version 2>/dev/null | grep -q Chromium \
    || die "$chromium does not run: $("$chromium" --headless --no-sandbox --version 2>&1 | tail -n 3)"

for tool in node npm; do
    command -v "$tool" >/dev/null || die "$tool not found; install Node.js 20 or newer with npm"
done
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
    || die "node $(node --version) is too old; playwright-core needs Node.js 20 or newer"
want=$(cat tests/ui/package.json tests/ui/package-lock.json | sha256sum | cut -d' ' -f1)
if [[ ! -f $node_dir/node_modules/playwright-core/package.json || $(cat "$node_dir/.package" 2>/dev/null) != "$want" ]]; then
    log "installing playwright-core into $node_dir (once)"
    rm -rf "$node_dir"
    mkdir -p "$node_dir"
    cp tests/ui/package.json tests/ui/package-lock.json "$node_dir/"
    (cd "$node_dir" && npm ci --no-audit --no-fund --silent) || die "npm ci in $node_dir failed"
    echo "$want" > "$node_dir/.package"
fi

printf 'chromium=%s\nnode_modules=%s\n' "$chromium" "$PWD/$node_dir/node_modules" >&3
