//! Receipts for objections, built from what is on file and signed by the
//! store's installation key.

use chrono::SecondsFormat;
use veto_core::receipt::{RECEIPT_FORMAT, Receipt};
use veto_core::{Objection, Policy};
use veto_store::Store;

/// The signed receipt for the objection's current state (filed, or withdrawn).
pub async fn receipt_for(store: &Store, policy: &Policy, o: &Objection) -> Result<Receipt, veto_store::StoreError> {
    let utc = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let unsigned = Receipt {
        format: RECEIPT_FORMAT.into(),
        event: if o.withdrawn_at.is_some() {
            "objection_withdrawn"
        } else {
            "objection_filed"
        }
        .into(),
        objection_id: o.objection_id.clone(),
        person_id: o.person_id.clone(),
        scope: o.scope.as_str().into(),
        filed_at: utc(o.filed_at),
        filed_at_local: o
            .filed_at
            .with_timezone(&policy.timezone)
            .to_rfc3339_opts(SecondsFormat::Secs, false),
        withdrawn_at: o.withdrawn_at.map(utc),
        policy: policy.name.clone(),
        before_deadline: !policy.is_late(o.filed_at),
        public_key: String::new(),
        signature: String::new(),
    };
    store.sign_receipt(unsigned).await
}

/// The mail that carries a signed receipt to the person: in their
/// language, with a link to the receipt page and the receipt itself inline
/// (plain text, so every mail client shows it and it can be pasted into the
/// check page as it is).
pub fn receipt_mail(
    public_url: &str,
    lang: crate::i18n::Lang,
    recipient: &str,
    receipt: &Receipt,
) -> Result<veto_store::portal::NewMail, serde_json::Error> {
    let t = lang.texts();
    let withdrawn = receipt.withdrawn_at.is_some();
    let (subject, intro) = if withdrawn {
        (t.receipt_mail_withdrawn_subject, t.receipt_mail_withdrawn_intro)
    } else {
        (t.receipt_mail_subject, t.receipt_mail_intro)
    };
    let json = serde_json::to_string_pretty(receipt)?;
    let link = format!(
        "{}/receipts/{}?lang={}",
        public_url.trim_end_matches('/'),
        receipt.objection_id,
        t.code
    );
    Ok(veto_store::portal::NewMail {
        recipient: recipient.to_string(),
        subject: subject.to_string(),
        body: format!(
            "{intro}\n\n{}\n{link}\n\n{}\n{json}\n",
            t.receipt_mail_link, t.receipt_mail_json
        ),
    })
}
