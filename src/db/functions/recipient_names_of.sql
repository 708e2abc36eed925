CREATE OR REPLACE FUNCTION public.recipient_names_of(r recipients)
 RETURNS SETOF text
 LANGUAGE sql
 IMMUTABLE
AS $function$
    SELECT DISTINCT n FROM (
        SELECT r.address AS n
        UNION ALL
        SELECT lower(btrim(CASE WHEN a ~* '^smtp:' THEN substr(a, 6) ELSE a END))
          FROM unnest(r.email_addresses) AS a
         WHERE (a ~* '^smtp:' OR a NOT LIKE '%:%') AND a LIKE '%@%'
        UNION ALL
        SELECT r.user_principal_name WHERE r.user_principal_name IS NOT NULL
        UNION ALL
        SELECT r.object_id::text WHERE r.object_id IS NOT NULL
    ) AS names
$function$
