-- Objections by people without an account, named by a subject (display
-- name, handles, emails, phones) instead of a person_id: imported from an
-- objection file, or filed on the portal's non-user form and confirmed by
-- the mailed link. The subject is kept as canonical JSON; the ledger keeps
-- only its keyed hash.
CREATE TABLE subject_objections (
    objection_id    TEXT PRIMARY KEY,
    subject         TEXT NOT NULL,
    scope           TEXT NOT NULL,
    filed_at_us     BIGINT NOT NULL,
    withdrawn_at_us BIGINT,
    channel         TEXT NOT NULL,
    recorded_at_us  BIGINT NOT NULL
);

-- The portal's non-user form now collects the same structured subject.
ALTER TABLE third_party_objections ADD COLUMN subject TEXT;
