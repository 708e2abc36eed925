-- Which door a message came in by (`http`, `graph` or `smtp`) and, for SMTP, the session's peer address, shown with
-- the message. Messages accepted before this migration cannot be told apart and read `http`. The default is a
-- constant, so adding the column rewrites nothing; the source is nullable with no default. The service reads and
-- inserts them under the table's grants and never updates them.
ALTER TABLE messages ADD COLUMN channel text NOT NULL DEFAULT 'http'
    CONSTRAINT messages_channel_known CHECK (channel IN ('http', 'graph', 'smtp'));
ALTER TABLE messages ADD COLUMN source_address text;
