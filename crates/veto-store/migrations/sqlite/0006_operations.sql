-- Operations that change files and state together (build, train, unlearn).
-- An operation is recorded as an intent before it writes anything and then
-- moves through the states named in ARCHITECTURE.md ("Operation states"):
-- intent -> staged -> renamed -> recorded -> done, or rolled_back. A row that
-- is neither done nor rolled_back belongs to a running command (which holds
-- the lock file locks/op-<op_id>.lock) or to one that died, which the next
-- command recovers.

CREATE TABLE operations (
    op_id         TEXT PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('build', 'train', 'unlearn')),
    -- What it works on, for people: a destination, a snapshot or a model.
    target        TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('intent', 'staged', 'renamed', 'recorded', 'done', 'rolled_back')),
    -- Where its files are written before the rename (removed on roll-back).
    staging       TEXT NOT NULL,
    -- Where the rename put them (set in state renamed; removed on roll-back).
    dest          TEXT,
    -- The lock a recovery must hold once files may be at dest.
    resource      TEXT,
    -- Files derived from the record, rewritten when recovering a recorded
    -- operation: a JSON array of [path, text].
    finish        TEXT NOT NULL DEFAULT '[]',
    pid           BIGINT NOT NULL,
    started_at_us BIGINT NOT NULL,
    updated_at_us BIGINT NOT NULL,
    note          TEXT
);
CREATE INDEX operations_by_state ON operations (state);

-- Which objections a snapshot's build read: every objection whose ledger
-- entry has a sequence number up to objections_seq (the ledger's last entry
-- when the build read the objections, in the same read transaction).
ALTER TABLE snapshots ADD COLUMN objections_seq BIGINT;
