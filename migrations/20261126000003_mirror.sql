-- The full Exchange mirror: the recipient directory, RBAC for Applications beside access policies,
-- drift between the mirror and Exchange, and an audit trail of every change to the mirror.

-- Whether the app still holds the tenant-wide Entra Mail.Send grant, which access policies constrain.
ALTER TABLE apps ADD COLUMN entra_mail_send boolean NOT NULL DEFAULT true;

ALTER TABLE groups
    ADD COLUMN object_id uuid UNIQUE,
    ADD COLUMN display_name text NOT NULL DEFAULT '',
    ADD COLUMN recipient_type_details text NOT NULL DEFAULT 'MailUniversalSecurityGroup';

-- Mailboxes and mail users, with the properties recipient filters read (`properties` keys are OPATH names).
CREATE TABLE recipients (
    id                     uuid PRIMARY KEY,
    address                text NOT NULL UNIQUE CHECK (address = lower(address)),
    object_id              uuid UNIQUE,
    recipient_type         text NOT NULL DEFAULT 'UserMailbox',
    recipient_type_details text NOT NULL DEFAULT 'UserMailbox',
    display_name           text NOT NULL DEFAULT '',
    properties             jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(properties) = 'object'),
    email_addresses        text[] NOT NULL DEFAULT '{}',
    updated_at             timestamptz NOT NULL DEFAULT now()
);

-- A policy's scope is a mail-enabled security group or a single user mailbox / mail user.
ALTER TABLE access_policies
    ALTER COLUMN scope_group_id DROP NOT NULL,
    ADD COLUMN scope_mailbox text CHECK (scope_mailbox = lower(scope_mailbox)),
    ADD CONSTRAINT access_policies_one_scope CHECK ((scope_group_id IS NULL) <> (scope_mailbox IS NULL));

CREATE TABLE service_principals (
    id           uuid PRIMARY KEY,
    app_id       uuid NOT NULL UNIQUE,
    object_id    uuid NOT NULL UNIQUE,
    display_name text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE management_scopes (
    id               uuid PRIMARY KEY,
    name             text NOT NULL UNIQUE,
    recipient_filter text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE role_assignments (
    id                   uuid PRIMARY KEY,
    name                 text NOT NULL UNIQUE,
    service_principal_id uuid NOT NULL REFERENCES service_principals (id) ON DELETE CASCADE,
    role                 text NOT NULL CHECK (role IN (
        'Application Mail.Send', 'Application Mail.Read', 'Application Mail.ReadBasic', 'Application Mail.ReadWrite',
        'Application Mail Full Access', 'Application Exchange Full Access', 'Application MailboxSettings.Read',
        'Application MailboxSettings.ReadWrite', 'Application Calendars.Read', 'Application Calendars.ReadWrite',
        'Application Contacts.Read', 'Application Contacts.ReadWrite', 'Application EWS.AccessAsApp')),
    -- NULL: organisation-wide.
    scope_id             uuid REFERENCES management_scopes (id) ON DELETE RESTRICT,
    created_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER recipients_changed AFTER INSERT OR UPDATE OR DELETE ON recipients
    FOR EACH STATEMENT EXECUTE FUNCTION notify_policy_changed();
CREATE TRIGGER service_principals_changed AFTER INSERT OR UPDATE OR DELETE ON service_principals
    FOR EACH STATEMENT EXECUTE FUNCTION notify_policy_changed();
CREATE TRIGGER management_scopes_changed AFTER INSERT OR UPDATE OR DELETE ON management_scopes
    FOR EACH STATEMENT EXECUTE FUNCTION notify_policy_changed();
CREATE TRIGGER role_assignments_changed AFTER INSERT OR UPDATE OR DELETE ON role_assignments
    FOR EACH STATEMENT EXECUTE FUNCTION notify_policy_changed();

-- Graph said 403 ErrorAccessDenied for a pair the mirror granted: the mirror and Exchange disagree.
CREATE TABLE drift_events (
    id               bigserial PRIMARY KEY,
    at               timestamptz NOT NULL DEFAULT clock_timestamp(),
    app_id           uuid NOT NULL,
    app_name         text NOT NULL,
    mailbox          text NOT NULL,
    message_id       uuid,
    graph_code       text,
    graph_request_id text,
    local_rule       text,
    detail           text
);
CREATE INDEX drift_events_at ON drift_events (at);

-- Optional local denial of a drifted pair for a while (MAILGATE_DRIFT_COOLDOWN_SECS).
CREATE TABLE access_cooldowns (
    app_id  uuid NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    mailbox text NOT NULL,
    until   timestamptz NOT NULL,
    reason  text NOT NULL,
    PRIMARY KEY (app_id, mailbox)
);
CREATE TRIGGER access_cooldowns_changed AFTER INSERT OR UPDATE OR DELETE ON access_cooldowns
    FOR EACH STATEMENT EXECUTE FUNCTION notify_policy_changed();

-- Every change to apps, keys and the mirror, recorded by the database itself so no path can skip it.
-- Writers set `mailgate.actor` (SET LOCAL) to say who; key digests never enter the trail.
CREATE TABLE change_events (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       text NOT NULL,
    action      text NOT NULL,
    object_type text NOT NULL,
    object_key  text,
    before      jsonb,
    after       jsonb
);
CREATE INDEX change_events_at ON change_events (at);

CREATE FUNCTION record_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    b jsonb;
    a jsonb;
    who text := coalesce(nullif(current_setting('mailgate.actor', true), ''), session_user || ' (direct SQL)');
BEGIN
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

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['apps', 'api_keys', 'groups', 'group_members', 'recipients', 'access_policies',
                             'access_policy_apps', 'service_principals', 'management_scopes', 'role_assignments',
                             'access_cooldowns']
    LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %I
                            FOR EACH ROW EXECUTE FUNCTION record_change()', t || '_audit', t);
    END LOOP;
END $$;

CREATE TRIGGER change_events_no_change BEFORE UPDATE OR DELETE ON change_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
