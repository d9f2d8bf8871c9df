-- The audit log: append-only and hash-chained (docs/audit.md).
--
-- The tables must not belong to the tenant role, which owns everything else
-- in the schema: an owner may grant itself UPDATE, disable triggers or alter
-- the table. So they are created by the migrating session's own user (RESET
-- ROLE); the tenant role gets SELECT and a column-restricted INSERT, and the
-- migration returns to the tenant role at the end.
SELECT set_config('atrium.tenant_role', current_user, true);
RESET ROLE;

-- Records, as written in the unit of work of the change they record. id
-- orders them by insertion; nothing ever updates or deletes one.
CREATE TABLE audit_log (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             timestamptz NOT NULL,
    actor_type     text NOT NULL CHECK (actor_type IN ('user', 'operator', 'anonymous')),
    actor_id       text NOT NULL DEFAULT '',
    actor_email    text NOT NULL DEFAULT '',
    action         text NOT NULL,
    resource_type  text NOT NULL DEFAULT '',
    resource_id    text NOT NULL DEFAULT '',
    outcome        text NOT NULL CHECK (outcome IN ('success', 'deny', 'error')),
    reasons        text[] NOT NULL DEFAULT '{}',
    policy_version text NOT NULL DEFAULT '',
    request_id     text NOT NULL DEFAULT '',
    ip             text NOT NULL DEFAULT '',
    user_agent     text NOT NULL DEFAULT '',
    details        jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_actor ON audit_log (actor_id, id);
CREATE INDEX audit_log_action ON audit_log (action, id);
-- Times grow with ids: a BRIN index serves ?since= and ?until= for almost
-- nothing per insert.
CREATE INDEX audit_log_at ON audit_log USING brin (at);

-- Records written but not yet in the chain: the sealer's queue.
CREATE TABLE audit_pending (
    record_id bigint PRIMARY KEY
);

-- The hash chain: the position the sealer (a single sequencer per tenant)
-- gave each record, and the hashes.
CREATE TABLE audit_chain (
    seq       bigint PRIMARY KEY CHECK (seq > 0),
    record_id bigint NOT NULL UNIQUE,
    prev_hash bytea NOT NULL,
    hash      bytea NOT NULL
);

-- The chain's head: its last record. The sealer locks this row, so two
-- sealers (two replicas) never fork the chain.
CREATE TABLE audit_head (
    id   boolean PRIMARY KEY DEFAULT true CHECK (id),
    seq  bigint NOT NULL CHECK (seq >= 0),
    hash bytea NOT NULL
);

-- Triggers hold for every role, the tables' owner included. Only a superuser
-- who disables triggers gets past them, and the hash chain exposes what
-- they do.
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_chain_append_only BEFORE UPDATE OR DELETE ON audit_chain
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON audit_chain
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

CREATE FUNCTION audit_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.seq > OLD.seq) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the audit chain head only moves forward' USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_head_forward BEFORE INSERT OR UPDATE OR DELETE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION audit_head_forward();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_head_forward();

DO $$
DECLARE
    r text := quote_ident(current_setting('atrium.tenant_role'));
BEGIN
    EXECUTE 'GRANT SELECT ON audit_log, audit_pending, audit_chain, audit_head TO ' || r;
    EXECUTE 'GRANT INSERT (at, actor_type, actor_id, actor_email, action, resource_type, resource_id, outcome, '
         || 'reasons, policy_version, request_id, ip, user_agent, details) ON audit_log TO ' || r;
    EXECUTE 'GRANT INSERT ON audit_pending TO ' || r;
    EXECUTE 'GRANT SELECT ON SEQUENCE audit_log_id_seq TO ' || r; -- backups read its position
END $$;

SELECT set_config('role', current_setting('atrium.tenant_role'), true);
