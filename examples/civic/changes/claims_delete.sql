-- civic change generator: delete a claim.
-- weight: 2
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)

DELETE FROM claims WHERE id = (SELECT civic_gen.pick_claim(:r));
