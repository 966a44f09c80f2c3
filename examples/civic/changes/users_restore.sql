-- civic change generator: undo a soft delete (the node must come back).
-- weight: 1
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)

UPDATE users SET deleted_at = NULL, updated_at = now()
WHERE id = (SELECT id FROM users WHERE deleted_at IS NOT NULL AND id >= civic_gen.key_uuid(:r)
            ORDER BY id LIMIT 1);
