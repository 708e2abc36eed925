-- A purge removes the hash-chain links of the audit rows it drops, in the same transaction, so that `mailgate audit
-- verify` reads the remaining log as a chain that begins at its first remaining link, not as rows removed behind the
-- service's back. Seals are kept: they still anchor the heads verify checks.
--
-- The links' append-only guard is lifted only inside this transaction (ALTER TABLE is transactional: no other session
-- ever sees it off) and only by the owner, who alone may run this function.
--
-- Locks: the purge first takes the sealer's advisory lock (src/audit_chain/sealer.rs, SEAL_LOCK), so a sealer, which
-- reads audit_events and then writes audit_chain, skips its ticks instead of deadlocking with the purge, which writes
-- audit_chain and then drops from audit_events. And every lock wait is bounded (lock_timeout 5 s): a DROP queued behind
-- a long reader would otherwise hold back every new audit row, and so every accepted message, until it got its lock.
-- A purge that times out changes nothing and can be run again (the CronJob retries).
--
-- A bound that does not parse (a partition made by hand, say) leaves its partition alone.
CREATE OR REPLACE FUNCTION audit_events_drop_partitions(older_than_days integer, dry_run boolean)
RETURNS TABLE (partition text, range_end timestamptz, events bigint) LANGUAGE plpgsql AS $$
DECLARE
    cutoff timestamptz;
BEGIN
    IF older_than_days IS NULL OR older_than_days < 1 THEN
        RAISE EXCEPTION 'older_than_days must be at least 1, not %', older_than_days;
    END IF;
    cutoff := now() - make_interval(days => older_than_days);
    IF NOT dry_run THEN
        PERFORM set_config('lock_timeout', '5s', true);
        PERFORM pg_advisory_xact_lock(7883319646380715123);  -- SEAL_LOCK
    END IF;
    FOR partition, range_end IN
        SELECT p.relname::text,
               substring(pg_get_expr(p.relpartbound, p.oid) FROM 'TO \(''([^'']+)''\)')::timestamptz
          FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhrelid
         WHERE i.inhparent = 'audit_events'::regclass
           AND pg_get_expr(p.relpartbound, p.oid) <> 'DEFAULT'
         ORDER BY 2
    LOOP
        CONTINUE WHEN range_end IS NULL OR range_end > cutoff;
        EXECUTE format('SELECT count(*) FROM %I', partition) INTO events;
        IF NOT dry_run THEN
            ALTER TABLE audit_chain DISABLE TRIGGER audit_chain_no_change;
            EXECUTE format('DELETE FROM audit_chain c USING %I p WHERE c.id = p.id', partition);
            ALTER TABLE audit_chain ENABLE TRIGGER audit_chain_no_change;
            EXECUTE format('DROP TABLE %I', partition);
        END IF;
        RETURN NEXT;
    END LOOP;
END $$;
