-- civic change generator: hard delete of a comment (its replies go with it).
-- weight: 1
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)

DELETE FROM comments WHERE id = (SELECT civic_gen.pick_comment(:r));
