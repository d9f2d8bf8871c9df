-- The audit log: append-only and hash-chained (docs/audit.md).
--
-- The tables must not belong to the tenant role, which owns everything else
-- in the schema: an owner may grant itself UPDATE, disable triggers or alter
-- the table. So they are created by the migrating session's own user (RESET
-- ROLE), the tenant role gets only SELECT and a column-restricted INSERT, and
-- the migration returns to the tenant role at the end.
SELECT set_config('atrium.tenant_role', current_user, true);
RESET ROLE;

CREATE TABLE audit_log (
    -- id orders records by insertion; seq is the position in the hash chain,
    -- given by the sealer (a single sequencer per tenant) after commit.
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
    details        jsonb NOT NULL DEFAULT '{}',
    seq            bigint UNIQUE,
    prev_hash      bytea,
    hash           bytea,
    CHECK ((seq IS NULL) = (hash IS NULL) AND (seq IS NULL) = (prev_hash IS NULL))
);
CREATE INDEX audit_log_unsealed ON audit_log (id) WHERE seq IS NULL;
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor_id, id);
CREATE INDEX audit_log_action ON audit_log (action, id);

-- The chain's head: the last sealed record. The sealer locks this row, so
-- two sealers (two replicas) never fork the chain.
CREATE TABLE audit_head (
    id   boolean PRIMARY KEY DEFAULT true CHECK (id),
    seq  bigint NOT NULL CHECK (seq >= 0),
    hash bytea NOT NULL
);

-- Triggers hold for every role, the table's owner included: records are
-- inserted unsealed, sealed once (chain columns only), and never changed or
-- removed. Only a superuser who disables triggers gets past them, and the
-- hash chain exposes what they do.
CREATE FUNCTION audit_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF (NEW.seq IS NOT NULL OR NEW.hash IS NOT NULL OR NEW.prev_hash IS NOT NULL)
           AND current_setting('atrium.audit_restore', true) IS DISTINCT FROM 'on' THEN
            RAISE EXCEPTION 'audit records are inserted unsealed' USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    ELSIF TG_OP = 'UPDATE' THEN
        IF OLD.seq IS NULL AND NEW.seq IS NOT NULL
           AND (NEW.id, NEW.at, NEW.actor_type, NEW.actor_id, NEW.actor_email, NEW.action, NEW.resource_type,
                NEW.resource_id, NEW.outcome, NEW.reasons, NEW.policy_version, NEW.request_id, NEW.ip,
                NEW.user_agent, NEW.details)
               IS NOT DISTINCT FROM
               (OLD.id, OLD.at, OLD.actor_type, OLD.actor_id, OLD.actor_email, OLD.action, OLD.resource_type,
                OLD.resource_id, OLD.outcome, OLD.reasons, OLD.policy_version, OLD.request_id, OLD.ip,
                OLD.user_agent, OLD.details) THEN
            RETURN NEW; -- sealing
        END IF;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_log_append_only BEFORE INSERT OR UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_guard();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_guard();

CREATE FUNCTION audit_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.seq > OLD.seq THEN
        RETURN NEW;
    ELSIF TG_OP = 'INSERT' THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the audit chain head only moves forward' USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_head_forward BEFORE INSERT OR UPDATE OR DELETE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION audit_head_guard();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_head_guard();

DO $$
DECLARE
    r text := quote_ident(current_setting('atrium.tenant_role'));
BEGIN
    EXECUTE 'GRANT SELECT ON audit_log, audit_head TO ' || r;
    EXECUTE 'GRANT SELECT ON SEQUENCE audit_log_id_seq TO ' || r; -- backups read its position
    EXECUTE 'GRANT INSERT (at, actor_type, actor_id, actor_email, action, resource_type, resource_id, outcome, '
         || 'reasons, policy_version, request_id, ip, user_agent, details) ON audit_log TO ' || r;
END $$;

SELECT set_config('role', current_setting('atrium.tenant_role'), true);
