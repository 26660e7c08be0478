//! CSRF protection. Logged-in forms carry the session's CSRF token; forms
//! without a session (login, non-user objection, receipt check) use a
//! double-submit token: a random cookie whose value the form must repeat.
//! Cookie-authenticated API calls that change state send the session token
//! in `X-CSRF-Token`.

use rand::RngCore;

pub const COOKIE: &str = "veto_csrf";
pub const HEADER: &str = "x-csrf-token";

pub fn new_token() -> String {
    let mut b = [0u8; 24];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
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
