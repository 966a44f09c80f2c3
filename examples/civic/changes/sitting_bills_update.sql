-- civic change generator: reorder an agenda item.
-- weight: 1
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)

UPDATE sitting_bills SET agenda_position = 1 + (:r2 % 50)::int
WHERE (sitting_id, bill_id) = (SELECT sitting_id, bill_id FROM sitting_bills
                               WHERE sitting_id >= 1 + :r % greatest(1, (SELECT max(id) FROM sittings))
                               ORDER BY sitting_id, bill_id LIMIT 1);
