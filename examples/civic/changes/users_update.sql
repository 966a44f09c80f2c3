-- civic change generator: edit a user: name, reputation, profile, inviter (FK change) or verification.
-- weight: 10
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)
\set k random(0, 4)

UPDATE users
SET display_name = CASE WHEN :k = 0 THEN 'Renamed ' || :r2 ELSE display_name END,
    reputation   = reputation + (:r2 % 11)::int - 5,
    profile      = CASE WHEN :k = 1 THEN coalesce(profile, '{}'::jsonb) || jsonb_build_object('seen', :r2, 'motto', civic_gen.hostile(:r2))
                        ELSE profile END,
    invited_by   = CASE WHEN :k = 2 THEN nullif((SELECT civic_gen.ref_user(:r2)), id)
                        WHEN :k = 3 THEN NULL ELSE invited_by END,
    is_verified  = CASE WHEN :k = 4 THEN NOT is_verified ELSE is_verified END,
    updated_at   = now()
WHERE id = (SELECT civic_gen.pick_any_user(:r));
