//! "My data": what every snapshot holds of the logged-in person, and, on
//! demand, item by item. Only ever the session's own person.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};

use super::{PageCtx, SignedIn, render};
use crate::error::{ApiError, Code, PageError};
use crate::i18n::Lang;
use crate::state::AppState;

pub struct SnapshotRow {
    pub id: String,
    pub as_of: String,
    pub in_export: bool,
    pub included: u64,
    pub excluded: u64,
    pub kinds: String,
    pub platforms: String,
    pub reasons: String,
    /// Mentions of the person (an objector) redacted in others' text.
    pub mentions: u64,
}

fn list(map: &BTreeMap<String, u64>) -> String {
    map.iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The same counts in the page's words: codes named, times local.
fn words(lang: Lang, map: &BTreeMap<String, u64>) -> String {
    map.iter()
        .map(|(k, n)| format!("{} {n}", lang.code(k)))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn lookup(state: &AppState, person_id: &str) -> Result<Vec<veto_store::lookup::LookupRow>, ApiError> {
    let secret = state.store.secret().await?;
    Ok(state
        .store
        .lookup(&veto_core::hashing::person_ref(&secret, person_id))
        .await?)
}

/// The snapshot rows of a person as the API gives them: codes as stored,
/// times in RFC 3339.
pub async fn snapshot_rows(state: &AppState, person_id: &str) -> Result<Vec<SnapshotRow>, ApiError> {
    Ok(lookup(state, person_id)
        .await?
        .into_iter()
        .map(|r| {
            let p = r.person.unwrap_or_default();
            SnapshotRow {
                id: r.snapshot_id,
                as_of: r.as_of.to_rfc3339(),
                in_export: p.included() + p.excluded() > 0,
                included: p.included(),
                excluded: p.excluded(),
                kinds: list(&p.included_by_kind),
                platforms: list(&p.included_by_platform),
                reasons: if p.excluded_by_reason.is_empty() {
                    String::new()
                } else {
                    format!("({})", list(&p.excluded_by_reason))
                },
                mentions: p.mentions_redacted,
            }
        })
        .collect())
}

#[derive(Template)]
#[template(path = "mydata.html")]
struct MyData {
    page: PageCtx,
    objections: Vec<(String, String)>,
    snapshots: Vec<SnapshotRow>,
    /// Per model: id, status in words, contribution in words.
    models: Vec<(String, String, String)>,
}

/// The person's certificate, unsigned, with their contributions counted
/// from the snapshots' files (on a blocking thread: it reads one shard per
/// model). The membership audit, which retrains shards, is left to
/// `veto certificate`.
async fn certificate(state: &AppState, person_id: &str) -> Result<veto_core::certificate::Certificate, ApiError> {
    let (mut cert, jobs) = state.store.certificate_of(person_id, chrono::Utc::now()).await?;
    let person = person_id.to_string();
    tokio::task::spawn_blocking(move || veto_audit::contribution::fill(&mut cert, &person, &jobs).map(|()| cert))
        .await
        .map_err(|_| ApiError::new(Code::Internal, "internal error"))?
        .map_err(|e| {
            tracing::error!(error = %e, "reading snapshot");
            ApiError::new(Code::Internal, "the snapshot cannot be read")
        })
}

fn model_rows(lang: Lang, cert: &veto_core::certificate::Certificate) -> Vec<(String, String, String)> {
    let t = lang.texts();
    cert.models
        .iter()
        .map(|m| {
            let status = match (m.status.as_str(), m.removals.last()) {
                ("removed", Some(r)) => format!("{} {} ({})", t.mydata_status_removed, r.version, r.at),
                ("pending", _) => t.mydata_status_pending.to_string(),
                ("kept_by_policy", _) => t.mydata_status_kept.to_string(),
                _ => t.mydata_status_in_model.to_string(),
            };
            let share = m.contribution.as_ref().map_or_else(String::new, |c| {
                let pct = c.share.parse::<f64>().unwrap_or(0.0) * 100.0;
                format!("{} {} / {} ({pct:.6} %)", c.tokens, t.mydata_tokens, c.total_tokens)
            });
            (m.model_id.clone(), status, share)
        })
        .collect()
}

/// The signed certificate as a download.
pub async fn certificate_json(
    State(state): State<AppState>,
    SignedIn { visit, person_id }: SignedIn,
) -> Result<Response, PageError> {
    let cert = certificate(&state, &person_id).await?;
    let cert = state.store.sign_certificate(cert).await.map_err(ApiError::from)?;
    let body = serde_json::to_string_pretty(&cert).map_err(|_| ApiError::new(Code::Internal, "internal error"))? + "\n";
    let headers = [
        (axum::http::header::CONTENT_TYPE, "application/json"),
        (
            axum::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"veto-certificate.json\"",
        ),
    ];
    Ok((visit.jar, headers, body).into_response())
}

pub async fn page(
    State(state): State<AppState>,
    SignedIn { mut visit, person_id }: SignedIn,
) -> Result<Response, PageError> {
    let lang = visit.lang;
    let zone = state.policy.timezone;
    let t = lang.texts();
    let objections = state
        .store
        .objections_of(&person_id)
        .await?
        .into_iter()
        .map(|o| {
            let filed = format!(
                "{} · {} {}",
                lang.scope(o.scope),
                t.receipt_filed,
                lang.time(o.filed_at, zone)
            );
            let status = match o.withdrawn_at {
                Some(w) => format!("{filed} · {} {}", t.receipt_withdrawn, lang.time(w, zone)),
                None => filed,
            };
            (o.objection_id, status)
        })
        .collect();
    let snapshots = lookup(&state, &person_id)
        .await?
        .into_iter()
        .map(|r| {
            let p = r.person.unwrap_or_default();
            SnapshotRow {
                id: r.snapshot_id,
                as_of: lang.time(r.as_of, zone),
                in_export: p.included() + p.excluded() > 0,
                included: p.included(),
                excluded: p.excluded(),
                kinds: words(lang, &p.included_by_kind),
                platforms: words(lang, &p.included_by_platform),
                reasons: if p.excluded_by_reason.is_empty() {
                    String::new()
                } else {
                    format!("({}: {})", t.mydata_by_reason, words(lang, &p.excluded_by_reason))
                },
                mentions: p.mentions_redacted,
            }
        })
        .collect();
    let models = model_rows(lang, &certificate(&state, &person_id).await?);
    let page = MyData {
        page: visit.page(),
        objections,
        snapshots,
        models,
    };
    Ok((visit.jar, render(&page)?).into_response())
}

#[derive(Template)]
#[template(path = "items.html")]
struct Items {
    page: PageCtx,
    snapshot_id: String,
    included: Vec<(String, String, String)>,
    excluded: Vec<(String, String)>,
}

pub async fn items(
    State(state): State<AppState>,
    SignedIn { mut visit, person_id }: SignedIn,
    Path(snapshot): Path<String>,
) -> Result<Response, PageError> {
    let record = match state.store.snapshot(&snapshot).await {
        Ok(r) if r.snapshot_id == snapshot => r,
        _ => return Err(ApiError::not_found().into()),
    };
    let lang = visit.lang;
    let secret = state.store.secret().await?;
    let dir = std::path::PathBuf::from(&record.path);
    let bundle = tokio::task::spawn_blocking(move || veto_audit::proof::prove(&dir, &person_id, &secret))
        .await
        .map_err(|_| ApiError::new(Code::Internal, "internal error"))?
        .map_err(|e| {
            tracing::error!(error = %e, "reading snapshot");
            ApiError::new(Code::Internal, "the snapshot cannot be read")
        })?;
    let page = Items {
        page: visit.page(),
        snapshot_id: record.snapshot_id,
        included: bundle
            .included
            .into_iter()
            .map(|i| {
                (
                    i.item_id,
                    format!("{}, {}", lang.code(&i.row.platform), lang.code(&i.row.kind)),
                    i.row.text.unwrap_or_default(),
                )
            })
            .collect(),
        excluded: bundle
            .excluded
            .into_iter()
            .map(|e| (e.item_id, lang.code(&e.reason)))
            .collect(),
    };
    Ok((visit.jar, render(&page)?).into_response())
}
