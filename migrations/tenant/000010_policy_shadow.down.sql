DROP TABLE IF EXISTS policy_shadow;
