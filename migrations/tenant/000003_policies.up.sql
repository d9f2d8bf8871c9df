-- Tenant policy modules: every uploaded version is kept; at most one
-- version of a module is active. Deleting a module deactivates it and keeps
-- its versions as history.
CREATE TABLE policy_modules (
    name       text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_-]{0,62}$'),
    version    integer NOT NULL CHECK (version > 0),
    rego       text NOT NULL,
    tests      text NOT NULL DEFAULT '',
    active     boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by uuid,
    PRIMARY KEY (name, version)
);
CREATE UNIQUE INDEX policy_modules_one_active ON policy_modules (name) WHERE active;

-- The tenant's policy revision: one row, bumped by every change. Compiled
-- policies are cached by it, and locking the row serialises changes.
CREATE TABLE policy_revision (
    id       boolean PRIMARY KEY DEFAULT true CHECK (id),
    revision bigint NOT NULL DEFAULT 0 CHECK (revision >= 0)
);
INSERT INTO policy_revision DEFAULT VALUES;
