-- Deterministic data generator for the civic example (examples/civic/schema.sql must be loaded).
--
--   psql "$DATABASE_URL" -v scale=1 -f examples/civic/generate.sql       ~10k rows
--   psql "$DATABASE_URL" -v scale=100 -f examples/civic/generate.sql     ~1M rows
--   add -v schema=civic when the schema was loaded into schema "civic"
--
-- It REPLACES the civic data: the twelve tables are truncated (identities restarted) in the same
-- transaction that fills them, so a run is all or nothing. TRUNCATE fires no row triggers: with
-- pg2neo's capture triggers installed, the inserts are queued but the old rows' removal is not
-- (run a full sync, or load into a fresh database).
--
-- Same scale, same data: every value is derived from md5 of a (table, row number) string, never
-- from random() or now(); uuids are md5('<table>:<n>')::uuid, so user n is always the same id.
-- Rows per unit of scale (fractional scales work, each table gets at least one row):
--   users 1500, sponsors 100, governors 10, sessions 4, sittings 80, bills 800, sitting_bills 800,
--   arguments 1200, claims 1800, comments 1500, votes 1500, bookmarks 1000   (total 10294)
-- Hostile values are sprinkled over the text columns (quotes, backticks, Cypher-injection
-- attempts, newlines, backslashes, RTL overrides, CJK, emoji, 10 kB strings, empty strings), over
-- jsonb keys, tags and a json document with duplicate keys; many nullable columns hold NULLs;
-- a few doubles are NaN, Infinity and -0; some timestamps are before 1970.

\set ON_ERROR_STOP on
SET client_min_messages = warning;
\if :{?schema}
SET search_path = :"schema";
\endif
\if :{?scale}
\else
\set scale 1
\endif

-- Row counts for this scale, into psql variables.
SELECT greatest(1, round(1500 * s))::int AS n_users,
       greatest(1, round(100 * s))::int  AS n_sponsors,
       greatest(1, round(10 * s))::int   AS n_governors,
       greatest(1, round(4 * s))::int    AS n_sessions,
       greatest(1, round(80 * s))::int   AS n_sittings,
       greatest(1, round(800 * s))::int  AS n_bills,
       greatest(1, round(800 * s))::int  AS n_sitting_bills,
       greatest(1, round(1200 * s))::int AS n_arguments,
       greatest(1, round(1800 * s))::int AS n_claims,
       greatest(1, round(1500 * s))::int AS n_comments,
       greatest(1, round(1500 * s))::int AS n_votes,
       greatest(1, round(1000 * s))::int AS n_bookmarks
FROM (SELECT CAST(:'scale' AS numeric) AS s) AS p
\gset

-- Helpers that live only for this session (pg_temp): a 60-bit hash, an md5 uuid, a hostile string.
CREATE FUNCTION pg_temp.h(t text) RETURNS bigint IMMUTABLE STRICT LANGUAGE sql
  AS $$ SELECT ('x' || substr(md5(t), 1, 15))::bit(60)::bigint $$;
CREATE FUNCTION pg_temp.u(t text) RETURNS uuid IMMUTABLE STRICT LANGUAGE sql
  AS $$ SELECT md5(t)::uuid $$;
CREATE FUNCTION pg_temp.hostile(n bigint) RETURNS text IMMUTABLE STRICT LANGUAGE sql AS $f$
  SELECT (ARRAY[
    $$O'Brien said "hello"; DROP TABLE users; --$$,
    $$'}) DETACH DELETE n //$$,
    $$"}) MATCH (n) DETACH DELETE n RETURN 1 //$$,
    $$`backtick` and ``doubled`` ` and \`escaped\`$$,
    E'multi\nline\r\ntext\twith a tab',
    'Zürich, naïve café, 東京都, Ελληνικά, עברית, Здравствуйте, 𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
    '🏛️🗳️ emoji 👍🏽 family 👨‍👩‍👧 flag 🇪🇺',
    E'back\\slash \\n not a newline \\u0041 \\\\ \\x00',
    '${NEO4J_PASSWORD} $rows {param} :param %s %n {{x}}',
    '',
    E'right-to-left \u202Eoverride\u202C zero\u200Bwidth \uFEFFbom',
    'NULL',
    '<script>alert(1)</script> & <b>html</b> &amp;',
    repeat('long text ', 1000)
  ])[1 + (n % 14)::int] $f$;
CREATE FUNCTION pg_temp.tag(n bigint) RETURNS text IMMUTABLE STRICT LANGUAGE sql AS $f$
  SELECT (ARRAY[
    'health', 'education', 'budget', 'transport', 'housing', 'energy', 'climate', 'justice',
    'tax', 'agriculture', 'water', 'veterans', 'labor', 'privacy', 'elections', 'immigration',
    'trade', 'science', 'broadband', 'parks', 'santé', '教育', '🌱 green',
    $$o'neil act$$, 'back`tick', E'new\nline', $$'}) DETACH DELETE t //$$, 'tag with spaces'
  ])[1 + (n % 28)::int] $f$;

