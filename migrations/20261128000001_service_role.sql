-- Least privilege. Migrations run as the owner role: whoever applies them owns every object and alone may change the
-- schema. `mailgate serve` runs as a login role that is a member of the NOLOGIN group role `mailgate_service`, which
-- reads and writes what the service needs, may only read and append to the audit log, only read the change trail,
-- and owns nothing, so it can neither change the schema nor drop or disable the append-only triggers.
--
-- Rule for later migrations: a table they create gets SELECT, INSERT, UPDATE, DELETE for `mailgate_service` by
-- default (below), and a sequence USAGE. A migration creating a table the service must change less narrows it in the
-- same file (an append-only table: `REVOKE UPDATE, DELETE ON t FROM mailgate_service` and the `*_no_change` and
-- `*_no_truncate` triggers). Default privileges hold only for objects made by the role that ran this migration, so
-- every migration must run as that same owner role.

-- Roles are cluster-wide while this runs once per database (and concurrently, one database per test), so the group
-- role is created only where missing. The login role `serve` uses is made by the operator: see the README.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mailgate_service') THEN
        CREATE ROLE mailgate_service NOLOGIN;
    END IF;
EXCEPTION
    -- Another database's migration created it at the same moment.
    WHEN duplicate_object OR unique_violation THEN NULL;
    WHEN insufficient_privilege THEN
        RAISE EXCEPTION 'role mailgate_service does not exist and % may not create it', current_user
            USING HINT = 'as an administrator: CREATE ROLE mailgate_service NOLOGIN; then migrate again';
END $$;

-- Database and schema: connect and use, never create (not even temporary tables or functions). Before PostgreSQL 15
-- every role may create in schema public; only the schema's owner can take that away.
DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO mailgate_service', current_database());
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('REVOKE CREATE ON SCHEMA %I FROM PUBLIC', current_schema());
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO mailgate_service', current_schema());
    IF has_schema_privilege('mailgate_service', current_schema(), 'CREATE') THEN
        RAISE WARNING 'every role may still create objects in schema %: as its owner, REVOKE CREATE ON SCHEMA % FROM PUBLIC',
            current_schema(), current_schema();
    END IF;
END $$;

-- What src/db, src/sync and src/admin do to each table, and no more.
GRANT SELECT, INSERT, UPDATE, DELETE ON apps, groups, access_policies, recipients, service_principals,
    management_scopes, role_assignments, idempotency_keys TO mailgate_service;
GRANT SELECT, INSERT, DELETE ON group_members TO mailgate_service;
GRANT SELECT, INSERT ON access_policy_apps TO mailgate_service;
-- Keys are revoked and their last use noted, never deleted (they go with their app, by the owner's cascade).
GRANT SELECT, INSERT, UPDATE ON api_keys, access_cooldowns, messages, mailbox_state TO mailgate_service;
GRANT SELECT, INSERT ON audit_events, drift_events TO mailgate_service;
GRANT USAGE ON SEQUENCE audit_events_id_seq, drift_events_id_seq TO mailgate_service;
-- Written only by record_change(), which runs as the owner.
GRANT SELECT ON change_events TO mailgate_service;

DO $$
DECLARE
    t regclass;
BEGIN
    -- `serve` checks that the schema is current without needing to change it.
    IF to_regclass('_sqlx_migrations') IS NOT NULL THEN
        GRANT SELECT ON _sqlx_migrations TO mailgate_service;
    END IF;
    -- Tables an earlier-numbered migration merged after this one was written get the default below, as if later.
    FOR t IN
        SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname <> '_sqlx_migrations'
           AND NOT EXISTS (SELECT FROM aclexplode(c.relacl) a WHERE a.grantee = 'mailgate_service'::regrole::oid)
    LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO mailgate_service', t);
    END LOOP;
    FOR t IN
        SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relkind = 'S'
           AND c.relname NOT IN ('audit_events_id_seq', 'drift_events_id_seq', 'change_events_id_seq')
    LOOP
        EXECUTE format('GRANT USAGE ON SEQUENCE %s TO mailgate_service', t);
    END LOOP;
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO mailgate_service',
                   current_schema());
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE ON SEQUENCES TO mailgate_service',
                   current_schema());
END $$;

-- Append-only holds against TRUNCATE too, which skips row triggers; for the owner as well, until it drops the trigger.
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER change_events_no_truncate BEFORE TRUNCATE ON change_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
-- Drift is evidence too: where the mirror and Exchange disagreed.
CREATE TRIGGER drift_events_no_change BEFORE UPDATE OR DELETE ON drift_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER drift_events_no_truncate BEFORE TRUNCATE ON drift_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- The change trail trusts a session's `mailgate.actor` only from the service or the owner; any other session that
-- was granted writes is recorded by its login name. It runs as its owner (SECURITY DEFINER) so that no writer needs
-- INSERT on change_events and none can add a row the triggers did not make. session_user is the login, which SET
-- ROLE cannot change.
CREATE OR REPLACE FUNCTION record_change() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    b jsonb;
    a jsonb;
    claimed text := nullif(current_setting('mailgate.actor', true), '');
    who text := session_user || ' (direct SQL)';
BEGIN
    IF claimed IS NOT NULL AND (
        pg_has_role(session_user, 'mailgate_service', 'MEMBER')
        OR pg_has_role(session_user, (SELECT relowner FROM pg_class WHERE oid = 'change_events'::regclass), 'MEMBER'))
    THEN
        who := claimed;
    END IF;
    IF TG_OP <> 'INSERT' THEN b := to_jsonb(OLD) - 'secret_hash' - 'last_used_at' - 'updated_at'; END IF;
    IF TG_OP <> 'DELETE' THEN a := to_jsonb(NEW) - 'secret_hash' - 'last_used_at' - 'updated_at'; END IF;
    -- Bookkeeping updates (a key's last use) are not changes.
    IF TG_OP = 'UPDATE' AND a = b THEN
        RETURN NULL;
    END IF;
    INSERT INTO change_events (actor, action, object_type, object_key, before, after)
    VALUES (who, lower(TG_OP), TG_TABLE_NAME,
            coalesce(a ->> 'id', b ->> 'id', a ->> 'group_id', b ->> 'group_id', a ->> 'policy_id', b ->> 'policy_id',
                     a ->> 'app_id', b ->> 'app_id'),
            b, a);
    RETURN NULL;
END $$;

-- Only triggers call it; no role needs to, and a SECURITY DEFINER function must not resolve names through a schema
-- its callers could write to.
REVOKE EXECUTE ON FUNCTION record_change() FROM PUBLIC;
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION record_change() SET search_path = %I, pg_temp', current_schema());
END $$;
