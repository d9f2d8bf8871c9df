-- How the core ends a plugin's session on a pooled connection (after its
-- COMMIT or ROLLBACK, in the same simple-protocol message): its settings
-- reset, its advisory locks released, and an error when the session holds
-- what a reset cannot undo (a temporary schema; a statement prepared with
-- PREPARE, which could stand in for one the core's driver caches), after
-- which the core closes the connection. One short call instead of these
-- statements sent as text: parsing and planning them on every request cost
-- the server more than the request's own query. PL/pgSQL keeps its plans.
--
-- No SET clause: leaving the function would restore what it resets. Every
-- name is qualified, and the reset comes first.
CREATE SCHEMA atrium_session;

CREATE FUNCTION atrium_session.end_plugin_session() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RESET ALL;
    PERFORM pg_catalog.pg_advisory_unlock_all();
    IF pg_catalog.pg_my_temp_schema() OPERATOR(pg_catalog.<>) 0
        OR EXISTS (SELECT FROM pg_catalog.pg_prepared_statements WHERE from_sql) THEN
        RAISE EXCEPTION 'plugin session holds a temporary schema or a prepared statement';
    END IF;
END
$$;

-- Every plugin's role calls it (they are made per tenant); it touches only
-- the caller's own session.
GRANT USAGE ON SCHEMA atrium_session TO PUBLIC;
