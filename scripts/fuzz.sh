#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for a bounded time, one after another, and fails on the first crash (its input is
# kept under fuzz/artifacts/<target>/).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     SECONDS per target: the argument, else $FUZZ_SECONDS, else 20
#
# Targets: opath (the recipient-filter parser), send_request (POST /v1/messages bodies), graph_send_mail (Graph's
# sendMail body), mime (the MIME builder). Installs cargo-fuzz from crates.io when it is missing.
#
# cargo-fuzz asks rustc for unstable flags (the coverage instrumentation libFuzzer steers by). A nightly toolchain
# takes them as it is; the stable one takes them with RUSTC_BOOTSTRAP=1, which is what this script sets, so it runs
# on a machine that has only stable Rust. The code under test is safe Rust, whose faults are panics, so no
# sanitizer is built in (-s none): builds and runs are several times faster for the same findings.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${1:-${FUZZ_SECONDS:-20}}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: scripts/fuzz.sh [SECONDS per target] [TARGET...] (got '$seconds')" >&2
    exit 2
fi
shift $(( $# > 0 ? 1 : 0 ))
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(opath send_request graph_send_mail mime)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
cd fuzz
summary=()
for target in "${targets[@]}"; do
    corpus="corpus/$target"
    mkdir -p "$corpus"
    # Hand-written seeds start the search from valid requests; libFuzzer keeps what it finds beside them.
    if [ -d "seeds/$target" ]; then
        cp -n "seeds/$target"/* "$corpus"/ 2>/dev/null || true
    fi
    echo "==> fuzz $target for ${seconds}s" >&2
    log="$(mktemp)"
    if ! cargo fuzz run -s none "$target" "$corpus" -- -max_total_time="$seconds" -rss_limit_mb=2048 2>&1 | tee "$log" >&2; then
        echo "fuzz target $target failed; the input is under fuzz/artifacts/$target/" >&2
        rm -f "$log"
        exit 1
    fi
    summary+=("$target: $(grep -Eo 'Done [0-9]+ runs in [0-9]+ second\(s\)' "$log" | tail -1)")
    rm -f "$log"
done
printf '%s\n' "${summary[@]}"
