//! Filing, showing and withdrawing objections in the browser. The JSON API
//! shares [`file_objection`] and [`withdraw_objection`].

use std::str::FromStr;

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Json, http::header};
use chrono::Utc;
use rand::RngCore;
use serde::Deserialize;
use veto_core::{Channel, LateObjections, Objection, ObjectionScope};
use veto_store::portal::{Filed, NewObjection};

use super::{PageCtx, SignedIn, render};
use crate::error::{ApiError, Code, PageError};
use crate::receipts::receipt_for;
use crate::state::AppState;
use crate::telemetry::Metrics;

/// Files an objection for `person_id`; durable when this returns Ok.
pub async fn file_objection(
    state: &AppState,
    person_id: &str,
    scope: ObjectionScope,
    reason: Option<String>,
    channel: Channel,
    idempotency_key: Option<String>,
) -> Result<Filed, ApiError> {
    if state.objection_limiter.check_key(&person_id.to_string()).is_err() {
        Metrics::inc(&state.metrics.rate_limited);
        return Err(ApiError::new(
            Code::RateLimited,
            "too many objections for this person; wait a minute",
        ));
    }
    let mut id = [0u8; 10];
    rand::rng().fill_bytes(&mut id);
    let objection = Objection {
        objection_id: format!("obj-{}", hex::encode(id)),
        person_id: person_id.to_string(),
        scope,
        filed_at: Utc::now(),
        withdrawn_at: None,
        channel,
    };
    let reason = reason
        .map(|r| r.trim().chars().take(2000).collect::<String>())
        .filter(|r| !r.is_empty());
    // Idempotency keys are scoped to the person, so one caller cannot replay another's.
    let key = idempotency_key.map(|k| format!("{person_id}\u{1f}{k}"));
    let filed = state
        .writer
        .file(NewObjection {
            objection,
            idempotency_key: key,
            reason,
        })
        .await
        .map_err(|m| ApiError::new(Code::Internal, m))?;
    if filed.created {
        Metrics::inc(&state.metrics.objections_filed);
    }
    Ok(filed)
}

/// The person's own objection, or 404 — whoever else's id is in the URL.
pub async fn own_objection(state: &AppState, person_id: &str, id: &str) -> Result<Objection, ApiError> {
    match state.store.objection(id).await? {
        Some(o) if o.person_id == person_id => Ok(o),
        _ => Err(ApiError::not_found()),
    }
}

pub async fn withdraw_objection(state: &AppState, person_id: &str, id: &str) -> Result<Objection, ApiError> {
    let o = state
        .store
        .withdraw_objection(id, person_id, Utc::now())
        .await?
        .ok_or_else(ApiError::not_found)?;
    Metrics::inc(&state.metrics.objections_withdrawn);
    Ok(o)
}

#[derive(Template)]
#[template(path = "object.html")]
struct ObjectForm {
    page: PageCtx,
    email: String,
}

pub async fn form(SignedIn { mut visit, .. }: SignedIn) -> Result<Response, PageError> {
    let email = visit
        .session
        .as_ref()
        .and_then(|s| s.account.email.clone())
        .unwrap_or_default();
    let page = ObjectForm {
        page: visit.page(),
        email,
    };
    Ok((visit.jar, render(&page)?).into_response())
}

#[derive(Deserialize)]
pub struct SubmitForm {
    scope: Option<String>,
    reason: Option<String>,
    csrf: Option<String>,
}

pub async fn submit(
    State(state): State<AppState>,
    SignedIn { visit, person_id }: SignedIn,
    Form(form): Form<SubmitForm>,
) -> Result<Response, PageError> {
    visit.check_csrf(&state, form.csrf.as_deref())?;
    let scope = ObjectionScope::from_str(form.scope.as_deref().unwrap_or("all"))
        .map_err(|m| ApiError::new(Code::BadRequest, m))?;
    let filed = file_objection(&state, &person_id, scope, form.reason, Channel::Web, None).await?;
    Ok(Redirect::to(&format!("/receipts/{}", filed.objection.objection_id)).into_response())
}

#[derive(Template)]
#[template(path = "receipt.html")]
struct ReceiptPage {
    page: PageCtx,
    r: veto_core::receipt::Receipt,
    withdrawn: bool,
    scope_text: &'static str,
    meaning: Vec<&'static str>,
}

pub async fn receipt_page(
    State(state): State<AppState>,
    SignedIn { mut visit, person_id }: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let o = own_objection(&state, &person_id, &id).await?;
    let r = receipt_for(&state.store, &state.policy, &o).await?;
    let t = visit.lang.texts();
    let scope_text = match o.scope {
        ObjectionScope::All => t.scope_all,
        ObjectionScope::Facebook => t.scope_facebook,
        ObjectionScope::Instagram => t.scope_instagram,
        ObjectionScope::Whatsapp => t.scope_whatsapp,
    };
    let meaning = if o.withdrawn_at.is_some() {
        vec![t.meaning_withdrawn]
    } else if r.before_deadline {
        vec![t.meaning_before]
    } else {
        let models = match state.policy.late_objections {
            LateObjections::KeepTrained => t.meaning_keep,
            LateObjections::Unlearn => t.meaning_unlearn,
        };
        vec![t.meaning_after, models]
    };
    let page = ReceiptPage {
        page: visit.page(),
        withdrawn: o.withdrawn_at.is_some(),
        r,
        scope_text,
        meaning,
    };
    Ok((visit.jar, render(&page)?).into_response())
}

pub async fn receipt_json(
    State(state): State<AppState>,
    SignedIn { person_id, .. }: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let o = own_objection(&state, &person_id, &id).await?;
    let r = receipt_for(&state.store, &state.policy, &o).await?;
    let disposition = format!("attachment; filename=\"receipt-{}.json\"", o.objection_id);
    Ok(([(header::CONTENT_DISPOSITION, disposition)], Json(r)).into_response())
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: Option<String>,
}

pub async fn withdraw(
    State(state): State<AppState>,
    SignedIn { visit, person_id }: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    visit.check_csrf(&state, form.csrf.as_deref())?;
    withdraw_objection(&state, &person_id, &id).await?;
    Ok(Redirect::to(&format!("/receipts/{id}")).into_response())
}
