-- civic change generator: edit a bill: status, budget, sponsor (FK change), governor (FK change) or title.
-- weight: 10
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)
\set k random(0, 4)

UPDATE bills
SET status      = CASE WHEN :k = 0 THEN (ARRAY['introduced', 'committee', 'floor', 'passed', 'signed',
                                               'vetoed', 'failed'])[1 + (:r2 % 7)::int] ELSE status END,
    budget      = CASE WHEN :k = 1 THEN CASE WHEN :r2 % 5 = 0 THEN NULL ELSE (:r2 % 10000000000) / 100.0 END
                       ELSE budget END,
    sponsor_id  = CASE WHEN :k = 2 THEN (SELECT civic_gen.ref_sponsor(:r2)) ELSE sponsor_id END,
    governor_id = CASE WHEN :k = 3 THEN (SELECT civic_gen.ref_governor(:r2)) ELSE governor_id END,
    title       = CASE WHEN :k = 4 THEN 'Amended ' || :r2 || ': ' || left(title, 80) ELSE title END,
    updated_at  = now()
WHERE id = (SELECT civic_gen.pick_bill(:r));
