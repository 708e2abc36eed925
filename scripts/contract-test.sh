#!/usr/bin/env bash
# Contract test: schemathesis drives a live mailgate with requests generated from the committed
# OpenAPI document (openapi/openapi.json), valid and invalid ones, and fails on any answer the
# document does not allow: a 5xx, a status code, content type, header or body it does not
# declare, invalid input accepted, or valid input refused.
#
# It starts everything it needs and stops it again: Postgres (scripts/ensure-postgres.sh), a
# fresh database (dropped at the end), graph-sim, and `mailgate serve` on free ports, with an app
# holding Mail.Send, Audit.Read and Admin whose key every generated request carries.
# schemathesis is installed on first use into a virtualenv under .dev/ and reused after that.
#
# Each run takes a fresh random seed, printed at the start and the end, so that every run explores new requests
# and a failure can be replayed with --seed. A run that was mostly answered 429 tested nothing: more than 5 % of
# answers 429 fails it, whatever schemathesis said.
#
# Usage: scripts/contract-test.sh [options] [-- extra schemathesis options]
#   --seed N           generation seed (default: random; the same seed and code give the same requests)
#   --max-examples N   generated cases per operation and phase (default 150)
#   --report DIR       also write a JUnit report and the failing requests as pytest code to DIR
#
# Environment:
#   MAILGATE_CONTRACT_SEED, MAILGATE_CONTRACT_MAX_EXAMPLES   defaults for the options above
#   MAILGATE_CONTRACT_STRICT=1   also fail on the findings scripts/contract/hooks.py lists as open elsewhere
#   MAILGATE_PG_URL, MAILGATE_PG_PRIVATE, MAILGATE_PG_PORT   see scripts/ensure-postgres.sh
#
# Exits 0 when every check passes, non-zero otherwise.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
work=$repo/.dev/contract

# The exact version: a newer schemathesis brings new checks and generators, which should arrive
# as a reviewed change of this line rather than as a surprise failure.
schemathesis_version=4.32.5
venv=$repo/.dev/schemathesis-$schemathesis_version

log() { printf 'contract-test: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=scripts/lib/processes.sh
source "$repo/scripts/lib/processes.sh"

seed=${MAILGATE_CONTRACT_SEED:-$(( (RANDOM << 15) | RANDOM ))}
max_examples=${MAILGATE_CONTRACT_MAX_EXAMPLES:-150}
# Of every answer, at most this share (in percent) may be 429 before the run is taken as blinded by a limiter.
max_429_percent=5
report_dir=''
extra=()
while (($#)); do
    case $1 in
        --seed) seed=${2:?--seed needs a number}; shift 2 ;;
        --random) shift ;; # the default now; kept so that older command lines still work
        --max-examples) max_examples=${2:?--max-examples needs a number}; shift 2 ;;
        --report) report_dir=${2:?--report needs a directory}; shift 2 ;;
        --) shift; extra=("$@"); break ;;
        -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1 (try --help)" ;;
    esac
done
[[ $seed =~ ^[0-9]+$ ]] || die "--seed must be a non-negative integer, not '$seed'"
[[ $max_examples =~ ^[1-9][0-9]*$ ]] || die "--max-examples must be a positive integer, not '$max_examples'"

mkdir -p "$work"

# ------------------------------------------------------------------------------ schemathesis
st=$venv/bin/st
if ! [[ -x $st ]] || [[ $("$st" --version 2>/dev/null) != *" $schemathesis_version" ]]; then
    python=$(command -v python3) || die "python3 is needed to install schemathesis"
    log "installing schemathesis $schemathesis_version into ${venv#"$repo"/}"
    rm -rf "$venv"
    "$python" -m venv "$venv" || die "python3 -m venv failed (Debian: apt-get install -y python3-venv)"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$schemathesis_version" ||
        { rm -rf "$venv"; die "could not install schemathesis $schemathesis_version"; }
fi

# ------------------------------------------------------------------------------ binaries
log "building (cargo build --bins)"
cargo build --quiet --bins
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin=${target_dir:-$repo/target}/debug
[[ -x $bin/mailgate && -x $bin/graph-sim ]] || die "built binaries not found in $bin"

# ------------------------------------------------------------------------------ teardown
pg_url=$(scripts/ensure-postgres.sh)
psql_bin=$(command -v psql || ls -d /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -n 1 || true)
[[ -n $psql_bin ]] || die "psql not found (it comes with the postgresql-client package)"
psql() { "$psql_bin" -w -X -q -At -v ON_ERROR_STOP=1 -d "$pg_url/postgres" "$@"; }

db_name=mailgate_contract_$$
db_url=$pg_url/$db_name
sim_pid='' mg_pid='' db_made=0

