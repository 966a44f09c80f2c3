-- civic change generator: edit a comment.
-- weight: 4
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)

UPDATE comments SET body = 'Edited ' || :r2 || ': ' || left(body, 200), updated_at = now()
WHERE id = (SELECT civic_gen.pick_comment(:r));
