-- What PUBLIC (every role, plugins' roles included) may no longer do in
-- Atrium's database, where the core's user has the right to take it away
-- (it owns the database, or is a superuser). Without that right each
-- REVOKE is a warning that changes nothing; plugins' SQL is checked before
-- it runs, and their connections are cleaned on release, either way.
--
-- Temporary objects: no plugin needs them, and they would outlive the unit
-- of work on a pooled connection.
DO $$
BEGIN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
END $$;

-- Large objects outlive every transaction and belong to no tenant's
-- schema: nobody but a superuser may create one here. (Importing one from
-- a server file is a superuser's alone already.)
REVOKE EXECUTE ON FUNCTION pg_catalog.lo_create(oid), pg_catalog.lo_creat(integer),
    pg_catalog.lo_from_bytea(oid, bytea) FROM PUBLIC;
