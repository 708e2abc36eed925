CREATE OR REPLACE FUNCTION public.messages_track_inserted()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
DECLARE
    c_mailbox text[];
    c_delta integer[];
    c_at timestamptz[];
    c_id uuid[];
BEGIN
    SELECT array_agg(c.mailbox ORDER BY c.mailbox), array_agg(c.delta ORDER BY c.mailbox),
           array_agg(c.at ORDER BY c.mailbox), array_agg(c.id ORDER BY c.mailbox)
      INTO c_mailbox, c_delta, c_at, c_id
      FROM (SELECT n.mailbox, count(*) FILTER (WHERE n.status = 'sending')::integer AS delta,
                   (array_agg(n.next_attempt_at ORDER BY n.next_attempt_at, n.id) FILTER (WHERE n.status = 'queued'))[1] AS at,
                   (array_agg(n.id ORDER BY n.next_attempt_at, n.id) FILTER (WHERE n.status = 'queued'))[1] AS id
              FROM new_rows n
             WHERE n.status IN ('queued', 'sending')
             GROUP BY n.mailbox) c;
    IF c_mailbox IS NOT NULL THEN
        PERFORM mailbox_state_apply(c_mailbox, c_delta, c_at, c_id);
    END IF;
    RETURN NULL;
END $function$
