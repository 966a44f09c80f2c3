-- civic change generator: delete a governor (bills.governor_id is set NULL).
-- weight: 1
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)

DELETE FROM governors WHERE id = (SELECT civic_gen.pick_governor(:r))
  AND (SELECT count(*) FROM governors) > 5;
