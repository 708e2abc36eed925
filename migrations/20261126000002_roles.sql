-- Roles separate senders, auditors and admins. An app's roles apply to its keys unless a key names fewer.
ALTER TABLE apps
    ADD COLUMN roles text[] NOT NULL DEFAULT '{Mail.Send}'
        CHECK (roles <@ ARRAY['Mail.Send', 'Audit.Read', 'Admin']::text[]),
    ADD COLUMN entra_tenant_id uuid,
    ADD COLUMN entra_object_id uuid UNIQUE;

ALTER TABLE api_keys
    ADD COLUMN roles text[] CHECK (roles <@ ARRAY['Mail.Send', 'Audit.Read', 'Admin']::text[]);

CREATE INDEX audit_events_app_at ON audit_events (app_name, at);
CREATE INDEX audit_events_mailbox_at ON audit_events (mailbox, at);
