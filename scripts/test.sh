#!/usr/bin/env bash
# Run the whole test suite (unit, integration and doc tests) against a local Postgres.
# Extra arguments go to `cargo test`, e.g. scripts/test.sh --lib, or scripts/test.sh -- --nocapture.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

url=$(scripts/ensure-postgres.sh)
# #[sqlx::test] connects to this database only to create (and drop) a fresh database per
# test on the same server, so pointing it at the server's `postgres` database is enough.
export DATABASE_URL="$url/postgres"
echo "test: DATABASE_URL=$DATABASE_URL" >&2

# Not --all-targets: that selection leaves out the doc tests. --no-fail-fast: run every
# test binary even after one fails, so one run shows all the failures.
exec cargo test --workspace --no-fail-fast "$@"