BEGIN;

TRUNCATE users, sponsors, governors, sessions, sittings, bills, sitting_bills, arguments, claims,
         comments, votes, bookmarks RESTART IDENTITY;

INSERT INTO users (id, email, display_name, bio, invited_by, is_verified, reputation, profile,
                   avatar, deleted_at, created_at, updated_at)
SELECT pg_temp.u('users:' || i),
       CASE WHEN i % 23 = 0 THEN $$o'brien+$$ || i || '@example.org'
            ELSE 'user' || i || '@example.org' END,
       CASE WHEN i % 17 = 0 THEN pg_temp.hostile(i / 17) ELSE 'User ' || i END,
       CASE WHEN i % 3 = 0 THEN NULL
            WHEN i % 7 = 0 THEN pg_temp.hostile(i / 7 + 3)
            ELSE 'Citizen number ' || i || ', interested in ' || pg_temp.tag(pg_temp.h('ub' || i)) END,
       CASE WHEN i <= 10 OR i % 5 = 0 THEN NULL
            ELSE pg_temp.u('users:' || (1 + pg_temp.h('ui' || i) % (i - 1))) END,
       pg_temp.h('uv' || i) % 3 = 0,
       (pg_temp.h('ur' || i) % 20001)::int - 1000,
       CASE WHEN i % 10 = 0 THEN NULL
            ELSE jsonb_build_object(
                   'locale', (ARRAY['en-US', 'fr-CA', 'es-MX', 'zh-TW', 'ar-EG'])[1 + (i % 5)::int],
                   'notifications', i % 2 = 0,
                   'interests', jsonb_build_array(pg_temp.tag(i), pg_temp.tag(i * 7)),
                   'weight', round((pg_temp.h('uw' || i) % 1000) / 8.0, 3),
                   'nested', jsonb_build_object('a', jsonb_build_array(1, NULL, 'x', i)),
                   CASE WHEN i % 11 = 0 THEN pg_temp.hostile(i / 11) ELSE 'motto' END,
                   pg_temp.hostile(i)) END,
       CASE WHEN i % 4 = 0 THEN decode(md5('avatar' || i), 'hex') || '\x00ff00'::bytea END,
       CASE WHEN i % 50 = 0 THEN timestamptz '2025-06-01 00:00:00+00' + i * interval '1 minute' END,
       timestamptz '2023-01-01 00:00:00+00' + i * interval '37 minutes'
         + (pg_temp.h('uc' || i) % 1000000) * interval '1 microsecond',
       timestamptz '2024-01-01 00:00:00+00' + i * interval '41 minutes'
FROM generate_series(1, :n_users) AS i;

INSERT INTO sponsors (id, full_name, party, district, chamber, first_elected, created_at, updated_at)
SELECT pg_temp.u('sponsors:' || i),
       CASE WHEN i % 13 = 0 THEN pg_temp.hostile(i / 13) ELSE 'Sponsor ' || i END,
       CASE WHEN i % 9 = 0 THEN NULL ELSE (ARRAY['Blue', 'Red', 'Green', 'Independent'])[1 + (i % 4)::int] END,
       CASE WHEN i % 6 = 0 THEN NULL ELSE 'District ' || (1 + pg_temp.h('sd' || i) % 435) END,
       CASE WHEN i % 3 = 0 THEN 'senate' ELSE 'house' END,
       CASE WHEN i % 8 = 0 THEN NULL ELSE date '1960-01-03' + (pg_temp.h('sf' || i) % 23000)::int END,
       timestamptz '2022-01-01 00:00:00+00' + i * interval '1 hour',
       timestamptz '2022-06-01 00:00:00+00' + i * interval '1 hour'
FROM generate_series(1, :n_sponsors) AS i;

