//! The JSON API under `/api/v1`, described by the OpenAPI document at
//! `/api/openapi.json` (generated from these handlers).
//!
//! Callers: a browser session (cookie; state-changing calls also send the
//! session's CSRF token in `X-CSRF-Token`), a service token (the platform's
//! backend, filing on behalf of persons), or an operator token.

use std::str::FromStr;

mod extract;
mod usage;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use axum_extra::extract::cookie::CookieJar;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use veto_core::{Channel, Objection, ObjectionScope};
use veto_store::accounts::{Role, TokenRole};
use veto_store::portal::FiledOutcome;

use super::SESSION_COOKIE;
use super::objections::{Filing, file_objection, own_objection, withdraw_objection};
use crate::error::{ApiError, Code, ErrorBody};
use crate::receipts::receipt_for;
use crate::state::AppState;
use crate::telemetry::Metrics;
pub use extract::without_rust_types;
use extract::{ApiJson, ApiQuery, Writer, idempotency_key, mail_lang};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/v1/objections", post(create_objection).get(list_objections))
        .route("/v1/objections/{id}", get(get_objection))
        .route("/v1/objections/{id}/withdraw", post(withdraw))
        .route("/v1/receipts/verify", post(verify_receipt))
        .route("/v1/my-data", get(my_data))
        .route("/v1/snapshots", get(snapshots))
        .route("/v1/content-usage", get(usage::content_usage))
        .fallback(extract::not_found)
        .layer(axum::middleware::from_fn(extract::json_errors))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "veto API",
        description = "Objections (GDPR Art. 21), receipts and transparency. Every error under /api, \
                       including unknown paths (404) and wrong methods (405), is an `ErrorBody`: \
                       `{\"error\": {\"code\": \"...\", \"message\": \"...\"}}` with a stable `code`. \
                       Credentials are checked before the body is read."
    ),
    paths(
        create_objection,
        list_objections,
        get_objection,
        withdraw,
        verify_receipt,
        my_data,
        snapshots,
        usage::content_usage
    ),
    components(schemas(
        CreateObjection,
        ObjectionView,
        ObjectionResponse,
        VerifyResponse,
        SnapshotView,
        MyDataSnapshot,
        usage::ContentUsage,
        ErrorBody
    )),
    modifiers(&Credentials)
)]
pub struct ApiDoc;

/// The three ways a caller proves who it is, as OpenAPI security schemes,
/// so clients (and the conformance run) know which header or cookie to send.
struct Credentials;

impl Modify for Credentials {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token from `veto tokens add`: a service token files and reads on behalf of the \
                         person it names in `person_id`; an operator token reads snapshots.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "The portal's session cookie after logging in at /login; acts for the session's person.",
            ))),
        );
        components.add_security_scheme(
            "csrf",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-CSRF-Token",
                "With the session cookie, every state-changing call sends the session's CSRF token (403 \
                 `csrf_failed` otherwise).",
            ))),
        );
    }
}

async fn openapi() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}

/// Who is calling. As an extractor it comes before the body, so a request
/// without valid credentials is a 401 whatever it carries.
enum Caller {
    Person { person_id: String, csrf: Option<String> },
    Service,
    Operator,
}

async fn caller(state: &AppState, headers: &HeaderMap, jar: &CookieJar) -> Result<Caller, ApiError> {
    if let Some(auth) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let token = auth
            .strip_prefix("Bearer ")
            .ok_or_else(|| ApiError::new(Code::Unauthorized, "use Authorization: Bearer <token>"))?;
        return match state.store.api_token(token, chrono::Utc::now()).await? {
            Some((_, TokenRole::Service)) => Ok(Caller::Service),
            Some((_, TokenRole::Operator)) => Ok(Caller::Operator),
            None => Err(ApiError::new(Code::Unauthorized, "unknown, expired or revoked token")),
        };
    }
    let Some(cookie) = jar.get(SESSION_COOKIE) else {
        return Err(ApiError::new(Code::Unauthorized, "log in or send a token"));
    };
    let session = state
        .store
        .session(cookie.value(), chrono::Utc::now())
        .await?
        .ok_or_else(|| ApiError::new(Code::Unauthorized, "session expired"))?;
    Ok(match session.account.role {
        Role::Person { person_id } => Caller::Person {
            person_id,
            csrf: Some(session.csrf_token),
        },
        Role::Operator => Caller::Operator,
    })
}

