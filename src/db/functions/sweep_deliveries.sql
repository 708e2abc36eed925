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

