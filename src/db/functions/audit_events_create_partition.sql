CREATE OR REPLACE FUNCTION public.audit_events_create_partition(month timestamp with time zone)
 RETURNS text
 LANGUAGE plpgsql
AS $function$
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
END $function$
