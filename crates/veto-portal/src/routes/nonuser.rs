//! Objections by people without an account who appear in others' content:
//! the structured subject of export v1.1 (a display name, handles, phone
//! numbers and the contact address), and a one-time verification link sent
//! through the outbox. The link opens a page that
//! changes nothing (mail scanners open links); its button POSTs the
//! confirmation. Confirmation mails to one address are limited
//! (`Settings::nonuser_mails_per_address` per `nonuser_mail_window`).

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, Query, State};
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use serde::Deserialize;
use veto_store::portal::{ThirdPartyObjection, ThirdPartyQueued};

use super::{PageCtx, Visit, render};
use crate::error::{ApiError, Code, PageError};
use crate::state::AppState;
use crate::telemetry::Metrics;

#[derive(Template)]
#[template(path = "nonuser.html")]
struct NonUser {
    page: PageCtx,
    message: Option<&'static str>,
    /// What was missing from the form, in the page's words.
    error: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "nonuser_confirm.html")]
struct Confirm {
    page: PageCtx,
    token: String,
}

#[derive(Template)]
#[template(path = "message.html")]
struct Message {
    page: PageCtx,
    title: &'static str,
    message: &'static str,
}

pub async fn form(mut visit: Visit) -> Result<Response, PageError> {
    let page = NonUser {
        page: visit.page(),
        message: None,
        error: None,
    };
    Ok((visit.jar, render(&page)?).into_response())
}

#[derive(Deserialize)]
pub struct NonUserForm {
    email: String,
    #[serde(default)]
    display_name: String,
    /// One per line.
    #[serde(default)]
    handles: String,
    /// One per line.
    #[serde(default)]
    phones: String,
    csrf: Option<String>,
}

/// The most handles or phone numbers one form names.
const MAX_LINES: usize = 20;

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(MAX_LINES)
        .map(str::to_string)
        .collect()
}

impl NonUserForm {
    /// The subject the form names, if it is one: a name or a handle (the
    /// form is for people who appear in others' content), and every part
    /// passing `Subject::validate`.
    fn subject(&self) -> Option<veto_core::Subject> {
        let name = self.display_name.trim();
        let subject = veto_core::Subject {
            display_name: (!name.is_empty()).then(|| name.chars().take(200).collect()),
            handles: lines(&self.handles)
                .into_iter()
                .map(|h| format!("@{}", h.trim_start_matches('@')))
                .collect(),
            emails: vec![self.email.trim().to_string()],
            phones: lines(&self.phones),
        };
        let names_someone = subject.display_name.is_some() || !subject.handles.is_empty();
        (names_someone && subject.validate().is_ok()).then_some(subject)
    }
}

fn plausible_email(s: &str) -> bool {
    let s = s.trim();
    s.len() <= 254
        && s.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty() && d.contains('.') && !d.starts_with('.') && !s.contains(char::is_whitespace)
        })
}

pub async fn submit(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
    visit: Visit,
    Form(form): Form<NonUserForm>,
) -> Result<Response, PageError> {
    let mut visit = visit;
    visit.check_csrf(&state, form.csrf.as_deref())?;
    if state
        .objection_limiter
        .check_key(&format!("non-user|{}", state.client_bucket(addr.ip(), &headers)))
        .is_err()
    {
        Metrics::inc(&state.metrics.rate_limited);
        return Err(ApiError::new(Code::RateLimited, "too many requests; wait a minute").into());
    }
    let subject = form.subject().filter(|_| plausible_email(&form.email));
    let Some(subject) = subject else {
        let page = NonUser {
            page: visit.page(),
            message: None,
            error: Some(visit.lang.texts().nonuser_missing),
        };
        return Ok((axum::http::StatusCode::BAD_REQUEST, visit.jar, render(&page)?).into_response());
    };
    let known_as: Vec<String> = subject.display_name.iter().chain(&subject.handles).cloned().collect();
    let (mut id, mut token) = ([0u8; 10], [0u8; 24]);
    rand::rng().fill_bytes(&mut id);
    rand::rng().fill_bytes(&mut token);
    let token = hex::encode(token);
    let t = ThirdPartyObjection {
        id: format!("tpo-{}", hex::encode(id)),
        email: form.email.trim().to_string(),
        known_as,
        subject: Some(subject),
        created_at: chrono::Utc::now(),
        verified_at: None,
    };
    let link = format!("{}/non-user/verify?token={token}", state.settings.public_url);
    let body = format!(
        "Bitte bestätigen Sie Ihren Widerspruch gegen die Nutzung Ihrer Erwähnungen für KI-Training:\n{link}\n\n\
         Please confirm your objection to the use of mentions of you for AI training:\n{link}\n"
    );
    let limit = (
        state.settings.nonuser_mails_per_address,
        state.settings.nonuser_mail_window,
    );
    let queued = state
        .store
        .add_third_party_objection(
            &t,
            &token,
            ("veto: Widerspruch bestätigen / confirm your objection", &body),
            limit,
        )
        .await?;
    if let ThirdPartyQueued::LimitReached { until } = queued {
        Metrics::inc(&state.metrics.rate_limited);
        let secs = (until - chrono::Utc::now()).num_seconds().max(1);
        let t = visit.lang.texts();
        let page = Message {
            page: visit.page(),
            title: t.nonuser_title,
            message: t.nonuser_too_many,
        };
        return Ok((
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            [(axum::http::header::RETRY_AFTER, secs.to_string())],
            visit.jar,
            render(&page)?,
        )
            .into_response());
    }
    state.deliver_mail().await;
    let page = NonUser {
        page: visit.page(),
        message: Some(visit.lang.texts().nonuser_sent),
        error: None,
    };
    Ok((visit.jar, render(&page)?).into_response())
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: String,
}

/// The page the mailed link opens: it only reads, and offers the button
/// that confirms.
pub async fn verify(
    State(state): State<AppState>,
    visit: Visit,
    Query(q): Query<TokenQuery>,
) -> Result<Response, PageError> {
    let mut visit = visit;
    if !state.store.third_party_pending(&q.token).await? {
        return invalid_link(visit);
    }
    let page = Confirm {
        page: visit.page(),
        token: q.token,
    };
    Ok((visit.jar, render(&page)?).into_response())
}

fn invalid_link(mut visit: Visit) -> Result<Response, PageError> {
    let t = visit.lang.texts();
    let page = Message {
        page: visit.page(),
        title: t.nonuser_title,
        message: t.nonuser_invalid,
    };
    Ok((axum::http::StatusCode::NOT_FOUND, visit.jar, render(&page)?).into_response())
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    token: String,
    csrf: Option<String>,
}

/// The button on the link's page: confirms the objection, once.
pub async fn confirm(
    State(state): State<AppState>,
    visit: Visit,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, PageError> {
    let mut visit = visit;
    visit.check_csrf(&state, form.csrf.as_deref())?;
    if state
        .store
        .verify_third_party(&form.token, chrono::Utc::now())
        .await?
        .is_none()
    {
        return invalid_link(visit);
    }
    let t = visit.lang.texts();
    let page = Message {
        page: visit.page(),
        title: t.nonuser_title,
        message: t.nonuser_verified,
    };
    Ok((visit.jar, render(&page)?).into_response())
}
