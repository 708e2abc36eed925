#!/usr/bin/env bash
# Pins the base images of deploy/Dockerfile to the digests their tags name now: each `FROM image:tag`, pinned
# before or not, becomes `FROM image:tag@sha256:<digest>`. A build then uses exactly the images that were pinned
# and reviewed, whatever is pushed to the tags later; the tag stays for the reader (and for
# deploy/build-image-binary.sh, which reads the Rust version from it). Run it at each release, on a machine that
# reaches the registries, and commit the change (deploy/README.md, "Releasing").
#
# Usage: deploy/pin-images.sh [--dockerfile FILE]
#
# A digest is the one the registry answers for the tag (for a multi-platform image, its index's digest, which is
# what `docker pull image:tag` resolves), read over the registry's HTTP API with curl, anonymously where the
# registry allows (Docker Hub, gcr.io). PIN_IMAGES_RESOLVER names another command to ask instead: it is given the
# image reference (`gcr.io/distroless/cc-debian12:nonroot`) and prints its digest (`crane digest` does so).
#
# Every image is resolved before anything is written: if one cannot be (no network, an unknown tag, an answer
# that is not a sha256 digest), the file is left exactly as it was and the script exits 1 naming the image.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() { echo "pin-images: $*" >&2; exit 1; }

dockerfile=deploy/Dockerfile
while (($#)); do
    case $1 in
        --dockerfile) dockerfile=${2:?--dockerfile needs a file}; shift 2 ;;
        -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1 (try --help)" ;;
    esac
done
[[ -f $dockerfile ]] || die "no such file: $dockerfile"

# What a manifest request accepts: a multi-platform index first, then a single image's manifest.
accept='application/vnd.oci.image.index.v1+json,application/vnd.docker.distribution.manifest.list.v2+json'
accept+=',application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json'

# The status of the last answer in curl's headers (a proxy's own `200 Connection established` comes first).
status_of() { grep -E '^HTTP/' <<<"$1" | tail -n 1 | awk '{print $2}'; }

# The digest `ref` (name:tag) names now, over the registry's HTTP API.
registry_digest() {
    local ref=$1 name tag registry repository url headers challenge realm service scope token
    name=${ref%:*} tag=${ref##*:}
    # Docker Hub's short names: `rust` is registry-1.docker.io/library/rust.
    if [[ $name == */* && ${name%%/*} == *[.:]* ]]; then
        registry=${name%%/*} repository=${name#*/}
    else
        registry=registry-1.docker.io repository=$name
        [[ $repository == */* ]] || repository=library/$repository
    fi
    url=https://$registry/v2/$repository/manifests/$tag
    headers=$(curl -sS --max-time 30 -I -H "Accept: $accept" "$url") || return 1
    if [[ $(status_of "$headers") == 401 ]]; then
        # An anonymous pull token, from where the registry's challenge says.
        challenge=$(grep -i '^www-authenticate: *bearer ' <<<"$headers" | tr -d '\r') || return 1
        realm=$(sed -n 's/.*realm="\([^"]*\)".*/\1/p' <<<"$challenge")
        service=$(sed -n 's/.*service="\([^"]*\)".*/\1/p' <<<"$challenge")
        scope=$(sed -n 's/.*scope="\([^"]*\)".*/\1/p' <<<"$challenge")
        [[ -n $realm ]] || return 1
        token=$(curl -sS --max-time 30 -G "$realm" ${service:+--data-urlencode "service=$service"} \
            --data-urlencode "scope=${scope:-repository:$repository:pull}" \
            | sed -n 's/.*"\(token\|access_token\)"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\2/p' | head -n 1)
        [[ -n $token ]] || return 1
        headers=$(curl -sS --max-time 30 -I -H "Accept: $accept" -H "Authorization: Bearer $token" "$url") || return 1
    fi
    [[ $(status_of "$headers") == 200 ]] || return 1
    grep -i '^docker-content-digest:' <<<"$headers" | tr -d '\r' | awk '{print $2}'
}

resolve() {
    if [[ -n ${PIN_IMAGES_RESOLVER:-} ]]; then
        local -a command
        read -ra command <<<"$PIN_IMAGES_RESOLVER"
        "${command[@]}" "$1"
    else
        registry_digest "$1"
    fi
}

# The FROM lines: their image (without a digest, if pinned before), each stage name, and which lines name an
# earlier stage (`FROM build AS test`) or `scratch`, which have nothing to pin.
declare -A digest_of=()
stages=()
images=()
while read -r keyword rest; do
    [[ ${keyword^^} == FROM ]] || continue
    read -ra words <<<"$rest"
    image=''
    for word in "${words[@]}"; do
        [[ $word == --* ]] && continue
        image=$word
        break
    done
    stage=$(sed -n 's/.* [Aa][Ss] \([^ ]*\)$/\1/p' <<<"$rest")
    image=${image%@*}
    if [[ -n $image && $image != scratch && ! " ${stages[*]} " == *" $image "* ]]; then
        [[ $image == *:* && ${image##*:} != */* ]] || die "$dockerfile: FROM $image has no tag to pin; name one"
        [[ " ${images[*]} " == *" $image "* ]] || images+=("$image")
    fi
    [[ -z $stage ]] || stages+=("$stage")
done <"$dockerfile"
((${#images[@]})) || die "$dockerfile has no base image to pin"

for image in "${images[@]}"; do
    digest=$(resolve "$image") || digest=''
    [[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] ||
        die "could not resolve $image to a sha256 digest (no registry reachable, or no such tag?); $dockerfile is unchanged"
    digest_of[$image]=$digest
    echo "pin-images: $image@$digest" >&2
done

# Rewrite into a file beside the original, then put it in place in one step.
tmp=$(mktemp "$dockerfile.XXXXXX")
trap 'rm -f "$tmp"' EXIT
while IFS= read -r line || [[ -n $line ]]; do
    if [[ $line =~ ^([Ff][Rr][Oo][Mm][[:space:]]+(--[^[:space:]]+[[:space:]]+)*)([^[:space:]@]+)(@sha256:[0-9a-f]+)?(.*)$ ]]; then
        image=${BASH_REMATCH[3]}
        if [[ -n ${digest_of[$image]:-} ]]; then
            line="${BASH_REMATCH[1]}$image@${digest_of[$image]}${BASH_REMATCH[5]}"
        fi
    fi
    printf '%s\n' "$line"
done <"$dockerfile" >"$tmp"
if cmp -s "$tmp" "$dockerfile"; then
    echo "pin-images: $dockerfile already names these digests" >&2
    exit 0
fi
chmod --reference="$dockerfile" "$tmp"
mv "$tmp" "$dockerfile"
trap - EXIT
echo "pin-images: pinned ${#images[@]} base images in $dockerfile; review and commit the change" >&2