# shellcheck disable=SC2317  # only ever called from the EXIT trap
cleanup() {
    local pid deadline
    for pid in "$mg_pid" "$sim_pid"; do
        [[ -n $pid ]] && alive "$pid" || continue
        kill -TERM "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 40))
        while alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
        alive "$pid" && kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null || true
    done
    if ((db_made)); then
        psql -c "DROP DATABASE IF EXISTS $db_name WITH (FORCE)" || log "could not drop database $db_name"
    fi
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

show_logs() { show_logs_of "$work/graph-sim.log" "$work/mailgate.log"; }

# ------------------------------------------------------------------------------ database
log "creating database $db_name"
psql -c "CREATE DATABASE $db_name"
db_made=1
mailgate() { DATABASE_URL=$db_url "$bin/mailgate" "$@"; }
mailgate migrate >/dev/null
# Unrestricted: with no policy of its own it may still send as any mailbox, so that sends are accepted and their
# answers tested, rather than every one refused as unscoped.
mailgate apps create contract --roles Mail.Send,Audit.Read,Admin --unrestricted >&2
issued=$(mailgate keys create contract)
key=$(tail -n 1 <<<"$issued")
key_id=$(sed -n 's/^key \([0-9a-f-]*\) for app .*/\1/p' <<<"$issued")
[[ $key == mg_* && -n $key_id ]] || die "unexpected output from 'mailgate keys create': $issued"

# ------------------------------------------------------------------------------ processes
identity_header=sim-identity-secret
NO_COLOR=1 "$bin/graph-sim" --listen 127.0.0.1:0 --identity-header "$identity_header" \
    </dev/null >"$work/graph-sim.log" 2>&1 &
sim_pid=$!
sim_addr=$(wait_listening "$sim_pid" "$work/graph-sim.log" 'graph-sim listening on') ||
    { show_logs; die "graph-sim did not start"; }

# The delivery workers poll fast so that sends leave the queue during the run, as in production. The run sends
# many deliberately unauthenticated requests from one address (schemathesis's negative-authentication cases),
# which the per-source failure limit would turn into 429s for every later request, the valid ones too, after
# the first thirty a minute: its highest setting is far more failures than a run makes. The app quotas and the
# per-app refusal budget likewise are lifted (0: none), so that a 429 in this run means a limit that should not
# have applied.
DATABASE_URL=$db_url \
    MAILGATE_LISTEN=127.0.0.1:0 \
    MAILGATE_AUTH_FAILURES_PER_MINUTE=1000000 \
    MAILGATE_APP_MESSAGES_PER_MINUTE=0 \
    MAILGATE_APP_RECIPIENTS_PER_DAY=0 \
    MAILGATE_APP_REFUSALS_PER_MINUTE=0 \
    MAILGATE_GRAPH_URL=http://$sim_addr \
    MAILGATE_CREDENTIAL=managed-identity \
    IDENTITY_ENDPOINT=http://$sim_addr/msi/token \
    IDENTITY_HEADER=$identity_header \
    MAILGATE_POLL_INTERVAL_MS=200 \
    RUST_LOG=${RUST_LOG:-info,sqlx=warn} \
    NO_COLOR=1 \
    "$bin/mailgate" serve </dev/null >"$work/mailgate.log" 2>&1 &
mg_pid=$!
mg_addr=$(wait_listening "$mg_pid" "$work/mailgate.log" 'mailgate listening on') ||
    { show_logs; die "mailgate did not start"; }
mg_url=http://$mg_addr

deadline=$((SECONDS + 30))
until [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$mg_url/readyz" || true) == 200 ]]; do
    if ! alive "$mg_pid" || ((SECONDS >= deadline)); then
        show_logs
        die "mailgate did not become ready within 30 s"
    fi
    sleep 0.5
done

# ------------------------------------------------------------------------------ the run
checks=(
    not_a_server_error
    status_code_conformance
    content_type_conformance
    response_headers_conformance
    response_schema_conformance
    negative_data_rejection
    positive_data_acceptance
    missing_required_header
    ignored_auth
)
report=()
if [[ -n $report_dir ]]; then
    mkdir -p "$report_dir"
    report=(--report junit,pytest --report-dir "$(cd "$report_dir" && pwd)")
fi

log "schemathesis $schemathesis_version against $mg_url (seed $seed, max examples $max_examples)"
started=$SECONDS
status=0
statuses=$work/statuses.json
rm -f "$statuses"
# --generation-database none: what an earlier run found must not change what this one sends.
# --workers 1: one request at a time keeps the run reproducible and leaves a core to the server.
# scripts/contract/hooks.py keeps the run from revoking its own key (it reads the two variables) and sets aside
# what no schema can state. Run from .dev/contract, where schemathesis keeps its replay files.
(cd "$work" && MAILGATE_CONTRACT_APP=contract MAILGATE_CONTRACT_KEY_ID=$key_id \
    MAILGATE_CONTRACT_STATUS_FILE=$statuses \
    SCHEMATHESIS_HOOKS=$repo/scripts/contract/hooks.py \
    "$st" --config-file "$repo/scripts/contract/schemathesis.toml" run "$repo/openapi/openapi.json" \
    --url "$mg_url" \
    --header "Authorization: Bearer $key" \
    --mode all \
    --phases examples,coverage,fuzzing \
    --checks "$(IFS=,; echo "${checks[*]}")" \
    --max-examples "$max_examples" \
    --seed "$seed" \
    --generation-database none \
    --workers 1 \
    --request-timeout 30 \
    --no-color \
    "${report[@]}" \
    "${extra[@]}") || status=$?
log "schemathesis finished in $((SECONDS - started)) s with status $status (seed $seed; replay with --seed $seed)"

# What the hooks counted: the answers by status. No file means the hooks never ran, and then nothing says the run
# tested anything.
[[ -s $statuses ]] || die "no answers were counted (scripts/contract/hooks.py did not write ${statuses#"$repo"/})"
read -r answers throttled < <("$venv/bin/python" -c '
import json, sys
counts = json.load(open(sys.argv[1]))
print(sum(counts.values()), counts.get("429", 0))' "$statuses")
log "answers: $answers, of which 429: $throttled ($(<"$statuses"))"
if ((answers == 0)); then
    die "the run sent no request"
fi
if ((throttled * 100 > answers * max_429_percent)); then
    log "error: more than $max_429_percent % of the answers were 429: a limiter answered in place of the operations, which went untested"
    status=1
fi

if ! alive "$mg_pid"; then
    show_logs
    die "mailgate exited during the run"
fi
if grep -q 'panicked' "$work/mailgate.log"; then
    grep -n -A3 'panicked' "$work/mailgate.log" | head -n 40 >&2
    die "mailgate panicked during the run (log: ${work#"$repo"/}/mailgate.log)"
fi
exit "$status"
