CREATE OR REPLACE FUNCTION public.audit_events_drop_partitions(older_than_days integer, dry_run boolean)
 RETURNS TABLE(partition text, range_end timestamp with time zone, events bigint)
 LANGUAGE plpgsql
AS $function$
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
END $function$
