#!/usr/bin/env bash
# Makes (once) the Python environment whose strict parsers read GET /metrics in the API tests: a venv under
# .dev/metrics-venv with the pinned packages of tests/metrics/requirements.txt from PyPI. Reuses it while the
# requirements are unchanged. Prints the venv's python on stdout; anything else goes to stderr.
# Settings: PYTHON (the interpreter to make the venv with; default python3, 3.9 or newer).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

requirements=tests/metrics/requirements.txt
venv=.dev/metrics-venv
python=${PYTHON:-python3}
mkdir -p .dev

# Test binaries run side by side; one of them builds the venv while the others wait for it.
exec 9>.dev/metrics-venv.lock
flock 9

want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [[ -x $venv/bin/python && -f $venv/.requirements && $(cat "$venv/.requirements") == "$want" ]]; then
    echo "$PWD/$venv/bin/python"
    exit 0
fi

command -v "$python" >/dev/null || { echo "metrics-env: $python not found; install Python 3.9+ or set PYTHON" >&2; exit 1; }
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 9))' \
    || { echo "metrics-env: $python is older than 3.9" >&2; exit 1; }

echo "metrics-env: building $venv from $requirements (once)" >&2
rm -rf "$venv"
"$python" -m venv "$venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$requirements" >&2
"$venv/bin/python" -c 'import prometheus_client.openmetrics.parser' >&2
echo "$want" > "$venv/.requirements"
echo "$PWD/$venv/bin/python"
