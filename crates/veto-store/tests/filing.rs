//! The portal's group commit: a batch is one transaction in which every
//! idempotency key answers once, replays file nothing, a receipt mail goes
//! only to a person whose account has an email, and each new objection is
//! in the ledger exactly once.

use veto_core::{Channel, Objection, ObjectionScope};
use veto_store::accounts::Role;
use veto_store::portal::{AccountMail, FiledOutcome, NewObjection};

fn new(id: &str, person: &str, key: Option<&str>, hash: &str) -> NewObjection {
    NewObjection {
        objection: Objection {
            objection_id: id.into(),
            person_id: person.into(),
            scope: ObjectionScope::All,
            filed_at: chrono::Utc::now(),
            withdrawn_at: None,
            channel: Channel::Api,
        },
        idempotency_key: key.map(Into::into),
        request_sha256: Some(hash.into()),
        reason: None,
        receipt_mail: Some(AccountMail {
            subject: format!("receipt {id}"),
            body: "signed receipt".into(),
        }),
    }
}

#[tokio::test]
async fn a_batch_answers_each_key_once_and_mails_only_accounts_with_an_email() {
    let home = tempfile::tempdir().unwrap();
    for store in veto_store::testing::stores(home.path()).await {
        let role = Role::Person {
            person_id: "anna".into(),
        };
        store
            .upsert_account("anna", &role, Some("anna@example.invalid"), "$argon2id$x")
            .await
            .unwrap();
        let before = store.ledger_entries().await.unwrap().len();
        let first = store
            .file_objections(&[
                new("o-1", "anna", Some("k1"), "h1"),
                new("o-2", "anna", Some("k1"), "h1"),
                new("o-3", "anna", Some("k1"), "other"),
                new("o-4", "bert", None, "h4"),
            ])
            .await
            .unwrap();
        let outcomes: Vec<_> = first
            .iter()
            .map(|f| (f.objection.objection_id.as_str(), f.outcome))
            .collect();
        assert_eq!(
            outcomes,
            [
                ("o-1", FiledOutcome::Created),
                ("o-1", FiledOutcome::Replayed),
                ("o-1", FiledOutcome::KeyReused),
                ("o-4", FiledOutcome::Created),
            ],
            "{}",
            store.database()
        );
        assert_eq!(
            first.iter().map(|f| f.mail_queued).collect::<Vec<_>>(),
            [true, false, false, false]
        );

        // A later batch sees the key on file.
        let later = store
            .file_objections(&[new("o-5", "anna", Some("k1"), "h1")])
            .await
            .unwrap();
        assert_eq!(later[0].outcome, FiledOutcome::Replayed);
        assert_eq!(later[0].objection.objection_id, "o-1");

        let ids: Vec<String> = store
            .objections()
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.objection_id)
            .collect();
        assert_eq!(ids, ["o-1", "o-4"]);
        let mails = store.pending_mail(10).await.unwrap();
        let sent: Vec<(&str, &str)> = mails
            .iter()
            .map(|m| (m.recipient.as_str(), m.subject.as_str()))
            .collect();
        assert_eq!(sent, [("anna@example.invalid", "receipt o-1")]);

        let entries = store.ledger_entries().await.unwrap();
        let filed: Vec<&str> = entries[before..]
            .iter()
            .map(|e| e.payload["objection_id"].as_str().unwrap())
            .collect();
        assert_eq!(filed, ["o-1", "o-4"]);
        let head = store.signed_head().await.unwrap();
        veto_core::ledger::verify(&entries, &head, None).unwrap();
    }
}