INSERT INTO governors (id, full_name, state, term_start, term_end, created_at, updated_at)
SELECT pg_temp.u('governors:' || i),
       CASE WHEN i % 4 = 0 THEN pg_temp.hostile(i) ELSE 'Governor ' || i END,
       (ARRAY['CA', 'NY', 'TX', 'WA', 'Puerto Rico', 'Île-de-France'])[1 + (i % 6)::int],
       date '1951-01-01' + ((i - 1) % 70) * 365,
       CASE WHEN i % 5 = 0 THEN NULL ELSE date '1951-01-01' + ((i - 1) % 70) * 365 + 1460 END,
       timestamptz '2022-01-01 00:00:00+00' + i * interval '1 day',
       timestamptz '2022-01-01 00:00:00+00' + i * interval '1 day'
FROM generate_series(1, :n_governors) AS i;

-- Sessions from 1965 on (early ones give timestamps before the Unix epoch); the metadata is json,
-- kept verbatim, including whitespace and, in some rows, duplicate keys.
INSERT INTO sessions (id, name, starts_on, ends_on, is_special, metadata, created_at, updated_at)
SELECT 100 + i,
       CASE WHEN i % 5 = 0 THEN pg_temp.hostile(i) ELSE 'Session ' || (100 + i) END,
       date '1965-01-04' + (i - 1) * 91,
       CASE WHEN i = :n_sessions THEN NULL ELSE date '1965-01-04' + (i - 1) * 91 + 90 END,
       i % 4 = 0,
       CASE WHEN i % 7 = 2 THEN json '{"quorum": 51, "quorum": 60, "note": "duplicate key"}'
            WHEN i % 3 = 0 THEN NULL
            ELSE format('{ "clerk" : %s,  "quorum": %s, "rules": ["standing", %s] }',
                        to_json('Clerk ' || i), 40 + i % 20, to_json(pg_temp.hostile(i)))::json END,
       timestamptz '2021-01-01 00:00:00+00' + i * interval '1 day',
       timestamptz '2021-01-01 00:00:00+00' + i * interval '1 day'
FROM generate_series(1, :n_sessions) AS i;

INSERT INTO sittings (id, session_id, chamber, sat_at, adjourned_at, minutes, created_at, updated_at)
SELECT i,
       100 + 1 + (i - 1) % :n_sessions,
       (ARRAY['house', 'senate', 'joint'])[1 + (i % 3)::int],
       (date '1965-01-04' + ((i - 1) % :n_sessions) * 91 + ((i - 1) / :n_sessions) % 90)
         + time '09:00' + (pg_temp.h('st' || i) % 7200) * interval '1 second',
       CASE WHEN i % 6 = 0 THEN NULL
            ELSE (date '1965-01-04' + ((i - 1) % :n_sessions) * 91 + ((i - 1) / :n_sessions) % 90)
                 + time '17:30:00.123456' END,
       CASE WHEN i % 4 = 0 THEN NULL
            WHEN i % 9 = 0 THEN pg_temp.hostile(i / 9)
            ELSE 'Minutes of sitting ' || i END,
       timestamptz '2021-06-01 00:00:00+00' + i * interval '1 hour',
       timestamptz '2021-06-01 00:00:00+00' + i * interval '1 hour'
FROM generate_series(1, :n_sittings) AS i;

INSERT INTO bills (id, number, title, summary, sponsor_id, governor_id, co_sponsors, tags, status,
                   introduced_on, budget, text_digest, created_at, updated_at)
