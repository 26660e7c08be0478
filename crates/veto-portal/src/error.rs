//! Errors as the portal answers them: JSON with a stable code for the API,
//! a plain page for browsers. Internal details go to the log, not the client.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A new code also goes into [`Code::ALL`], the list the OpenAPI document gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Csrf,
    RateLimited,
    Internal,
    /// The JSON body is well-formed but does not fit the schema.
    Unprocessable,
    /// An Idempotency-Key used before with a different request body.
    IdempotencyKeyReused,
    UnsupportedMediaType,
    PayloadTooLarge,
    MethodNotAllowed,
}

impl Code {
    /// Every code, for the document's list of them.
    pub const ALL: [Code; 12] = [
        Code::BadRequest,
        Code::Unauthorized,
        Code::Forbidden,
        Code::NotFound,
        Code::Csrf,
        Code::RateLimited,
        Code::Internal,
        Code::Unprocessable,
        Code::IdempotencyKeyReused,
        Code::UnsupportedMediaType,
        Code::PayloadTooLarge,
        Code::MethodNotAllowed,
    ];

    fn status(self) -> StatusCode {
        match self {
            Code::BadRequest => StatusCode::BAD_REQUEST,
            Code::Unauthorized => StatusCode::UNAUTHORIZED,
            Code::Forbidden | Code::Csrf => StatusCode::FORBIDDEN,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Code::Unprocessable | Code::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Code::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Code::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Code::BadRequest => "bad_request",
            Code::Unauthorized => "unauthorized",
            Code::Forbidden => "forbidden",
            Code::NotFound => "not_found",
            Code::Csrf => "csrf_failed",
            Code::RateLimited => "rate_limited",
            Code::Internal => "internal",
            Code::Unprocessable => "unprocessable",
            Code::IdempotencyKeyReused => "idempotency_key_reused",
            Code::UnsupportedMediaType => "unsupported_media_type",
            Code::PayloadTooLarge => "payload_too_large",
            Code::MethodNotAllowed => "method_not_allowed",
        }
    }
}

/// An error answered as JSON: `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    #[schema(schema_with = code_schema)]
    pub code: String,
    /// For people: what was wrong and what to do; never names a Rust type.
    pub message: String,
}

/// The error codes as an enum in the document, from [`Code::ALL`], so a
/// client (and the conformance run) can rely on the list.
fn code_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let names: Vec<&str> = Code::ALL.iter().map(|c| c.name()).collect();
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(format!(
            "Stable and machine-readable (the message is for people): {}.",
            names.join(", ")
        )))
        .enum_values(Some(names))
        .build()
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }
    pub fn not_found() -> ApiError {
        ApiError::new(Code::NotFound, "no such resource")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.name().into(),
                message: self.message,
            },
        };
        (self.code.status(), Json(body)).into_response()
    }
}

impl From<veto_store::StoreError> for ApiError {
    fn from(e: veto_store::StoreError) -> ApiError {
        tracing::error!(error = %e, "state store");
        ApiError::new(Code::Internal, "internal error")
    }
}

/// An error answered as a small HTML page.
#[derive(Debug)]
pub struct PageError(pub ApiError);

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.code.status();
        let body = format!(
            "<!doctype html><html lang=\"de\"><head><meta charset=\"utf-8\"><title>{status}</title>\
             <link rel=\"stylesheet\" href=\"/static/app.css\"></head><body><main><h1>{status}</h1><p>{}</p>\
             <p><a href=\"/\">veto</a></p></main></body></html>",
            html_escape(&self.0.message)
        );
        (
            status,
            [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response()
    }
}

impl<E: Into<ApiError>> From<E> for PageError {
    fn from(e: E) -> PageError {
        PageError(e.into())
    }
}

pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
