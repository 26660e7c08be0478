-- Account security (OWASP ASVS level 2):
-- * operators log in with a password and a time-based one-time code
--   (RFC 6238); the secret is the base32 key their authenticator app holds,
--   and the last accepted time step keeps a code from being used twice;
-- * when a password last changed, for the notification mail and audits;
-- * API tokens expire and can be revoked. Tokens made before this
--   migration expire 90 days after they were made, like new ones by default.
ALTER TABLE accounts ADD COLUMN totp_secret TEXT;
ALTER TABLE accounts ADD COLUMN totp_last_step BIGINT;
ALTER TABLE accounts ADD COLUMN password_changed_at_us BIGINT;

ALTER TABLE api_tokens ADD COLUMN expires_at_us BIGINT;
ALTER TABLE api_tokens ADD COLUMN revoked_at_us BIGINT;
UPDATE api_tokens SET expires_at_us = created_at_us + 90 * 86400 * 1000000 WHERE expires_at_us IS NULL;

-- Sessions are purged by expiry.
CREATE INDEX sessions_by_expiry ON sessions (expires_at_us);

-- Sessions opened before operators had a second factor end: every login
-- after this version went through the rules above.
DELETE FROM sessions;
