CREATE OR REPLACE FUNCTION public.audit_chain_appended_in_turn()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
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
END $function$