/// Cookie sessions must prove the request came from our pages.
fn check_csrf(state: &AppState, headers: &HeaderMap, expected: &Option<String>) -> Result<(), ApiError> {
    match expected {
        None => Ok(()),
        Some(token) => {
            let sent = headers.get(crate::csrf::HEADER).and_then(|v| v.to_str().ok());
            if crate::csrf::matches(token, sent) {
                Ok(())
            } else {
                Metrics::inc(&state.metrics.csrf_rejected);
                Err(ApiError::new(
                    Code::Csrf,
                    "send the session's CSRF token in X-CSRF-Token",
                ))
            }
        }
    }
}

/// The person a call acts for: the session's, or (service tokens) the one named.
fn acting_person(caller: &Caller, named: Option<&str>) -> Result<String, ApiError> {
    match (caller, named) {
        (Caller::Person { person_id, .. }, None) => Ok(person_id.clone()),
        (Caller::Person { person_id, .. }, Some(n)) if n == person_id => Ok(person_id.clone()),
        (Caller::Person { .. }, Some(_)) => Err(ApiError::not_found()),
        (Caller::Service, Some(n)) if !n.trim().is_empty() => {
            check_person_id(n)?;
            Ok(n.to_string())
        }
        (Caller::Service, _) => Err(ApiError::new(Code::BadRequest, "service calls name the person_id")),
        (Caller::Operator, _) => Err(ApiError::new(
            Code::Forbidden,
            "operators do not file or read persons' objections",
        )),
    }
}

/// The longest person_id a service may name, in bytes.
pub const MAX_PERSON_ID_BYTES: usize = 128;

/// A person_id named by a service token: at most 128 bytes, no control
/// characters, and not starting with `=`, `+`, `-` or `@`. Platform ids
/// never look like that; such ids are how a spreadsheet formula (CSV
/// injection) or a forged log line gets into what operators open.
pub fn check_person_id(id: &str) -> Result<(), ApiError> {
    let bad =
        id.len() > MAX_PERSON_ID_BYTES || id.chars().any(char::is_control) || id.starts_with(['=', '+', '-', '@']);
    if bad {
        return Err(ApiError::new(
            Code::Unprocessable,
            "person_id: must be 1 to 128 bytes, without control characters, and not begin with = + - or @",
        ));
    }
    Ok(())
}

/// A string that is one of `names`: the wire names of a vocabulary, taken
/// from the code so the document cannot drift from what the API accepts
/// and answers; `nullable` also admits null (an omitted optional field).
fn one_of(names: impl Iterator<Item = &'static str>, nullable: bool, description: &str) -> Object {
    let mut values: Vec<serde_json::Value> = names.map(Into::into).collect();
    let schema_type = if nullable {
        values.push(serde_json::Value::Null);
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::new(Type::String)
    };
    ObjectBuilder::new()
        .schema_type(schema_type)
        .enum_values(Some(values))
        .description(Some(description))
        .build()
}

fn scope_or_null() -> Object {
    one_of(
        ObjectionScope::ALL.iter().map(|s| s.as_str()),
        true,
        "What the objection covers (default all); anything else is 422.",
    )
}

fn scope_name() -> Object {
    one_of(
        ObjectionScope::ALL.iter().map(|s| s.as_str()),
        false,
        "What the objection covers.",
    )
}

fn channel_name() -> Object {
    one_of(
        Channel::ALL.iter().map(|c| c.as_str()),
        false,
        "How the objection reached veto.",
    )
}

