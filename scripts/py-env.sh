#!/usr/bin/env bash
# Makes (once) a Python environment for a test that drives a real Python client: a venv under .dev/NAME-venv with the
# pinned packages of REQUIREMENTS from PyPI, checked by importing MODULES. Reuses it while the requirements are
# unchanged. Prints the venv's python on stdout; anything else goes to stderr.
# Usage: scripts/py-env.sh NAME REQUIREMENTS MODULES   (MODULES: a Python import list, e.g. "msgraph, kiota_abstractions")
# Settings: PYTHON (the interpreter to make the venv with; default python3, 3.9 or newer).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

name=$1
requirements=$2
modules=$3
venv=.dev/$name-venv
python=${PYTHON:-python3}
mkdir -p .dev

# Test binaries run side by side; one of them builds the venv while the others wait for it.
exec 9>".dev/$name-venv.lock"
flock 9

want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [[ -x $venv/bin/python && -f $venv/.requirements && $(cat "$venv/.requirements") == "$want" ]]; then
    echo "$PWD/$venv/bin/python"
    exit 0
fi

command -v "$python" >/dev/null || { echo "$name-env: $python not found; install Python 3.9+ or set PYTHON" >&2; exit 1; }
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 9))' \
    || { echo "$name-env: $python is older than 3.9" >&2; exit 1; }

echo "$name-env: building $venv from $requirements (once)" >&2
rm -rf "$venv"
"$python" -m venv "$venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$requirements" >&2
"$venv/bin/python" -c "import $modules" >&2
echo "$want" > "$venv/.requirements"
echo "$PWD/$venv/bin/python"
