-- Delivery without a global lock. A claim locks only the `mailbox_state` rows of the mailboxes it takes messages
-- from (FOR UPDATE SKIP LOCKED), so replicas serialise on the same mailbox and never on all of them; the pacing
-- window is a sliding one (per-second start counts, below); every claim is fenced by its attempt number,
-- so a worker whose lease was lost can change nothing; and claims, outcomes and the sweep are one round trip each.

-- Starts per second over the last 62 seconds, newest first: `window_counts[1]` counts the starts in second
-- `window_second` (seconds since the epoch), `window_counts[i]` those in second `window_second - i + 1`. A start
-- claimed within second s may have been claimed as late as s + 1, and its request leaves up to a second after its
-- claim (the worker gives back a claim it could not act on sooner), so a start counts until second s + 62 begins: no
-- 60-second window, as Graph sees it, then holds more starts than the limit, and a start leaves the count at most 2 s
-- late. The cost is the same for any limit.
ALTER TABLE mailbox_state
    DROP COLUMN window_start,
    DROP COLUMN sent_in_window,
    ADD COLUMN window_second bigint NOT NULL DEFAULT 0,
    ADD COLUMN window_counts integer[] NOT NULL DEFAULT '{}';

-- The window as seen from second `at`: index 1 is second `at`. A clock that went back keeps the counts where they are
-- (they then leave the window later, never sooner).
CREATE FUNCTION mailbox_window_at(counts integer[], newest bigint, at bigint) RETURNS integer[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN at <= newest THEN counts
                WHEN at - newest >= 62 THEN '{}'::integer[]
                ELSE (array_fill(0, ARRAY[(at - newest)::integer]) || counts)[1:62] END
$$;

-- Sends started in the window that ends with second `at`, counted conservatively (above).
CREATE FUNCTION mailbox_window_used(counts integer[], newest bigint, at bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(sum(c), 0) FROM unnest(mailbox_window_at(counts, newest, at)) AS c
$$;

-- The window after `n` more starts in second `at`.
CREATE FUNCTION mailbox_window_add(counts integer[], newest bigint, at bigint, n integer) RETURNS integer[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY[coalesce(w[1], 0) + n] || coalesce(w[2:62], '{}')
      FROM (SELECT mailbox_window_at(counts, newest, at) AS w) AS shifted
$$;

-- Claims look mailboxes up one by one (an index skip scan), so a large backlog in one mailbox costs nothing to the
-- others (a claim costs one index probe per mailbox with queued messages); the time to live is swept by its own
-- index; messages in flight are counted per mailbox.
DROP INDEX messages_due;
CREATE INDEX messages_queued_mailbox ON messages (mailbox, next_attempt_at, id) WHERE status = 'queued';
CREATE INDEX messages_queued_created ON messages (created_at) WHERE status = 'queued';
CREATE INDEX messages_sending_mailbox ON messages (mailbox) WHERE status = 'sending';

-- Hands out up to `p_limit` due messages, each to exactly one worker across all replicas, within Exchange's limits
-- per mailbox: at most `p_concurrency` sending, at most `p_per_minute` started in any 60 seconds, none while paused.
-- A message whose time to live (`p_ttl_secs` after acceptance) has passed is never handed out. The attempt number
-- returned is the claim's fencing token; `expires_in` is the time to live left, in seconds.
CREATE FUNCTION claim_messages(p_limit integer, p_lease_secs double precision, p_concurrency integer,
                               p_per_minute integer, p_ttl_secs double precision)
RETURNS TABLE (id uuid, app_id uuid, app_name text, mailbox text, attempts integer, created_at timestamptz,
               expires_in double precision)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    t timestamptz := clock_timestamp();
    ttl interval := make_interval(secs => p_ttl_secs);
    now_second bigint;
    wanted text[];
    locked text[];
BEGIN
    -- 1. Mailboxes with a due message that look able to start a send, oldest due first. One index probe per mailbox
    --    with queued messages (its first entry is its oldest), whatever their backlogs; the checks, read without
    --    locks, only make a shortlist, and are made again under the lock.
    WITH RECURSIVE boxes (mailbox, oldest) AS (
        (SELECT m.mailbox, m.next_attempt_at FROM messages m WHERE m.status = 'queued'
          ORDER BY m.mailbox, m.next_attempt_at, m.id LIMIT 1)
        UNION ALL
        SELECT n.mailbox, n.next_attempt_at
          FROM boxes b
          CROSS JOIN LATERAL (
              SELECT m.mailbox, m.next_attempt_at FROM messages m WHERE m.status = 'queued' AND m.mailbox > b.mailbox
               ORDER BY m.mailbox, m.next_attempt_at, m.id LIMIT 1) n)
    SELECT array_agg(c.mailbox ORDER BY c.oldest) INTO wanted FROM (
        SELECT c.mailbox, c.oldest
          -- OFFSET 0 keeps the checks out of the sort: they run on the oldest mailboxes only, until enough pass.
          FROM (SELECT b.mailbox, b.oldest FROM boxes b WHERE b.oldest <= t ORDER BY b.oldest OFFSET 0) c
          LEFT JOIN mailbox_state s ON s.mailbox = c.mailbox
         WHERE (s.paused_until IS NULL OR s.paused_until <= t)
           AND (s.mailbox IS NULL OR mailbox_window_used(s.window_counts, s.window_second,
                                                         floor(extract(epoch FROM t))::bigint) < p_per_minute)
           AND (SELECT count(*) FROM messages f WHERE f.status = 'sending' AND f.mailbox = c.mailbox) < p_concurrency
         LIMIT p_limit) c;
    IF wanted IS NULL THEN
        RETURN;
    END IF;

    -- 2. A row to lock for each mailbox never sent from (in order, so that two claims cannot wait on each other),
    --    then the locks: a mailbox another claim holds is skipped, not waited for.
    INSERT INTO mailbox_state (mailbox)
    SELECT w FROM unnest(wanted) AS w WHERE NOT EXISTS (SELECT FROM mailbox_state s WHERE s.mailbox = w) ORDER BY w
    ON CONFLICT DO NOTHING;
    SELECT array_agg(l.mailbox) INTO locked FROM (
        SELECT s.mailbox FROM mailbox_state s WHERE s.mailbox = ANY (wanted) ORDER BY s.mailbox
           FOR UPDATE SKIP LOCKED) l;
    IF locked IS NULL THEN
        RETURN;
    END IF;

    -- 3. Under the locks, in a new statement and so a new snapshot, which sees every claim committed for these
    --    mailboxes: the exact room in each, the oldest due messages that fit, the window moved on.
    t := clock_timestamp();
    now_second := floor(extract(epoch FROM t))::bigint;
    RETURN QUERY
    WITH room AS (
        SELECT s.mailbox,
               LEAST(p_concurrency - (SELECT count(*) FROM messages f WHERE f.status = 'sending' AND f.mailbox = s.mailbox),
                     p_per_minute - mailbox_window_used(s.window_counts, s.window_second, now_second)) AS free
          FROM mailbox_state s
         WHERE s.mailbox = ANY (locked) AND (s.paused_until IS NULL OR s.paused_until <= t)),
    picked AS (
        SELECT d.id, d.next_attempt_at
          FROM room r
          CROSS JOIN LATERAL (
              SELECT m.id, m.next_attempt_at FROM messages m
               WHERE m.status = 'queued' AND m.mailbox = r.mailbox AND m.next_attempt_at <= t AND m.created_at > t - ttl
               ORDER BY m.next_attempt_at, m.id LIMIT GREATEST(r.free, 0)) d
         ORDER BY d.next_attempt_at, d.id
         LIMIT p_limit),
    claimed AS (
        UPDATE messages m
           SET status = 'sending', attempts = m.attempts + 1, updated_at = t,
               lease_until = t + make_interval(secs => p_lease_secs)
          FROM picked
         WHERE m.id = picked.id AND m.status = 'queued'
     RETURNING m.id, m.app_id, m.mailbox, m.attempts, m.created_at),
    counted AS (
        UPDATE mailbox_state s
           SET window_counts = mailbox_window_add(s.window_counts, s.window_second, now_second, c.n),
               window_second = GREATEST(s.window_second, now_second)
          FROM (SELECT cl.mailbox, count(*)::integer AS n FROM claimed cl GROUP BY cl.mailbox) c
         WHERE s.mailbox = c.mailbox)
    SELECT c.id, c.app_id, a.name, c.mailbox, c.attempts, c.created_at,
           extract(epoch FROM c.created_at + ttl - t)::double precision
      FROM claimed c JOIN apps a ON a.id = c.app_id;
END $$;

-- Records finished attempts, many in one call. Each entry (JSON) names the message, the attempt number its claim got,
-- the status to set (`queued` with `retry_secs` for a retry), its audit events, and what Graph's answer means for the
-- mailbox (`pause_secs`), for the mirror (`drift`) and for the pair (`cooldown_secs`). An entry whose claim no longer
-- holds the message (its lease expired and it was swept or claimed again) changes nothing and writes nothing: the
-- fenced update comes first and everything else follows only the entries it matched. Returns those entries' ids.
CREATE FUNCTION record_attempts(p_batch jsonb) RETURNS SETOF uuid
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    held uuid[];
BEGIN
    WITH i AS (
        SELECT * FROM jsonb_to_recordset(p_batch)
            AS x (id uuid, attempt integer, status text, retry_secs double precision, last_error text,
                  keep_body boolean)),
    done AS (
        UPDATE messages m
           SET status = i.status, last_error = i.last_error, lease_until = NULL, updated_at = clock_timestamp(),
               next_attempt_at = CASE WHEN i.status = 'queued'
                                      THEN clock_timestamp() + make_interval(secs => i.retry_secs)
                                      ELSE m.next_attempt_at END,
               -- The body is kept for a retry, and after the final status only if a retention is configured.
               payload = CASE WHEN i.status = 'queued' OR i.keep_body THEN m.payload END
          FROM i
         WHERE m.id = i.id AND m.status = 'sending' AND m.attempts = i.attempt
     RETURNING m.id)
    SELECT coalesce(array_agg(done.id), '{}') INTO held FROM done;
    IF cardinality(held) = 0 THEN
        RETURN;
    END IF;

    INSERT INTO audit_events (outcome, app_id, app_name, mailbox, message_id, attempt, http_status, graph_code,
                              graph_request_id, latency_ms, detail)
    SELECT e.outcome, x.app_id, x.app_name, x.mailbox, x.id, e.attempt, e.http_status, e.graph_code,
           e.graph_request_id, e.latency_ms, e.detail
      FROM jsonb_array_elements(p_batch) WITH ORDINALITY AS b (entry, n)
     CROSS JOIN LATERAL jsonb_to_record(b.entry) AS x (id uuid, app_id uuid, app_name text, mailbox text, events jsonb)
     CROSS JOIN LATERAL jsonb_array_elements(x.events) WITH ORDINALITY AS ev (event, k)
     CROSS JOIN LATERAL jsonb_to_record(ev.event)
            AS e (outcome text, attempt integer, http_status integer, graph_code text, graph_request_id text,
                  latency_ms integer, detail text)
     WHERE x.id = ANY (held)
     ORDER BY b.n, ev.k;

    -- Exchange's throttling is per app and mailbox: every worker in every replica waits it out.
    INSERT INTO mailbox_state (mailbox, paused_until)
    SELECT x.mailbox, clock_timestamp() + make_interval(secs => max(x.pause_secs))
      FROM jsonb_to_recordset(p_batch) AS x (id uuid, mailbox text, pause_secs double precision)
     WHERE x.id = ANY (held) AND x.pause_secs IS NOT NULL
     GROUP BY x.mailbox ORDER BY x.mailbox
    ON CONFLICT (mailbox) DO UPDATE
        SET paused_until = GREATEST(coalesce(mailbox_state.paused_until, clock_timestamp()), EXCLUDED.paused_until);

    -- The mirror granted these pairs when the messages were accepted; Exchange refused them.
    INSERT INTO drift_events (app_id, app_name, mailbox, message_id, graph_code, graph_request_id, local_rule, detail)
    SELECT x.app_id, x.app_name, x.mailbox, x.id, x.drift ->> 'graph_code', x.drift ->> 'graph_request_id',
           (SELECT q.detail FROM audit_events q WHERE q.message_id = x.id AND q.outcome = 'queued' ORDER BY q.id LIMIT 1),
           'Graph answered 403 ErrorAccessDenied although the mirror granted this pair: the mirror and Exchange disagree'
      FROM jsonb_to_recordset(p_batch) AS x (id uuid, app_id uuid, app_name text, mailbox text, drift jsonb)
     WHERE x.id = ANY (held) AND x.drift IS NOT NULL;
    INSERT INTO access_cooldowns (app_id, mailbox, until, reason)
    SELECT x.app_id, x.mailbox, clock_timestamp() + make_interval(secs => max(x.cooldown_secs)),
           'Exchange answered ErrorAccessDenied'
      FROM jsonb_to_recordset(p_batch) AS x (id uuid, app_id uuid, mailbox text, cooldown_secs double precision)
     WHERE x.id = ANY (held) AND x.cooldown_secs IS NOT NULL
     GROUP BY x.app_id, x.mailbox ORDER BY x.app_id, x.mailbox
    ON CONFLICT (app_id, mailbox) DO UPDATE SET until = EXCLUDED.until;

    -- Callers waiting with `Prefer: wait` learn of each final status; messages nobody waits on wake nobody.
    PERFORM pg_notify('mailgate_done', x.id::text)
       FROM jsonb_to_recordset(p_batch) AS x (id uuid, status text) JOIN messages w ON w.id = x.id AND w.notify_done
      WHERE x.id = ANY (held) AND x.status <> 'queued';
    RETURN QUERY SELECT unnest(held);
END $$;

-- Pushes a held lease forward while a long send (a large message's upload steps) is still running. False when the
-- claim no longer holds the message.
CREATE FUNCTION extend_lease(p_id uuid, p_attempt integer, p_lease_secs double precision) RETURNS boolean
LANGUAGE sql AS $$
    WITH held AS (
        UPDATE messages SET lease_until = clock_timestamp() + make_interval(secs => p_lease_secs)
         WHERE id = p_id AND status = 'sending' AND attempts = p_attempt
     RETURNING id)
    SELECT EXISTS (SELECT FROM held)
$$;

-- Ends what no worker will finish, with an audit event saying why, and returns how many of each:
-- - a message whose lease expired (its worker died mid-send, so Graph may or may not have it): `unknown` under
--   at-most-once; under at-least-once queued again while attempts remain and its time to live has not passed,
--   else `failed`;
-- - a queued message whose time to live passed: `failed`, never sent late.
-- Rows a claim or a recording holds right now are left for the next sweep, so the sweep never waits on them.
CREATE FUNCTION sweep_deliveries(p_resend boolean, p_max_attempts integer, p_ttl_secs double precision,
                                 p_keep_body boolean)
RETURNS TABLE (lost bigint, requeued bigint, expired bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    t timestamptz := clock_timestamp();
    ttl interval := make_interval(secs => p_ttl_secs);
    ended_ids uuid[];
    failed_ids uuid[];
    n_lost bigint;
    n_requeued bigint;
    stopped constant text := 'the worker sending this message stopped before recording Graph''s answer; ';
BEGIN
    WITH gone AS (
        SELECT m.id FROM messages m WHERE m.status = 'sending' AND m.lease_until < t
         ORDER BY m.lease_until LIMIT 1000 FOR UPDATE SKIP LOCKED),
    ended AS (
        UPDATE messages m
           SET status = CASE WHEN NOT p_resend THEN 'unknown'
                             WHEN m.attempts < p_max_attempts AND m.created_at > t - ttl THEN 'queued'
                             ELSE 'failed' END,
               last_error = 'lease_expired', lease_until = NULL, updated_at = t, next_attempt_at = t,
               payload = CASE WHEN p_keep_body OR (p_resend AND m.attempts < p_max_attempts AND m.created_at > t - ttl)
                              THEN m.payload END
          FROM gone
         WHERE m.id = gone.id
     RETURNING m.id, m.app_id, m.mailbox, m.attempts, m.status, m.created_at > t - ttl AS in_time),
    events AS (
        INSERT INTO audit_events (outcome, app_id, app_name, mailbox, message_id, attempt, detail)
        SELECT v.outcome, e.app_id, a.name, e.mailbox, e.id, v.attempt, v.detail
          FROM ended e
          LEFT JOIN apps a ON a.id = e.app_id
         CROSS JOIN LATERAL (VALUES
             (1, 'unknown', e.attempts,
              stopped || CASE WHEN NOT p_resend THEN 'not resent (at-most-once)'
                              WHEN e.status = 'queued' THEN 'queued again (at-least-once)'
                              ELSE 'not resent (at-least-once, but no attempt or time left)' END),
             (2, CASE WHEN e.status = 'failed' THEN 'failed' END, NULL,
              CASE WHEN NOT e.in_time THEN 'the message''s time to live passed' ELSE 'retry attempts exhausted' END)
         ) AS v (k, outcome, attempt, detail)
         WHERE v.outcome IS NOT NULL
         ORDER BY e.id, v.k)
    SELECT coalesce(array_agg(e.id) FILTER (WHERE e.status <> 'queued'), '{}'), count(*),
           count(*) FILTER (WHERE e.status = 'queued')
      INTO ended_ids, n_lost, n_requeued
      FROM ended e;

    WITH late AS (
        SELECT m.id FROM messages m WHERE m.status = 'queued' AND m.created_at <= t - ttl
         ORDER BY m.created_at LIMIT 1000 FOR UPDATE SKIP LOCKED),
    failed AS (
        UPDATE messages m
           SET status = 'failed', last_error = 'ttl_expired', updated_at = t,
               payload = CASE WHEN p_keep_body THEN m.payload END
          FROM late
         WHERE m.id = late.id
     RETURNING m.id, m.app_id, m.mailbox),
    events AS (
        INSERT INTO audit_events (outcome, app_id, app_name, mailbox, message_id, detail)
        SELECT 'failed', f.app_id, a.name, f.mailbox, f.id, 'time to live passed before it could be sent'
          FROM failed f LEFT JOIN apps a ON a.id = f.app_id
         ORDER BY f.id)
    SELECT coalesce(array_agg(f.id), '{}') INTO failed_ids FROM failed f;

    -- Callers waiting with `Prefer: wait` learn of each final status; messages nobody waits on wake nobody.
    PERFORM pg_notify('mailgate_done', w.id::text) FROM messages w
      WHERE w.id = ANY (ended_ids || failed_ids) AND w.notify_done;
    RETURN QUERY SELECT n_lost, n_requeued, cardinality(failed_ids)::bigint;
END $$;

-- Functions are executable by every role unless revoked; the service alone calls these, as itself (they are not
-- SECURITY DEFINER), so its table grants still bound what they can do.
REVOKE EXECUTE ON FUNCTION mailbox_window_at(integer[], bigint, bigint), mailbox_window_used(integer[], bigint, bigint),
    mailbox_window_add(integer[], bigint, bigint, integer),
    claim_messages(integer, double precision, integer, integer, double precision), record_attempts(jsonb),
    extend_lease(uuid, integer, double precision), sweep_deliveries(boolean, integer, double precision, boolean)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION mailbox_window_at(integer[], bigint, bigint), mailbox_window_used(integer[], bigint, bigint),
    mailbox_window_add(integer[], bigint, bigint, integer),
    claim_messages(integer, double precision, integer, integer, double precision), record_attempts(jsonb),
    extend_lease(uuid, integer, double precision), sweep_deliveries(boolean, integer, double precision, boolean)
    TO mailgate_service;
