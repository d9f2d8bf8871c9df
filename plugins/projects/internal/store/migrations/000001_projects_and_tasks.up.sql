-- The projects plugin's tables in the tenant's schema, named after the
-- plugin (projects, projects_*) as every plugin's objects must be. The
-- CHECK constraints repeat the domain's rules as a last line of defence;
-- the indexes serve the lists' filters and keyset orders (each ends with
-- id, the tiebreak).
--
-- Tenants that enabled the plugin before plugin objects were named after
-- their plugin have this file's first version, with a table called tasks:
-- 000002 moves it into the plugin's namespace.
CREATE TABLE projects (
	id          uuid PRIMARY KEY,
	name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
	description text NOT NULL DEFAULT '' CHECK (char_length(description) <= 4000),
	status      text NOT NULL CHECK (status IN ('active', 'archived')),
	owner_id    uuid NOT NULL,
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL
);

CREATE INDEX projects_created_at_idx ON projects (created_at, id);
CREATE INDEX projects_name_idx ON projects (name, id);
CREATE INDEX projects_status_created_at_idx ON projects (status, created_at, id);
CREATE INDEX projects_owner_idx ON projects (owner_id);

-- assignee_id names a user of the tenant; the core's users table is not
-- the plugin's to reference, so it carries no foreign key.
CREATE TABLE projects_tasks (
	id          uuid PRIMARY KEY,
	project_id  uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	title       text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
	status      text NOT NULL CHECK (status IN ('todo', 'doing', 'done')),
	assignee_id uuid,
	due_date    date,
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL
);

CREATE INDEX projects_tasks_created_at_idx ON projects_tasks (project_id, created_at, id);
CREATE INDEX projects_tasks_due_date_idx ON projects_tasks (project_id, due_date, id);
CREATE INDEX projects_tasks_title_idx ON projects_tasks (project_id, title, id);
CREATE INDEX projects_tasks_status_idx ON projects_tasks (project_id, status, created_at, id);
CREATE INDEX projects_tasks_assignee_idx ON projects_tasks (project_id, assignee_id) WHERE assignee_id IS NOT NULL;
