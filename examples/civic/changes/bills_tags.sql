-- civic change generator: add a tag to bills.tags or remove one.
-- weight: 6
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)
\set k random(0, 1)

UPDATE bills
SET tags = CASE WHEN :k = 0 THEN CASE WHEN tags @> ARRAY[civic_gen.tag(:r2)] THEN tags
                                      ELSE tags || civic_gen.tag(:r2) END
                WHEN cardinality(tags) > 0 THEN array_remove(tags, tags[1 + (:r2 % cardinality(tags))::int])
                ELSE tags END,
    updated_at = now()
WHERE id = (SELECT civic_gen.pick_bill(:r));