SELECT pg_temp.u('bills:' || i),
       CASE WHEN i % 2 = 0 THEN 'SB-' ELSE 'HB-' END || lpad(i::text, 7, '0'),
       CASE WHEN i % 19 = 0 THEN pg_temp.hostile(i / 19) ELSE 'An act concerning ' || pg_temp.tag(i) || ' (' || i || ')' END,
       CASE WHEN i % 6 = 0 THEN NULL
            WHEN i % 11 = 0 THEN pg_temp.hostile(i / 11 + 5)
            ELSE 'Summary of bill ' || i END,
       CASE WHEN i % 25 = 0 THEN NULL
            ELSE pg_temp.u('sponsors:' || (1 + pg_temp.h('bs' || i) % :n_sponsors)) END,
       CASE WHEN st IN ('signed', 'vetoed') AND i % 10 <> 0
            THEN pg_temp.u('governors:' || (1 + pg_temp.h('bg' || i) % :n_governors)) END,
       ARRAY(SELECT DISTINCT pg_temp.u('sponsors:' || (1 + pg_temp.h('bc' || i || ':' || j) % :n_sponsors))
             FROM generate_series(1, (pg_temp.h('bcn' || i) % 4)::int) AS j ORDER BY 1),
       ARRAY(SELECT DISTINCT pg_temp.tag(pg_temp.h('bt' || i || ':' || j))
             FROM generate_series(1, (pg_temp.h('btn' || i) % 5)::int) AS j ORDER BY 1),
       st,
       date '2023-01-01' + (pg_temp.h('bi' || i) % 730)::int,
       CASE WHEN i % 4 = 0 THEN NULL
            WHEN i % 97 = 0 THEN 999999999999.99
            WHEN i % 31 = 0 THEN -(pg_temp.h('bn' || i) % 100000) / 100.0
            ELSE (pg_temp.h('bb' || i) % 100000000000000) / 100.0 END,
       CASE WHEN i % 8 = 0 THEN NULL ELSE sha256(convert_to('bill text ' || i, 'UTF8')) END,
       timestamptz '2023-01-01 00:00:00+00' + i * interval '17 minutes',
       timestamptz '2024-01-01 00:00:00+00' + i * interval '19 minutes'
FROM (SELECT i, (ARRAY['introduced', 'committee', 'floor', 'passed', 'signed', 'vetoed', 'failed'])
                  [1 + (pg_temp.h('bst' || i) % 7)::int] AS st
      FROM generate_series(1, :n_bills) AS i) AS b;

-- Pairs are unique by construction (sitting = i mod n_sittings, then distinct bills for it);
-- ON CONFLICT only guards very small fractional scales.
INSERT INTO sitting_bills (sitting_id, bill_id, agenda_position)
SELECT 1 + i % :n_sittings,
       pg_temp.u('bills:' || (1 + (i / :n_sittings + (i % :n_sittings) * 13) % :n_bills)),
       1 + i / :n_sittings
FROM generate_series(0, :n_sitting_bills - 1) AS i
ON CONFLICT DO NOTHING;

INSERT INTO arguments (id, bill_id, user_id, stance, body, score, created_at, updated_at)
SELECT i,
       pg_temp.u('bills:' || (1 + pg_temp.h('ab' || i) % :n_bills)),
       pg_temp.u('users:' || (1 + pg_temp.h('au' || i) % :n_users)),
       (ARRAY['support', 'oppose', 'neutral'])[1 + (pg_temp.h('as' || i) % 3)::int],
       CASE WHEN i % 7 = 0 THEN pg_temp.hostile(i / 7) ELSE 'Argument ' || i || ': because ' || pg_temp.tag(i) END,
       CASE WHEN i % 5 = 0 THEN NULL
            WHEN i % 997 = 1 THEN 'NaN'::float8
            WHEN i % 991 = 2 THEN 'Infinity'::float8
            WHEN i % 983 = 3 THEN '-0'::float8
            ELSE (pg_temp.h('ac' || i) % 100000) / 1000.0 - 50 END,
       timestamptz '2023-02-01 00:00:00+00' + i * interval '13 minutes',
       timestamptz '2024-02-01 00:00:00+00' + i * interval '13 minutes'
FROM generate_series(1, :n_arguments) AS i;

INSERT INTO claims (id, argument_id, position, statement, source_url, verified, created_at, updated_at)
SELECT i,
       1 + pg_temp.h('ca' || i) % :n_arguments,
       (1 + i % 5)::smallint,
       CASE WHEN i % 9 = 0 THEN pg_temp.hostile(i / 9 + 1) ELSE 'Claim ' || i END,
       CASE WHEN i % 3 = 0 THEN NULL
            WHEN i % 10 = 1 THEN $$https://example.org/a?q='x'&b="y"#`z`$$
            ELSE 'https://example.org/source/' || i END,
       CASE i % 3 WHEN 0 THEN NULL WHEN 1 THEN true ELSE false END,
       timestamptz '2023-03-01 00:00:00+00' + i * interval '11 minutes',
       timestamptz '2024-03-01 00:00:00+00' + i * interval '11 minutes'
FROM generate_series(1, :n_claims) AS i;

