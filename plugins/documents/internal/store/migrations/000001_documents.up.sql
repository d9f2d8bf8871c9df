-- The documents plugin's table in the tenant's schema. The content lives in
-- the core's blob store under blob_key (documents/<id>, built by the
-- plugin, prefixed with the tenant by the core); the row is what makes a
-- blob a document: a blob without a row is an orphan the sweep removes.
-- project_id names a project of the projects plugin, whose tables are not
-- this plugin's to reference, so it carries no foreign key.
CREATE TABLE documents (
	id           uuid PRIMARY KEY,
	name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255),
	content_type text NOT NULL CHECK (char_length(content_type) BETWEEN 1 AND 255),
	size         bigint NOT NULL CHECK (size >= 0),
	sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
	project_id   uuid,
	blob_key     text NOT NULL UNIQUE,
	created_by   uuid NOT NULL,
	created_at   timestamptz NOT NULL
);

CREATE INDEX documents_created_at_idx ON documents (created_at, id);
CREATE INDEX documents_name_idx ON documents (name, id);
CREATE INDEX documents_size_idx ON documents (size, id);
CREATE INDEX documents_project_idx ON documents (project_id, created_at, id);
CREATE INDEX documents_content_type_idx ON documents (content_type, created_at, id);
