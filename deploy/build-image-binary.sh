#!/usr/bin/env bash
# Builds the binaries of deploy/Dockerfile the way it does, for machines without Docker: the same toolchain
# version, the same cargo command and settings. Then checks what the distroless runtime needs: that they link
# only against libraries distroless `cc` has, ask no newer glibc than Debian 12's, and start.
#
#   deploy/build-image-binary.sh            # into target/image/release/{mailgate,graph-sim}
#   CARGO_TARGET_DIR=/tmp/t deploy/build-image-binary.sh
#
# A release build from scratch takes several minutes; CARGO_BUILD_JOBS limits its parallelism.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# deploy/check.sh checks that the Dockerfile runs exactly this command in both of its build steps.
BUILD_COMMAND="cargo build --release --locked -p mailgate -p graph-sim"
# The runtime image's C library: distroless cc-debian12 has Debian 12's glibc.
MAX_GLIBC=2.36

die() { echo "build-image-binary: $*" >&2; exit 1; }

rust_image=$(sed -n 's/^FROM \(rust:[^ ]*\) AS build$/\1/p' deploy/Dockerfile)
want=$(sed -E 's/^rust:([0-9]+\.[0-9]+).*/\1/' <<<"$rust_image")
have=$(rustc --version | sed -E 's/^rustc ([0-9]+\.[0-9]+).*/\1/')
[[ $want == "$have" ]] || die "the Dockerfile builds with Rust $want ($rust_image), this machine has $have"

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target/image}
export CARGO_TERM_COLOR=never CARGO_INCREMENTAL=0
echo "build-image-binary: $BUILD_COMMAND (Rust $have, into $CARGO_TARGET_DIR)" >&2
$BUILD_COMMAND

out=$CARGO_TARGET_DIR/release
for bin in mailgate graph-sim; do
    path=$out/$bin
    # Only what distroless cc ships: glibc's libraries, libgcc_s, the loader, and the kernel's vDSO.
    extra=$(ldd "$path" | awk '{print $1}' \
        | grep -Ev '^(linux-vdso\.so\.1|/lib64/ld-linux-x86-64\.so\.2|/lib/ld-linux-aarch64\.so\.1|lib(c|m|dl|rt|pthread|gcc_s)\.so\.[0-9]+)$' \
        || true)
    [[ -z $extra ]] || die "$bin links against libraries the runtime image lacks: $extra"
    newest=$(objdump -T "$path" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)
    [[ $(printf '%s\n' "$newest" "$MAX_GLIBC" | sort -V | tail -n 1) == "$MAX_GLIBC" ]] \
        || die "$bin needs glibc $newest; the runtime image has $MAX_GLIBC"
    echo "build-image-binary: $path: $(du -h "$path" | cut -f1), glibc >= $newest" >&2
done
"$out/mailgate" --version >/dev/null
# Needs no database or settings: the binary starts and prints its OpenAPI document.
[[ $("$out/mailgate" openapi) == "{"* ]] || die "mailgate openapi printed no document"
"$out/graph-sim" --help >/dev/null
echo "$out/mailgate"
echo "$out/graph-sim"
