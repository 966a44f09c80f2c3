-- civic change generator: soft delete a comment (deleted_at).
-- weight: 2
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)

UPDATE comments SET deleted_at = now(), updated_at = now()
WHERE id = (SELECT civic_gen.pick_comment(:r)) AND deleted_at IS NULL;
