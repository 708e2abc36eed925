-- The send path at any volume: quotas kept as counters, callers cached in memory, finish notices only for waiters.

-- Per-app usage per UTC time bucket: `minute` counts messages accepted in one minute (bucket = epoch / 60), `day`
-- counts their recipients in one day (bucket = epoch / 86400). The transaction that accepts messages locks and
-- raises these rows, so concurrent accepts on any replica count exactly, and the cost of a check does not grow with
-- the outbox. Rows exist only while quotas are on; buckets older than a day are deleted.
CREATE TABLE app_usage (
    app_id uuid NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    period text NOT NULL CHECK (period IN ('minute', 'day')),
    bucket bigint NOT NULL,
    used   bigint NOT NULL DEFAULT 0 CHECK (used >= 0),
    PRIMARY KEY (app_id, period, bucket)
);
-- The service keeps these rows (SELECT, INSERT, UPDATE, DELETE: the default for a new table, which is what it needs).

-- A caller waiting with `Prefer: wait` marks its message; only such messages send a notice when they finish, so a
-- finished send does not wake every replica's listener for nothing.
ALTER TABLE messages ADD COLUMN notify_done boolean NOT NULL DEFAULT false;

-- Every process keeps the keys and apps it has seen in memory; a change that can narrow what a caller may do tells
-- them all to forget them. Issuing a key needs no notice: unknown keys are never cached.
CREATE FUNCTION notify_callers_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mailgate_callers', '');
    RETURN NULL;
END $$;

CREATE TRIGGER api_keys_callers_changed AFTER UPDATE OF revoked_at, expires_at, roles OR DELETE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION notify_callers_changed();
CREATE TRIGGER apps_callers_changed AFTER UPDATE OR DELETE ON apps
    FOR EACH STATEMENT EXECUTE FUNCTION notify_callers_changed();
