-- Tokens an operator was issued before this instant stop working (set when
-- a password changes or the operator is disabled).
ALTER TABLE atrium.operators ADD COLUMN tokens_valid_after timestamptz NOT NULL DEFAULT '-infinity';

-- One family per sign-in: every refresh spends a token and adds the next.
-- Spent tokens stay until the family expires, so a reuse is recognised.
CREATE TABLE atrium.operator_refresh_families (
    id             uuid PRIMARY KEY,
    operator_id    uuid NOT NULL REFERENCES atrium.operators (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    revoked_reason text
);
CREATE INDEX operator_refresh_families_operator ON atrium.operator_refresh_families (operator_id, expires_at);

-- Only the SHA-256 of a token is kept.
CREATE TABLE atrium.operator_refresh_tokens (
    hash       bytea PRIMARY KEY CHECK (length(hash) = 32),
    family_id  uuid NOT NULL REFERENCES atrium.operator_refresh_families (id) ON DELETE CASCADE,
    issued_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    spent_at   timestamptz
);
CREATE INDEX operator_refresh_tokens_family ON atrium.operator_refresh_tokens (family_id);
