-- Every reference between a tenant schema (t_*) and any other schema, either
-- way: what Citus schema-based sharding could not keep on one node with its
-- tenant. Run it as the platform role or a superuser on the database:
--
--   psql "$ATRIUM_DATABASE_DIRECT_URL" -f examples/deploy/cross-schema-references.sql
--
-- kind 'catalog': a dependency PostgreSQL records (a foreign key, a view, a
-- column's type or default, a trigger's function, ...). kind 'function body':
-- a function of a tenant schema whose source names another schema (PostgreSQL
-- records no dependency for a PL/pgSQL body, so this one is a text search).
-- docs/deployment.md ("Citus") says which rows a sound installation shows;
-- TestNoCrossSchemaReferences (core/postgres) runs this file.
WITH dep AS (
    SELECT o.type || ' ' || o.identity AS object,
           -- triggers, rules (views), defaults and policies name no schema
           -- of their own: theirs is their table's
           coalesce(o.schema, (
               SELECT c.relnamespace::regnamespace::text FROM pg_class c
               WHERE c.oid = CASE d.classid
                   WHEN 'pg_trigger'::regclass THEN (SELECT tgrelid FROM pg_trigger WHERE oid = d.objid)
                   WHEN 'pg_rewrite'::regclass THEN (SELECT ev_class FROM pg_rewrite WHERE oid = d.objid)
                   WHEN 'pg_attrdef'::regclass THEN (SELECT adrelid FROM pg_attrdef WHERE oid = d.objid)
                   WHEN 'pg_policy'::regclass THEN (SELECT polrelid FROM pg_policy WHERE oid = d.objid)
               END)) AS from_schema,
           r.type || ' ' || r.identity AS target,
           r.schema AS to_schema
    FROM pg_depend d
    CROSS JOIN LATERAL pg_identify_object(d.classid, d.objid, d.objsubid) o
    CROSS JOIN LATERAL pg_identify_object(d.refclassid, d.refobjid, d.refobjsubid) r
    WHERE d.classid <> 0 AND d.deptype NOT IN ('e', 'x')
)
SELECT 'catalog' AS kind, from_schema, object, to_schema, target
FROM dep
WHERE to_schema IS NOT NULL AND from_schema IS NOT NULL AND from_schema <> to_schema
  AND from_schema NOT LIKE 'pg\_%' AND to_schema NOT LIKE 'pg\_%' -- the catalog, TOAST tables
  AND to_schema <> 'information_schema'
  AND (from_schema LIKE 't\_%' OR to_schema LIKE 't\_%')
UNION ALL
SELECT 'function body', n.nspname, 'function ' || p.oid::regprocedure::text, other.nspname, NULL
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
JOIN pg_namespace other ON other.oid <> n.oid
WHERE n.nspname LIKE 't\_%'
  AND other.nspname NOT IN ('pg_catalog', 'information_schema') AND other.nspname NOT LIKE 'pg\_%'
  AND p.prosrc ~ ('\m' || other.nspname || '\.')
ORDER BY 1, 2, 3, 4;
