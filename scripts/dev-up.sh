#!/usr/bin/env bash
# Bring mailgate up locally, ready to use: Postgres, the graph-sim Graph simulator, the
# mailgate_dev database with demo data, and `mailgate serve` talking to the simulator, with SMTP on
# loopback (plaintext AUTH, as for a device on a trusted segment).
#
# Usage: scripts/dev-up.sh [--background]
#   default        stay in the foreground; Ctrl-C stops mailgate and graph-sim
#   --background   leave both running (pids in .dev/*.pid); stop them with scripts/dev-down.sh
#
# Environment:
#   MAILGATE_LISTEN       mailgate's address   (default 127.0.0.1:8080)
#   MAILGATE_SIM_LISTEN   graph-sim's address  (default 127.0.0.1:8090)
#   MAILGATE_SMTP_LISTEN  mailgate's SMTP address, loopback only (default 127.0.0.1:2525)
#   MAILGATE_PG_URL, MAILGATE_PG_PRIVATE: see scripts/ensure-postgres.sh
#
# Running it again restarts mailgate and graph-sim (an earlier run, foreground or
# background, is stopped first) and issues a fresh API key; the demo data is only
# created where missing.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
dev=$repo/.dev

log() { printf 'dev-up: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=scripts/lib/processes.sh
source "$repo/scripts/lib/processes.sh"

background=0
for arg in "$@"; do
    case $arg in
        --background | -b) background=1 ;;
        -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $arg (try --help)" ;;
    esac
done

listen=${MAILGATE_LISTEN:-127.0.0.1:8080}
sim_listen=${MAILGATE_SIM_LISTEN:-127.0.0.1:8090}
smtp_listen=${MAILGATE_SMTP_LISTEN:-127.0.0.1:2525}
# AUTH travels in the clear here (no certificate): loopback only.
case ${smtp_listen%:*} in
    127.* | localhost | '[::1]') ;;
    *) die "MAILGATE_SMTP_LISTEN=$smtp_listen: dev-up allows SMTP AUTH without TLS, so on a loopback address only" ;;
esac
# Given to `mailgate serve` only: the admin commands below would otherwise check it against the TLS settings.
unset MAILGATE_SMTP_LISTEN
db_name=mailgate_dev
# graph-sim's defaults: the secret its token endpoint expects, and the app id its tokens
# carry, which is mailgate's own identity (the one Exchange's policies are about).
identity_header=sim-identity-secret
mailgate_app_id=00000000-0000-0000-0000-00000000a11e
# The demo, mirroring what an admin would set up in Exchange Online for one caller app.
demo_app=logic-app
audit_app=ops-dashboard
demo_group=dl-graph-scope@contoso.test
demo_mailbox=notifications@contoso.test
denied_mailbox=ceo@contoso.test

command -v curl >/dev/null || die "curl is needed (apt-get install -y curl)"
mkdir -p "$dev"

# ------------------------------------------------------------------------------ Postgres
pg_url=$(scripts/ensure-postgres.sh)

psql_bin=$(command -v psql || ls -d /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -n 1 || true)
[[ -n $psql_bin ]] || die "psql not found (it comes with the postgresql-client package)"
# As the server's administrator (the URL's user), on the `postgres` database unless -d says otherwise.
psql() { "$psql_bin" -w -X -q -At -v ON_ERROR_STOP=1 -d "$pg_url/postgres" "$@"; }
db_exists() { [[ $(psql -c "SELECT 1 FROM pg_database WHERE datname = '$db_name'") == 1 ]]; }

