CREATE OR REPLACE FUNCTION public.notify_callers_changed()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM pg_notify('mailgate_callers', '');
    RETURN NULL;
END $function$
