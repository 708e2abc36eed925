CREATE OR REPLACE FUNCTION public.record_change()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
DECLARE
    b jsonb;
    a jsonb;
    claimed text := nullif(current_setting('mailgate.actor', true), '');
    who text := session_user || ' (direct SQL)';
BEGIN
    IF claimed IS NOT NULL AND (
        pg_has_role(session_user, 'mailgate_service', 'MEMBER')
        OR pg_has_role(session_user, (SELECT relowner FROM pg_class WHERE oid = 'change_events'::regclass), 'MEMBER'))
    THEN
        who := claimed;
    END IF;
    IF TG_OP <> 'INSERT' THEN b := to_jsonb(OLD) - 'secret_hash' - 'last_used_at' - 'updated_at'; END IF;
    IF TG_OP <> 'DELETE' THEN a := to_jsonb(NEW) - 'secret_hash' - 'last_used_at' - 'updated_at'; END IF;
    -- Bookkeeping updates (a key's last use) are not changes.
    IF TG_OP = 'UPDATE' AND a = b THEN
        RETURN NULL;
    END IF;
    INSERT INTO change_events (actor, action, object_type, object_key, before, after)
    VALUES (who, lower(TG_OP), TG_TABLE_NAME,
            coalesce(a ->> 'id', b ->> 'id', a ->> 'group_id', b ->> 'group_id', a ->> 'policy_id', b ->> 'policy_id',
                     a ->> 'app_id', b ->> 'app_id'),
            b, a);
    RETURN NULL;
END $function$
