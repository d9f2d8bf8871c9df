-- The platform role (the migrating session's user) owns the tenant's schema
-- and the core's objects in it. The tenant role, which the core's requests
-- run as, gets only the privileges core/postgres grants it
-- (tenant_privileges.go): it can neither drop, alter nor re-grant a core
-- table, and neither can anything that becomes it. Tenants provisioned
-- before this migration had the tenant role own them; for the others it
-- changes nothing.
DO $$
BEGIN
    EXECUTE format('ALTER SCHEMA %I OWNER TO CURRENT_USER', current_schema());
END $$;
ALTER TABLE users OWNER TO CURRENT_USER;
ALTER TABLE roles OWNER TO CURRENT_USER;
ALTER TABLE policy_modules OWNER TO CURRENT_USER;
ALTER TABLE policy_revision OWNER TO CURRENT_USER;
ALTER TABLE refresh_families OWNER TO CURRENT_USER;
ALTER TABLE refresh_tokens OWNER TO CURRENT_USER;
