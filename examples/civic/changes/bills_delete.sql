-- civic change generator: delete a bill (cascades to arguments, claims, comments, votes, bookmarks, agendas).
-- weight: 1
\set r random(1, 1000000000000)
\set r2 random(1, 1000000000000)

DELETE FROM bills WHERE id = (SELECT civic_gen.pick_bill(:r));
