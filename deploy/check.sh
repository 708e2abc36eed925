#!/usr/bin/env bash
# Validates everything under deploy/ with tools from the package registries, which it installs itself (once, and
# again only when their pins change) into .dev/deploy-venv (PyPI: deploy/check/requirements.txt) and
# .dev/deploy-node (npm: deploy/check/package.json). Needs python3 (3.9+) and npm; no Docker, cluster or Azure.
#
#   YAML           yamllint, every file
#   Dockerfile     hadolint; checkov; the same cargo command and toolchain as deploy/build-image-binary.sh
#   shell          shellcheck
#   pin-images.sh  deploy/check/pin-images-test.sh: its rewrite of the Dockerfile, with stand-in registries
#   compose        dclint: the Compose Specification's JSON schema, and its lint rules
#   Kubernetes     kubectl kustomize renders both overlays; kubernetes-validate --strict against the oldest
#                  supported Kubernetes and the newest the tool knows; checkov on what was rendered
#   Bicep          tree-sitter-bicep parses main.bicep and main.bicepparam; checkov
#   cross-checks   deploy/check/validate.py: setting names and credential kinds against src/config, dashboard and
#                  alert queries against the metrics mailgate exports, workload identity and Key Vault wiring,
#                  who the NetworkPolicies admit, the Ingress's TLS, the links of deploy/README.md
#
# checkov checks that do not apply are skipped where they arise, each with its reason, never here.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# One stream, so that the tools' reports and the steps stay in order in a CI log.
exec 2>&1

venv=.dev/deploy-venv
node=.dev/deploy-node
out=.dev/deploy-check
# The oldest Kubernetes the manifests support: the preStop sleep action is there from 1.30.
min_kubernetes=1.30.0

step() { printf '\n--> %s\n' "$*" >&2; }
die() { echo "deploy/check: $*" >&2; exit 1; }

tools() {
    mkdir -p .dev
    exec 9>.dev/deploy-tools.lock
    flock 9
    local want
    want=$(cat deploy/check/requirements.txt | sha256sum | cut -d' ' -f1)
    if [[ ! -x $venv/bin/python || $(cat "$venv/.requirements" 2>/dev/null) != "$want" ]]; then
        echo "deploy/check: installing the Python tools into $venv (once; a few minutes)" >&2
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
            -r deploy/check/requirements.txt >&2
        echo "$want" > "$venv/.requirements"
    fi
    want=$(sha256sum deploy/check/package.json | cut -d' ' -f1)
    if [[ ! -x $node/node_modules/.bin/dclint || $(cat "$node/.package" 2>/dev/null) != "$want" ]]; then
        command -v npm >/dev/null || die "npm not found; install Node.js 20.19 or newer"
        echo "deploy/check: installing the npm tools into $node (once)" >&2
        rm -rf "$node"
        mkdir -p "$node"
        cp deploy/check/package.json "$node/"
        (cd "$node" && npm install --no-audit --no-fund --no-package-lock --silent) >&2
        echo "$want" > "$node/.package"
    fi
    exec 9>&-
}

tools
export PATH="$PWD/$venv/bin:$PATH"
# checkov: no calls home, no downloads; its results do not depend on a platform account.
export BC_SKIP_MAPPING=TRUE CHECKOV_RUN_SCA_PACKAGE_SCAN_V2=false LOG_LEVEL=ERROR
rm -rf "$out"
mkdir -p "$out"

step "versions"
{
    echo "yamllint $(yamllint --version | cut -d' ' -f2), $(hadolint --version), checkov $(checkov --version)"
    echo "shellcheck $(shellcheck --version | sed -n 's/^version: //p'), kubectl $(kubectl version --client \
        | sed -n 's/^Client Version: //p') (kustomize $(kubectl version --client | sed -n 's/^Kustomize Version: //p'))"
    echo "kubernetes-validate $(kubernetes-validate --version), dclint $("$node/node_modules/.bin/dclint" --version)"
} >&2

step "yamllint deploy/"
yamllint --strict -c deploy/check/yamllint.yaml deploy/

