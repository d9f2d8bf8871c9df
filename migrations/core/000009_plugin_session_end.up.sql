-- The end of a plugin's session no longer lists the session's prepared
-- statements: pg_prepared_statements builds a row, text and all, for every
-- statement the driver caches, and that was most of what a plugin's read
-- cost the server beyond its own query. A statement a plugin prepares is
-- seen without it: only a top-level PREPARE makes one (functions that run
-- SQL text run it read-only, which refuses every utility statement, and a
-- plugin may create no function), and the core closes a connection on
-- which PostgreSQL reports a PREPARE, or anything else but a query or a
-- change of rows.
CREATE OR REPLACE FUNCTION atrium_session.end_plugin_session() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RESET ALL;
    PERFORM pg_catalog.pg_advisory_unlock_all();
    IF pg_catalog.pg_my_temp_schema() OPERATOR(pg_catalog.<>) 0 THEN
        RAISE EXCEPTION 'plugin session holds a temporary schema';
    END IF;
END
$$;
