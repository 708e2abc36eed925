-- The audit log, partitioned by month of `at` (UTC), so that retention drops whole months instead of deleting rows,
-- and so that a page of the newest events reads the newest partitions' indexes whatever the log's size.
--
-- Kept from before: the columns, the sequence that numbers `id` (ids stay unique and increasing: every row takes
-- the next value of audit_events_id_seq, as before), the service's SELECT and INSERT and nothing more, and the
-- append-only guards. The primary key must include the partition key, so it is (id, at); `id` alone stays unique
-- because only the sequence assigns it.
--
-- Who may do what:
-- * the service (mailgate_service) reads and appends, and may call audit_events_ensure_partitions(), which runs as
--   the owner and can only create the partitions of the current and the next months; it cannot drop or empty any;
-- * only the owner drops partitions, through audit_events_drop_partitions() (`mailgate audit purge`, run with the
--   migration credentials); a whole month goes at once, never single rows.

-- The old table is copied into the new one, then dropped; its indexes go with it.
ALTER TABLE audit_events RENAME TO audit_events_unpartitioned;
ALTER INDEX audit_events_pkey RENAME TO audit_events_unpartitioned_pkey;
ALTER TABLE audit_events_unpartitioned ALTER COLUMN id DROP DEFAULT;

CREATE TABLE audit_events (
    id               bigint NOT NULL DEFAULT nextval('audit_events_id_seq'),
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
    detail           text,
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
ALTER SEQUENCE audit_events_id_seq OWNED BY audit_events.id;

-- One index per filter of GET /v1/audit, each ending in the page order (at, id), so that a filtered page — and the
-- next one, after the cursor's (at, id) — is an index range read in every partition.
CREATE INDEX audit_events_at_id ON audit_events (at, id);
CREATE INDEX audit_events_app_at_id ON audit_events (app_name, at, id);
CREATE INDEX audit_events_mailbox_at_id ON audit_events (mailbox, at, id);
CREATE INDEX audit_events_outcome_at_id ON audit_events (outcome, at, id);
CREATE INDEX audit_events_message_at_id ON audit_events (message_id, at, id) WHERE message_id IS NOT NULL;

-- Row guards on the partitioned table are cloned onto every partition; the TRUNCATE guard is per table, so each
-- partition gets its own when it is created.
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

REVOKE ALL ON audit_events FROM PUBLIC, mailgate_service;
GRANT SELECT, INSERT ON audit_events TO mailgate_service;

-- Makes a partition guarded as the parent: the TRUNCATE guard, and no privilege for the service or anyone (default
-- privileges would give the service UPDATE and DELETE on it); rows are read and written through audit_events only.
CREATE FUNCTION audit_events_guard_partition(part regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('REVOKE ALL ON %s FROM PUBLIC, mailgate_service', part);
    EXECUTE format('CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON %s
                        FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()', part);
END $$;

-- The DEFAULT partition: a safety net for rows outside every month partition (should one not have been made in
-- time); such rows are kept and found like any other.
CREATE TABLE audit_events_default PARTITION OF audit_events DEFAULT;
SELECT audit_events_guard_partition('audit_events_default');

-- Creates the partition of the month holding `month` (UTC months), named audit_events_YYYY_MM, unless it exists.
-- Returns its name when it made it. Made apart and then attached, which does not block inserts and reads of the
-- log as creating it in place would. A month with rows already in the DEFAULT partition is left there (a warning
-- says so): moving them would mean deleting from the log.
CREATE FUNCTION audit_events_create_partition(month timestamptz) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    lo timestamp := date_trunc('month', month AT TIME ZONE 'UTC');
    hi timestamp := lo + interval '1 month';
    part text := 'audit_events_' || to_char(lo, 'YYYY_MM');
BEGIN
    IF to_regclass(quote_ident(part)) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT FROM audit_events_default WHERE at >= lo AT TIME ZONE 'UTC' AND at < hi AT TIME ZONE 'UTC') THEN
        RAISE WARNING 'audit_events_default holds rows of %; partition % not created', to_char(lo, 'YYYY-MM'), part;
        RETURN NULL;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE audit_events INCLUDING DEFAULTS)', part);
    -- The constraint spares ATTACH a scan; it is dropped once attached, the partition bound then says the same.
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (at >= %L AND at < %L)', part, part || '_range',
                   lo AT TIME ZONE 'UTC', hi AT TIME ZONE 'UTC');
    EXECUTE format('ALTER TABLE audit_events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', part,
                   lo AT TIME ZONE 'UTC', hi AT TIME ZONE 'UTC');
    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', part, part || '_range');
    PERFORM audit_events_guard_partition(part::regclass);
    RETURN part;
