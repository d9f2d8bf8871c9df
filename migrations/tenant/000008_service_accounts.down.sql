ALTER TABLE audit_log DROP CONSTRAINT audit_log_actor_type_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_actor_type_check
    CHECK (actor_type IN ('user', 'operator', 'anonymous')) NOT VALID;
DROP TABLE IF EXISTS service_account_keys;
DROP TABLE IF EXISTS service_accounts;
