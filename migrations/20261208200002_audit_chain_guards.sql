-- Two ways a session with the service's credentials could stop the audit log's upkeep for good, closed:
--
-- 1. A link appended out of turn. The sealer continues the chain after its highest link, so one link at id
--    2^63 - 1 (with or without a row) left every later audit row unsealed forever. Links are now refused unless
--    they are exactly the next rows of the log: each has its audit row, none lies below an existing link, and
--    together with the links before them they leave no audit row up to the highest of them without a link.
-- 2. An audit row with an `at` or an `id` of the writer's choosing. A row dated in a month that has no partition yet
--    lands in the DEFAULT partition, and audit_events_create_partition() then refuses that month for good; a row
--    with an id past the sequence is never sealed. The service now inserts every column but those two, which take
--    their defaults (the clock and the sequence); and the DEFAULT partition refuses rows dated in the future from
--    anyone, so that no month can be blocked ahead of time. Both cost the send path nothing: a column grant is
--    checked once per statement, and the DEFAULT partition's trigger runs only for rows no month partition took.

REVOKE INSERT ON audit_events FROM mailgate_service;
GRANT INSERT (outcome, app_id, app_name, mailbox, message_id, attempt, http_status, graph_code, graph_request_id,
              latency_ms, request_id, detail) ON audit_events TO mailgate_service;

CREATE FUNCTION audit_events_default_not_ahead() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.at > clock_timestamp() THEN
        RAISE EXCEPTION 'audit event dated % is in the future: it would block the partition of its month', NEW.at
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER audit_events_default_not_ahead BEFORE INSERT ON audit_events_default
    FOR EACH ROW EXECUTE FUNCTION audit_events_default_not_ahead();

-- Runs once per statement that appends links, in the appender's transaction, under the sealer's lock (the sealer
-- holds it already; anyone else waits for it, so two appenders cannot each pass the checks against the other's
-- absence). Each check reads index ranges of the new links' size.
CREATE FUNCTION audit_chain_appended_in_turn() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    lo bigint;
    hi bigint;
    n bigint;
    prev bigint;
BEGIN
    SELECT min(a.id), max(a.id), count(*) INTO lo, hi, n FROM added a;
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(7883319646380715123);  -- SEAL_LOCK, src/audit_chain/sealer.rs
    IF (SELECT count(*) FROM audit_chain c WHERE c.id >= lo) <> n THEN
        RAISE EXCEPTION 'audit_chain: links are appended after the last link, not below it (id %)', lo
            USING ERRCODE = 'check_violation';
    END IF;
    IF EXISTS (SELECT a.id FROM added a EXCEPT SELECT e.id FROM audit_events e WHERE e.id >= lo AND e.id <= hi) THEN
        RAISE EXCEPTION 'audit_chain: a link without its audit row (ids % to %)', lo, hi
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT max(c.id) INTO prev FROM audit_chain c WHERE c.id < lo;
    IF EXISTS (SELECT e.id FROM audit_events e WHERE e.id > coalesce(prev, 0) AND e.id <= hi
               EXCEPT SELECT a.id FROM added a) THEN
        RAISE EXCEPTION 'audit_chain: links must cover every audit row after the last link, in order (ids % to %)',
            coalesce(prev, 0) + 1, hi
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER audit_chain_appended_in_turn AFTER INSERT ON audit_chain
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_appended_in_turn();

REVOKE EXECUTE ON FUNCTION audit_events_default_not_ahead(), audit_chain_appended_in_turn() FROM PUBLIC;
