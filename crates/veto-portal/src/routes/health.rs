//! Liveness and metrics.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::state::AppState;

/// 200 when the state store answers.
pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.public_key().await {
        Ok(_) => (axum::http::StatusCode::OK, "ok\n"),
        Err(_) => (axum::http::StatusCode::SERVICE_UNAVAILABLE, "state store unavailable\n"),
    }
}

/// The counters, for operator tokens (a scraper's) unless the settings
/// make them public: they tell an attacker how its guessing goes (ASVS 14.2.2).
pub async fn metrics(State(state): State<AppState>, headers: axum::http::HeaderMap) -> axum::response::Response {
    use veto_store::accounts::TokenRole;
    if !state.settings.metrics_public {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let allowed = match token {
            Some(token) => match state.store.api_token(token, chrono::Utc::now()).await {
                Ok(found) => found.is_some_and(|(_, role)| role == TokenRole::Operator),
                Err(e) => return crate::error::ApiError::from(e).into_response(),
            },
            None => false,
        };
        if !allowed {
            return crate::error::ApiError::new(
                crate::error::Code::Unauthorized,
                "metrics need an operator token: Authorization: Bearer <token>",
            )
            .into_response();
        }
    }
    let now = chrono::Utc::now();
    let oldest = match state.store.pending_unlearnings(now).await {
        Ok(pending) => pending
            .iter()
            .filter(|p| !p.kept_by_policy)
            .map(|p| (now - p.filed_at).num_seconds().max(0))
            .max()
            .unwrap_or(0),
        Err(e) => return crate::error::ApiError::from(e).into_response(),
    };
    let gauge = format!(
        "# HELP veto_unlearning_oldest_pending_age_seconds Age of the oldest late objection not yet unlearned (0: none)\n\
         # TYPE veto_unlearning_oldest_pending_age_seconds gauge\n\
         veto_unlearning_oldest_pending_age_seconds {oldest}\n"
    );
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render() + &gauge,
    )
        .into_response()
}
