-- civic change generator: delete an argument (its claims go with it).
-- weight: 2
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)

DELETE FROM arguments WHERE id = (SELECT civic_gen.pick_argument(:r));
