DROP TABLE IF EXISTS atrium.operator_refresh_tokens;
DROP TABLE IF EXISTS atrium.operator_refresh_families;
ALTER TABLE atrium.operators DROP COLUMN IF EXISTS tokens_valid_after;
