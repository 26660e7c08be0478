//! Landing, the public receipt check, static assets.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;

use super::{PageCtx, Visit, render};
use crate::error::PageError;
use crate::state::AppState;

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
