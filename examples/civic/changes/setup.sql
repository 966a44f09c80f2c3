-- Helpers for the civic change generator (examples/civic/changes.sh runs this before pgbench).
-- They live in their own schema, civic_gen, so the example's tables stay exactly as schema.sql
-- made them. Idempotent (CREATE OR REPLACE).
--
-- Every change script turns a pgbench random number r into a row that exists now:
--   pick_<t>(r)  a row to update or delete: the first key >= a key derived from r, wrapping
--                around to the smallest; one index probe however large the table. No lock.
--   ref_<t>(r)   the same, locked FOR KEY SHARE until the transaction ends: for ids about to be
--                written into a foreign key (or into bills.co_sponsors), so that a concurrent
--                delete waits for us instead of making our insert fail; if the row is deleted
--                while we wait, the next one is taken.
-- Both return NULL only when the table is empty; scripts skip the change then.
-- Tables are named without a schema: they resolve through the caller's search_path.

SET client_min_messages = warning;
CREATE SCHEMA IF NOT EXISTS civic_gen;

-- A uuid spread uniformly over the key space (uuid keys are md5-derived, so uniform too).
CREATE OR REPLACE FUNCTION civic_gen.key_uuid(r bigint) RETURNS uuid
  IMMUTABLE LANGUAGE sql AS $$ SELECT md5(r::text)::uuid $$;

-- The same vocabulary of tags as generate.sql (with its hostile ones).
CREATE OR REPLACE FUNCTION civic_gen.tag(n bigint) RETURNS text IMMUTABLE LANGUAGE sql AS $f$
  SELECT (ARRAY[
    'health', 'education', 'budget', 'transport', 'housing', 'energy', 'climate', 'justice',
    'tax', 'agriculture', 'water', 'veterans', 'labor', 'privacy', 'elections', 'immigration',
    'trade', 'science', 'broadband', 'parks', 'santé', '教育', '🌱 green',
    $$o'neil act$$, 'back`tick', E'new\nline', $$'}) DETACH DELETE t //$$, 'tag with spaces'
  ])[1 + (n % 28)::int] $f$;

-- Hostile text for the change scripts (no pgbench ':name' sequences in it).
CREATE OR REPLACE FUNCTION civic_gen.hostile(n bigint) RETURNS text IMMUTABLE LANGUAGE sql AS $f$
  SELECT (ARRAY[
    $$O'Brien said "hi"; DROP TABLE users; --$$,
    $$'}) DETACH DELETE n //$$,
    $$`backtick` \` ``$$,
    E'line one\nline two\r\n\ttabbed',
    'Ελληνικά 東京 עברית 🗳️👨‍👩‍👧',
    E'back\\slash \\u0000',
    '',
    E'rtl \u202Eoverride\u202C'
  ])[1 + (n % 8)::int] $f$;

-- Users: actors are users not soft-deleted; pick_any_user includes the soft-deleted.
CREATE OR REPLACE FUNCTION civic_gen.pick_user(r bigint) RETURNS uuid VOLATILE LANGUAGE sql AS $$
  SELECT coalesce(
    (SELECT id FROM users WHERE id >= civic_gen.key_uuid(r) AND deleted_at IS NULL ORDER BY id LIMIT 1),
    (SELECT id FROM users WHERE deleted_at IS NULL ORDER BY id LIMIT 1)) $$;
CREATE OR REPLACE FUNCTION civic_gen.pick_any_user(r bigint) RETURNS uuid VOLATILE LANGUAGE sql AS $$
  SELECT coalesce(
    (SELECT id FROM users WHERE id >= civic_gen.key_uuid(r) ORDER BY id LIMIT 1),
    (SELECT id FROM users ORDER BY id LIMIT 1)) $$;
CREATE OR REPLACE FUNCTION civic_gen.ref_user(r bigint) RETURNS uuid VOLATILE LANGUAGE sql AS $$
  SELECT coalesce(
    (SELECT id FROM users WHERE id >= civic_gen.key_uuid(r) AND deleted_at IS NULL
      ORDER BY id LIMIT 1 FOR KEY SHARE),
    (SELECT id FROM users WHERE deleted_at IS NULL ORDER BY id LIMIT 1 FOR KEY SHARE)) $$;

-- The other uuid-keyed tables.
DO $do$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['sponsor', 'governor', 'bill'] LOOP
    EXECUTE format($f$
      CREATE OR REPLACE FUNCTION civic_gen.pick_%1$s(r bigint) RETURNS uuid VOLATILE LANGUAGE sql AS $b$
        SELECT coalesce(
          (SELECT id FROM %1$ss WHERE id >= civic_gen.key_uuid(r) ORDER BY id LIMIT 1),
          (SELECT id FROM %1$ss ORDER BY id LIMIT 1)) $b$;
      CREATE OR REPLACE FUNCTION civic_gen.ref_%1$s(r bigint) RETURNS uuid VOLATILE LANGUAGE sql AS $b$
        SELECT coalesce(
          (SELECT id FROM %1$ss WHERE id >= civic_gen.key_uuid(r) ORDER BY id LIMIT 1 FOR KEY SHARE),
          (SELECT id FROM %1$ss ORDER BY id LIMIT 1 FOR KEY SHARE)) $b$;
    $f$, t);
  END LOOP;
END
$do$;

-- Integer-keyed tables: the first id >= 1 + r mod max(id) (max(id) is one index probe).
DO $do$
DECLARE t text[];
BEGIN
  FOREACH t SLICE 1 IN ARRAY ARRAY[['session', 'sessions', 'integer'], ['sitting', 'sittings', 'bigint'],
                                   ['argument', 'arguments', 'bigint'], ['claim', 'claims', 'bigint'],
                                   ['comment', 'comments', 'bigint']] LOOP
    EXECUTE format($f$
      CREATE OR REPLACE FUNCTION civic_gen.pick_%1$s(r bigint) RETURNS %3$s VOLATILE LANGUAGE sql AS $b$
        SELECT coalesce(
          (SELECT id FROM %2$s WHERE id >= 1 + r %% greatest(1, (SELECT max(id) FROM %2$s))
            ORDER BY id LIMIT 1),
          (SELECT id FROM %2$s ORDER BY id LIMIT 1)) $b$;
      CREATE OR REPLACE FUNCTION civic_gen.ref_%1$s(r bigint) RETURNS %3$s VOLATILE LANGUAGE sql AS $b$
        SELECT coalesce(
          (SELECT id FROM %2$s WHERE id >= 1 + r %% greatest(1, (SELECT max(id) FROM %2$s))
            ORDER BY id LIMIT 1 FOR KEY SHARE),
          (SELECT id FROM %2$s ORDER BY id LIMIT 1 FOR KEY SHARE)) $b$;
    $f$, t[1], t[2], t[3]);
  END LOOP;
END
$do$;
