-- The service changes where a message stands in its delivery, never what the message is. Until now it held UPDATE
-- on every column of `messages`, so a session with its credentials could move a queued message to another mailbox,
-- give it to another app or rewrite its body after the allowlist had granted it (its `queued` audit row would still
-- name the granted pair). Now it may update only the columns delivery moves along (claims, leases, outcomes,
-- retries, the sweep): status, attempts, next_attempt_at, lease_until, last_error and updated_at. Column grants
-- cost nothing per row; a trigger on this table would run on every claim and outcome.
--
-- The body is only ever cleared (after the final status, unless a retention keeps it; or by the retention purge),
-- never written: the three statements that clear it run in functions owned by the owner (SECURITY DEFINER), which
-- the service may call but which can do nothing to a body but keep or clear it.
REVOKE UPDATE ON messages FROM mailgate_service;
GRANT UPDATE (status, attempts, next_attempt_at, lease_until, last_error, updated_at) ON messages TO mailgate_service;

-- The bodies of finished messages whose final status is older than `p_retention_secs`, cleared; returns how many.
CREATE FUNCTION purge_message_bodies(p_retention_secs double precision) RETURNS bigint
LANGUAGE sql SECURITY DEFINER AS $$
    WITH cleared AS (
        UPDATE messages SET payload = NULL
         WHERE payload IS NOT NULL AND status IN ('sent', 'denied', 'rejected', 'failed', 'unknown')
           AND updated_at < now() - make_interval(secs => greatest(p_retention_secs, 0))
     RETURNING 1)
    SELECT count(*) FROM cleared
$$;

REVOKE EXECUTE ON FUNCTION purge_message_bodies(double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purge_message_bodies(double precision) TO mailgate_service;

-- Outcomes and the sweep clear bodies: they run as the owner now. What else they write (audit rows, pauses, drift,
-- cooldowns) the service may write anyway. A SECURITY DEFINER function names its schema, so that no caller's
-- search_path can redirect it.
ALTER FUNCTION record_attempts(jsonb) SECURITY DEFINER;
ALTER FUNCTION sweep_deliveries(boolean, integer, double precision, boolean) SECURITY DEFINER;
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION record_attempts(jsonb) SET search_path = %I, pg_temp', current_schema());
    EXECUTE format('ALTER FUNCTION sweep_deliveries(boolean, integer, double precision, boolean) SET search_path = %I, pg_temp',
                   current_schema());
    EXECUTE format('ALTER FUNCTION purge_message_bodies(double precision) SET search_path = %I, pg_temp',
                   current_schema());
END $$;
