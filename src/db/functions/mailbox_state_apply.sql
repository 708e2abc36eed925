CREATE OR REPLACE FUNCTION public.mailbox_state_apply(p_mailbox text[], p_delta integer[], p_at timestamp with time zone[], p_id uuid[])
 RETURNS void
 LANGUAGE plpgsql
AS $function$
BEGIN
    INSERT INTO mailbox_state (mailbox)
    SELECT c.mailbox FROM unnest(p_mailbox) AS c (mailbox) ORDER BY c.mailbox
    ON CONFLICT DO NOTHING;
    PERFORM FROM mailbox_state s
      JOIN unnest(p_mailbox, p_at) AS c (mailbox, at) ON c.mailbox = s.mailbox
     WHERE c.at IS NOT NULL
     ORDER BY s.mailbox
       FOR KEY SHARE OF s;
    -- A new statement sees the rows as the locks left them; only the rows that change are taken exclusively.
    PERFORM FROM mailbox_state s
      JOIN unnest(p_mailbox, p_delta, p_at, p_id) AS c (mailbox, delta, at, id) ON c.mailbox = s.mailbox
     WHERE c.delta <> 0 OR (c.at IS NOT NULL AND (s.due_at IS NULL OR (c.at, c.id) < (s.due_at, s.due_id)))
     ORDER BY s.mailbox
       FOR NO KEY UPDATE OF s;
    UPDATE mailbox_state s
       SET in_flight = GREATEST(s.in_flight + c.delta, 0),
           due_at = CASE WHEN c.at IS NOT NULL AND (s.due_at IS NULL OR (c.at, c.id) < (s.due_at, s.due_id))
                         THEN c.at ELSE s.due_at END,
           due_id = CASE WHEN c.at IS NOT NULL AND (s.due_at IS NULL OR (c.at, c.id) < (s.due_at, s.due_id))
                         THEN c.id ELSE s.due_id END
      FROM unnest(p_mailbox, p_delta, p_at, p_id) AS c (mailbox, delta, at, id)
     WHERE c.mailbox = s.mailbox
       AND (c.delta <> 0 OR (c.at IS NOT NULL AND (s.due_at IS NULL OR (c.at, c.id) < (s.due_at, s.due_id))));
END $function$