-- One comment in four (after the first hundred) replies to an earlier top-level comment, on the
-- same bill.
INSERT INTO comments (id, user_id, bill_id, parent_id, body, deleted_at, created_at, updated_at)
SELECT i,
       pg_temp.u('users:' || (1 + pg_temp.h('cu' || i) % :n_users)),
       pg_temp.u('bills:' || (1 + pg_temp.h('cb' || coalesce(p, i)) % :n_bills)),
       p,
       CASE WHEN i % 11 = 0 THEN pg_temp.hostile(i / 11 + 2) ELSE 'Comment ' || i END,
       CASE WHEN i % 40 = 0 THEN timestamptz '2025-07-01 00:00:00+00' + i * interval '1 minute' END,
       timestamptz '2023-04-01 00:00:00+00' + i * interval '7 minutes',
       timestamptz '2024-04-01 00:00:00+00' + i * interval '7 minutes'
FROM (SELECT i, CASE WHEN i > 100 AND i % 4 = 0
                     THEN (SELECT CASE WHEN c % 4 = 0 THEN c - 1 ELSE c END
                           FROM (SELECT 1 + pg_temp.h('cp' || i) % (i - 1) AS c) AS q) END AS p
      FROM generate_series(1, :n_comments) AS i) AS c;

-- A third of the users vote (three bills each at scale 1), a fifth bookmark: pairs are unique by
-- construction as long as a user's count stays below the number of bills.
INSERT INTO votes (user_id, bill_id, vote, voted_at)
SELECT pg_temp.u('users:' || u),
       pg_temp.u('bills:' || (1 + (k + u * 13 + pg_temp.h('vb' || u)) % :n_bills)),
       (ARRAY['yea', 'nay', 'abstain'])[1 + (pg_temp.h('vv' || i) % 3)::int],
       timestamptz '2024-05-01 00:00:00+00' + i * interval '3 minutes'
FROM (SELECT i, 1 + i % a AS u, i / a AS k
      FROM (SELECT greatest(1, :n_users / 3) AS a) AS s, generate_series(0, :n_votes - 1) AS i) AS v
ON CONFLICT DO NOTHING;

INSERT INTO bookmarks (user_id, bill_id, note, created_at)
SELECT pg_temp.u('users:' || u),
       pg_temp.u('bills:' || (1 + (k + u * 17 + pg_temp.h('kb' || u)) % :n_bills)),
       CASE WHEN i % 10 = 0 THEN pg_temp.hostile(i / 10) WHEN i % 3 = 0 THEN 'read later' END,
       timestamptz '2024-06-01 00:00:00+00' + i * interval '5 minutes'
FROM (SELECT i, 1 + i % a AS u, i / a AS k
      FROM (SELECT greatest(1, :n_users / 5) AS a) AS s, generate_series(0, :n_bookmarks - 1) AS i) AS v
ON CONFLICT DO NOTHING;

-- Explicit ids were inserted into identity columns: move their sequences past them.
SELECT setval(pg_get_serial_sequence('sittings', 'id'), :n_sittings),
       setval(pg_get_serial_sequence('arguments', 'id'), :n_arguments),
       setval(pg_get_serial_sequence('claims', 'id'), :n_claims),
       setval(pg_get_serial_sequence('comments', 'id'), :n_comments)
\g /dev/null

COMMIT;

ANALYZE users, sponsors, governors, sessions, sittings, bills, sitting_bills, arguments, claims,
        comments, votes, bookmarks;

SELECT name AS "table", n AS "rows" FROM (
          SELECT 1, 'users', count(*) FROM users
UNION ALL SELECT 2, 'sponsors', count(*) FROM sponsors
UNION ALL SELECT 3, 'governors', count(*) FROM governors
UNION ALL SELECT 4, 'sessions', count(*) FROM sessions
UNION ALL SELECT 5, 'sittings', count(*) FROM sittings
UNION ALL SELECT 6, 'bills', count(*) FROM bills
UNION ALL SELECT 7, 'sitting_bills', count(*) FROM sitting_bills
UNION ALL SELECT 8, 'arguments', count(*) FROM arguments
UNION ALL SELECT 9, 'claims', count(*) FROM claims
UNION ALL SELECT 10, 'comments', count(*) FROM comments
UNION ALL SELECT 11, 'votes', count(*) FROM votes
UNION ALL SELECT 12, 'bookmarks', count(*) FROM bookmarks) AS c (ord, name, n)
ORDER BY ord;
