#!/usr/bin/env bash
# Makes (once) the Python environment whose strict parsers read GET /metrics in the API tests: .dev/metrics-venv with
# the pinned packages of tests/metrics/requirements.txt. Prints the venv's python.
exec "$(dirname "${BASH_SOURCE[0]}")/py-env.sh" metrics tests/metrics/requirements.txt prometheus_client.openmetrics.parser
