DROP TABLE atrium.tenant_plugin_roles;
