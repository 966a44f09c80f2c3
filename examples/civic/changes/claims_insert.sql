-- civic change generator: a claim inside an argument.
-- weight: 6
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)

INSERT INTO claims (argument_id, position, statement, source_url, verified)
SELECT a, (1 + :r % 5)::smallint,
       CASE WHEN :r % 6 = 0 THEN civic_gen.hostile(:r) ELSE 'New claim ' || :r END,
       CASE WHEN :r % 2 = 0 THEN NULL ELSE 'https://example.org/new/' || :r END,
       CASE :r % 3 WHEN 0 THEN NULL WHEN 1 THEN true ELSE false END
FROM (SELECT civic_gen.ref_argument(:r2) AS a) AS s
WHERE a IS NOT NULL;
