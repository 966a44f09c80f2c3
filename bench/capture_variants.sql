-- Alternative capture designs the benchmark compares against pg2neo's (-v variant=row):
-- row-level PL/pgSQL appending one log row per changed row, skipping unchanged rows with a
-- WHEN clause (the cheapest row-level design in measurements.md). Same log table, same
-- SECURITY DEFINER + fixed search_path as the real triggers. Needs `pg2neo init` first.
SET client_min_messages = warning;
CREATE OR REPLACE FUNCTION bench_row_capture() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO public.graph_sync_log (version, op, entity_type, entity_ids)
    VALUES (nextval('public.graph_sync_version_seq'::regclass), 'u', 'User', ARRAY[NEW.id::text]);
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS bench_users_row_capture ON bench_users;
CREATE TRIGGER bench_users_row_capture AFTER UPDATE ON bench_users FOR EACH ROW
    WHEN (OLD.email IS DISTINCT FROM NEW.email OR OLD.name IS DISTINCT FROM NEW.name
          OR OLD.role IS DISTINCT FROM NEW.role OR OLD.tags IS DISTINCT FROM NEW.tags)
    EXECUTE FUNCTION bench_row_capture();
