//! What the store keeps of accounts, and for how long: expired sessions and
//! mails sent before the retention are deleted, live ones stay; a password
//! change ends every session and queues its notice in one transaction; a
//! one-time-code step counts once.

use chrono::{Duration, Utc};
use veto_store::Store;
use veto_store::accounts::Role;
use veto_store::portal::NewMail;

/// A store on each backend, each with the account alice.
async fn stores_with_alice() -> (tempfile::TempDir, Vec<Store>) {
    let home = tempfile::tempdir().unwrap();
    let stores = veto_store::testing::stores(home.path()).await;
    let role = Role::Person {
        person_id: "person-alice".into(),
    };
    for store in &stores {
        store
            .upsert_account("alice", &role, Some("a@example.invalid"), "$argon2id$x")
            .await
            .unwrap();
    }
    (home, stores)
}

#[tokio::test]
async fn expired_sessions_and_old_sent_mail_are_purged_and_nothing_else() {
    let (_home, stores) = stores_with_alice().await;
    for store in stores {
        let (live, _) = store.create_session("alice", Duration::hours(1)).await.unwrap();
        let (dead, _) = store.create_session("alice", Duration::seconds(-1)).await.unwrap();
        assert_eq!(store.purge_expired_sessions(Utc::now()).await.unwrap(), 1);
        assert!(store.session(&live, Utc::now()).await.unwrap().is_some());
        assert!(
            store
                .session(&dead, Utc::now() - Duration::hours(1))
                .await
                .unwrap()
                .is_none(),
            "gone, not just expired"
        );

        let notice = |n: usize| NewMail {
            recipient: "a@example.invalid".into(),
            subject: format!("notice {n}"),
            body: "receipt".into(),
        };
        for n in 0..3 {
            store
                .change_password("alice", "$argon2id$y", Some(&notice(n)))
                .await
                .unwrap();
        }
        let pending = store.pending_mail(10).await.unwrap();
        assert_eq!(pending.len(), 3);
        store
            .mark_mail_sent(pending[0].id, Utc::now() - Duration::days(40))
            .await
            .unwrap();
        store
            .mark_mail_sent(pending[1].id, Utc::now() - Duration::days(2))
            .await
            .unwrap();
        // Sent 40 days ago goes; sent 2 days ago and unsent stay.
        assert_eq!(store.purge_sent_mail(Utc::now() - Duration::days(30)).await.unwrap(), 1);
        assert_eq!(store.purge_sent_mail(Utc::now() - Duration::days(30)).await.unwrap(), 0);
        assert_eq!(
            store.pending_mail(10).await.unwrap().len(),
            1,
            "unsent mail is never purged"
        );
    }
}

#[tokio::test]
async fn a_password_change_ends_every_session() {
    let (_home, stores) = stores_with_alice().await;
    for store in stores {
        let (a, _) = store.create_session("alice", Duration::hours(1)).await.unwrap();
        let (b, _) = store.create_session("alice", Duration::hours(1)).await.unwrap();
        store.change_password("alice", "$argon2id$new", None).await.unwrap();
        for token in [a, b] {
            assert!(store.session(&token, Utc::now()).await.unwrap().is_none());
        }
        assert_eq!(
            store.account("alice").await.unwrap().unwrap().password_hash,
            "$argon2id$new"
        );
    }
}

#[tokio::test]
async fn a_one_time_code_step_is_used_once_and_never_an_earlier_one() {
    let (_home, stores) = stores_with_alice().await;
    for store in stores {
        store.set_totp_secret("alice", Some("GEZDGNBVGY3TQOJQ")).await.unwrap();
        assert!(store.use_totp_step("alice", 100).await.unwrap());
        assert!(!store.use_totp_step("alice", 100).await.unwrap(), "the same step again");
        assert!(!store.use_totp_step("alice", 99).await.unwrap(), "an earlier step");
        assert!(store.use_totp_step("alice", 101).await.unwrap());
        // A new key starts over.
        store.set_totp_secret("alice", Some("MFRGGZDFMZTWQ2LK")).await.unwrap();
        assert!(store.use_totp_step("alice", 50).await.unwrap());
        assert!(store.set_totp_secret("nobody", None).await.is_err());
    }
}
