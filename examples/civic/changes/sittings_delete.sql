-- civic change generator: delete a sitting (its agenda goes with it).
-- weight: 1
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)

DELETE FROM sittings WHERE id = (SELECT civic_gen.pick_sitting(:r));
