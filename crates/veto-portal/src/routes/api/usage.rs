//! `GET /api/v1/content-usage`: the `Content-Usage` value the platform
//! attaches to a person's public pages, so that crawlers outside the
//! platform learn of the objection too. The value is an AI Preferences
//! dictionary (draft-ietf-aipref-vocab-02 labels, attached as in
//! draft-ietf-aipref-attach-02): `train-ai=n` while an objection is in force.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use veto_core::Platform;

use super::extract::ApiQuery;
use super::{Caller, PersonQuery, acting_person};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct ContentUsage {
    pub person_id: String,
    /// The value of the `Content-Usage` header (or `<meta name="content-usage">`)
    /// for the person's public pages on `platforms`; null: the person has
    /// stated nothing, attach nothing.
    pub content_usage: Option<String>,
    /// The platforms whose pages get it (those an objection in force covers).
    pub platforms: Vec<String>,
}

/// What the platform attaches to a person's public pages.
#[utoipa::path(get, path = "/api/v1/content-usage", params(PersonQuery),
    security(("token" = []), ("session" = [])),
    responses((status = 200, description = "The value to attach, if any", body = ContentUsage),
        (status = 400, description = "No person_id from a service token, or an unreadable query string", body = ErrorBody),
        (status = 401, description = "No valid token or session", body = ErrorBody),
        (status = 403, description = "An operator token", body = ErrorBody),
        (status = 404, description = "A session naming another person", body = ErrorBody),
        (status = 422, description = "A person_id that does not fit", body = ErrorBody)))]
pub(super) async fn content_usage(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PersonQuery>,
) -> Result<Json<ContentUsage>, ApiError> {
    let person_id = acting_person(&caller, q.person_id.as_deref())?;
    let now = chrono::Utc::now();
    let in_force: Vec<_> = state
        .store
        .objections_of(&person_id)
        .await?
        .into_iter()
        .filter(|o| o.in_force_at(now))
        .collect();
    let platforms: Vec<String> = Platform::ALL
        .iter()
        .filter(|p| in_force.iter().any(|o| o.scope.covers(**p)))
        .map(|p| p.as_str().to_string())
        .collect();
    Ok(Json(ContentUsage {
        person_id,
        content_usage: (!platforms.is_empty()).then(|| "train-ai=n".to_string()),
        platforms,
    }))
}
