-- Every name a mailbox answers to — primary SMTP address, `smtp:` proxy addresses, user principal name, object id —
-- so that no two mailboxes share a name and any name finds its mailbox. Graph resolves all of them to the same
-- mailbox, so the allowlist must too. The same rule is applied in memory by src/policy/directory.rs.

ALTER TABLE recipients
    ADD COLUMN user_principal_name text CHECK (user_principal_name = lower(user_principal_name));

CREATE FUNCTION recipient_names_of(r recipients) RETURNS SETOF text LANGUAGE sql IMMUTABLE AS $$
    SELECT DISTINCT n FROM (
        SELECT r.address AS n
        UNION ALL
        SELECT lower(btrim(CASE WHEN a ~* '^smtp:' THEN substr(a, 6) ELSE a END))
          FROM unnest(r.email_addresses) AS a
         WHERE (a ~* '^smtp:' OR a NOT LIKE '%:%') AND a LIKE '%@%'
        UNION ALL
        SELECT r.user_principal_name WHERE r.user_principal_name IS NOT NULL
        UNION ALL
        SELECT r.object_id::text WHERE r.object_id IS NOT NULL
    ) AS names
$$;

-- Deferred: an import that moves a proxy address from one mailbox to another is checked when it commits.
CREATE TABLE recipient_names (
    name         text NOT NULL CHECK (name = lower(name)),
    recipient_id uuid NOT NULL REFERENCES recipients (id) ON DELETE CASCADE,
    CONSTRAINT recipient_names_unique PRIMARY KEY (name) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX recipient_names_recipient ON recipient_names (recipient_id);

-- Kept by the database, as its owner, so that no path writing recipients can leave the names behind, and the
-- service's own role needs no write grant on this table.
CREATE FUNCTION recipient_names_sync() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    DELETE FROM recipient_names WHERE recipient_id = NEW.id;
    INSERT INTO recipient_names (name, recipient_id) SELECT n, NEW.id FROM recipient_names_of(NEW) AS n;
    RETURN NULL;
END $$;

-- A definer's function must not resolve names through the caller's search path; pinned to the schema it lives in.
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION recipient_names_sync() SET search_path = %I, pg_temp', current_schema());
END $$;

CREATE TRIGGER recipients_names AFTER INSERT OR UPDATE ON recipients
    FOR EACH ROW EXECUTE FUNCTION recipient_names_sync();

-- Names two stored mailboxes already share would fail the backfill at commit with a bare duplicate key; say which.
DO $$
DECLARE clash text;
BEGIN
    SELECT string_agg(format('%s (%s)', n, owners), '; ') INTO clash FROM (
        SELECT n, string_agg(r.address, ', ' ORDER BY r.address) AS owners
          FROM recipients AS r, recipient_names_of(r) AS n
         GROUP BY n HAVING count(DISTINCT r.id) > 1
    ) AS shared;
    IF clash IS NOT NULL THEN
        RAISE EXCEPTION 'these names belong to more than one mailbox in recipients: %', clash
            USING HINT = 'remove the duplicate proxy addresses, user principal names or object ids, then migrate again';
    END IF;
END $$;

INSERT INTO recipient_names (name, recipient_id)
SELECT n, r.id FROM recipients AS r, recipient_names_of(r) AS n;

-- Written only by the trigger above (as the owner); the service reads it.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON recipient_names FROM mailgate_service;
