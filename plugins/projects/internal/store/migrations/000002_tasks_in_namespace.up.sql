-- Tenants that enabled the plugin under 000001's first version have a table
-- called tasks: it moves into the plugin's namespace, indexes included. In
-- a tenant that started from the current 000001 there is nothing to move.
ALTER TABLE IF EXISTS tasks RENAME TO projects_tasks;
ALTER INDEX IF EXISTS tasks_pkey RENAME TO projects_tasks_pkey;
ALTER INDEX IF EXISTS tasks_project_created_at_idx RENAME TO projects_tasks_created_at_idx;
ALTER INDEX IF EXISTS tasks_project_due_date_idx RENAME TO projects_tasks_due_date_idx;
ALTER INDEX IF EXISTS tasks_project_title_idx RENAME TO projects_tasks_title_idx;
ALTER INDEX IF EXISTS tasks_project_status_idx RENAME TO projects_tasks_status_idx;
ALTER INDEX IF EXISTS tasks_project_assignee_idx RENAME TO projects_tasks_assignee_idx;