END $$;

-- The service calls this at start and daily: the current month and the next `ahead` ones (at most 12). It runs as
-- the owner, yet can only ever add empty partitions. Replicas calling it at once take turns.
CREATE FUNCTION audit_events_ensure_partitions(ahead integer DEFAULT 2) RETURNS SETOF text LANGUAGE plpgsql
SECURITY DEFINER AS $$
DECLARE
    made text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('audit_events_ensure_partitions'));
    FOR i IN 0..least(greatest(ahead, 0), 12) LOOP
        made := audit_events_create_partition(now() + make_interval(months => i));
        IF made IS NOT NULL THEN
            RETURN NEXT made;
        END IF;
    END LOOP;
END $$;

-- Month partitions whose whole range ended at least `older_than_days` days ago; dropped unless `dry_run`. Never the
-- DEFAULT partition. For the owner only (`mailgate audit purge`): the service is not granted it.
CREATE FUNCTION audit_events_drop_partitions(older_than_days integer, dry_run boolean)
RETURNS TABLE (partition text, range_end timestamptz, events bigint) LANGUAGE plpgsql AS $$
DECLARE
    cutoff timestamptz;
BEGIN
    IF older_than_days IS NULL OR older_than_days < 1 THEN
        RAISE EXCEPTION 'older_than_days must be at least 1, not %', older_than_days;
    END IF;
    cutoff := now() - make_interval(days => older_than_days);
    FOR partition, range_end IN
        SELECT p.relname::text,
               substring(pg_get_expr(p.relpartbound, p.oid) FROM 'TO \(''([^'']+)''\)')::timestamptz
          FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhrelid
         WHERE i.inhparent = 'audit_events'::regclass
           AND pg_get_expr(p.relpartbound, p.oid) <> 'DEFAULT'
         ORDER BY 2
    LOOP
        CONTINUE WHEN range_end > cutoff;
        EXECUTE format('SELECT count(*) FROM %I', partition) INTO events;
        IF NOT dry_run THEN
            EXECUTE format('DROP TABLE %I', partition);
        END IF;
        RETURN NEXT;
    END LOOP;
END $$;

-- SECURITY DEFINER functions name their schema, so that no caller's search_path can redirect them; the others run
-- as their caller, the owner.
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION audit_events_ensure_partitions(integer) SET search_path = %I, pg_temp',
                   current_schema());
END $$;
REVOKE EXECUTE ON FUNCTION audit_events_guard_partition(regclass), audit_events_create_partition(timestamptz),
    audit_events_ensure_partitions(integer), audit_events_drop_partitions(integer, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_events_ensure_partitions(integer) TO mailgate_service;

-- Every month the old rows need, then the copy, oldest first.
DO $$
DECLARE
    m timestamptz := coalesce((SELECT min(at) FROM audit_events_unpartitioned), now());
BEGIN
    WHILE m < now() LOOP
        PERFORM audit_events_create_partition(m);
        m := ((m AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
    END LOOP;
    PERFORM audit_events_ensure_partitions(2);
END $$;

INSERT INTO audit_events (id, at, outcome, app_id, app_name, mailbox, message_id, attempt, http_status, graph_code,
                          graph_request_id, latency_ms, request_id, detail)
SELECT id, at, outcome, app_id, app_name, mailbox, message_id, attempt, http_status, graph_code, graph_request_id,
       latency_ms, request_id, detail
  FROM audit_events_unpartitioned ORDER BY id;

DROP TABLE audit_events_unpartitioned;