step "Dockerfile: hadolint, and the build of deploy/build-image-binary.sh"
hadolint deploy/Dockerfile
build_command=$(sed -n 's/^BUILD_COMMAND="\(.*\)"$/\1/p' deploy/build-image-binary.sh)
[[ -n $build_command ]] || die "deploy/build-image-binary.sh has no BUILD_COMMAND"
[[ $(grep -cF "&& $build_command" deploy/Dockerfile) == 2 ]] \
    || die "deploy/Dockerfile must run '$build_command' in both build steps, as deploy/build-image-binary.sh does"
grep -q '^FROM rust:[0-9]*\.[0-9]*-' deploy/Dockerfile || die "deploy/Dockerfile must name its Rust version"
# The last stage is the service: it must run as a numeric user, so that runAsNonRoot can verify it.
awk '/^FROM /{user=""} /^USER /{user=$2} END{exit !(user ~ /^[0-9]+(:[0-9]+)?$/)}' deploy/Dockerfile \
    || die "deploy/Dockerfile's last stage must set a numeric USER"

step "shellcheck"
shellcheck deploy/check.sh deploy/build-image-binary.sh deploy/compose/postgres-init.sh deploy/pin-images.sh \
    deploy/check/pin-images-test.sh

step "deploy/pin-images.sh: pins a copy of the Dockerfile with stand-in registries; changes nothing when one fails"
deploy/check/pin-images-test.sh "$out/pin-images"

step "compose: the Compose Specification schema, and dclint's rules"
# Style rules off: the services are in start-up order and their keys in reading order, not alphabetical.
"$node/node_modules/.bin/dclint" deploy/compose.yaml --max-warnings 0 --disable-rule service-keys-order \
    services-alphabetical-order top-level-properties-order service-dependencies-alphabetical-order

step "Kubernetes: render the bases and the example overlays"
for dir in base migrate overlays/example/app overlays/example/migrate; do
    name=${dir//\//-}
    kubectl kustomize "deploy/kubernetes/$dir" > "$out/$name.yaml"
    echo "rendered deploy/kubernetes/$dir: $(grep -c '^kind:' "$out/$name.yaml") objects" >&2
done
app=$out/overlays-example-app.yaml
migrate=$out/overlays-example-migrate.yaml

step "Kubernetes: kubernetes-validate --strict, $min_kubernetes and the newest schemas"
for version in "$min_kubernetes" ""; do
    # Only the SecretProviderClass CRD has no schema here: a warning, hidden; deploy/check/validate.py checks it.
    kubernetes-validate --strict --quiet --no-warn ${version:+-k "$version"} "$app" "$migrate"
done
echo "valid against Kubernetes $min_kubernetes and $(kubernetes-validate --help | sed -n 's/.*Defaults to \([0-9.]*\).*/\1/p')" >&2

step "checkov: Dockerfile, rendered Kubernetes, Bicep"
cp "$app" "$out/checkov-app.yaml"
cp "$migrate" "$out/checkov-migrate.yaml"
checkov --quiet --compact --skip-download --framework dockerfile kubernetes bicep \
    -f deploy/Dockerfile -f "$out/checkov-app.yaml" -f "$out/checkov-migrate.yaml" -f deploy/azure/main.bicep \
    | tee "$out/checkov.txt" >&2
if grep -q 'Parsing errors' "$out/checkov.txt"; then
    die "checkov could not parse a file"
fi

step "cross-checks against mailgate's source"
python=$venv/bin/python
"$python" deploy/check/validate.py bicep deploy/azure/main.bicep deploy/azure/main.bicepparam
"$python" deploy/check/validate.py kubernetes "$app" "$migrate"
"$python" deploy/check/validate.py metrics deploy/grafana/mailgate.json deploy/prometheus/alerts.yml
"$python" deploy/check/validate.py settings deploy/compose.yaml "$app" "$migrate" deploy/azure/main.bicep
"$python" deploy/check/validate.py links deploy/README.md deploy/exo/README.md

step "deploy/check.sh: all checks passed"
