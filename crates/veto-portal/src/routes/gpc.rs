//! Global Privacy Control as an objection. Under a policy with
//! `honour_gpc`, a signed-in person whose browser sends `Sec-GPC: 1` gets an
//! objection (scope all, channel `gpc`) with its receipt, shown on the next
//! page. The signal files once per person: someone who withdraws a GPC
//! objection has said what they want, and the signal their browser keeps
//! sending does not overrule them.

use axum::http::HeaderMap;
use veto_core::{Channel, ObjectionScope};

use super::objections::{Filing, file_objection};
use crate::error::ApiError;
use crate::i18n::Lang;
use crate::state::AppState;

/// Whether the request carries the GPC signal (exactly `1`, per the spec).
pub fn signals(headers: &HeaderMap) -> bool {
    headers.get("sec-gpc").is_some_and(|v| v.as_bytes() == b"1")
}

/// Files the person's GPC objection if the policy honours the signal, the
/// request sends it, and nothing covers them yet; returns its id.
pub async fn honour(
    state: &AppState,
    headers: &HeaderMap,
    person_id: &str,
    lang: Lang,
) -> Result<Option<String>, ApiError> {
    if !state.policy.honour_gpc || !signals(headers) {
        return Ok(None);
    }
    let now = chrono::Utc::now();
    let on_file = state.store.objections_of(person_id).await?;
    let covered = on_file
        .iter()
        .any(|o| o.scope == ObjectionScope::All && o.in_force_at(now));
    if covered || on_file.iter().any(|o| o.channel == Channel::Gpc) {
        return Ok(None);
    }
    let (filed, _) = file_objection(
        state,
        Filing {
            person_id: person_id.to_string(),
            scope: ObjectionScope::All,
            reason: None,
            channel: Channel::Gpc,
            // Two requests at once (two tabs) file one objection.
            idempotency_key: Some("gpc-signal".into()),
            lang,
        },
    )
    .await?;
    tracing::info!("objection filed by the browser's GPC signal");
    Ok(Some(filed.objection.objection_id))
}
