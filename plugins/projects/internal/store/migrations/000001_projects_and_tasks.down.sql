DROP TABLE projects_tasks;
DROP TABLE projects;
