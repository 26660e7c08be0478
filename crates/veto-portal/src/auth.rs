//! Authentication behind a small interface, so the platform's own login
//! (OIDC, say) can replace local accounts without touching the routes.
//! Local accounts store argon2id hashes only.

use std::future::Future;
use std::pin::Pin;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;
use veto_store::Store;
use veto_store::accounts::Account;

/// Who may log in, and how that is checked.
pub trait Authenticator: Send + Sync {
    /// The account, if `password` is right for `username`.
    fn authenticate<'a>(
        &'a self,
        username: &'a str,
        password: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Option<Account>, veto_store::StoreError>> + Send + 'a>>;
}

/// Accounts in the state store with argon2id password hashes.
pub struct LocalAccounts {
    pub store: Store,
}

/// A fixed hash to verify against when the username is unknown, so the
/// response time does not tell whether an account exists.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$KVFwCy0K/jMqpPYHnuLA0ggYc7dOp0UfSNoGvKdhK9Y";

fn argon2() -> Argon2<'static> {
    // OWASP's recommended argon2id parameters: 19 MiB, 2 passes, 1 lane.
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19 * 1024, 2, 1, None).expect("valid params"),
    )
}

/// Hashes a password as an argon2id PHC string.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).expect("16 bytes encode");
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashes")
        .to_string()
}

fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
}

impl Authenticator for LocalAccounts {
    fn authenticate<'a>(
        &'a self,
        username: &'a str,
        password: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Option<Account>, veto_store::StoreError>> + Send + 'a>> {
        Box::pin(async move {
            let account = self.store.account(username).await?;
            let hash = account
                .as_ref()
                .map_or(DUMMY_HASH.to_string(), |a| a.password_hash.clone());
            let password = password.to_string();
            // Hashing is CPU work: keep it off the async workers.
            let ok = tokio::task::spawn_blocking(move || verify_password(&hash, &password))
                .await
                .unwrap_or(false);
            Ok(account.filter(|_| ok))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verify_only_the_right_password() {
        let a = hash_password("correct horse");
        let b = hash_password("correct horse");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "salted");
        assert!(verify_password(&a, "correct horse"));
        assert!(!verify_password(&a, "Correct horse"));
        assert!(!verify_password(DUMMY_HASH, ""));
    }
}
