-- The W3C trace context of the request that accepted a message (`00-<trace id>-<span id>-<flags>`), so that its
-- delivery attempts are traced as children of that request. Set only while OpenTelemetry export is on; NULL
-- otherwise. Nullable with no default: adding it rewrites nothing. The service reads and writes it under the table's
-- grants.
ALTER TABLE messages ADD COLUMN traceparent text;
