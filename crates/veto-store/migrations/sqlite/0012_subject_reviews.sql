-- Third-party objections screened by a build: how many distinct authors'
-- items name the subject, and, where that is more than the policy's
-- threshold, the operator's decision. `clear`: under the threshold,
-- applied; `pending`: waits in the review queue, not applied; `approved`
-- and `rejected`: decided by an operator.
CREATE TABLE subject_reviews (
    objection_id   TEXT PRIMARY KEY,
    authors        BIGINT NOT NULL,
    threshold      BIGINT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('clear', 'pending', 'approved', 'rejected')),
    screened_at_us BIGINT NOT NULL,
    snapshot_id    TEXT NOT NULL,
    decided_at_us  BIGINT,
    decided_by     TEXT
);

-- Mentions of people without an account redacted in other people's text,
-- per snapshot, keyed 'objection:' and their objection id (users' counts
-- are in the lookup pages).
CREATE TABLE mention_counts (
    snapshot_id TEXT NOT NULL,
    subject_ref TEXT NOT NULL,
    mentions    BIGINT NOT NULL,
    PRIMARY KEY (snapshot_id, subject_ref)
);
