//! Login (a password, then for accounts with a second factor a one-time
//! code), logout, and "log out everywhere".

use std::time::{Duration, Instant};

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use veto_store::accounts::{Account, Role};

use super::{PageCtx, SESSION_COOKIE, Visit, render, secure_cookie};
use crate::error::{ApiError, Code, PageError};
use crate::state::AppState;
use crate::telemetry::Metrics;

#[derive(Template)]
#[template(path = "login.html")]
struct Login {
    page: PageCtx,
    /// Why the last attempt did not log in (empty: it did not fail).
    failed: &'static str,
    /// Why no attempt is taken now (empty: none).
    limited: String,
    username: String,
    /// Set when the password was right and the one-time code is asked.
    ticket: String,
}

impl Login {
    fn new(page: PageCtx, username: String) -> Login {
        Login {
            page,
            failed: "",
            limited: String::new(),
            username,
            ticket: String::new(),
        }
    }
}

pub async fn login_form(mut visit: Visit) -> Result<Response, PageError> {
    let page = Login::new(visit.page(), String::new());
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
    let client = state.client_bucket(addr.ip(), &headers);
    if let Some(wait) = login_wait(&state, &client, &form.username) {
        Metrics::inc(&state.metrics.rate_limited);
        return limited(visit, &headers, form.username, wait);
    }
    let Some(account) = state.auth.authenticate(&form.username, &form.password).await? else {
        return failed(&state, visit, &client, form.username, None);
    };
    if account.totp_secret.is_some() {
        // The password was right; the code comes next, on a page that
        // carries only a signed ticket, never the password. The account's
        // failures are cleared only by a right code: a right password
        // must not reset the count of wrong codes.
        let mut page = Login::new(visit.page(), account.username.clone());
        let binding = crate::mfa::binding(&account.password_hash, account.totp_last_step);
        page.ticket = crate::mfa::ticket(
            &state.csrf_key,
            &account.username,
            &binding,
            chrono::Utc::now().timestamp(),
        );
        return Ok((visit.jar, render(&page)?).into_response());
    }
    state.login_throttle.succeeded(&form.username);
    if account.role == Role::Operator && state.settings.operator_mfa_required {
        tracing::warn!("operator login refused: the account has no second factor");
        let mut page = Login::new(visit.page(), String::new());
        page.failed = page.page.t.login_needs_second_factor;
        return Ok((StatusCode::FORBIDDEN, visit.jar, render(&page)?).into_response());
    }
    logged_in(&state, &headers, visit, &account).await
}

#[derive(Deserialize)]
pub struct CodeForm {
    ticket: String,
    code: String,
    csrf: Option<String>,
}

/// The second step: the one-time code for the account the ticket names.
pub async fn login_code(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    visit: Visit,
    Form(form): Form<CodeForm>,
) -> Result<Response, PageError> {
    let mut visit = visit;
    visit.check_csrf(&state, form.csrf.as_deref())?;
    let now = chrono::Utc::now();
    let username = crate::mfa::ticket_username(&form.ticket).unwrap_or_default();
    let account = match username.is_empty() {
        true => None,
        false => state.store.account(&username).await?,
    };
    // Expired, forged, or dead since a code was used or the password changed.
    let account = account.filter(|a| {
        let binding = crate::mfa::binding(&a.password_hash, a.totp_last_step);
        crate::mfa::ticket_valid(&state.csrf_key, &form.ticket, &a.username, &binding, now.timestamp())
    });
    let Some(account) = account else {
        let mut page = Login::new(visit.page(), String::new());
        page.failed = page.page.t.login_code_expired;
        return Ok((StatusCode::UNAUTHORIZED, visit.jar, render(&page)?).into_response());
    };
    let client = state.client_bucket(addr.ip(), &headers);
    if let Some(wait) = login_wait(&state, &client, &username) {
        Metrics::inc(&state.metrics.rate_limited);
        return limited(visit, &headers, username, wait);
    }
    let step = account
        .totp_secret
        .as_deref()
        .and_then(|secret| crate::mfa::matching_step(secret, &form.code, now.timestamp().max(0) as u64));
    let used = match step {
        Some(step) => state.store.use_totp_step(&username, step as i64).await?,
        None => false,
    };
    if used {
        state.login_throttle.succeeded(&username);
        return logged_in(&state, &headers, visit, &account).await;
    }
    // The same ticket may try again until it expires or the account's
    // failures are used up.
    failed(&state, visit, &client, username, Some(form.ticket))
}

