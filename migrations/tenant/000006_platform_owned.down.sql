-- Ownership stays with the platform role: handing the core's tables back to
-- the tenant role would undo the boundary, not a schema change.
SELECT 1;
