-- The pgbench ceiling of `cargo bench --bench send`: the transaction that accepting one message must perform, with
-- rows of the sizes mailgate stores for the benchmark's message (bench/send/message.rs) — one outbox row holding the
-- Graph request body, one `queued` audit row — committed durably, nothing else (no quota read, no notification).
-- The benchmark runs it as
--   pgbench -n -M prepared -c CLIENTS -j THREADS -T SECONDS -f bench/send/accept.sql -D app_id=UUID DATABASE_URL
-- on a database migrated like mailgate's, as the service login. When the schema of `messages` or `audit_events`
-- changes, change this file to match. Ids are time-ordered like mailgate's UUIDv7s, so the primary key grows at
-- its right edge as it does in production.
\set mailbox random(0, 199)
\set run random(1, 1000000)
BEGIN;
INSERT INTO messages (id, app_id, mailbox, subject, recipients, status, payload, request_id)
VALUES ((lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') || '7'
         || substr(md5(random()::text), 1, 19))::uuid,
        :app_id, 'sender' || lpad(:mailbox::text, 3, '0') || '@bench.contoso.test',
        'Nightly export finished: orders, 48,213 rows (run ' || :run || ')', 2, 'queued',
        jsonb_build_object(
            'message', jsonb_build_object(
                'subject', 'Nightly export finished: orders, 48,213 rows (run ' || :run || ')',
                'body', jsonb_build_object(
                    'contentType', 'Text',
                    'content', E'The nightly export of the orders table finished at 02:14 UTC.\n\nRows exported: '
                        || E'48,213\nFile: orders-2026-11-29.csv.gz (3.1 MB)\nDuration: 4 min 12 s\n\nThe file is in '
                        || 'the shared drive under Exports/Orders. Reply to this message if anything looks wrong; '
                        || E'the export runs again tomorrow night.\n\n-- Export service, run ' || :run),
                'toRecipients', jsonb_build_array(jsonb_build_object('emailAddress',
                    jsonb_build_object('address', 'data-team@example.com', 'name', 'Data team'))),
                'ccRecipients', jsonb_build_array(jsonb_build_object('emailAddress',
                    jsonb_build_object('address', 'ops@example.com'))),
                'importance', 'normal'),
            'saveToSentItems', true),
        gen_random_uuid()::text)
RETURNING id AS message_id \gset
INSERT INTO audit_events (outcome, app_id, app_name, mailbox, message_id, request_id, detail)
VALUES ('queued', :app_id, 'bench', 'sender' || lpad(:mailbox::text, 3, '0') || '@bench.contoso.test', :message_id,
        gen_random_uuid()::text,
        'RestrictAccess policy 01a2250e-7f71-714d-a3b9-5fdb9f37d2f5 allows app bench the mailboxes in '
        || 'bench-senders@bench.contoso.test, and sender' || lpad(:mailbox::text, 3, '0')
        || '@bench.contoso.test is in it');
END;
