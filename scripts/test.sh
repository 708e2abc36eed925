#!/usr/bin/env bash
# Run the whole test suite (unit, integration and doc tests) against a local Postgres, then the
# contract test (scripts/contract-test.sh).
# Extra arguments go to `cargo test` and run only the tests they select, without the contract test,
# e.g. scripts/test.sh --lib, or scripts/test.sh -- --nocapture.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

url=$(scripts/ensure-postgres.sh)
# #[sqlx::test] connects to this database only to create (and drop) a fresh database per
# test on the same server, so pointing it at the server's `postgres` database is enough.
export DATABASE_URL="$url/postgres"
echo "test: DATABASE_URL=$DATABASE_URL" >&2

# Not --all-targets: that selection leaves out the doc tests. --no-fail-fast: run every
# test binary even after one fails, so one run shows all the failures.
if (($#)); then
    exec cargo test --workspace --no-fail-fast "$@"
fi
status=0
cargo test --workspace --no-fail-fast || status=$?

# Last, the whole suite only: the contract test (schemathesis against a live mailgate and the
# committed OpenAPI document, about three minutes, a fresh random seed each run).
scripts/contract-test.sh || status=$?
exit "$status"
