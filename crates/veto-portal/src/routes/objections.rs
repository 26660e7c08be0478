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
use veto_core::receipt::Receipt;
use veto_core::{Channel, LateObjections, Objection, ObjectionScope};
use veto_store::portal::{AccountMail, Filed, NewMail, NewObjection};

use super::{PageCtx, SignedIn, render};
use crate::error::{ApiError, Code, PageError};
use crate::i18n::Lang;
use crate::receipts::{receipt_for, receipt_mail};
use crate::state::AppState;
use crate::telemetry::Metrics;

/// What a person (or a service on their behalf) asks to file.
pub struct Filing {
    pub person_id: String,
    pub scope: ObjectionScope,
    pub reason: Option<String>,
    pub channel: Channel,
    pub idempotency_key: Option<String>,
    /// The language of the receipt mail.
    pub lang: Lang,
}

/// The hash an idempotency key is bound to: SHA-256 of the RFC 8785 form of
/// what the request asks for after normalisation, so a retry that differs
/// only in JSON spacing or key order still replays, and any real difference
/// is refused.
fn request_sha256(person_id: &str, scope: ObjectionScope, reason: Option<&str>, channel: Channel) -> String {
    let canonical = veto_core::canonical::jcs(&serde_json::json!({
        "person_id": person_id,
        "scope": scope.as_str(),
        "reason": reason,
        "channel": channel.as_str(),
    }));
    veto_store::accounts::sha256_hex(&canonical)
}

/// The receipt mail for `o` in its current state, if the person's account has an email.
async fn account_receipt_mail(state: &AppState, lang: Lang, o: &Objection) -> Result<Option<NewMail>, ApiError> {
    let Some(email) = state.store.email_of_person(&o.person_id).await? else {
        return Ok(None);
    };
    let receipt = receipt_for(&state.store, &state.policy, o).await?;
    let mail = receipt_mail(&state.settings.public_url, lang, &email, &receipt).map_err(|e| {
        tracing::error!(error = %e, "receipt mail");
        ApiError::new(Code::Internal, "internal error")
    })?;
    Ok(Some(mail))
}

/// The receipt mail for a new objection's `receipt`; the store sends it to
/// the person's account email, if there is one.
fn receipt_mail_for(state: &AppState, lang: Lang, receipt: &Receipt) -> Result<AccountMail, ApiError> {
    let mail = receipt_mail(&state.settings.public_url, lang, "", receipt).map_err(|e| {
        tracing::error!(error = %e, "receipt mail");
        ApiError::new(Code::Internal, "internal error")
    })?;
    Ok(AccountMail {
        subject: mail.subject,
        body: mail.body,
    })
}

/// Files an objection; durable when this returns Ok. The receipt mail is
/// queued in the same transaction, so only a new objection sends one. The
/// receipt returned is the new objection's, the answer when it was filed
/// now (signatures are deterministic: the mailed one is the same).
pub async fn file_objection(state: &AppState, f: Filing) -> Result<(Filed, Receipt), ApiError> {
    if state.objection_limiter.check_key(&f.person_id).is_err() {
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
        person_id: f.person_id.clone(),
        scope: f.scope,
        filed_at: Utc::now(),
        withdrawn_at: None,
        channel: f.channel,
    };
    let reason = f
        .reason
        .map(|r| r.trim().chars().take(2000).collect::<String>())
        .filter(|r| !r.is_empty());
    let hash = f
        .idempotency_key
        .as_ref()
        .map(|_| request_sha256(&f.person_id, f.scope, reason.as_deref(), f.channel));
    // Idempotency keys are scoped to the person, so one caller cannot replay another's.
    let key = f.idempotency_key.map(|k| format!("{}\u{1f}{k}", f.person_id));
    let receipt = receipt_for(&state.store, &state.policy, &objection).await?;
    let mail = receipt_mail_for(state, f.lang, &receipt)?;
    let filed = state
        .writer
        .file(NewObjection {
            objection,
            idempotency_key: key,
            request_sha256: hash,
            reason,
            receipt_mail: Some(mail),
        })
        .await
        .map_err(|m| ApiError::new(Code::Internal, m))?;
    if filed.created() {
        Metrics::inc(&state.metrics.objections_filed);
        if filed.mail_queued {
            state.deliver_mail().await;
        }
    }
    Ok((filed, receipt))
}

/// The person's own objection, or 404 — whoever else's id is in the URL.
pub async fn own_objection(state: &AppState, person_id: &str, id: &str) -> Result<Objection, ApiError> {
    match state.store.objection(id).await? {
        Some(o) if o.person_id == person_id => Ok(o),
        _ => Err(ApiError::not_found()),
    }
}

