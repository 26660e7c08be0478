//! Landing, login and logout, the public receipt check, static assets.

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, OriginalUri, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use chrono::Utc;
use serde::Deserialize;
use veto_store::accounts::Role;

use super::{PageCtx, SESSION_COOKIE, Visit, client_key, render, secure_cookie};
use crate::error::{ApiError, Code, PageError};
use crate::state::AppState;
use crate::telemetry::Metrics;

#[derive(Template)]
#[template(path = "landing.html")]
struct Landing {
    page: PageCtx,
    training_start: String,
    deadline: String,
    deadline_utc: String,
    before_deadline: bool,
    remaining: String,
    assistant_trained: bool,
}

pub async fn landing(
    State(state): State<AppState>,
    jar: CookieJar,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, PageError> {
    let mut visit = Visit::new(&state, jar, &uri).await?;
    let p = &state.policy;
    let local = |t: chrono::DateTime<Utc>| {
        format!(
            "{} ({})",
            t.with_timezone(&p.timezone).format("%d.%m.%Y %H:%M:%S"),
            p.timezone
        )
    };
    let left = p.objection_deadline - Utc::now();
    let page = Landing {
        page: visit.page(),
        training_start: local(p.training_start),
        deadline: local(p.objection_deadline),
        deadline_utc: p.objection_deadline.to_rfc3339(),
        before_deadline: left.num_seconds() > 0,
        remaining: format!(
            "{} d {:02}:{:02}",
            left.num_days(),
            left.num_hours() % 24,
            left.num_minutes() % 60
        ),
        assistant_trained: p.assistant_chats == veto_core::AssistantChats::Train,
    };
    Ok((visit.jar, render(&page)?).into_response())
}

#[derive(Template)]
#[template(path = "login.html")]
struct Login {
    page: PageCtx,
    failed: bool,
    username: String,
}

pub async fn login_form(
    State(state): State<AppState>,
    jar: CookieJar,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, PageError> {
    let mut visit = Visit::new(&state, jar, &uri).await?;
    let page = Login {
        page: visit.page(),
        failed: false,
        username: String::new(),
    };
    Ok((visit.jar, render(&page)?).into_response())
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    csrf: Option<String>,
}

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    jar: CookieJar,
    OriginalUri(uri): OriginalUri,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let mut visit = Visit::new(&state, jar, &uri).await?;
    visit.check_csrf(&state, form.csrf.as_deref())?;
    let key = format!("{}|{}", client_key(&addr), form.username);
    if state.login_limiter.check_key(&key).is_err() {
        Metrics::inc(&state.metrics.rate_limited);
        return Err(PageError(ApiError::new(
            Code::RateLimited,
            "too many login attempts; wait a minute and try again",
        )));
    }
    match state.auth.authenticate(&form.username, &form.password).await? {
        Some(account) => {
            Metrics::inc(&state.metrics.logins_succeeded);
            tracing::info!(username = %account.username, "login");
            let (token, _) = state
                .store
                .create_session(&account.username, chrono::Duration::hours(8))
                .await?;
            let target = if account.role == Role::Operator {
                "/operator"
            } else {
                "/object"
            };
            Ok((
                visit.jar.add(secure_cookie(SESSION_COOKIE, token)),
                Redirect::to(target),
            )
                .into_response())
        }
        None => {
            Metrics::inc(&state.metrics.logins_failed);
            tracing::info!("login failed");
            let page = Login {
                page: visit.page(),
                failed: true,
                username: form.username,
            };
            Ok((axum::http::StatusCode::UNAUTHORIZED, visit.jar, render(&page)?).into_response())
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

pub async fn logout(
    State(state): State<AppState>,
    jar: CookieJar,
    OriginalUri(uri): OriginalUri,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let visit = Visit::new(&state, jar, &uri).await?;
    visit.check_csrf(&state, form.csrf.as_deref())?;
    if let Some(c) = visit.jar.get(SESSION_COOKIE) {
        state.store.delete_session(c.value()).await?;
    }
    Ok((
        visit.jar.remove(secure_cookie(SESSION_COOKIE, String::new())),
        Redirect::to("/"),
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "verify.html")]
struct Verify {
    page: PageCtx,
    public_key: String,
    result: Option<bool>,
    message: String,
    submitted: String,
}

pub async fn verify_form(
    State(state): State<AppState>,
    jar: CookieJar,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, PageError> {
    let mut visit = Visit::new(&state, jar, &uri).await?;
    let page = Verify {
        page: visit.page(),
        public_key: state.public_key.clone(),
        result: None,
        message: String::new(),
        submitted: String::new(),
    };
    Ok((visit.jar, render(&page)?).into_response())
}

#[derive(Deserialize)]
pub struct VerifyForm {
    receipt: String,
    csrf: Option<String>,
}

/// Checks a receipt against this installation's public key.
pub fn check_receipt(public_key: &str, text: &str) -> Result<veto_core::receipt::Receipt, String> {
    // Strict: a receipt with added or repeated fields is not what was signed.
    let receipt = veto_core::receipt::Receipt::from_json(text).map_err(|e| format!("not a receipt: {e}"))?;
    receipt.verify(Some(public_key))?;
    Ok(receipt)
}

pub async fn verify(
    State(state): State<AppState>,
    jar: CookieJar,
    OriginalUri(uri): OriginalUri,
    Form(form): Form<VerifyForm>,
) -> Result<Response, PageError> {
    let mut visit = Visit::new(&state, jar, &uri).await?;
    visit.check_csrf(&state, form.csrf.as_deref())?;
    let outcome = check_receipt(&state.public_key, &form.receipt);
    let page = Verify {
        page: visit.page(),
        public_key: state.public_key.clone(),
        result: Some(outcome.is_ok()),
        message: outcome.err().unwrap_or_default(),
        submitted: form.receipt,
    };
    Ok((visit.jar, render(&page)?).into_response())
}

pub async fn app_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../../static/app.js"),
    )
}

pub async fn app_css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../static/app.css"),
    )
}
