DROP FUNCTION atrium_plugin_migrated(text, bigint, bigint, integer);
DROP FUNCTION atrium_plugin_version(text);
DROP FUNCTION audit_append(text, bytea);
DROP TABLE audit_key;