/// Withdraws one of the person's objections. The first withdrawal mails
/// the withdrawal receipt; the receipt is made for the withdrawal time
/// before the write, and the store queues it only if this call withdraws.
pub async fn withdraw_objection(
    state: &AppState,
    person_id: &str,
    id: &str,
    lang: Lang,
) -> Result<Objection, ApiError> {
    let current = own_objection(state, person_id, id).await?;
    let at = Utc::now().max(current.filed_at);
    let mail = match current.withdrawn_at {
        Some(_) => None,
        None => {
            let withdrawn = Objection {
                withdrawn_at: Some(at),
                ..current
            };
            account_receipt_mail(state, lang, &withdrawn).await?
        }
    };
    let o = state
        .store
        .withdraw_objection(id, person_id, at, mail.as_ref())
        .await?
        .ok_or_else(ApiError::not_found)?;
    Metrics::inc(&state.metrics.objections_withdrawn);
    if mail.is_some() && o.withdrawn_at == Some(at) {
        state.deliver_mail().await;
    }
    Ok(o)
}

#[derive(Template)]
#[template(path = "object.html")]
struct ObjectForm {
    page: PageCtx,
    email: String,
    late_effect: &'static str,
}

pub async fn form(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    SignedIn { mut visit, person_id }: SignedIn,
) -> Result<Response, PageError> {
    if let Some(id) = super::gpc::honour(&state, &headers, &person_id, visit.lang).await? {
        return Ok((visit.jar, Redirect::to(&format!("/receipts/{id}?gpc=1"))).into_response());
    }
    let email = visit
        .session
        .as_ref()
        .and_then(|s| s.account.email.clone())
        .unwrap_or_default();
    let page = ObjectForm {
        late_effect: visit.lang.late_effect(state.policy.late_objections),
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
    let filing = Filing {
        person_id,
        scope,
        reason: form.reason,
        channel: Channel::Web,
        idempotency_key: None,
        lang: visit.lang,
    };
    let (filed, _) = file_objection(&state, filing).await?;
    Ok(Redirect::to(&format!("/receipts/{}", filed.objection.objection_id)).into_response())
}

#[derive(Template)]
#[template(path = "receipt.html")]
struct ReceiptPage {
    page: PageCtx,
    r: veto_core::receipt::Receipt,
    withdrawn: bool,
    scope_text: &'static str,
    /// Local times with their offset, as people read them; the signed
    /// receipt keeps its own RFC 3339 fields.
    filed_at: String,
    withdrawn_at: Option<String>,
    meaning: Vec<&'static str>,
    /// Filed just now by the browser's GPC signal.
    gpc: bool,
}

#[derive(Deserialize)]
pub struct ReceiptQuery {
    gpc: Option<String>,
}

pub async fn receipt_page(
    State(state): State<AppState>,
    SignedIn { mut visit, person_id }: SignedIn,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<ReceiptQuery>,
) -> Result<Response, PageError> {
    let o = own_objection(&state, &person_id, &id).await?;
    let r = receipt_for(&state.store, &state.policy, &o).await?;
    let lang = visit.lang;
    let t = lang.texts();
    let scope_text = lang.scope(o.scope);
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
        filed_at: lang.time(o.filed_at, state.policy.timezone),
        withdrawn_at: o.withdrawn_at.map(|w| lang.time(w, state.policy.timezone)),
        meaning,
        gpc: q.gpc.is_some() && o.channel == Channel::Gpc,
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
pub struct WithdrawForm {
    csrf: Option<String>,
    /// The ticked box "yes, withdraw": a withdrawal is never one stray click.
    confirm: Option<String>,
}

#[derive(Template)]
#[template(path = "withdraw.html")]
struct WithdrawConfirm {
    page: PageCtx,
    objection_id: String,
    missing: bool,
}

/// The confirmation step on its own page: where the receipt's box was not
/// ticked (a browser that ignores `required`), or for a direct link.
fn confirm_page(mut visit: super::Visit, objection_id: String, missing: bool) -> Result<Response, PageError> {
    let page = WithdrawConfirm {
        page: visit.page(),
        objection_id,
        missing,
    };
    Ok((visit.jar, render(&page)?).into_response())
}

pub async fn withdraw_confirm(
    State(state): State<AppState>,
    SignedIn { visit, person_id }: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let o = own_objection(&state, &person_id, &id).await?;
    if o.withdrawn_at.is_some() {
        return Ok(Redirect::to(&format!("/receipts/{id}")).into_response());
    }
    confirm_page(visit, o.objection_id, false)
}

pub async fn withdraw(
    State(state): State<AppState>,
    SignedIn { visit, person_id }: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<WithdrawForm>,
) -> Result<Response, PageError> {
    visit.check_csrf(&state, form.csrf.as_deref())?;
    if form.confirm.as_deref() != Some("yes") {
        let o = own_objection(&state, &person_id, &id).await?;
        return confirm_page(visit, o.objection_id, true);
    }
    withdraw_objection(&state, &person_id, &id, visit.lang).await?;
    Ok(Redirect::to(&format!("/receipts/{id}")).into_response())
}
