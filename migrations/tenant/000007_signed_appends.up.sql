-- Writes that only the core may make, as functions that run as their owner
-- (the platform role) for roles that may not make them directly.
--
-- audit_append is the audit log's one way in for requests (docs/audit.md):
-- neither the tenant role nor a plugin's roles may INSERT into the log.
-- They pass a record the core signed with the tenant's audit key, an
-- HMAC-SHA-256 over the record's text; a record whose MAC is wrong is
-- refused. The key is in audit_key, which nobody but the platform role
-- reads: core/postgres writes it, derived from the installation's secret,
-- as the key's inner and outer pads (PostgreSQL has sha256 but no hmac).
CREATE TABLE audit_key (
    id   boolean PRIMARY KEY DEFAULT true CHECK (id),
    ipad bytea NOT NULL CHECK (length(ipad) = 64),
    opad bytea NOT NULL CHECK (length(opad) = 64)
);

-- The functions name their tables with the tenant's schema and search only
-- pg_catalog: a plugin's owner role may create objects in the schema, and
-- none of them must be able to stand in for a table, a function or an
-- operator these bodies use (PostgreSQL weighs functions of every schema on
-- the search path by argument types, whatever the path's order).
DO $do$
DECLARE
    s text := quote_ident(current_schema());
BEGIN
    EXECUTE format($f$
CREATE FUNCTION %1$s.audit_append(record text, mac bytea) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k %1$s.audit_key;
    r jsonb;
    new_id bigint;
BEGIN
    SELECT * INTO k FROM %1$s.audit_key;
    IF NOT FOUND OR mac IS DISTINCT FROM sha256(k.opad || sha256(k.ipad || convert_to(record, 'UTF8'::name))) THEN
        RAISE EXCEPTION 'audit record refused: it is not signed by the core' USING ERRCODE = 'insufficient_privilege';
    END IF;
    r := record::jsonb;
    INSERT INTO %1$s.audit_log (at, actor_type, actor_id, actor_email, action, resource_type, resource_id, outcome,
        reasons, policy_version, request_id, ip, user_agent, details)
    VALUES ((r->>'at')::timestamptz, r->>'actor_type', r->>'actor_id', r->>'actor_email', r->>'action',
        r->>'resource_type', r->>'resource_id', r->>'outcome',
        ARRAY(SELECT jsonb_array_elements_text(coalesce(r->'reasons', '[]'))), r->>'policy_version',
        r->>'request_id', r->>'ip', r->>'user_agent', coalesce(r->'details', '{}'))
    RETURNING id INTO new_id;
    INSERT INTO %1$s.audit_pending (record_id) VALUES (new_id);
END $$
$f$, s);

    -- A plugin's migrations run as its owner role, which cannot write the
    -- platform's migration state: these read and move its own component's
    -- version in this tenant, and nobody else's.
    EXECUTE format($f$
CREATE FUNCTION %1$s.atrium_plugin_version(component text) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tid uuid;
    v bigint;
BEGIN
    SELECT t.id INTO tid FROM atrium.tenants t
    JOIN atrium.tenant_plugin_roles r ON r.tenant_id = t.id
    WHERE t.schema_name = %2$L AND r.plugin = $1 AND r.owner_role = session_user;
    IF tid IS NULL THEN
        RAISE EXCEPTION '%% is not the owner role of plugin %% in this tenant', session_user, $1
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO atrium.tenant_migrations (tenant_id, component) VALUES (tid, $1) ON CONFLICT DO NOTHING;
    SELECT m.version INTO v FROM atrium.tenant_migrations m WHERE m.tenant_id = tid AND m.component = $1 FOR UPDATE;
    RETURN v;
END $$
$f$, s, current_schema());

    EXECUTE format($f$
CREATE FUNCTION %1$s.atrium_plugin_migrated(component text, from_version bigint, to_version bigint, duration_ms integer)
    RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tid uuid;
BEGIN
    SELECT t.id INTO tid FROM atrium.tenants t
    JOIN atrium.tenant_plugin_roles r ON r.tenant_id = t.id
    WHERE t.schema_name = %2$L AND r.plugin = $1 AND r.owner_role = session_user;
    IF tid IS NULL THEN
        RAISE EXCEPTION '%% is not the owner role of plugin %% in this tenant', session_user, $1
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    UPDATE atrium.tenant_migrations m SET version = $3, dirty = false, last_error = NULL, duration_ms = $4, updated_at = now()
    WHERE m.tenant_id = tid AND m.component = $1 AND m.version = $2;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'plugin %% is no longer at version %% in this tenant', $1, $2 USING ERRCODE = 'serialization_failure';
    END IF;
END $$
$f$, s, current_schema());
END $do$;

-- Nobody calls them without a grant (core/postgres grants them).
REVOKE ALL ON FUNCTION audit_append(text, bytea) FROM PUBLIC;
REVOKE ALL ON FUNCTION atrium_plugin_version(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION atrium_plugin_migrated(text, bigint, bigint, integer) FROM PUBLIC;