# Two roles, as in production (README, "Database roles"): migrations run as the owner, which owns the database and
# every object in it; `mailgate serve` and the admin commands run as a login role in the group role
# mailgate_service, to which the migrations grant only what the service needs. Local passwords, for servers whose
# pg_hba.conf asks for one.
owner_role=mailgate_dev_owner owner_password=mailgate-dev-owner
service_role=mailgate_dev_service service_password=mailgate-dev-service
server=${pg_url#*://}
server=${server#*@}
owner_url=postgres://$owner_role:$owner_password@$server/$db_name
db_url=postgres://$service_role:$service_password@$server/$db_name

log "making roles $owner_role and $service_role (in mailgate_service) where missing"
psql <<SQL || die "could not make the database roles (the user of $pg_url must be a superuser or have CREATEROLE)"
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$owner_role') THEN
        CREATE ROLE $owner_role LOGIN PASSWORD '$owner_password';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mailgate_service') THEN
        CREATE ROLE mailgate_service NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$service_role') THEN
        CREATE ROLE $service_role LOGIN PASSWORD '$service_password';
    END IF;
    IF NOT pg_has_role('$service_role', 'mailgate_service', 'MEMBER') THEN
        GRANT mailgate_service TO $service_role;
    END IF;
END \$\$;
SQL

if ! db_exists; then
    log "creating database $db_name"
    # A concurrent run may have created it in the meantime; that is fine too.
    psql -c "CREATE DATABASE $db_name OWNER $owner_role" || db_exists || die "could not create database $db_name"
fi
# A database made by an earlier version of this script belongs to the administrator: hand it and its tables (their
# sequences and indexes follow) and functions to the owner role, which alone migrates it from now on.
psql -d "$pg_url/$db_name" <<SQL || die "could not hand database $db_name to $owner_role"
ALTER DATABASE $db_name OWNER TO $owner_role;
DO \$\$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.oid::regclass AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relowner <> '$owner_role'::regrole LOOP
        EXECUTE format('ALTER TABLE %s OWNER TO $owner_role', r.t);
    END LOOP;
    FOR r IN SELECT p.oid::regprocedure AS f FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname = 'public' AND p.proowner <> '$owner_role'::regrole LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO $owner_role', r.f);
    END LOOP;
END \$\$;
SQL

# ------------------------------------------------------------------------------ binaries
log "building (cargo build --bins)"
cargo build --bins
# Honours CARGO_TARGET_DIR and .cargo/config.toml, unlike a hard-coded target/.
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin=${target_dir:-$repo/target}/debug
[[ -x $bin/mailgate && -x $bin/graph-sim ]] || die "built binaries not found in $bin"

# ----------------------------------------------------------------------- schema and demo data
mailgate() { DATABASE_URL=$db_url MAILGATE_MIGRATION_DATABASE_URL=$owner_url "$bin/mailgate" "$@"; }

log "migrating $db_name as $owner_role"
mailgate migrate >/dev/null

# Each step looks first and only creates what is missing, so reruns are quiet no-ops.
# (Listings are captured before grepping: `cmd | grep -q` can fail under pipefail when
# grep exits early and cmd gets SIGPIPE.)
apps=$(mailgate apps list)
if ! cut -f1 <<<"$apps" | grep -xF "$demo_app" >/dev/null; then
    mailgate apps create "$demo_app" >&2
fi
# A second app that may only read the audit log: its key signs in to the dashboard (/ui).
if ! cut -f1 <<<"$apps" | grep -xF "$audit_app" >/dev/null; then
    mailgate apps create "$audit_app" --roles Audit.Read >&2
fi
groups=$(mailgate groups list)
if ! grep -xF "$demo_group" <<<"$groups" >/dev/null; then
    mailgate groups create "$demo_group" >&2
    groups=$(mailgate groups list)
fi
# `groups list` prints each group, then its direct members indented by two spaces.
if ! awk -v g="$demo_group" -v m="$demo_mailbox" '
        /^[^ ]/ { here = ($0 == g); next }
        here && $1 == m { found = 1 }
        END { exit !found }' <<<"$groups"; then
    mailgate groups add-member "$demo_group" "$demo_mailbox" >&2
fi
# `policies list` columns (tab-separated): id, access right, apps (comma-separated), scope
# group, description.
if ! mailgate policies list | awk -F '\t' -v a="$demo_app" -v g="$demo_group" '
        $4 == g { n = split($3, apps, ","); for (i = 1; i <= n; i++) if (apps[i] == a) found = 1 }
        END { exit !found }'; then
    mailgate policies new --app "$demo_app" --scope-group "$demo_group" \
        --access-right RestrictAccess --description "Restrict $demo_app to ${demo_group%@*}" >&2
fi

# A fresh key on every run: keys are stored hashed, so an old one cannot be shown again.
key=$(mailgate keys create "$demo_app" | tail -n 1)
[[ $key == mg_* ]] || die "unexpected output from 'mailgate keys create': $key"
(umask 077 && printf '%s\n' "$key" >"$dev/$demo_app.key")
audit_key=$(mailgate keys create "$audit_app" | tail -n 1)
[[ $audit_key == mg_* ]] || die "unexpected output from 'mailgate keys create': $audit_key"
(umask 077 && printf '%s\n' "$audit_key" >"$dev/$audit_app.key")

# ------------------------------------------------------------------------------ processes
if compgen -G "$dev/*.pid" >/dev/null; then
    log "stopping the processes of an earlier run"
    scripts/dev-down.sh
fi

# port_busy HOST:PORT: does something accept connections there?
port_busy() {
    local host=${1%:*} port=${1##*:}
    host=${host#[}; host=${host%]}
    [[ $host == 0.0.0.0 || $host == :: ]] && host=127.0.0.1
    [[ $port == 0 ]] && return 1
    timeout 2 bash -c "exec 9<>/dev/tcp/$host/$port" 2>/dev/null
}
for addr in "$sim_listen" "$listen" "$smtp_listen"; do
    ! port_busy "$addr" || die "$addr is already in use by a process dev-up did not start; stop it, or set MAILGATE_LISTEN / MAILGATE_SIM_LISTEN / MAILGATE_SMTP_LISTEN"
done

sim_pid='' mg_pid=''

# Stops what this run started (and only that: the pid files may belong to a newer run by now).
# shellcheck disable=SC2317  # only ever called from the EXIT trap
cleanup() {
    local pid pids=() deadline
    for pid in "$mg_pid" "$sim_pid"; do
        [[ -n $pid ]] && alive "$pid" && pids+=("$pid")
    done
    if ((${#pids[@]})); then
        log "stopping mailgate and graph-sim"
        kill -TERM "${pids[@]}" 2>/dev/null || true
        # mailgate finishes the sends in flight first, for up to its Graph timeout (30 s) + 5 s.
        deadline=$((SECONDS + 45))
        for pid in "${pids[@]}"; do
            while alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
            alive "$pid" && kill -KILL "$pid" 2>/dev/null
        done
        wait "${pids[@]}" 2>/dev/null || true
    fi
    [[ -n $mg_pid && $(cat "$dev/mailgate.pid" 2>/dev/null) == "$mg_pid" ]] && rm -f "$dev/mailgate.pid"
    [[ -n $sim_pid && $(cat "$dev/graph-sim.pid" 2>/dev/null) == "$sim_pid" ]] && rm -f "$dev/graph-sim.pid"
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

show_logs() { show_logs_of "$dev/graph-sim.log" "$dev/mailgate.log"; }

# Both run in their own session (setsid): Ctrl-C in this terminal reaches only this script,
# whose trap then stops them in order, and with --background they outlive the terminal.
policies_file=$dev/graph-sim-policies.json
cat >"$policies_file" <<EOF
[{"app_id": "$mailgate_app_id", "access_right": "RestrictAccess", "scope": ["$demo_mailbox"]}]
EOF
# The simulated tenant's mailboxes: Graph answers 404 ErrorInvalidUser for any other name, as a tenant does.
# More can be added while it runs: curl -X POST <graph-sim>/sim/mailboxes -d '["someone@contoso.test"]'
mailboxes_file=$dev/graph-sim-mailboxes.json
cat >"$mailboxes_file" <<EOF
["$demo_mailbox", "$denied_mailbox"]
EOF

# An earlier run's log would show its address until the new process truncates it.
rm -f "$dev/graph-sim.log" "$dev/mailgate.log"
# NO_COLOR: plain logs in the .dev/*.log files, without terminal colour codes.
log "starting graph-sim on $sim_listen (log: .dev/graph-sim.log)"
NO_COLOR=1 setsid "$bin/graph-sim" --listen "$sim_listen" --identity-header "$identity_header" \
    --app-id "$mailgate_app_id" --policies "$policies_file" --mailboxes "$mailboxes_file" \
    </dev/null >"$dev/graph-sim.log" 2>&1 &
sim_pid=$!
echo "$sim_pid" >"$dev/graph-sim.pid"
sim_addr=$(wait_listening "$sim_pid" "$dev/graph-sim.log" 'graph-sim listening on') ||
    { show_logs; die "graph-sim did not start"; }
sim_url=http://$sim_addr

# serve gets the service role only: the schema is current, so it has nothing to migrate at start.
log "starting mailgate on $listen as $service_role (log: .dev/mailgate.log)"
DATABASE_URL=$db_url \
    MAILGATE_LISTEN=$listen \
    MAILGATE_GRAPH_URL=$sim_url \
    MAILGATE_CREDENTIAL=managed-identity \
    IDENTITY_ENDPOINT=$sim_url/msi/token \
    IDENTITY_HEADER=$identity_header \
    MAILGATE_SMTP_LISTEN=$smtp_listen \
    MAILGATE_SMTP_ALLOW_PLAINTEXT_AUTH=true \
    NO_COLOR=1 \
    setsid "$bin/mailgate" serve </dev/null >"$dev/mailgate.log" 2>&1 &
mg_pid=$!
echo "$mg_pid" >"$dev/mailgate.pid"
mg_addr=$(wait_listening "$mg_pid" "$dev/mailgate.log" 'mailgate listening on') ||
    { show_logs; die "mailgate did not start"; }
mg_url=http://$mg_addr

# /readyz is 200 once mailgate reaches its database and got a Graph token from the sim.
deadline=$((SECONDS + 30))
until [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$mg_url/readyz" || true) == 200 ]]; do
    if ! alive "$mg_pid" || ((SECONDS >= deadline)); then
        show_logs
        printf '\n--- %s/readyz ---\n' "$mg_url" >&2
        curl -s --max-time 2 "$mg_url/readyz" >&2 || true
        die "mailgate did not become ready within 30 s"
    fi
    sleep 0.5
done

# ------------------------------------------------------------------------------ summary
# send_cmd FROM [HEADER]: a ready-to-paste curl command sending the demo message as FROM.
send_cmd() {
    echo "  curl -sS -w '\\nHTTP %{http_code}\\n' $mg_url/v1/messages \\"
    echo "    -H 'Authorization: Bearer $key' \\"
    echo "    -H 'Content-Type: application/json' \\"
    [[ -z ${2:-} ]] || echo "    -H '$2' \\"
    echo "    -d '{\"from\":\"$1\",\"to\":[\"someone@example.com\"],\"subject\":\"Hello\",\"text\":\"Hi\"}'"
}

# smtp_cmd FROM: a ready-to-paste curl command sending a message over SMTP as FROM, showing mailgate's replies.
smtp_cmd() {
    echo "  printf 'From: $1\\r\\nTo: someone@example.com\\r\\nSubject: Hello over SMTP\\r\\n\\r\\nHi\\r\\n' |"
    echo "    curl -sS -v smtp://$smtp_listen --user '$demo_app:$key' \\"
    echo "      --mail-from $1 --mail-rcpt someone@example.com --upload-file - 2>&1 | grep '^< [2-5]'"
}

cat <<EOF

mailgate is up at $mg_url  (Graph simulator at $sim_url)
Database $db_name: serve connects as $service_role ($db_url), migrations as $owner_role

API key for app $demo_app (also saved in .dev/$demo_app.key):
  $key

Send as $demo_mailbox, which the policy allows; waits for delivery (expect HTTP 200, "status":"sent"):
$(send_cmd "$demo_mailbox" 'Prefer: wait=10')

Send as $denied_mailbox, outside $demo_group (expect HTTP 403):
$(send_cmd "$denied_mailbox")

SMTP at $smtp_listen (plaintext AUTH on loopback; docs/smtp.md). Send as $demo_mailbox, AUTH as $demo_app
(expect "250 2.0.0 Ok: queued as <id>"):
$(smtp_cmd "$demo_mailbox")

Send as $denied_mailbox over SMTP (expect "550 5.7.1" at MAIL FROM, with the reason):
$(smtp_cmd "$denied_mailbox")

What Graph received:
  curl -sS $sim_url/sim/received

The dashboard: open $mg_url/ui and sign in with the key of app $audit_app (role Audit.Read; also in
.dev/$audit_app.key):
  $audit_key

Logs: .dev/mailgate.log and .dev/graph-sim.log
EOF

if ((background)); then
    trap - EXIT INT TERM HUP
    cat <<EOF
Running in the background (pids in .dev/mailgate.pid and .dev/graph-sim.pid).
Stop with: scripts/dev-down.sh
EOF
    exit 0
fi

echo "Press Ctrl-C to stop."
status=0
wait -n "$sim_pid" "$mg_pid" || status=$?
# Only reached if one of them exited on its own (Ctrl-C goes through the traps).
if alive "$mg_pid"; then gone=graph-sim; else gone=mailgate; fi
show_logs
die "$gone exited unexpectedly (status $status); stopping the rest"
