-- Tamper evidence for the audit log. A sealer in `serve` appends, in id order, one link per audit row:
-- link(n) = SHA-256(link(previous sealed row) || canonical bytes of row n), the first link of a chain hashed onto 32
-- zero bytes (src/audit_chain/canonical.rs defines the bytes; docs/audit-chain.md what the chain proves). Writers of
-- audit rows do nothing more than before: the sealer reads committed rows a few seconds later.
--
-- Keyed by audit_events.id alone, so the chain does not care how audit_events is stored (e.g. partitioned by month).
CREATE TABLE audit_chain (
    id   bigint PRIMARY KEY,
    link bytea NOT NULL CHECK (length(link) = 32)
);

-- One row per sealing batch: the rows it linked and the chain's head after it. The head is also logged, so that it
-- can be kept outside the database. `genesis`: the batch began a chain (hashed onto zeros) rather than continuing one.
CREATE TABLE audit_seals (
    seq       bigserial PRIMARY KEY,
    first_id  bigint NOT NULL,
    last_id   bigint NOT NULL,
    rows      bigint NOT NULL CHECK (rows > 0),
    head      bytea NOT NULL CHECK (length(head) = 32),
    genesis   boolean NOT NULL,
    sealed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (first_id <= last_id)
);

-- Append-only, as audit_events: the service may add links and seals and read them, never change or remove them.
-- The owner removes the links of purged audit rows by disabling `audit_chain_no_change` inside the purge's own
-- transaction (only an owner or superuser may), so links and rows go together.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_chain, audit_seals FROM mailgate_service;
GRANT SELECT, INSERT ON audit_chain, audit_seals TO mailgate_service;
GRANT USAGE ON SEQUENCE audit_seals_seq_seq TO mailgate_service;

CREATE TRIGGER audit_chain_no_change BEFORE UPDATE OR DELETE ON audit_chain
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON audit_chain
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_seals_no_change BEFORE UPDATE OR DELETE ON audit_seals
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_seals_no_truncate BEFORE TRUNCATE ON audit_seals
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
