CREATE OR REPLACE FUNCTION public.audit_append(p_events jsonb)
 RETURNS bigint
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
END $function$

