-- A secret per installation, shared by replicas, from which keys that need
-- no rotation (list cursor MACs) are derived. gen_random_uuid draws from
-- PostgreSQL's strong random source; two of them give 244 random bits.
ALTER TABLE atrium.installation
    ADD COLUMN secret bytea NOT NULL
    DEFAULT decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex');
