-- scripts/bench-capture: the table the capture benchmark writes to (as in
-- ../shared/reference/measurements.md: users, 100k rows, a unique email).
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench_users CASCADE;
CREATE TABLE bench_users (
    id    bigint PRIMARY KEY,
    email text   NOT NULL UNIQUE,
    name  text   NOT NULL,
    role  text   NOT NULL,
    tags  text[]
);
INSERT INTO bench_users
SELECT g, 'user' || g || '@example.org', 'name ' || g, 'member', ARRAY['a', 'b']
  FROM generate_series(1, 100000) g;
VACUUM ANALYZE bench_users;
