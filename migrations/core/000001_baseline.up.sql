-- The baseline schema is where every pooled connection's search_path points
-- outside a tenant unit of work. It stays empty and nobody may create objects
-- in it, so a query that forgot its tenant scope fails with "relation does not
-- exist" instead of reading some other tenant's rows.
CREATE SCHEMA IF NOT EXISTS atrium_baseline;
REVOKE ALL ON SCHEMA atrium_baseline FROM PUBLIC;

-- Nothing in public either: tenant roles must not find a writable schema there.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
