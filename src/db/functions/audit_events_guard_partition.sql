CREATE OR REPLACE FUNCTION public.audit_events_guard_partition(part regclass)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
BEGIN
    EXECUTE format('REVOKE ALL ON %s FROM PUBLIC, mailgate_service', part);
    EXECUTE format('CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON %s
                        FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()', part);
END $function$
