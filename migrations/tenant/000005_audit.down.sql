SELECT set_config('atrium.tenant_role', current_user, true);
RESET ROLE;
DROP TABLE audit_head, audit_chain, audit_pending, audit_log;
DROP FUNCTION audit_head_forward(), audit_append_only();
SELECT set_config('role', current_setting('atrium.tenant_role'), true);
