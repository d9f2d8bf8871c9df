-- Service accounts: non-human principals of the tenant, holding roles like
-- users, that authenticate with API keys (docs/api.md). Runs as the platform
-- role, which owns what it creates (000006); the tenant role gets what
-- core/postgres's tenantPrivileges grants.
CREATE TABLE service_accounts (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    roles       text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE UNIQUE INDEX service_accounts_name_key ON service_accounts (lower(name));

-- Only the SHA-256 of a key is kept; prefix is its public part (no secret),
-- shown to tell keys apart. A revoked key keeps its row, for the list.
CREATE TABLE service_account_keys (
    id           uuid PRIMARY KEY,
    account_id   uuid NOT NULL REFERENCES service_accounts (id) ON DELETE CASCADE,
    name         text NOT NULL,
    prefix       text NOT NULL,
    hash         bytea NOT NULL CHECK (length(hash) = 32),
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX service_account_keys_account ON service_account_keys (account_id, created_at);

-- Service accounts act, so the audit log records them as actors.
ALTER TABLE audit_log DROP CONSTRAINT audit_log_actor_type_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_actor_type_check
    CHECK (actor_type IN ('user', 'operator', 'anonymous', 'service'));
