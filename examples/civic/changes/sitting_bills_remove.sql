-- civic change generator: take a bill off a sitting's agenda.
-- weight: 2
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)

DELETE FROM sitting_bills
WHERE (sitting_id, bill_id) = (SELECT sitting_id, bill_id FROM sitting_bills
                               WHERE sitting_id >= 1 + :r % greatest(1, (SELECT max(id) FROM sittings))
                               ORDER BY sitting_id, bill_id LIMIT 1);
