-- The format each ledger entry is hashed in (docs/ledger.md): 1, the legacy
-- canonical JSON of every entry appended before this migration; 2, RFC 8785
-- (JCS), which the entry's hash covers together with the format itself.
ALTER TABLE ledger ADD COLUMN format INTEGER NOT NULL DEFAULT 1;
