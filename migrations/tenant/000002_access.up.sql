-- Roles of the tenant. Built-in roles hold permissions computed from the
-- permission registry (their permissions column stays empty); custom roles
-- list theirs.
CREATE TABLE roles (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_-]{0,62}$'),
    description text NOT NULL DEFAULT '',
    permissions text[] NOT NULL DEFAULT '{}',
    builtin     boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO roles (name, description, builtin) VALUES
    ('admin', 'Every permission, including users, roles, policies and the audit log', true),
    ('member', 'Read, create and update the plugins'' data; read users and roles', true),
    ('viewer', 'Read the plugins'' data', true);

-- Tokens issued before this instant stop working: set on password change,
-- disable, and role changes that must take effect at once.
ALTER TABLE users ADD COLUMN tokens_valid_after timestamptz NOT NULL DEFAULT '-infinity';
