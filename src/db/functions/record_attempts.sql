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

