-- civic change generator: a new sponsor.
-- weight: 1
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)

INSERT INTO sponsors (id, full_name, party, district, chamber, first_elected)
VALUES (civic_gen.key_uuid(-:r),
        CASE WHEN :r % 5 = 0 THEN civic_gen.hostile(:r) ELSE 'New sponsor ' || :r END,
        CASE WHEN :r % 3 = 0 THEN NULL ELSE (ARRAY['Blue', 'Red', 'Green'])[1 + (:r % 3)::int] END,
        'District ' || (1 + :r % 435), CASE WHEN :r % 2 = 0 THEN 'house' ELSE 'senate' END,
        current_date - (:r % 3000)::int)
ON CONFLICT DO NOTHING;
