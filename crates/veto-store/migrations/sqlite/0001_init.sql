-- veto state store, schema v1. Times are UTC microseconds since the epoch
-- (BIGINT), so the same schema runs on SQLite and PostgreSQL.

CREATE TABLE installation (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE objections (
    objection_id    TEXT PRIMARY KEY,
    person_id       TEXT NOT NULL,
    scope           TEXT NOT NULL CHECK (scope IN ('all', 'facebook', 'instagram', 'whatsapp')),
    filed_at_us     BIGINT NOT NULL,
    withdrawn_at_us BIGINT,
    channel         TEXT NOT NULL CHECK (channel IN ('web', 'app', 'email', 'letter', 'api')),
    recorded_at_us  BIGINT NOT NULL,
    CHECK (withdrawn_at_us IS NULL OR withdrawn_at_us >= filed_at_us)
);
CREATE INDEX objections_by_person ON objections (person_id);

CREATE TABLE snapshots (
    snapshot_id   TEXT PRIMARY KEY,
    as_of_us      BIGINT NOT NULL,
    policy_name   TEXT NOT NULL,
    policy_sha256 TEXT NOT NULL,
    path          TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('complete')),
    built_at_us   BIGINT NOT NULL,
    manifest      TEXT NOT NULL
);
