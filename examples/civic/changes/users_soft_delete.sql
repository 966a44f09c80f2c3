-- civic change generator: soft delete: set deleted_at (the node must go, the row stays).
-- weight: 3
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)

UPDATE users SET deleted_at = now(), updated_at = now()
WHERE id = (SELECT civic_gen.pick_user(:r)) AND deleted_at IS NULL;
