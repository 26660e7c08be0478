-- The objection portal: accounts, server-side sessions, idempotency keys,
-- service tokens, objections by non-users, and the email outbox.

CREATE TABLE accounts (
    username      TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('person', 'operator')),
    person_id     TEXT,
    email         TEXT,
    password_hash TEXT NOT NULL,
    created_at_us BIGINT NOT NULL,
    CHECK ((role = 'person') = (person_id IS NOT NULL))
);

CREATE TABLE sessions (
    token_sha256  TEXT PRIMARY KEY,
    username      TEXT NOT NULL REFERENCES accounts (username),
    csrf_token    TEXT NOT NULL,
    expires_at_us BIGINT NOT NULL
);

CREATE TABLE idempotency_keys (
    scoped_key    TEXT PRIMARY KEY,
    objection_id  TEXT NOT NULL REFERENCES objections (objection_id),
    created_at_us BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    token_sha256  TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL CHECK (role IN ('service', 'operator')),
    created_at_us BIGINT NOT NULL
);

CREATE TABLE third_party_objections (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL,
    known_as       TEXT NOT NULL,
    token_sha256   TEXT NOT NULL UNIQUE,
    created_at_us  BIGINT NOT NULL,
    verified_at_us BIGINT
);

CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient     TEXT NOT NULL,
    subject       TEXT NOT NULL,
    body          TEXT NOT NULL,
    created_at_us BIGINT NOT NULL,
    sent_at_us    BIGINT
);

ALTER TABLE objections ADD COLUMN reason TEXT;
ALTER TABLE snapshot_persons ADD COLUMN by_platform TEXT NOT NULL DEFAULT '{}';
