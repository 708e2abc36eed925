-- Claims that read a few small rows, whatever the backlog. Until now a claim found its mailboxes by probing the
-- outbox's index once per mailbox with queued messages and counted each one's messages in flight: under load both
-- walked the index entries of rows claimed since the last vacuum (every claim leaves one behind, at the head of its
-- mailbox's range), so a claim took seconds once the backlog grew. Now each mailbox's row keeps:
-- - `in_flight`, its messages being sent;
-- - a cursor (`due_at`, `due_id`): no message of the mailbox that a claim could take sits before it in the order
--   claims take them (next_attempt_at, id), and NULL means it has none. A claim starts its scan at the cursor and
--   moves it past what it took, so it never walks what earlier claims took.
-- Triggers on `messages` keep both true for every writer (accepts, outcomes, the sweep, an operator's UPDATE), and
-- the sweep recounts `in_flight` now and then (`recount_in_flight`), so a count made wrong by hand heals.

-- Replicas of the previous version may be running: no message may change between the backfill below and the
-- triggers that keep it up to date.
LOCK TABLE messages IN SHARE ROW EXCLUSIVE MODE;

ALTER TABLE mailbox_state
    ADD COLUMN in_flight integer NOT NULL DEFAULT 0,
    ADD COLUMN due_at timestamptz,
    ADD COLUMN due_id uuid,
    -- Every start the window holds, however old: never less than the starts of the last 60 seconds, so a claim can
    -- pass over a mailbox far from its limit without working the window out.
    ADD COLUMN window_total integer GENERATED ALWAYS AS (mailbox_window_used(window_counts, window_second, window_second)) STORED;

INSERT INTO mailbox_state (mailbox)
SELECT DISTINCT m.mailbox FROM messages m WHERE m.status IN ('queued', 'sending')
ON CONFLICT DO NOTHING;
UPDATE mailbox_state s
   SET in_flight = (SELECT count(*) FROM messages m WHERE m.status = 'sending' AND m.mailbox = s.mailbox),
       (due_at, due_id) = (SELECT m.next_attempt_at, m.id FROM messages m WHERE m.status = 'queued' AND m.mailbox = s.mailbox
                            ORDER BY m.next_attempt_at, m.id LIMIT 1);

-- Applies changes to mailboxes' rows: `p_delta` more messages in flight, and a message newly queued at
-- (`p_at`, `p_id`) for each mailbox (NULL when none). A transaction that queues a message holds its mailbox's row
-- (FOR KEY SHARE) until it commits: a claim, which takes the row FOR UPDATE SKIP LOCKED, passes the mailbox by until
-- then, so it never moves the cursor past a message its snapshot cannot see yet. Accepts share that lock and do not
-- wait on each other, except to lower a cursor (a mailbox whose queue had drained): that takes the row exclusively
-- until commit. Rows are locked in mailbox order, so two writers cannot wait on each other in a cycle.
CREATE FUNCTION mailbox_state_apply(p_mailbox text[], p_delta integer[], p_at timestamptz[], p_id uuid[])
RETURNS void
LANGUAGE plpgsql AS $$
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
END $$;

-- One call per statement, not per row: an accepted batch costs one call whatever its size.
CREATE FUNCTION messages_track_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
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
END $$;

CREATE FUNCTION messages_track_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
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
END $$;

CREATE FUNCTION messages_track_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
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
END $$;

CREATE TRIGGER messages_track_inserted AFTER INSERT ON messages
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION messages_track_inserted();
CREATE TRIGGER messages_track_updated AFTER UPDATE ON messages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION messages_track_updated();
CREATE TRIGGER messages_track_deleted AFTER DELETE ON messages
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION messages_track_deleted();

-- Counted in `mailbox_state` now.
DROP INDEX messages_sending_mailbox;

-- Plans that statistics cannot turn into scans of the backlog. Autovacuum may well analyze `messages` while nothing
-- is queued or sending (a quiet night); the planner then takes every partial index of queued or sending messages for
-- empty, and picked them for the claim's per-mailbox fetch, the claim's update and the outcome's fenced update,
-- whose cost then grew with the backlog (the send benchmark's full outbox, analyzed with nothing queued, accepted at
-- half its empty-outbox rate). So:
-- - a message is looked up by id with its status in `coalesce(status = …, false)`, a test no partial index's
--   predicate follows from, so the primary key is the only index such a statement can use;
-- - the sweep's index of queued messages by age carries `attempts >= 0` (always true) in its predicate, so only a
--   statement that says so (the sweep) can use it, and the claim's fetch goes by mailbox.
DROP INDEX messages_queued_created;
CREATE INDEX messages_queued_expiry ON messages (created_at) WHERE status = 'queued' AND attempts >= 0;

CREATE OR REPLACE FUNCTION extend_lease(p_id uuid, p_attempt integer, p_lease_secs double precision) RETURNS boolean
LANGUAGE sql AS $$
    WITH held AS (
        UPDATE messages SET lease_until = clock_timestamp() + make_interval(secs => p_lease_secs)
         WHERE id = p_id AND coalesce(status = 'sending', false) AND attempts = p_attempt
     RETURNING id)
    SELECT EXISTS (SELECT FROM held)
$$;

-- Hands out up to `p_limit` due messages, each to exactly one worker across all replicas, within Exchange's limits
-- per mailbox: at most `p_concurrency` sending, at most `p_per_minute` started in any 60 seconds, none while paused.
-- A message whose time to live (`p_ttl_secs` after acceptance) has passed is never handed out. The attempt number
-- returned is the claim's fencing token; `expires_in` is the time to live left, in seconds.
CREATE OR REPLACE FUNCTION claim_messages(p_limit integer, p_lease_secs double precision, p_concurrency integer,
                                          p_per_minute integer, p_ttl_secs double precision)
RETURNS TABLE (id uuid, app_id uuid, app_name text, mailbox text, attempts integer, created_at timestamptz,
               expires_in double precision)
LANGUAGE plpgsql AS $$
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
END $$;

-- Counts again the messages in flight of every mailbox that has some or says it has, mends the counts that are wrong
-- (an operator's TRUNCATE, a mistake of ours) and returns how many were. Whatever starts or ends a send holds its
-- mailbox's row until it commits, so a row locked here (rows held now are left for the next time) is counted
-- exactly by the next statement, which sees every such change committed.
CREATE FUNCTION recount_in_flight() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    locked text[];
    mended integer;
BEGIN
    SELECT array_agg(l.mailbox) INTO locked FROM (
        SELECT s.mailbox FROM mailbox_state s
         WHERE s.in_flight <> 0 OR s.mailbox IN (SELECT m.mailbox FROM messages m WHERE m.status = 'sending')
           FOR UPDATE SKIP LOCKED) l;
    IF locked IS NULL THEN
        RETURN 0;
    END IF;
    WITH counted AS (
        SELECT l.mailbox, coalesce(c.n, 0)::integer AS n
          FROM unnest(locked) AS l (mailbox)
          LEFT JOIN (SELECT m.mailbox, count(*) AS n FROM messages m WHERE m.status = 'sending' GROUP BY m.mailbox) c
            ON c.mailbox = l.mailbox),
    mend AS (
        UPDATE mailbox_state s SET in_flight = c.n
          FROM counted c
         WHERE s.mailbox = c.mailbox AND s.in_flight <> c.n
     RETURNING s.mailbox)
    SELECT count(*) INTO mended FROM mend;
    RETURN mended;
END $$;

REVOKE EXECUTE ON FUNCTION mailbox_state_apply(text[], integer[], timestamptz[], uuid[]), recount_in_flight() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION mailbox_state_apply(text[], integer[], timestamptz[], uuid[]), recount_in_flight()
    TO mailgate_service;

-- Records finished attempts, many in one call: as in migration 20261202000001, with each statement driven by the
-- messages' ids (the fenced update joined every message in flight when the planner chose a hash join, so its cost
-- grew with the outbox's churn) and the statements for pauses, drift, cooldowns and finish notices run only when an
-- entry asks for them.
CREATE OR REPLACE FUNCTION record_attempts(p_batch jsonb) RETURNS SETOF uuid
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    ids uuid[];
    held uuid[];
    any_pause boolean;
    any_drift boolean;
    any_cooldown boolean;
    any_final boolean;
BEGIN
    SELECT array_agg(x.id), bool_or(x.pause_secs IS NOT NULL), bool_or(x.drift IS NOT NULL),
           bool_or(x.cooldown_secs IS NOT NULL), bool_or(x.status <> 'queued')
      INTO ids, any_pause, any_drift, any_cooldown, any_final
      FROM jsonb_to_recordset(p_batch)
        AS x (id uuid, status text, pause_secs double precision, drift jsonb, cooldown_secs double precision);
    IF ids IS NULL THEN
        RETURN;
    END IF;

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
         WHERE m.id = ANY (ids) AND m.id = i.id AND coalesce(m.status = 'sending', false) AND m.attempts = i.attempt
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
    IF any_pause THEN
        INSERT INTO mailbox_state (mailbox, paused_until)
        SELECT x.mailbox, clock_timestamp() + make_interval(secs => max(x.pause_secs))
          FROM jsonb_to_recordset(p_batch) AS x (id uuid, mailbox text, pause_secs double precision)
         WHERE x.id = ANY (held) AND x.pause_secs IS NOT NULL
         GROUP BY x.mailbox ORDER BY x.mailbox
        ON CONFLICT (mailbox) DO UPDATE
            SET paused_until = GREATEST(coalesce(mailbox_state.paused_until, clock_timestamp()), EXCLUDED.paused_until);
    END IF;

    -- The mirror granted these pairs when the messages were accepted; Exchange refused them.
    IF any_drift THEN
        INSERT INTO drift_events (app_id, app_name, mailbox, message_id, graph_code, graph_request_id, local_rule, detail)
        SELECT x.app_id, x.app_name, x.mailbox, x.id, x.drift ->> 'graph_code', x.drift ->> 'graph_request_id',
               (SELECT q.detail FROM audit_events q WHERE q.message_id = x.id AND q.outcome = 'queued' ORDER BY q.id LIMIT 1),
               'Graph answered 403 ErrorAccessDenied although the mirror granted this pair: the mirror and Exchange disagree'
          FROM jsonb_to_recordset(p_batch) AS x (id uuid, app_id uuid, app_name text, mailbox text, drift jsonb)
         WHERE x.id = ANY (held) AND x.drift IS NOT NULL;
    END IF;
    IF any_cooldown THEN
        INSERT INTO access_cooldowns (app_id, mailbox, until, reason)
        SELECT x.app_id, x.mailbox, clock_timestamp() + make_interval(secs => max(x.cooldown_secs)),
               'Exchange answered ErrorAccessDenied'
          FROM jsonb_to_recordset(p_batch) AS x (id uuid, app_id uuid, mailbox text, cooldown_secs double precision)
         WHERE x.id = ANY (held) AND x.cooldown_secs IS NOT NULL
         GROUP BY x.app_id, x.mailbox ORDER BY x.app_id, x.mailbox
        ON CONFLICT (app_id, mailbox) DO UPDATE SET until = EXCLUDED.until;
    END IF;

    -- Callers waiting with `Prefer: wait` learn of each final status; messages nobody waits on wake nobody.
    IF any_final THEN
        PERFORM pg_notify('mailgate_done', w.id::text)
           FROM messages w
          WHERE w.id = ANY (held) AND w.notify_done AND w.status <> 'queued';
    END IF;
    RETURN QUERY SELECT unnest(held);
END $$;

-- As in migration 20261202000001, with the expiry scan naming its index's predicate (above).
CREATE OR REPLACE FUNCTION sweep_deliveries(p_resend boolean, p_max_attempts integer, p_ttl_secs double precision,
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
        SELECT m.id FROM messages m WHERE m.status = 'queued' AND m.attempts >= 0 AND m.created_at <= t - ttl
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
    -- Only when there are some: over an empty list every index would do, and the planner may take one to scan.
    IF cardinality(ended_ids || failed_ids) > 0 THEN
        PERFORM pg_notify('mailgate_done', w.id::text) FROM messages w
          WHERE w.id = ANY (ended_ids || failed_ids) AND w.notify_done;
    END IF;
    RETURN QUERY SELECT n_lost, n_requeued, cardinality(failed_ids)::bigint;
END $$;
