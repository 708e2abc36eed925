CREATE OR REPLACE FUNCTION public.notify_policy_changed()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM pg_notify('mailgate_policy', '');
    RETURN NULL;
END $function$
