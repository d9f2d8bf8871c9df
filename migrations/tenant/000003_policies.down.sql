DROP TABLE IF EXISTS policy_revision;
DROP TABLE IF EXISTS policy_modules;
