-- civic change generator: a vote is withdrawn.
-- weight: 3
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)

DELETE FROM votes
WHERE (user_id, bill_id) = (SELECT user_id, bill_id FROM votes WHERE user_id >= civic_gen.key_uuid(:r)
                            ORDER BY user_id, bill_id LIMIT 1);
