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
