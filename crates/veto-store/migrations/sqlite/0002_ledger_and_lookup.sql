-- The transparency ledger (hash chain; see docs/ledger.md) and the per-person
-- lookup of every snapshot. Persons appear only as keyed hashes (person_ref).

CREATE TABLE ledger (
    seq     BIGINT PRIMARY KEY,
    kind    TEXT NOT NULL,
    at      TEXT NOT NULL,
    payload TEXT NOT NULL,
    prev    TEXT NOT NULL,
    hash    TEXT NOT NULL UNIQUE
);

CREATE TABLE snapshot_persons (
    person_ref  TEXT NOT NULL,
    snapshot_id TEXT NOT NULL REFERENCES snapshots (snapshot_id),
    shard       BIGINT,
    included    BIGINT NOT NULL,
    by_kind     TEXT NOT NULL,
    excluded    BIGINT NOT NULL,
    by_reason   TEXT NOT NULL,
    PRIMARY KEY (person_ref, snapshot_id)
);

-- Set once every person of the snapshot is in snapshot_persons.
ALTER TABLE snapshots ADD COLUMN lookup_ready BOOLEAN NOT NULL DEFAULT FALSE;
