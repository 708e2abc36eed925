CREATE OR REPLACE FUNCTION public.claim_messages(p_limit integer, p_lease_secs double precision, p_concurrency integer, p_per_minute integer, p_ttl_secs double precision)
 RETURNS TABLE(id uuid, app_id uuid, app_name text, mailbox text, attempts integer, created_at timestamp with time zone, expires_in double precision)
 LANGUAGE plpgsql
AS $function$
#variable_conflict use_column
DECLARE
    t timestamptz := clock_timestamp();
    ttl interval := make_interval(secs => p_ttl_secs);
    now_second bigint;
    locked text[];
BEGIN
    -- 1. Mailboxes with something due that look able to start a send, longest waiting first, locked as they are
    --    found: a mailbox another claim holds, or whose new messages are not committed yet, is passed over for the
    --    next one, never waited for (so the order of locking cannot matter). The window is worked out only for a
    --    mailbox whose every recorded start would not leave room.
    SELECT array_agg(l.mailbox) INTO locked FROM (
        SELECT s.mailbox FROM mailbox_state s
         WHERE s.due_at <= t AND s.in_flight < p_concurrency AND (s.paused_until IS NULL OR s.paused_until <= t)
           AND (s.window_total < p_per_minute
                OR mailbox_window_used(s.window_counts, s.window_second, floor(extract(epoch FROM t))::bigint) < p_per_minute)
         ORDER BY s.due_at
         LIMIT p_limit
           FOR UPDATE SKIP LOCKED) l;
    IF locked IS NULL THEN
        RETURN;
    END IF;

    -- 2. Under the locks, in a new statement and so a new snapshot, which sees every change committed for these
    --    mailboxes: the exact room in each; from each cursor, the claimable messages that fit and the one after them,
    --    which becomes the cursor; the window moved on.
    t := clock_timestamp();
    now_second := floor(extract(epoch FROM t))::bigint;
    RETURN QUERY
    WITH room AS (
        SELECT s.mailbox, s.due_at, s.due_id,
               GREATEST(LEAST(p_concurrency - s.in_flight,
                              -- Far from the limit, the window cannot be the tighter bound: no need to work it out.
                              CASE WHEN s.window_total <= p_per_minute - p_concurrency THEN p_concurrency
                                   ELSE p_per_minute - mailbox_window_used(s.window_counts, s.window_second, now_second)
                              END), 0) AS free
          FROM mailbox_state s
         WHERE s.mailbox = ANY (locked) AND s.due_at <= t AND (s.paused_until IS NULL OR s.paused_until <= t)),
    -- A message past its time to live is never picked, but it stays before the cursor until the sweep fails it: it
    -- would be claimable again under a longer time to live.
    fetched AS (
        SELECT r.mailbox, r.free, d.id, d.next_attempt_at, d.created_at,
               row_number() OVER (PARTITION BY r.mailbox ORDER BY d.next_attempt_at, d.id) AS k
          FROM room r
          CROSS JOIN LATERAL (
              SELECT m.id, m.next_attempt_at, m.created_at FROM messages m
               WHERE m.status = 'queued' AND m.mailbox = r.mailbox
                 AND (m.next_attempt_at, m.id) >= (r.due_at, r.due_id)
               ORDER BY m.next_attempt_at, m.id LIMIT r.free + 1) d),
    picked AS (
        SELECT f.id FROM fetched f
         WHERE f.k <= f.free AND f.next_attempt_at <= t AND f.created_at > t - ttl
         ORDER BY f.next_attempt_at, f.id
         LIMIT p_limit),
    claimed AS (
        UPDATE messages m
           SET status = 'sending', attempts = m.attempts + 1, updated_at = t,
               lease_until = t + make_interval(secs => p_lease_secs)
          FROM picked
         -- Checked again on the row as it is now: the sweep or an operator may have changed it meanwhile.
         WHERE m.id = picked.id AND coalesce(m.status = 'queued', false) AND m.next_attempt_at <= t
     RETURNING m.id, m.app_id, m.mailbox, m.attempts, m.created_at),
    moved AS (
        UPDATE mailbox_state s
           SET window_counts = CASE WHEN c.n > 0
                                    THEN mailbox_window_add(s.window_counts, s.window_second, now_second, c.n)
                                    ELSE s.window_counts END,
               window_second = CASE WHEN c.n > 0 THEN GREATEST(s.window_second, now_second) ELSE s.window_second END,
               due_at = c.next_at, due_id = c.next_id
          FROM (SELECT r.mailbox,
                       (SELECT count(*) FROM claimed cl WHERE cl.mailbox = r.mailbox)::integer AS n,
                       n.next_attempt_at AS next_at, n.id AS next_id
                  FROM room r
                  LEFT JOIN LATERAL (
                      SELECT f.next_attempt_at, f.id FROM fetched f
                       WHERE f.mailbox = r.mailbox AND f.id NOT IN (SELECT p.id FROM picked p)
                       ORDER BY f.next_attempt_at, f.id LIMIT 1) n ON true) c
         WHERE s.mailbox = c.mailbox)
    SELECT c.id, c.app_id, a.name, c.mailbox, c.attempts, c.created_at,
           extract(epoch FROM c.created_at + ttl - t)::double precision
      FROM claimed c JOIN apps a ON a.id = c.app_id;
END $function$
