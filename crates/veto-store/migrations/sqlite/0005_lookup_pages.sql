-- The per-person lookup as packed pages (see veto-store's lookup::page):
-- one row per 512 persons of a snapshot instead of one per person. Rows of
-- the old snapshot_persons table are repacked by the store when it opens,
-- and the old table is then dropped.

CREATE TABLE lookup_pages (
    snapshot_id TEXT NOT NULL REFERENCES snapshots (snapshot_id),
    first_ref   BLOB NOT NULL,
    page        BLOB NOT NULL,
    PRIMARY KEY (snapshot_id, first_ref)
) WITHOUT ROWID;
