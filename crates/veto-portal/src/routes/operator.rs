//! The operator dashboard (operator role only) and the CSV export.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use veto_core::{Channel, ObjectionScope};

use super::{PageCtx, Visit, bar_chart_svg, render};
use crate::error::{ApiError, Code, PageError};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "operator.html")]
struct Dashboard {
    page: PageCtx,
    chart: String,
    by_scope: Vec<(String, u64)>,
    by_channel: Vec<(String, u64)>,
    before: u64,
    after: u64,
    snapshots: Vec<(String, String, String, u64, String)>,
    /// Held third-party objections: id, name, "authors (threshold)".
    review: Vec<(String, String, String)>,
    /// Pending unlearnings: model, person ref, items, age in days, overdue.
    unlearn: Vec<(String, String, u64, i64, bool)>,
}

/// The one month of GDPR Art. 12(3), in days.
const DUE_DAYS: i64 = 30;

fn require_operator(visit: &Visit) -> Result<(), ApiError> {
    if visit.is_operator() {
        Ok(())
    } else {
        Err(ApiError::new(Code::Forbidden, "operators only"))
    }
}

pub async fn dashboard(State(state): State<AppState>, visit: Visit) -> Result<Response, PageError> {
    let mut visit = visit;
    require_operator(&visit)?;
    let objections = state.store.objections().await?;
    let lang = visit.lang;
    let zone = state.policy.timezone;
    // Keyed by the day and the codes, so the order is the calendar's and
    // the vocabulary's; named in the page's words only when shown.
    let mut per_day: BTreeMap<chrono::NaiveDate, u64> = BTreeMap::new();
    let (mut by_scope, mut by_channel): (BTreeMap<ObjectionScope, u64>, BTreeMap<Channel, u64>) = Default::default();
    let (mut before, mut after) = (0, 0);
    for o in &objections {
        *per_day.entry(o.filed_at.with_timezone(&zone).date_naive()).or_default() += 1;
        *by_scope.entry(o.scope).or_default() += 1;
        *by_channel.entry(o.channel).or_default() += 1;
        if state.policy.is_late(o.filed_at) {
            after += 1
        } else {
            before += 1
        }
    }
    let bars: Vec<(String, u64)> = per_day.into_iter().map(|(d, n)| (lang.date(d), n)).collect();
    let snapshots = state
        .store
        .snapshots()
        .await?
        .into_iter()
        .map(|s| {
            let m: serde_json::Value = serde_json::from_str(&s.manifest).unwrap_or_default();
            let reasons = m["excluded_by_reason"]
                .as_object()
                .map(|o| {
                    o.iter()
                        .filter(|(_, n)| n.as_u64() != Some(0))
                        .map(|(k, n)| format!("{} {n}", lang.code(k)))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            (
                s.snapshot_id,
                lang.time(s.as_of, zone),
                s.policy_name,
                m["items"]["included"].as_u64().unwrap_or(0),
                reasons,
            )
        })
        .collect();
    let review = state
        .store
        .review_queue()
        .await?
        .into_iter()
        .map(|h| {
            let name = h.display_name.unwrap_or_else(|| "–".into());
            (h.objection_id, name, format!("{} ({})", h.authors, h.threshold))
        })
        .collect();
    let now = chrono::Utc::now();
    let unlearn = state
        .store
        .pending_unlearnings(now)
        .await?
        .into_iter()
        .filter(|p| !p.kept_by_policy)
        .map(|p| {
            let age = (now - p.filed_at).num_days();
            (p.model_id, p.person_ref, p.items, age, age >= DUE_DAYS)
        })
        .collect();
    let page = Dashboard {
        page: visit.page(),
        chart: bar_chart_svg(visit.lang.texts().per_day, &bars),
        by_scope: by_scope
            .into_iter()
            .map(|(k, n)| (lang.scope(k).to_string(), n))
            .collect(),
        by_channel: by_channel
            .into_iter()
            .map(|(k, n)| (lang.channel(k).to_string(), n))
            .collect(),
        before,
        after,
        snapshots,
        review,
        unlearn,
    };
    Ok((visit.jar, render(&page)?).into_response())
}

#[derive(serde::Deserialize)]
pub struct ReviewForm {
    csrf: Option<String>,
    decision: String,
}

/// An operator's decision on a held third-party objection (the buttons of
/// the review queue): recorded under the operator's name, then back to the
/// dashboard.
pub async fn decide(
    State(state): State<AppState>,
    visit: Visit,
    axum::extract::Path(id): axum::extract::Path<String>,
    axum::extract::Form(form): axum::extract::Form<ReviewForm>,
) -> Result<Response, PageError> {
    require_operator(&visit)?;
    visit.check_csrf(&state, form.csrf.as_deref())?;
    let decision = match form.decision.as_str() {
        "approve" => veto_store::reviews::Decision::Approve,
        "reject" => veto_store::reviews::Decision::Reject,
        other => return Err(ApiError::new(Code::BadRequest, format!("decision {other:?}: approve or reject")).into()),
    };
    let by = visit
        .session
        .as_ref()
        .map(|s| s.account.username.clone())
        .unwrap_or_default();
    state.store.decide_review(&id, decision, &by).await?;
    Ok(axum::response::Redirect::to("/operator#review-queue").into_response())
}

/// One CSV cell, quoted per RFC 4180 when it holds a comma, a quote or a
/// line break. A cell that begins with `=`, `+`, `-`, `@`, TAB or CR would
/// be read as a formula by spreadsheet programs (CSV injection, e.g. a
/// person_id `=HYPERLINK(...)`): it gets a leading `'`, which they show as
/// text, and is always quoted.
pub fn csv_cell(s: &str) -> String {
    let formula = s.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let text = if formula { format!("'{s}") } else { s.to_string() };
    if formula || text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

pub async fn csv(State(state): State<AppState>, visit: Visit) -> Result<Response, PageError> {
    require_operator(&visit)?;
    let mut out = String::from("objection_id,person_id,scope,channel,filed_at,withdrawn_at,before_deadline\n");
    for o in state.store.objections().await? {
        let cells = [
            o.objection_id.clone(),
            o.person_id.clone(),
            o.scope.to_string(),
            o.channel.to_string(),
            o.filed_at.to_rfc3339(),
            o.withdrawn_at.map(|w| w.to_rfc3339()).unwrap_or_default(),
            (!state.policy.is_late(o.filed_at)).to_string(),
        ];
        // Every cell goes through csv_cell, even those veto generates today:
        // imported objections carry ids from files veto does not control.
        let row: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        out.push_str(&row.join(","));
        out.push('\n');
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"objections.csv\""),
        ],
        out,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::csv_cell;

    /// An RFC 4180 reader for one cell, written apart from `csv_cell`: what
    /// a spreadsheet gets after unquoting.
    fn read_cell(cell: &str) -> String {
        match cell.strip_prefix('"').and_then(|c| c.strip_suffix('"')) {
            Some(inner) => {
                assert!(!inner.replace("\"\"", "").contains('"'), "stray quote in {cell:?}");
                inner.replace("\"\"", "\"")
            }
            None => {
                assert!(!cell.contains(['"', ',', '\n', '\r']), "{cell:?} needed quotes");
                cell.to_string()
            }
        }
    }

    #[test]
    fn formula_cells_are_neutralised_and_everything_round_trips() {
        for lead in ['=', '+', '-', '@', '\t', '\r'] {
            let value = format!("{lead}HYPERLINK(\"http://x\",\"y\")");
            let read = read_cell(&csv_cell(&value));
            assert_eq!(read, format!("'{value}"), "{lead:?}");
        }
        for value in [
            "person-1",
            "a,b",
            "say \"hi\"",
            "two\nlines",
            "",
            "x=1",
            "2025-05-27T00:00:00+00:00",
        ] {
            let read = read_cell(&csv_cell(value));
            assert_eq!(read, value);
            assert!(!read.starts_with(['=', '+', '-', '@', '\t', '\r']));
        }
        assert_eq!(csv_cell("=1+1"), "\"'=1+1\"");
    }
}
