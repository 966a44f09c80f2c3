-- civic change generator: a user votes on a bill, or changes their vote.
-- weight: 12
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)

INSERT INTO votes (user_id, bill_id, vote, voted_at)
SELECT u, b, (ARRAY['yea', 'nay', 'abstain'])[1 + (:r % 3)::int], now()
FROM (SELECT civic_gen.ref_user(:r) AS u, civic_gen.ref_bill(:r2) AS b) AS q
WHERE u IS NOT NULL AND b IS NOT NULL
ON CONFLICT (user_id, bill_id) DO UPDATE SET vote = EXCLUDED.vote, voted_at = EXCLUDED.voted_at;
