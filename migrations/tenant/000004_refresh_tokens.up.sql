-- One family per sign-in: every refresh spends a token and adds the next.
-- Spent tokens stay until the family expires, so a reuse is recognised.
-- (users.tokens_valid_after comes with 000002.)
CREATE TABLE refresh_families (
    id             uuid PRIMARY KEY,
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    revoked_reason text
);
CREATE INDEX refresh_families_user ON refresh_families (user_id, expires_at);

-- Only the SHA-256 of a token is kept.
CREATE TABLE refresh_tokens (
    hash       bytea PRIMARY KEY CHECK (length(hash) = 32),
    family_id  uuid NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    issued_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    spent_at   timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
