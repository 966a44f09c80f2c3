-- pgbench script: one single-row UPDATE per transaction, found by email (measurements.md).
\set id random(1, 100000)
UPDATE bench_users SET name = 'n' || :id || '-' || random() WHERE email = 'user' || :id || '@example.org';
