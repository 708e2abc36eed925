-- Delivery guarantees: Exchange's per-mailbox limits across replicas, idempotent sends, per-app quotas.

-- One row per mailbox that has been sent from: pacing window and Graph-imposed pauses, shared by every replica.
CREATE TABLE mailbox_state (
    mailbox        text PRIMARY KEY,
    paused_until   timestamptz,
    window_start   timestamptz NOT NULL DEFAULT now(),
    sent_in_window integer NOT NULL DEFAULT 0
);

-- A caller's Idempotency-Key, with the answer it got, replayed for a retry with the same body.
CREATE TABLE idempotency_keys (
    app_id       uuid NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    key          text NOT NULL,
    request_hash bytea NOT NULL,
    message_id   uuid NOT NULL,
    status_code  integer,
    response     jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (app_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Per-app quota overrides; NULL takes the service-wide setting.
ALTER TABLE apps
    ADD COLUMN messages_per_minute integer CHECK (messages_per_minute > 0),
    ADD COLUMN recipients_per_day integer CHECK (recipients_per_day > 0);

-- Messages that reached a final status, for purging their bodies.
CREATE INDEX messages_final_with_body ON messages (updated_at)
    WHERE payload IS NOT NULL AND status IN ('sent', 'denied', 'rejected', 'failed', 'unknown');
