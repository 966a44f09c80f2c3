-- Alternative capture designs scripts/bench-capture compares with pg2neo's own triggers
-- (P2N_BENCH_VARIANTS="none capture row stmt"). Both write the same log table and use the same
-- SECURITY DEFINER + fixed search_path as the real triggers. Needs `pg2neo init` first.
--   row   row-level AFTER UPDATE, one log row per changed row, unchanged rows skipped by a WHEN
--         clause over the columns (no key/array split: the cheapest row-level design)
--   stmt  statement-level AFTER UPDATE with transition tables: old and new rows joined on the
--         key, changed rows (column by column) appended as ONE log row per statement
-- psql -v variant=row|stmt -f bench/capture_variants.sql
SET client_min_messages = warning;
DROP TRIGGER IF EXISTS bench_users_row_capture ON bench_users;
DROP TRIGGER IF EXISTS bench_users_stmt_capture ON bench_users;

CREATE OR REPLACE FUNCTION bench_row_capture() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO public.graph_sync_log (version, op, entity_type, entity_ids)
    VALUES (nextval('public.graph_sync_version_seq'::regclass), 'u', 'User', ARRAY[NEW.id::text]);
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION bench_stmt_capture() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO public.graph_sync_log (version, op, entity_type, entity_ids)
    SELECT nextval('public.graph_sync_version_seq'::regclass), d.op, 'User', array_agg(d.id)
      FROM (SELECT CASE WHEN n.id IS NULL THEN 'd' ELSE 'u' END::"char" AS op,
                   coalesce(n.id, o.id)::text AS id
              FROM new_rows n FULL JOIN old_rows o ON o.id = n.id
             WHERE n.id IS NULL OR o.id IS NULL OR o.email IS DISTINCT FROM n.email
                OR o.name IS DISTINCT FROM n.name OR o.role IS DISTINCT FROM n.role
                OR o.tags IS DISTINCT FROM n.tags) d
     GROUP BY d.op;
    RETURN NULL;
END $$;

\if :{?variant}
\else
\set variant row
\endif
SELECT :'variant' = 'row' AS is_row \gset
\if :is_row
CREATE TRIGGER bench_users_row_capture AFTER UPDATE ON bench_users FOR EACH ROW
    WHEN (OLD.email IS DISTINCT FROM NEW.email OR OLD.name IS DISTINCT FROM NEW.name
          OR OLD.role IS DISTINCT FROM NEW.role OR OLD.tags IS DISTINCT FROM NEW.tags)
    EXECUTE FUNCTION bench_row_capture();
\else
CREATE TRIGGER bench_users_stmt_capture AFTER UPDATE ON bench_users
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION bench_stmt_capture();
\endif
