-- civic change generator: adjourn a sitting, amend its minutes, or move it to another session (FK change).
-- weight: 2
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)
\set k random(0, 2)

UPDATE sittings
SET adjourned_at = CASE WHEN :k = 0 THEN sat_at + interval '8 hours' ELSE adjourned_at END,
    minutes      = CASE WHEN :k = 1 THEN coalesce(minutes, '') || E'\nAmended ' || :r2 ELSE minutes END,
    session_id   = CASE WHEN :k = 2 THEN coalesce((SELECT civic_gen.ref_session(:r2)), session_id) ELSE session_id END,
    updated_at   = now()
WHERE id = (SELECT civic_gen.pick_sitting(:r));
