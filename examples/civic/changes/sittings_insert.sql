-- civic change generator: a new sitting of a session.
-- weight: 2
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)

INSERT INTO sittings (session_id, chamber, sat_at, minutes)
SELECT s, (ARRAY['house', 'senate', 'joint'])[1 + (:r % 3)::int],
       localtimestamp(0) - (:r % 86400) * interval '1 second',
       CASE WHEN :r % 4 = 0 THEN NULL ELSE civic_gen.hostile(:r) END
FROM (SELECT civic_gen.ref_session(:r2) AS s) AS q
WHERE s IS NOT NULL;
