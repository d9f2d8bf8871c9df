DROP TABLE IF EXISTS refresh_tokens;
DROP TABLE IF EXISTS refresh_families;
