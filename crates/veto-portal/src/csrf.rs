//! CSRF protection. Logged-in forms carry the session's CSRF token; forms
//! without a session (login, non-user objection, receipt check) use a
//! double-submit token: a cookie whose value the form must repeat, made of
//! a random nonce and its HMAC under a key only the server holds, so that a
//! pair planted by someone else (`x`/`x`) is refused.
//! Cookie-authenticated API calls that change state send the session token
//! in `X-CSRF-Token`.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// `__Host-` like the session cookie (see `routes::SESSION_COOKIE`).
pub const COOKIE: &str = "__Host-veto_csrf";
pub const HEADER: &str = "x-csrf-token";

/// The key of the double-submit tokens, derived from the installation
/// secret (a purpose of its own, so no other keyed hash can be replayed as
/// a token).
pub fn derive_key(installation_secret: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(installation_secret).expect("HMAC takes any key length");
    mac.update(b"veto-portal double-submit csrf key v1");
    mac.finalize().into_bytes().into()
}

fn tag(key: &[u8; 32], nonce: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"csrf|");
    mac.update(nonce.as_bytes());
    mac
}

/// A random token: also used as a session's CSRF token.
pub fn new_token() -> String {
    let mut b = [0u8; 24];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// A double-submit token: `<nonce>.<HMAC(key, nonce)>`, both hex.
pub fn new_signed_token(key: &[u8; 32]) -> String {
    let nonce = new_token();
    let mac = hex::encode(tag(key, &nonce).finalize().into_bytes());
    format!("{nonce}.{mac}")
}

/// Whether `token` is one this server issued (constant-time MAC check).
pub fn is_signed(key: &[u8; 32], token: &str) -> bool {
    let Some((nonce, mac)) = token.split_once('.') else {
        return false;
    };
    let Ok(mac) = hex::decode(mac) else { return false };
    !nonce.is_empty() && tag(key, nonce).verify_slice(&mac).is_ok()
}

/// Constant-time comparison of a submitted token with the expected one.
pub fn matches(expected: &str, submitted: Option<&str>) -> bool {
    let Some(submitted) = submitted else { return false };
    if expected.is_empty() || expected.len() != submitted.len() {
        return false;
    }
    expected
        .bytes()
        .zip(submitted.bytes())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tokens_signed_with_the_key_are_signed() {
        let key = derive_key(b"installation secret");
        let t = new_signed_token(&key);
        assert!(is_signed(&key, &t));
        assert!(!is_signed(&derive_key(b"another installation"), &t));
        for forged in ["x", "x.", ".", "", &t.replace('.', ""), &format!("{}.00", new_token())] {
            assert!(!is_signed(&key, forged), "{forged}");
        }
        let (nonce, mac) = t.split_once('.').unwrap();
        assert!(!is_signed(&key, &format!("{nonce}0.{mac}")));
    }

    #[test]
    fn only_the_exact_token_matches() {
        let t = new_token();
        assert!(matches(&t, Some(&t)));
        assert!(!matches(&t, None));
        assert!(!matches(&t, Some("")));
        assert!(!matches(&t, Some(&t[1..])));
        assert!(!matches("", Some("")));
        let mut other = t.clone().into_bytes();
        other[0] = if other[0] == b'a' { b'b' } else { b'a' };
        assert!(!matches(&t, Some(std::str::from_utf8(&other).unwrap())));
    }
}