#[derive(Deserialize, ToSchema)]
#[schema(examples(json!({"scope": "all", "reason": "Ich widerspreche.", "person_id": "person-alice"})))]
pub struct CreateObjection {
    #[serde(default)]
    #[schema(schema_with = scope_or_null)]
    pub scope: Option<String>,
    /// Free text, kept up to 2000 characters.
    pub reason: Option<String>,
    /// Only for service tokens (and required for them): the person objecting.
    /// 1 to 128 bytes, no control characters, not beginning with `=`, `+`,
    /// `-` or `@` (else 422). A session naming another person gets 404.
    // The pattern says what check_person_id refuses: no control character
    // (Unicode Cc, as char::is_control) anywhere, no formula character
    // first; maxLength counts characters, so the byte limit is in the text.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^=+\-@\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub person_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ObjectionView {
    pub objection_id: String,
    pub person_id: String,
    #[schema(schema_with = scope_name)]
    pub scope: String,
    #[schema(schema_with = channel_name)]
    pub channel: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub filed_at: String,
    /// RFC 3339; null while the objection applies.
    #[schema(format = DateTime)]
    pub withdrawn_at: Option<String>,
    /// Filed before the policy's objection deadline ended.
    pub before_deadline: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ObjectionResponse {
    pub objection: ObjectionView,
    /// The signed receipt (veto-receipt/2).
    #[schema(value_type = Object)]
    pub receipt: serde_json::Value,
    /// Only on a replay (200 for a repeated Idempotency-Key): that nothing
    /// new was filed, and, if the objection has been withdrawn since, that
    /// it no longer applies (`objection.withdrawn_at` and the receipt's
    /// `objection_withdrawn` event say the same) and a new key files anew.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
}

fn view(state: &AppState, o: &Objection) -> ObjectionView {
    ObjectionView {
        objection_id: o.objection_id.clone(),
        person_id: o.person_id.clone(),
        scope: o.scope.as_str().into(),
        channel: o.channel.as_str().into(),
        filed_at: o.filed_at.to_rfc3339(),
        withdrawn_at: o.withdrawn_at.map(|w| w.to_rfc3339()),
        before_deadline: !state.policy.is_late(o.filed_at),
    }
}

async fn respond(state: &AppState, o: &Objection, status: StatusCode) -> Result<Response, ApiError> {
    respond_with(state, o, status, None).await
}

async fn respond_with(
    state: &AppState,
    o: &Objection,
    status: StatusCode,
    notice: Option<String>,
) -> Result<Response, ApiError> {
    let receipt = receipt_for(&state.store, &state.policy, o).await?;
    answer(state, o, receipt, status, notice)
}

/// The answer about `o` with its signed `receipt`.
fn answer(
    state: &AppState,
    o: &Objection,
    receipt: veto_core::receipt::Receipt,
    status: StatusCode,
    notice: Option<String>,
) -> Result<Response, ApiError> {
    let body = ObjectionResponse {
        objection: view(state, o),
        receipt: serde_json::to_value(receipt).map_err(|e| {
            tracing::error!(error = %e, "receipt");
            ApiError::new(Code::Internal, "internal error")
        })?,
        notice,
    };
    Ok((status, Json(body)).into_response())
}

/// What a replay says about the objection the key filed.
fn replay_notice(o: &Objection) -> String {
    match o.withdrawn_at {
        Some(at) => format!(
            "replay of an earlier request with this Idempotency-Key: nothing was filed now, and the objection \
             it filed was withdrawn at {} and no longer applies; to object again, send a new Idempotency-Key",
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        None => "replay of an earlier request with this Idempotency-Key: nothing new was filed".into(),
    }
}

/// File an objection. With `Idempotency-Key`, a retry of the same request
/// returns the first result (200, with a `notice`; if the objection was
/// withdrawn since, the answer shows it withdrawn and says so) instead of
/// filing again; the same key with a different body is refused (422,
/// `idempotency_key_reused`). Credentials are checked before the body.
#[utoipa::path(post, path = "/api/v1/objections", request_body = CreateObjection,
    security(("token" = []), ("session" = [], "csrf" = [])),
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 200,
        description = "Makes retries safe; bound to the request body it was first used with. 1 to 200 visible ASCII characters (else 400)")),
    responses((status = 201, description = "Filed, durably; with the signed receipt", body = ObjectionResponse),
        (status = 200, description = "Replay of an idempotent request (see `notice`)", body = ObjectionResponse),
        (status = 400, description = "Malformed JSON, no person_id from a service token, or an unreadable Idempotency-Key", body = ErrorBody),
        (status = 401, description = "No valid token or session", body = ErrorBody),
        (status = 403, description = "An operator token, a session without its CSRF token (`csrf_failed`), or a request from another origin", body = ErrorBody),
        (status = 404, description = "A session naming another person's person_id", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
        (status = 422, description = "A field that does not fit (`unprocessable`), or an Idempotency-Key reused with another body (`idempotency_key_reused`)", body = ErrorBody),
        (status = 429, description = "Too many objections for this person in a minute", body = ErrorBody)))]
