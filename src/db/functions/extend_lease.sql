CREATE OR REPLACE FUNCTION public.extend_lease(p_id uuid, p_attempt integer, p_lease_secs double precision)
 RETURNS boolean
 LANGUAGE sql
AS $function$
    WITH held AS (
        UPDATE messages SET lease_until = clock_timestamp() + make_interval(secs => p_lease_secs)
         WHERE id = p_id AND coalesce(status = 'sending', false) AND attempts = p_attempt
     RETURNING id)
    SELECT EXISTS (SELECT FROM held)
$function$
