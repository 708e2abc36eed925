#!/usr/bin/env bash
# Tests deploy/pin-images.sh without a registry: stand-in resolvers (PIN_IMAGES_RESOLVER) answer for the
# registries, on copies of deploy/Dockerfile in a scratch folder. Run by deploy/check.sh; exits 1 at the first
# failure. What needs a registry (its HTTP API) is exercised at each release, when the script runs for real.
#
# Usage: deploy/check/pin-images-test.sh SCRATCH_DIR
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
dir=${1:?usage: pin-images-test.sh SCRATCH_DIR}
rm -rf "$dir"
mkdir -p "$dir"

fail() { echo "pin-images-test: FAILED: $*" >&2; exit 1; }
pin() { deploy/pin-images.sh --dockerfile "$dir/Dockerfile" 2>"$dir/stderr"; }

# A stand-in registry: the digest of a reference is the sha256 of the reference and a salt, so that each image gets
# its own digest and a second "push" (another salt) another one.
cat >"$dir/resolver" <<'EOF'
#!/usr/bin/env bash
printf 'sha256:%s\n' "$(printf '%s%s' "$1" "${SALT:-}" | sha256sum | cut -d' ' -f1)"
EOF
# One registry is down: it answers for Docker Hub's images only.
cat >"$dir/half-down" <<'EOF'
#!/usr/bin/env bash
[[ $1 != gcr.io/* ]] || { echo "connection refused" >&2; exit 1; }
exec "$(dirname "$0")/resolver" "$1"
EOF
# A registry that answers something other than a digest.
printf '#!/usr/bin/env bash\necho latest\n' >"$dir/garbage"
chmod +x "$dir/resolver" "$dir/half-down" "$dir/garbage"
digest() { SALT=${2:-} "$dir/resolver" "$1"; }

cp deploy/Dockerfile "$dir/Dockerfile"
cp deploy/Dockerfile "$dir/original"
mapfile -t bases < <(sed -n 's/^FROM \([^ @]*\).* AS .*/\1/p' deploy/Dockerfile | sort -u)
((${#bases[@]} >= 2)) || fail "expected the build and runtime base images in deploy/Dockerfile, found: ${bases[*]}"

# 1. Every base image gets its digest after its tag; nothing else in the file changes.
PIN_IMAGES_RESOLVER=$dir/resolver pin || fail "pinning: $(cat "$dir/stderr")"
for image in "${bases[@]}"; do
    want="FROM $image@$(digest "$image") AS "
    [[ $(grep -c "^$want" "$dir/Dockerfile") == $(grep -c "^FROM $image AS " "$dir/original") ]] ||
        fail "$image is not pinned as '$want…': $(grep '^FROM' "$dir/Dockerfile")"
done
diff <(grep -v '^FROM ' "$dir/original") <(grep -v '^FROM ' "$dir/Dockerfile") >/dev/null ||
    fail "lines other than FROM changed"
# deploy/build-image-binary.sh still finds the Rust version.
grep -q '^FROM rust:[0-9]*\.[0-9]*-[^ ]*@sha256:[0-9a-f]\{64\} AS build$' "$dir/Dockerfile" ||
    fail "the build stage's line no longer reads FROM rust:<version>-…@sha256:… AS build"
cp "$dir/Dockerfile" "$dir/pinned"

# 2. Run again with the registries unchanged: the file stays byte for byte.
PIN_IMAGES_RESOLVER=$dir/resolver pin || fail "re-pinning: $(cat "$dir/stderr")"
cmp -s "$dir/Dockerfile" "$dir/pinned" || fail "a second run with the same digests changed the file"

# 3. A tag moved: the pins follow it, one digest per image, never two.
SALT=later PIN_IMAGES_RESOLVER=$dir/resolver pin || fail "re-pinning after a push: $(cat "$dir/stderr")"
for image in "${bases[@]}"; do
    grep -q "^FROM $image@$(digest "$image" later) AS " "$dir/Dockerfile" || fail "$image did not follow its tag"
done
! grep -q '@sha256:[0-9a-f]*@' "$dir/Dockerfile" || fail "a line has two digests"

# 4. One image cannot be resolved, or a registry answers nonsense: exit 1, naming the image, nothing written.
for resolver in half-down garbage; do
    cp "$dir/original" "$dir/Dockerfile"
    if PIN_IMAGES_RESOLVER=$dir/$resolver pin; then
        fail "with the $resolver resolver the script succeeded"
    fi
    grep -q 'could not resolve .* unchanged' "$dir/stderr" || fail "no clear message: $(cat "$dir/stderr")"
    cmp -s "$dir/Dockerfile" "$dir/original" || fail "with the $resolver resolver the file changed"
    [[ -z $(find "$dir" -name 'Dockerfile.*') ]] || fail "a temporary file was left behind"
done

echo "pin-images-test: ${#bases[@]} base images pinned, re-pinned and left alone as they should be" >&2
