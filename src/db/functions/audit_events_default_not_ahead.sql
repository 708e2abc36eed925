CREATE OR REPLACE FUNCTION public.audit_events_default_not_ahead()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    IF NEW.at > clock_timestamp() THEN
        RAISE EXCEPTION 'audit event dated % is in the future: it would block the partition of its month', NEW.at
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $function$
