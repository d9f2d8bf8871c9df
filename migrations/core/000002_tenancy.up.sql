-- One row: this installation's short random ID. Roles are global to the
-- PostgreSQL cluster, so tenant role names carry it and two installations (or
-- two test databases) on one server never collide.
CREATE TABLE atrium.installation (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    id         text NOT NULL CHECK (id ~ '^[a-z0-9]{8}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO atrium.installation (id) VALUES (substr(md5(gen_random_uuid()::text), 1, 8));

CREATE TABLE atrium.operators (
    id            uuid PRIMARY KEY,
    email         text NOT NULL,
    password_hash text NOT NULL,
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX operators_email_key ON atrium.operators (lower(email));

CREATE TABLE atrium.tenants (
    id          uuid PRIMARY KEY,
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z][a-z0-9-]{1,30}[a-z0-9]$'),
    name        text NOT NULL,
    schema_name text NOT NULL UNIQUE,
    role_name   text NOT NULL UNIQUE,
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    settings    jsonb NOT NULL DEFAULT '{}',
    plugins     text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Per tenant and component ("core" or a plugin's name): how far its
-- migrations got, so a rollout is resumable and a broken tenant is visible.
CREATE TABLE atrium.tenant_migrations (
    tenant_id   uuid NOT NULL REFERENCES atrium.tenants (id) ON DELETE CASCADE,
    component   text NOT NULL,
    version     bigint NOT NULL DEFAULT 0,
    dirty       boolean NOT NULL DEFAULT false,
    last_error  text,
    duration_ms integer,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, component)
);

-- Token signing keys, shared by replicas. A retired key still verifies
-- until its tokens have expired; only the newest active key signs.
CREATE TABLE atrium.signing_keys (
    kid         text PRIMARY KEY,
    algorithm   text NOT NULL,
    private_key bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    retired_at  timestamptz
);
