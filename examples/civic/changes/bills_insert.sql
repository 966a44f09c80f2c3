-- civic change generator: a new bill with a sponsor, up to two co-sponsors and tags.
-- weight: 4
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)
\set r3 random(1, 1000000000000)

INSERT INTO bills (id, number, title, summary, sponsor_id, co_sponsors, tags, status, introduced_on,
                   budget, text_digest)
SELECT civic_gen.key_uuid(-:r), 'NB-' || :r,
       CASE WHEN :r % 7 = 0 THEN civic_gen.hostile(:r) ELSE 'New bill ' || :r END,
       CASE WHEN :r % 2 = 0 THEN NULL ELSE 'Summary ' || :r END,
       s.sponsor,
       ARRAY(SELECT DISTINCT c FROM unnest(ARRAY[civic_gen.ref_sponsor(:r2), civic_gen.ref_sponsor(:r3)]) AS c
             WHERE c IS NOT NULL AND c IS DISTINCT FROM s.sponsor AND :r % 3 <> 0 ORDER BY 1),
       ARRAY(SELECT DISTINCT civic_gen.tag(t) FROM unnest(ARRAY[:r2, :r3]::bigint[]) AS t
             WHERE :r % 4 <> 0 ORDER BY 1),
       'introduced', current_date,
       CASE WHEN :r % 4 = 0 THEN NULL ELSE (:r % 10000000000) / 100.0 END,
       sha256(convert_to('new bill ' || :r, 'UTF8'))
FROM (SELECT civic_gen.ref_sponsor(:r) AS sponsor) AS s
ON CONFLICT DO NOTHING;
