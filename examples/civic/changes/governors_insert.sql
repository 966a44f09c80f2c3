-- civic change generator: a new governor.
-- weight: 1
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)

INSERT INTO governors (id, full_name, state, term_start, term_end)
VALUES (civic_gen.key_uuid(-:r), 'New governor ' || :r, (ARRAY['CA', 'NY', 'TX'])[1 + (:r % 3)::int],
        current_date - (:r % 2000)::int, NULL)
ON CONFLICT DO NOTHING;
