-- civic change generator: a new legislative session (next number; a concurrent twin is skipped).
-- weight: 1
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)

INSERT INTO sessions (id, name, starts_on, is_special, metadata)
SELECT coalesce(max(id), 100) + 1, 'Session ' || (coalesce(max(id), 100) + 1), current_date,
       :r % 4 = 0, json_build_object('opened_by', 'changes', 'n', :r)
FROM sessions
ON CONFLICT DO NOTHING;
