CREATE OR REPLACE FUNCTION public.messages_track_deleted()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
DECLARE
    c_mailbox text[];
    c_delta integer[];
BEGIN
    SELECT array_agg(c.mailbox ORDER BY c.mailbox), array_agg(c.delta ORDER BY c.mailbox)
      INTO c_mailbox, c_delta
      FROM (SELECT o.mailbox, -count(*)::integer AS delta FROM old_rows o WHERE o.status = 'sending'
             GROUP BY o.mailbox) c;
    IF c_mailbox IS NOT NULL THEN
        PERFORM mailbox_state_apply(c_mailbox, c_delta, array_fill(NULL::timestamptz, ARRAY[cardinality(c_mailbox)]),
                                    array_fill(NULL::uuid, ARRAY[cardinality(c_mailbox)]));
    END IF;
    RETURN NULL;
END $function$
