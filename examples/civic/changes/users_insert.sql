-- civic change generator: a new user, invited by an existing one (or by nobody).
-- weight: 5
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)

INSERT INTO users (id, email, display_name, bio, invited_by, is_verified, reputation, profile, avatar)
SELECT civic_gen.key_uuid(-:r), 'new' || :r || '@example.org', 'New user ' || :r,
       CASE WHEN :r % 3 = 0 THEN NULL ELSE civic_gen.hostile(:r) END,
       CASE WHEN :r % 4 = 0 THEN NULL ELSE civic_gen.ref_user(:r2) END,
       :r % 2 = 0, 0,
       jsonb_build_object('source', 'changes', 'n', :r, 'tags', jsonb_build_array(civic_gen.tag(:r))),
       CASE WHEN :r % 5 = 0 THEN decode(md5(:r::text), 'hex') END
ON CONFLICT DO NOTHING;
