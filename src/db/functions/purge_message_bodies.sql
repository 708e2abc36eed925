CREATE OR REPLACE FUNCTION public.purge_message_bodies(p_retention_secs double precision)
 RETURNS bigint
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    WITH cleared AS (
        UPDATE messages SET payload = NULL
         WHERE payload IS NOT NULL AND status IN ('sent', 'denied', 'rejected', 'failed', 'unknown')
           AND updated_at < now() - make_interval(secs => greatest(p_retention_secs, 0))
     RETURNING 1)
    SELECT count(*) FROM cleared
$function$
