-- An idempotency key answers only for the request it was first used with:
-- the SHA-256 of that request's canonical body (RFC 8785 JSON of what the
-- request asks for). A key reused with another body is refused instead of
-- returning the first objection. Keys recorded before this migration have
-- no hash and replay as before.
ALTER TABLE idempotency_keys ADD COLUMN request_sha256 TEXT;

-- Confirmation mails to non-users are limited per recipient address; the
-- limit counts the objections recorded for an address in a time window.
CREATE INDEX third_party_objections_by_email ON third_party_objections (lower(email), created_at_us);