/// A failed password or code: counted against the client and the account.
fn failed(
    state: &AppState,
    mut visit: Visit,
    client: &str,
    username: String,
    code_ticket: Option<String>,
) -> Result<Response, PageError> {
    Metrics::inc(&state.metrics.logins_failed);
    tracing::info!(
        step = if code_ticket.is_some() { "code" } else { "password" },
        "login failed"
    );
    state.login_throttle.failed(client, &username, Instant::now());
    let mut page = Login::new(visit.page(), username);
    match code_ticket {
        Some(ticket) => {
            page.failed = page.page.t.login_code_failed;
            page.ticket = ticket;
        }
        None => page.failed = page.page.t.login_failed,
    }
    Ok((StatusCode::UNAUTHORIZED, visit.jar, render(&page)?).into_response())
}

async fn logged_in(
    state: &AppState,
    headers: &HeaderMap,
    visit: Visit,
    account: &Account,
) -> Result<Response, PageError> {
    Metrics::inc(&state.metrics.logins_succeeded);
    // The account, not who it is: a log line names no person.
    let role = if account.role == Role::Operator {
        "operator"
    } else {
        "person"
    };
    tracing::info!(role, "login");
    let target = match &account.role {
        Role::Operator => "/operator".to_string(),
        // A browser that sends GPC has objected: its receipt comes next.
        Role::Person { person_id } => match super::gpc::honour(state, headers, person_id, visit.lang).await? {
            Some(id) => format!("/receipts/{id}?gpc=1"),
            None => "/object".to_string(),
        },
    };
    start_session(state, visit, account, &target).await
}

/// How long this attempt must wait: failed logins of the client or the
/// account used up, or attempts for the pair coming too fast.
pub(super) fn login_wait(state: &AppState, client: &str, username: &str) -> Option<Duration> {
    use governor::clock::Clock;
    // Checked first: a refused attempt must not also use up the pair's rate.
    if let Some(wait) = state.login_throttle.blocked(client, username, Instant::now()) {
        return Some(wait);
    }
    let key = format!("{client}|{username}");
    state
        .login_limiter
        .check_key(&key)
        .err()
        .map(|not_until| not_until.wait_time_from(governor::clock::DefaultClock::default().now()))
}

/// 429 with Retry-After: the login page saying how long to wait, or the
/// JSON error for a client that asks for JSON.
pub(super) fn limited(
    mut visit: Visit,
    headers: &HeaderMap,
    username: String,
    wait: Duration,
) -> Result<Response, PageError> {
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
    let mut page = Login::new(visit.page(), username);
    page.limited = t.login_limited.replace("{minutes}", &secs.div_ceil(60).to_string());
    Ok((StatusCode::TOO_MANY_REQUESTS, retry_after, visit.jar, render(&page)?).into_response())
}

/// A new session on every login; the one this browser held before ends,
/// so a session token known before the login (fixation) is worth nothing.
pub(super) async fn start_session(
    state: &AppState,
    visit: Visit,
    account: &Account,
    target: &str,
) -> Result<Response, PageError> {
    if let Some(previous) = visit.jar.get(SESSION_COOKIE) {
        state.store.delete_session(previous.value()).await?;
    }
    let (token, _) = state
        .store
        .create_session(&account.username, state.settings.session_lifetime)
        .await?;
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
