//! The operators' second factor: RFC 6238 time-based one-time codes
//! (six digits, 30-second steps, HMAC-SHA-1, as every authenticator app
//! reads an `otpauth://` link), through totp-rs. A code is accepted for
//! the step before and after the current one (clock drift), and a step
//! once used is never accepted again for the account (the store keeps the
//! last one).
//!
//! Between the password and the code the login carries a ticket: the
//! username and an expiry under an HMAC of the server's key, so no state
//! is kept for a half-done login and nobody can skip the password step.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use totp_rs::{Algorithm, TOTP};

/// Seconds per step, and digits per code (RFC 6238's defaults).
pub const STEP_SECONDS: u64 = 30;
const DIGITS: usize = 6;
/// How long the password step stays good for entering the code.
pub const TICKET_SECONDS: i64 = 300;

fn totp(secret_base32: &str, username: &str) -> Option<TOTP> {
    let bytes = base32_decode(secret_base32)?;
    // The label may not hold ':'; a username with one gets no otpauth label
    // problem, only a plainer name in the app.
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        1,
        STEP_SECONDS,
        bytes,
        Some("veto".to_string()),
        username.replace(':', "_"),
    )
    .ok()
}

fn base32_decode(s: &str) -> Option<Vec<u8>> {
    totp_rs::Secret::Encoded(s.to_string()).to_bytes().ok()
}

/// A new random key (160 bits, RFC 4226's recommendation) in base32.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    totp_rs::Secret::Raw(bytes.to_vec()).to_encoded().to_string()
}

/// The `otpauth://totp/...` link an authenticator app scans or opens.
pub fn otpauth_url(secret_base32: &str, username: &str) -> Option<String> {
    Some(totp(secret_base32, username)?.get_url())
}

/// The time step that `code` is right for at `now_unix` (the current
/// step, or one before or after), if any.
pub fn matching_step(secret_base32: &str, code: &str, now_unix: u64) -> Option<u64> {
    let totp = totp(secret_base32, "")?;
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = now_unix / STEP_SECONDS;
    [current.saturating_sub(1), current, current + 1]
        .into_iter()
        .find(|&step| crate::csrf::matches(&totp.generate(step * STEP_SECONDS), Some(code)))
}

fn ticket_mac(key: &[u8; 32], username: &str, expires: i64, binding: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"login-code-ticket|");
    mac.update(expires.to_string().as_bytes());
    mac.update(b"|");
    mac.update(hex::encode(username).as_bytes());
    mac.update(b"|");
    mac.update(binding.as_bytes());
    mac
}

/// What a ticket is bound to: the account's password hash and the last
/// code step it used. A new password or a successful code ends every
/// ticket issued before, so a captured ticket is worth one login at most.
pub fn binding(password_hash: &str, last_step: Option<i64>) -> String {
    use sha2::Digest;
    let digest = Sha256::digest(format!("{password_hash}|{}", last_step.unwrap_or(-1)).as_bytes());
    hex::encode(digest)
}

/// A ticket saying that `username` gave the right password at `now_unix`.
pub fn ticket(key: &[u8; 32], username: &str, binding: &str, now_unix: i64) -> String {
    let expires = now_unix + TICKET_SECONDS;
    let mac = hex::encode(ticket_mac(key, username, expires, binding).finalize().into_bytes());
    format!("{expires}.{mac}.{}", hex::encode(username))
}

/// The username a ticket names, unchecked: look the account up, then
/// [`ticket_valid`] with its binding.
pub fn ticket_username(ticket: &str) -> Option<String> {
    String::from_utf8(hex::decode(ticket.splitn(3, '.').nth(2)?).ok()?).ok()
}

/// Whether this server made `ticket` for `username` with `binding`, and it
/// has not expired at `now_unix`.
pub fn ticket_valid(key: &[u8; 32], ticket: &str, username: &str, binding: &str, now_unix: i64) -> bool {
    let mut parts = ticket.splitn(3, '.');
    let (Some(expires), Some(mac)) = (parts.next(), parts.next()) else {
        return false;
    };
    let (Ok(expires), Ok(mac)) = (expires.parse::<i64>(), hex::decode(mac)) else {
        return false;
    };
    now_unix < expires && ticket_mac(key, username, expires, binding).verify_slice(&mac).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B: the SHA-1 key "12345678901234567890" gives
    /// 94287082 (eight digits) at 59 s; six digits are its last six.
    #[test]
    fn codes_match_the_rfc_test_vector() {
        let secret = totp_rs::Secret::Raw(b"12345678901234567890".to_vec())
            .to_encoded()
            .to_string();
        assert_eq!(matching_step(&secret, "287082", 59), Some(1));
        assert_eq!(matching_step(&secret, "287082", 59 + 30), Some(1), "one step of drift");
        assert_eq!(matching_step(&secret, "287082", 59 + 90), None, "three steps later");
        for junk in ["", "28708", "2870822", "28708a", "-87082"] {
            assert_eq!(matching_step(&secret, junk, 59), None, "{junk:?}");
        }
    }

    #[test]
    fn tickets_expire_cannot_be_forged_and_die_with_their_binding() {
        let key = [7u8; 32];
        let bound = binding("$argon2id$h", None);
        let t = ticket(&key, "olga", &bound, 1000);
        assert_eq!(ticket_username(&t).as_deref(), Some("olga"));
        assert!(ticket_valid(&key, &t, "olga", &bound, 1000 + TICKET_SECONDS - 1));
        assert!(!ticket_valid(&key, &t, "olga", &bound, 1000 + TICKET_SECONDS));
        assert!(!ticket_valid(&[8u8; 32], &t, "olga", &bound, 1000));
        assert!(!ticket_valid(&key, &t, "root", &bound, 1000));
        // A code used, or a new password: the ticket is dead.
        assert!(!ticket_valid(&key, &t, "olga", &binding("$argon2id$h", Some(5)), 1000));
        assert!(!ticket_valid(&key, &t, "olga", &binding("$argon2id$other", None), 1000));
        for junk in ["", "x", "1.2", "1.zz.6f6c6761"] {
            assert!(!ticket_valid(&key, junk, "olga", &bound, 0), "{junk}");
        }
    }
}
