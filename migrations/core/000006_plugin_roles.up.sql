-- Each plugin a tenant enables gets two login roles in that tenant: one
-- owns its objects and runs its migrations, the other runs its requests'
-- SQL (core/postgres/pluginroles.go). They are recorded here so that
-- atriumd can check and drop them.
CREATE TABLE atrium.tenant_plugin_roles (
    tenant_id    uuid NOT NULL REFERENCES atrium.tenants (id) ON DELETE CASCADE,
    plugin       text NOT NULL,
    owner_role   text NOT NULL UNIQUE,
    runtime_role text NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, plugin)
);
