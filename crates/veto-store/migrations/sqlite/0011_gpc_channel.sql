-- Objections may arrive by a browser's Global Privacy Control signal
-- (channel 'gpc'). SQLite cannot change a CHECK constraint in place: the
-- table is rebuilt with its rows, and so is the one table that refers to it
-- (idempotency keys), which is dropped first so nothing refers to the old
-- table when it goes. Renaming the new tables rewrites the reference.
CREATE TABLE objections_v2 (
    objection_id    TEXT PRIMARY KEY,
    person_id       TEXT NOT NULL,
    scope           TEXT NOT NULL CHECK (scope IN ('all', 'facebook', 'instagram', 'whatsapp')),
    filed_at_us     BIGINT NOT NULL,
    withdrawn_at_us BIGINT,
    channel         TEXT NOT NULL CHECK (channel IN ('web', 'app', 'email', 'letter', 'api', 'gpc')),
    recorded_at_us  BIGINT NOT NULL,
    reason          TEXT,
    CHECK (withdrawn_at_us IS NULL OR withdrawn_at_us >= filed_at_us)
);
INSERT INTO objections_v2 (objection_id, person_id, scope, filed_at_us, withdrawn_at_us, channel, recorded_at_us, reason)
    SELECT objection_id, person_id, scope, filed_at_us, withdrawn_at_us, channel, recorded_at_us, reason FROM objections;

CREATE TABLE idempotency_keys_v2 (
    scoped_key     TEXT PRIMARY KEY,
    objection_id   TEXT NOT NULL REFERENCES objections_v2 (objection_id),
    created_at_us  BIGINT NOT NULL,
    request_sha256 TEXT
);
INSERT INTO idempotency_keys_v2 (scoped_key, objection_id, created_at_us, request_sha256)
    SELECT scoped_key, objection_id, created_at_us, request_sha256 FROM idempotency_keys;

DROP TABLE idempotency_keys;
DROP TABLE objections;
ALTER TABLE objections_v2 RENAME TO objections;
ALTER TABLE idempotency_keys_v2 RENAME TO idempotency_keys;
CREATE INDEX objections_by_person ON objections (person_id);
