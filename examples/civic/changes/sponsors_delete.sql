-- civic change generator: delete a sponsor: bills.sponsor_id is set NULL by the FK, and the
-- sponsor is removed from every bills.co_sponsors array in the same transaction. The second
-- statement runs after the DELETE got its lock, so it also sees co-sponsorships added meanwhile.
-- weight: 1
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)

BEGIN;
WITH d AS (DELETE FROM sponsors WHERE id = (SELECT civic_gen.pick_sponsor(:r)) RETURNING id)
SELECT set_config('civic.deleted_sponsor', coalesce((SELECT id::text FROM d), ''), true);
UPDATE bills
SET co_sponsors = array_remove(co_sponsors, nullif(current_setting('civic.deleted_sponsor'), '')::uuid),
    updated_at = now()
WHERE co_sponsors @> ARRAY[nullif(current_setting('civic.deleted_sponsor'), '')::uuid];
END;
