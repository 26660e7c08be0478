//! The account's own settings: changing the password (ASVS 2.1.5, 2.1.6).
//! The current password is asked (and failures count like failed logins),
//! the new one follows `crate::password`, every session of the account
//! ends, this browser gets a new one, and the owner is told by mail.

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{PageCtx, SESSION_COOKIE, Visit, render, secure_cookie};
use crate::error::PageError;
use crate::password::Weakness;
use crate::state::AppState;
use crate::telemetry::Metrics;

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    page: PageCtx,
    username: String,
    error: &'static str,
    done: bool,
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

pub async fn password_form(
    mut visit: Visit,
    axum::extract::Query(q): axum::extract::Query<Done>,
) -> Result<Response, PageError> {
    let Some(session) = visit.session.clone() else {
        return Ok(Redirect::to("/login").into_response());
    };
    let page = AccountPage {
        page: visit.page(),
        username: session.account.username,
        error: "",
        done: q.done.is_some(),
    };
    Ok((visit.jar, render(&page)?).into_response())
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
    repeat: String,
    csrf: Option<String>,
}

pub async fn change_password(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    mut visit: Visit,
    Form(form): Form<PasswordForm>,
) -> Result<Response, PageError> {
    let Some(session) = visit.session.clone() else {
        return Ok(Redirect::to("/login").into_response());
    };
    visit.check_csrf(&state, form.csrf.as_deref())?;
    let account = session.account;
    let client = state.client_bucket(addr.ip(), &headers);
    // Failed current passwords count like failed logins (a stolen session
    // must not become a way to guess the password); the per-pair rate of
    // login attempts does not apply to a signed-in form.
    if let Some(wait) = state
        .login_throttle
        .blocked(&client, &account.username, std::time::Instant::now())
    {
        Metrics::inc(&state.metrics.rate_limited);
        return super::login::limited(visit, &headers, account.username, wait);
    }
    let t = visit.lang.texts();
    let refuse = |visit: &mut Visit, status: StatusCode, error: &'static str| -> Result<Response, PageError> {
        let page = AccountPage {
            page: visit.page(),
            username: account.username.clone(),
            error,
            done: false,
        };
        Ok((status, visit.jar.clone(), render(&page)?).into_response())
    };
    if state
        .auth
        .authenticate(&account.username, &form.current)
        .await?
        .is_none()
    {
        state
            .login_throttle
            .failed(&client, &account.username, std::time::Instant::now());
        return refuse(&mut visit, StatusCode::FORBIDDEN, t.password_wrong_current);
    }
    if form.new != form.repeat {
        return refuse(&mut visit, StatusCode::UNPROCESSABLE_ENTITY, t.password_mismatch);
    }
    let inputs: Vec<&str> = std::iter::once(account.username.as_str())
        .chain(account.email.as_deref())
        .collect();
    // zxcvbn is CPU work: off the async workers, as hashing is.
    let (candidate, owned): (String, Vec<String>) = (form.new.clone(), inputs.iter().map(|s| s.to_string()).collect());
    let verdict = tokio::task::spawn_blocking(move || {
        let inputs: Vec<&str> = owned.iter().map(String::as_str).collect();
        crate::password::check_new(&candidate, &inputs)
    })
    .await
    .unwrap_or(Err(Weakness::TooLong));
    if let Err(weak) = verdict {
        let error = match weak {
            Weakness::TooShort => t.password_too_short,
            Weakness::TooLong => t.password_too_long,
            Weakness::Guessable { .. } => t.password_guessable,
        };
        return refuse(&mut visit, StatusCode::UNPROCESSABLE_ENTITY, error);
    }
    let new = form.new;
    let hash = tokio::task::spawn_blocking(move || crate::auth::hash_password(&new))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "password hashing");
            PageError(crate::error::ApiError::new(
                crate::error::Code::Internal,
                "internal error",
            ))
        })?;
    let notice = account.email.as_ref().map(|to| veto_store::portal::NewMail {
        recipient: to.clone(),
        subject: t.password_mail_subject.to_string(),
        body: t
            .password_mail_body
            .replace("{username}", &account.username)
            .replace("{time}", &visit.lang.time(chrono::Utc::now(), state.policy.timezone)),
    });
    state
        .store
        .change_password(&account.username, &hash, notice.as_ref())
        .await?;
    tracing::info!("password changed; every session of the account ended");
    state.deliver_mail().await;
    let (token, _) = state
        .store
        .create_session(&account.username, state.settings.session_lifetime)
        .await?;
    Ok((
        visit.jar.add(secure_cookie(SESSION_COOKIE, token)),
        Redirect::to("/account/password?done=1"),
    )
        .into_response())
}
