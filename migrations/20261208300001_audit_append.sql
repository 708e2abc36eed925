-- One path into the audit log. Audit rows were written by five statements — the accept path's group commit, single
-- events, record_attempts() and two in sweep_deliveries() — each with its own copy of the column list. They now all
-- call audit_append(), which holds the list once; src/db/functions/ keeps each function's current definition.
-- audit_append() runs with its caller's rights (the service's column grant on audit_events still applies to it).

CREATE FUNCTION audit_append(p_events jsonb) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path TO 'public', 'pg_temp'
AS $function$
DECLARE
    appended bigint;
BEGIN
    -- The one statement that writes audit rows: every column the service may set, in the order given (ids follow
    -- it); keys an event leaves out are NULL, and a NULL list appends nothing. `id` and `at` are not among them: the
    -- database chooses both.
    INSERT INTO audit_events (outcome, app_id, app_name, mailbox, message_id, attempt, http_status, graph_code,
                              graph_request_id, latency_ms, request_id, detail)
    SELECT e.outcome, e.app_id, e.app_name, e.mailbox, e.message_id, e.attempt, e.http_status, e.graph_code,
           e.graph_request_id, e.latency_ms, e.request_id, e.detail
      FROM ROWS FROM (jsonb_to_recordset(p_events)
               AS (outcome text, app_id uuid, app_name text, mailbox text, message_id uuid, attempt integer,
                   http_status integer, graph_code text, graph_request_id text, latency_ms integer, request_id text,
                   detail text))
           WITH ORDINALITY AS e (outcome, app_id, app_name, mailbox, message_id, attempt, http_status, graph_code,
                                 graph_request_id, latency_ms, request_id, detail, n)
     ORDER BY e.n;
    GET DIAGNOSTICS appended = ROW_COUNT;
    RETURN appended;
END $function$;

CREATE OR REPLACE FUNCTION public.record_attempts(p_batch jsonb)
 RETURNS SETOF uuid
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
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

    -- Each attempt's events, with the message's identity added, in the order the batch lists them.
    PERFORM audit_append(jsonb_agg(ev.event || jsonb_build_object('app_id', x.app_id, 'app_name', x.app_name,
                                                                  'mailbox', x.mailbox, 'message_id', x.id)
                                   ORDER BY b.n, ev.k))
       FROM jsonb_array_elements(p_batch) WITH ORDINALITY AS b (entry, n)
      CROSS JOIN LATERAL jsonb_to_record(b.entry) AS x (id uuid, app_id uuid, app_name text, mailbox text, events jsonb)
      CROSS JOIN LATERAL jsonb_array_elements(x.events) WITH ORDINALITY AS ev (event, k)
      WHERE x.id = ANY (held);

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
END $function$
;

CREATE OR REPLACE FUNCTION public.sweep_deliveries(p_resend boolean, p_max_attempts integer, p_ttl_secs double precision, p_keep_body boolean)
 RETURNS TABLE(lost bigint, requeued bigint, expired bigint)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
#variable_conflict use_column
DECLARE
    t timestamptz := clock_timestamp();
    ttl interval := make_interval(secs => p_ttl_secs);
    ended_ids uuid[];
    failed_ids uuid[];
    n_lost bigint;
    n_requeued bigint;
    new_events jsonb;
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
     RETURNING m.id, m.app_id, m.mailbox, m.attempts, m.status, m.created_at > t - ttl AS in_time)
    SELECT coalesce(array_agg(e.id) FILTER (WHERE e.status <> 'queued'), '{}'), count(*),
           count(*) FILTER (WHERE e.status = 'queued'),
           (SELECT jsonb_agg(jsonb_build_object('outcome', v.outcome, 'app_id', l.app_id, 'app_name', a.name,
                                                'mailbox', l.mailbox, 'message_id', l.id, 'attempt', v.attempt,
                                                'detail', v.detail)
                             ORDER BY l.id, v.k)
              FROM ended l
              LEFT JOIN apps a ON a.id = l.app_id
             CROSS JOIN LATERAL (VALUES
                 (1, 'unknown', l.attempts,
                  stopped || CASE WHEN NOT p_resend THEN 'not resent (at-most-once)'
                                  WHEN l.status = 'queued' THEN 'queued again (at-least-once)'
                                  ELSE 'not resent (at-least-once, but no attempt or time left)' END),
                 (2, CASE WHEN l.status = 'failed' THEN 'failed' END, NULL,
                  CASE WHEN NOT l.in_time THEN 'the message''s time to live passed' ELSE 'retry attempts exhausted' END)
             ) AS v (k, outcome, attempt, detail)
             WHERE v.outcome IS NOT NULL)
      INTO ended_ids, n_lost, n_requeued, new_events
      FROM ended e;
    PERFORM audit_append(new_events);

    WITH late AS (
        SELECT m.id FROM messages m WHERE m.status = 'queued' AND m.attempts >= 0 AND m.created_at <= t - ttl
         ORDER BY m.created_at LIMIT 1000 FOR UPDATE SKIP LOCKED),
    failed AS (
        UPDATE messages m
           SET status = 'failed', last_error = 'ttl_expired', updated_at = t,
               payload = CASE WHEN p_keep_body THEN m.payload END
          FROM late
         WHERE m.id = late.id
     RETURNING m.id, m.app_id, m.mailbox)
    SELECT coalesce(array_agg(f.id), '{}'),
           (SELECT jsonb_agg(jsonb_build_object('outcome', 'failed', 'app_id', l.app_id, 'app_name', a.name,
                                                'mailbox', l.mailbox, 'message_id', l.id,
                                                'detail', 'time to live passed before it could be sent')
                             ORDER BY l.id)
              FROM failed l LEFT JOIN apps a ON a.id = l.app_id)
      INTO failed_ids, new_events
      FROM failed f;
    PERFORM audit_append(new_events);

    -- Callers waiting with `Prefer: wait` learn of each final status; messages nobody waits on wake nobody.
    -- Only when there are some: over an empty list every index would do, and the planner may take one to scan.
    IF cardinality(ended_ids || failed_ids) > 0 THEN
        PERFORM pg_notify('mailgate_done', w.id::text) FROM messages w
          WHERE w.id = ANY (ended_ids || failed_ids) AND w.notify_done;
    END IF;
    RETURN QUERY SELECT n_lost, n_requeued, cardinality(failed_ids)::bigint;
END $function$
;
