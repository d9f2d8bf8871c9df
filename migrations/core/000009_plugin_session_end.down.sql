CREATE OR REPLACE FUNCTION atrium_session.end_plugin_session() RETURNS void
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
