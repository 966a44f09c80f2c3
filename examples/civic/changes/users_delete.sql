-- civic change generator: hard delete of a user (cascades to their arguments, comments, votes, bookmarks; invitees lose invited_by).
-- weight: 1
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)

DELETE FROM users WHERE id = (SELECT civic_gen.pick_any_user(:r));
