-- civic change generator: a bookmark is removed.
-- weight: 4
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)

DELETE FROM bookmarks
WHERE (user_id, bill_id) = (SELECT user_id, bill_id FROM bookmarks WHERE user_id >= civic_gen.key_uuid(:r)
                            ORDER BY user_id, bill_id LIMIT 1);
