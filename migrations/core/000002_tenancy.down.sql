DROP TABLE IF EXISTS atrium.signing_keys;
DROP TABLE IF EXISTS atrium.tenant_migrations;
DROP TABLE IF EXISTS atrium.tenants;
DROP TABLE IF EXISTS atrium.operators;
DROP TABLE IF EXISTS atrium.installation;
