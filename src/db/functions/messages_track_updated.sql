CREATE OR REPLACE FUNCTION public.messages_track_updated()
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
      FROM (SELECT v.mailbox, sum(v.delta)::integer AS delta,
                   (array_agg(v.at ORDER BY v.at, v.id) FILTER (WHERE v.at IS NOT NULL))[1] AS at,
                   (array_agg(v.id ORDER BY v.at, v.id) FILTER (WHERE v.at IS NOT NULL))[1] AS id
              FROM new_rows n JOIN old_rows o ON o.id = n.id
             -- Each changed row leaves its old mailbox and joins its new one (the same one, unless moved by hand).
             CROSS JOIN LATERAL (VALUES
                 (o.mailbox, -(o.status = 'sending')::integer, NULL::timestamptz, NULL::uuid),
                 (n.mailbox, (n.status = 'sending')::integer,
                  CASE WHEN n.status = 'queued' THEN n.next_attempt_at END, CASE WHEN n.status = 'queued' THEN n.id END)
             ) AS v (mailbox, delta, at, id)
             -- Only rows whose place among the claimable ones changed: a lease extended or a body purged is no news.
             WHERE o.status IS DISTINCT FROM n.status OR o.mailbox IS DISTINCT FROM n.mailbox
                OR (n.status = 'queued' AND o.next_attempt_at IS DISTINCT FROM n.next_attempt_at)
             GROUP BY v.mailbox
            HAVING sum(v.delta) <> 0 OR count(v.at) > 0) c;
    IF c_mailbox IS NOT NULL THEN
        PERFORM mailbox_state_apply(c_mailbox, c_delta, c_at, c_id);
    END IF;
    RETURN NULL;
END $function$
