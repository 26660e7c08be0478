//! Landing, login and logout, the public receipt check, static assets.

use std::time::{Duration, Instant};

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
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
    countdown_format: &'static str,
    late_effect: &'static str,
    assistant_trained: bool,
}

pub async fn landing(State(state): State<AppState>, mut visit: Visit) -> Result<Response, PageError> {
    let p = &state.policy;
    let lang = visit.lang;
    let now = Utc::now();
    let left = p.objections_end - now;
    let page = Landing {
        page: visit.page(),
        training_start: lang.time(p.training_start, p.timezone),
        deadline: lang.time(p.deadline_last_second().with_timezone(&Utc), p.timezone),
        deadline_utc: p.objections_end.to_rfc3339(),
        // Whether it is still on time is the policy's decision, not a subtraction here.
        before_deadline: !p.is_late(now),
        remaining: countdown(lang.texts().countdown_format, left),
        countdown_format: lang.texts().countdown_format,
        late_effect: lang.late_effect(p.late_objections),
        assistant_trained: p.assistant_chats == veto_core::AssistantChats::Train,
    };
    Ok((visit.jar, render(&page)?).into_response())
}

/// The time left in whole minutes, as app.js also writes it: a reader
/// needs no seconds, and a text that changes every second distracts.
fn countdown(format: &str, left: chrono::Duration) -> String {
    let minutes = left.num_minutes().max(0);
    format
        .replace("{d}", &(minutes / 1440).to_string())
        .replace("{h}", &format!("{:02}", minutes / 60 % 24))
        .replace("{m}", &format!("{:02}", minutes % 60))
}

#[derive(Template)]
#[template(path = "login.html")]
struct Login {
    page: PageCtx,
    failed: bool,
    /// Why no attempt is taken now (empty: none).
    limited: String,
    username: String,
}

pub async fn login_form(mut visit: Visit) -> Result<Response, PageError> {
    let page = Login {
        page: visit.page(),
        failed: false,
        limited: String::new(),
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
    headers: HeaderMap,
    visit: Visit,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let mut visit = visit;
    visit.check_csrf(&state, form.csrf.as_deref())?;
    // The peer address: the portal has no trusted-proxy setting, so no
    // forwarded header is believed.
    let client = crate::throttle::client_bucket(addr.ip());
    if let Some(wait) = login_wait(&state, &client, &form.username, &addr) {
        Metrics::inc(&state.metrics.rate_limited);
        return limited(visit, &headers, form.username, wait);
    }
    match state.auth.authenticate(&form.username, &form.password).await? {
        Some(account) => {
            Metrics::inc(&state.metrics.logins_succeeded);
            tracing::info!(username = %account.username, "login");
            state.login_throttle.succeeded(&form.username);
            start_session(&state, visit, &account).await
        }
        None => {
            Metrics::inc(&state.metrics.logins_failed);
            tracing::info!("login failed");
            state.login_throttle.failed(&client, &form.username, Instant::now());
            let page = Login {
                page: visit.page(),
                failed: true,
                limited: String::new(),
                username: form.username,
            };
            Ok((StatusCode::UNAUTHORIZED, visit.jar, render(&page)?).into_response())
        }
    }
}

/// How long this attempt must wait: failed logins of the client or the
/// account used up, or attempts for the pair coming too fast.
fn login_wait(state: &AppState, client: &str, username: &str, addr: &std::net::SocketAddr) -> Option<Duration> {
    use governor::clock::Clock;
    // Checked first: a refused attempt must not also use up the pair's rate.
    if let Some(wait) = state.login_throttle.blocked(client, username, Instant::now()) {
        return Some(wait);
    }
    let key = format!("{}|{username}", client_key(addr));
    state
        .login_limiter
        .check_key(&key)
        .err()
        .map(|not_until| not_until.wait_time_from(governor::clock::DefaultClock::default().now()))
}

/// 429 with Retry-After: the login page saying how long to wait, or the
/// JSON error for a client that asks for JSON.
fn limited(mut visit: Visit, headers: &HeaderMap, username: String, wait: Duration) -> Result<Response, PageError> {
    let secs = wait.as_secs().max(1) + u64::from(wait.subsec_nanos() > 0);
    let retry_after = [(header::RETRY_AFTER, secs.to_string())];
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("application/json"));
    if wants_json {
        let e = ApiError::new(
            Code::RateLimited,
            format!("too many failed logins from this client or for this account; retry in {secs} s"),
        );
        return Ok((retry_after, e).into_response());
    }
    let t = visit.lang.texts();
    let page = Login {
        limited: t.login_limited.replace("{minutes}", &secs.div_ceil(60).to_string()),
        page: visit.page(),
        failed: false,
        username,
    };
    Ok((StatusCode::TOO_MANY_REQUESTS, retry_after, visit.jar, render(&page)?).into_response())
}

/// A new session on every login; the one this browser held before ends,
/// so a session token known before the login (fixation) is worth nothing.
async fn start_session(
    state: &AppState,
    visit: Visit,
    account: &veto_store::accounts::Account,
) -> Result<Response, PageError> {
    if let Some(previous) = visit.jar.get(SESSION_COOKIE) {
        state.store.delete_session(previous.value()).await?;
    }
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

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

pub async fn logout(
    State(state): State<AppState>,
    visit: Visit,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
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

/// Ends every session of the signed-in account, on every device: for a
/// person who logged in somewhere they no longer control.
pub async fn logout_everywhere(
    State(state): State<AppState>,
    visit: Visit,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    visit.check_csrf(&state, form.csrf.as_deref())?;
    if let Some(session) = &visit.session {
        let ended = state.store.delete_sessions_of(&session.account.username).await?;
        tracing::info!(sessions = ended, "logged out everywhere");
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

pub async fn verify_form(State(state): State<AppState>, visit: Visit) -> Result<Response, PageError> {
    let mut visit = visit;
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
    visit: Visit,
    Form(form): Form<VerifyForm>,
) -> Result<Response, PageError> {
    let mut visit = visit;
    visit.check_csrf(&state, form.csrf.as_deref())?;
    let t = visit.lang.texts();
    // The page says which of two things went wrong, in the page's words;
    // the parser's and verifier's English details are for the API.
    let (result, message) = match veto_core::receipt::Receipt::from_json(&form.receipt) {
        Err(_) => (false, t.verify_bad_format),
        Ok(_) => match check_receipt(&state.public_key, &form.receipt) {
            Ok(_) => (true, ""),
            Err(_) => (false, t.verify_bad_signature),
        },
    };
    let page = Verify {
        page: visit.page(),
        public_key: state.public_key.clone(),
        result: Some(result),
        message: message.to_string(),
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
