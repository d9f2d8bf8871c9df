-- Runs in every tenant schema that enables the plugin, as the tenant's
-- role. Pick table names that are the plugin's own: the core's tables
-- (users, roles, audit_log, ...) and other plugins' share the schema.
CREATE TABLE notes (
	id         uuid PRIMARY KEY,
	text       text NOT NULL CHECK (char_length(text) BETWEEN 1 AND 1000),
	author_id  uuid NOT NULL,
	created_at timestamptz NOT NULL
);