async fn create_objection(
    State(state): State<AppState>,
    Writer(caller): Writer,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateObjection>,
) -> Result<Response, ApiError> {
    let person_id = acting_person(&caller, body.person_id.as_deref())?;
    let scope = ObjectionScope::from_str(body.scope.as_deref().unwrap_or("all"))
        .map_err(|m| ApiError::new(Code::Unprocessable, format!("scope: {m}")))?;
    let filing = Filing {
        person_id,
        scope,
        reason: body.reason,
        channel: Channel::Api,
        idempotency_key: idempotency_key(&headers)?,
        lang: mail_lang(&headers),
    };
    let (filed, receipt) = file_objection(&state, filing).await?;
    match filed.outcome {
        FiledOutcome::Created => answer(&state, &filed.objection, receipt, StatusCode::CREATED, None),
        FiledOutcome::Replayed => {
            let notice = replay_notice(&filed.objection);
            respond_with(&state, &filed.objection, StatusCode::OK, Some(notice)).await
        }
        FiledOutcome::KeyReused => Err(ApiError::new(
            Code::IdempotencyKeyReused,
            "this Idempotency-Key was used before with a different request body; send a new key for a new request",
        )),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PersonQuery {
    /// Service tokens only (and required for them): the person acted for.
    /// 1 to 128 bytes, no control characters, not beginning with `=`, `+`,
    /// `-` or `@` (else 422). A session naming another person gets 404.
    // The same pattern as CreateObjection's person_id.
    #[param(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^=+\-@\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    person_id: Option<String>,
}

/// The caller's objections (service tokens name the person).
#[utoipa::path(get, path = "/api/v1/objections", params(PersonQuery),
    security(("token" = []), ("session" = [])),
    responses((status = 200, description = "The person's objections, oldest first", body = [ObjectionView]),
        (status = 400, description = "No person_id from a service token, or an unreadable query string", body = ErrorBody),
        (status = 401, description = "No valid token or session", body = ErrorBody),
        (status = 403, description = "An operator token", body = ErrorBody),
        (status = 404, description = "A session naming another person's person_id", body = ErrorBody),
        (status = 422, description = "A person_id that does not fit", body = ErrorBody)))]
async fn list_objections(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PersonQuery>,
) -> Result<Json<Vec<ObjectionView>>, ApiError> {
    let person_id = acting_person(&caller, q.person_id.as_deref())?;
    let list = state.store.objections_of(&person_id).await?;
    Ok(Json(list.iter().map(|o| view(&state, o)).collect()))
}

/// One of the caller's objections, with its signed receipt. Another person's id is 404.
#[utoipa::path(get, path = "/api/v1/objections/{id}", params(("id" = String, Path, description = "The objection's id"), PersonQuery),
    security(("token" = []), ("session" = [])),
    responses((status = 200, description = "The objection with its signed receipt", body = ObjectionResponse),
        (status = 400, description = "No person_id from a service token, or an unreadable path or query string", body = ErrorBody),
        (status = 401, description = "No valid token or session", body = ErrorBody),
        (status = 403, description = "An operator token", body = ErrorBody),
        (status = 404, description = "No such objection of this person (another person's is the same 404)", body = ErrorBody),
        (status = 422, description = "A person_id that does not fit", body = ErrorBody)))]
async fn get_objection(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PersonQuery>,
) -> Result<Response, ApiError> {
    let person_id = acting_person(&caller, q.person_id.as_deref())?;
    let o = own_objection(&state, &person_id, &id).await?;
    respond(&state, &o, StatusCode::OK).await
}

/// Withdraw one of the caller's objections; returns the new receipt (and
/// mails it, the first time, to the account's email).
#[utoipa::path(post, path = "/api/v1/objections/{id}/withdraw", params(("id" = String, Path, description = "The objection's id"), PersonQuery),
    security(("token" = []), ("session" = [], "csrf" = [])),
    responses((status = 200, description = "Withdrawn (now or before), with the withdrawal receipt", body = ObjectionResponse),
        (status = 400, description = "No person_id from a service token, or an unreadable path or query string", body = ErrorBody),
        (status = 401, description = "No valid token or session", body = ErrorBody),
        (status = 403, description = "An operator token, a session without its CSRF token (`csrf_failed`), or a request from another origin", body = ErrorBody),
        (status = 404, description = "No such objection of this person (another person's is the same 404)", body = ErrorBody),
        (status = 422, description = "A person_id that does not fit", body = ErrorBody)))]
