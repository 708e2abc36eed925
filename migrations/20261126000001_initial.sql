-- The first schema: callers, the access-policy mirror, the outbox and the audit log.
-- Addresses are stored lower-cased: Exchange compares SMTP addresses case-insensitively.

CREATE TABLE apps (
    id           uuid PRIMARY KEY,
    name         text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
    entra_app_id uuid UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Keys are found by their non-secret prefix; only a SHA-256 of the secret part is kept.
CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    app_id       uuid NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    prefix       text NOT NULL UNIQUE,
    secret_hash  bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz
);

CREATE TABLE groups (
    id         uuid PRIMARY KEY,
    address    text NOT NULL UNIQUE CHECK (address = lower(address)),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- A member is either a mailbox (address or object id) or another group; nesting may go any depth.
CREATE TABLE group_members (
    group_id        uuid NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    mailbox         text CHECK (mailbox = lower(mailbox)),
    member_group_id uuid REFERENCES groups (id) ON DELETE CASCADE,
    added_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((mailbox IS NULL) <> (member_group_id IS NULL)),
    UNIQUE (group_id, mailbox),
    UNIQUE (group_id, member_group_id)
);

CREATE TABLE access_policies (
    id             uuid PRIMARY KEY,
    all_apps       boolean NOT NULL,
    scope_group_id uuid NOT NULL REFERENCES groups (id) ON DELETE RESTRICT,
    access_right   text NOT NULL CHECK (access_right IN ('RestrictAccess', 'DenyAccess')),
    description    text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE access_policy_apps (
    policy_id uuid NOT NULL REFERENCES access_policies (id) ON DELETE CASCADE,
    app_id    uuid NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    PRIMARY KEY (policy_id, app_id)
);

-- Every process keeps the policy mirror in memory; any change tells them all to reload it.
CREATE FUNCTION notify_policy_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mailgate_policy', '');
    RETURN NULL;
END $$;

CREATE TRIGGER apps_changed AFTER INSERT OR UPDATE OR DELETE ON apps
    FOR EACH STATEMENT EXECUTE FUNCTION notify_policy_changed();
CREATE TRIGGER groups_changed AFTER INSERT OR UPDATE OR DELETE ON groups
    FOR EACH STATEMENT EXECUTE FUNCTION notify_policy_changed();
CREATE TRIGGER group_members_changed AFTER INSERT OR UPDATE OR DELETE ON group_members
    FOR EACH STATEMENT EXECUTE FUNCTION notify_policy_changed();
CREATE TRIGGER access_policies_changed AFTER INSERT OR UPDATE OR DELETE ON access_policies
    FOR EACH STATEMENT EXECUTE FUNCTION notify_policy_changed();
CREATE TRIGGER access_policy_apps_changed AFTER INSERT OR UPDATE OR DELETE ON access_policy_apps
    FOR EACH STATEMENT EXECUTE FUNCTION notify_policy_changed();

-- The outbox. `payload` is the Graph request body; a worker claims due rows with FOR UPDATE SKIP LOCKED.
CREATE TABLE messages (
    id              uuid PRIMARY KEY,
    app_id          uuid NOT NULL REFERENCES apps (id),
    mailbox         text NOT NULL,
    subject         text NOT NULL,
    recipients      integer NOT NULL,
    status          text NOT NULL
        CHECK (status IN ('queued', 'sending', 'sent', 'denied', 'rejected', 'failed', 'unknown')),
    payload         jsonb,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    last_error      text,
    request_id      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX messages_due ON messages (next_attempt_at) WHERE status = 'queued';
CREATE INDEX messages_leased ON messages (lease_until) WHERE status = 'sending';
CREATE INDEX messages_app ON messages (app_id, created_at);

-- Append-only: one row per decision and per Graph attempt.
CREATE TABLE audit_events (
    id               bigserial PRIMARY KEY,
    at               timestamptz NOT NULL DEFAULT clock_timestamp(),
    outcome          text NOT NULL,
    app_id           uuid,
    app_name         text,
    mailbox          text,
    message_id       uuid,
    attempt          integer,
    http_status      integer,
    graph_code       text,
    graph_request_id text,
    latency_ms       integer,
    request_id       text,
    detail           text
);

CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_message ON audit_events (message_id) WHERE message_id IS NOT NULL;

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END $$;

CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
