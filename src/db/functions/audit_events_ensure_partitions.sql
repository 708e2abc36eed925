CREATE OR REPLACE FUNCTION public.audit_events_ensure_partitions(ahead integer DEFAULT 2)
 RETURNS SETOF text
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
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
END $function$