async fn withdraw(
    State(state): State<AppState>,
    Writer(caller): Writer,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PersonQuery>,
) -> Result<Response, ApiError> {
    let person_id = acting_person(&caller, q.person_id.as_deref())?;
    let o = withdraw_objection(&state, &person_id, &id, mail_lang(&headers)).await?;
    respond(&state, &o, StatusCode::OK).await
}

#[derive(Serialize, ToSchema)]
pub struct VerifyResponse {
    pub valid: bool,
    pub message: String,
    pub public_key: String,
}

/// Check a receipt's signature against this installation's key. Public.
#[utoipa::path(post, path = "/api/v1/receipts/verify", request_body(content = Object, description = "A veto-receipt document (format 2, or 1 for receipts issued before)"),
    responses((status = 200, description = "Whether the receipt is genuine; any text that is not a receipt is `valid: false`", body = VerifyResponse),
        (status = 400, description = "A body that is not UTF-8", body = ErrorBody),
        (status = 403, description = "A request from another origin", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody)))]
async fn verify_receipt(State(state): State<AppState>, body: String) -> Json<VerifyResponse> {
    let outcome = super::pages::check_receipt(&state.public_key, &body);
    Json(VerifyResponse {
        valid: outcome.is_ok(),
        message: outcome
            .err()
            .unwrap_or_else(|| "the receipt is genuine and unchanged".into()),
        public_key: state.public_key.clone(),
    })
}

#[derive(Serialize, ToSchema)]
pub struct MyDataSnapshot {
    pub snapshot_id: String,
    pub as_of: String,
    pub in_export: bool,
    pub included: u64,
    pub excluded: u64,
    pub included_by_kind: String,
    pub included_by_platform: String,
    pub excluded_by_reason: String,
}

/// What every snapshot holds of the logged-in person.
#[utoipa::path(get, path = "/api/v1/my-data", params(PersonQuery),
    security(("token" = []), ("session" = [])),
    responses((status = 200, description = "One entry per snapshot", body = [MyDataSnapshot]),
        (status = 400, description = "No person_id from a service token, or an unreadable query string", body = ErrorBody),
        (status = 401, description = "No valid token or session", body = ErrorBody),
        (status = 403, description = "An operator token", body = ErrorBody),
        (status = 404, description = "A session naming another person's person_id", body = ErrorBody),
        (status = 422, description = "A person_id that does not fit", body = ErrorBody)))]
async fn my_data(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PersonQuery>,
) -> Result<Json<Vec<MyDataSnapshot>>, ApiError> {
    let person_id = acting_person(&caller, q.person_id.as_deref())?;
    let rows = super::mydata::snapshot_rows(&state, &person_id).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| MyDataSnapshot {
                snapshot_id: r.id,
                as_of: r.as_of,
                in_export: r.in_export,
                included: r.included,
                excluded: r.excluded,
                included_by_kind: r.kinds,
                included_by_platform: r.platforms,
                excluded_by_reason: r.reasons,
            })
            .collect(),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct SnapshotView {
    pub snapshot_id: String,
    pub as_of: String,
    pub policy: String,
    pub path: String,
    #[schema(value_type = Object)]
    pub manifest: serde_json::Value,
}

/// Every snapshot with its manifest (operators).
#[utoipa::path(get, path = "/api/v1/snapshots",
    security(("token" = [])),
    responses((status = 200, description = "Every snapshot, oldest first", body = [SnapshotView]),
        (status = 401, description = "No valid token or session", body = ErrorBody),
        (status = 403, description = "Not an operator", body = ErrorBody)))]
async fn snapshots(State(state): State<AppState>, caller: Caller) -> Result<Json<Vec<SnapshotView>>, ApiError> {
    match caller {
        Caller::Operator => {}
        _ => return Err(ApiError::new(Code::Forbidden, "operators only")),
    }
    let list = state.store.snapshots().await?;
    Ok(Json(
        list.into_iter()
            .map(|s| SnapshotView {
                manifest: serde_json::from_str(&s.manifest).unwrap_or_default(),
                snapshot_id: s.snapshot_id,
                as_of: s.as_of.to_rfc3339(),
                policy: s.policy_name,
                path: s.path,
            })
            .collect(),
    ))
}
