//! How the API reads a request and answers what it cannot read: the caller
//! first (so a request without valid credentials is a 401 whatever its
//! body), then the body; every refusal is the documented JSON error, never
//! a framework's text naming a Rust type.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::de::DeserializeOwned;

use super::{Caller, caller, check_csrf};
use crate::error::{ApiError, Code};
use crate::i18n::Lang;
use crate::state::AppState;

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let jar = CookieJar::from_headers(&parts.headers);
        caller(state, &parts.headers, &jar).await
    }
}

/// A caller allowed to change state: cookie sessions have sent their CSRF
/// token (checked, like the credentials, before the body is read).
pub struct Writer(pub Caller);

impl FromRequestParts<AppState> for Writer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Writer, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if let Caller::Person { csrf, .. } = &caller {
            check_csrf(state, &parts.headers, csrf)?;
        }
        Ok(Writer(caller))
    }
}

/// A JSON body. Refusals name the field and the place in the body, not the
/// type behind it: 415 without a JSON content type, 413 past the body
/// limit, 400 for malformed JSON, 422 for JSON that does not fit.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<ApiJson<T>, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                Code::UnsupportedMediaType,
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(Code::PayloadTooLarge, "the request body is too large")
            } else {
                ApiError::new(Code::BadRequest, "the request body could not be read")
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses a JSON body, explaining a failure in terms of the request.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let at_root = e.path().iter().next().is_none();
        let path = e.path().to_string();
        json_error(e.into_inner(), (!at_root).then_some(path))
    })?;
    de.end().map_err(|e| json_error(e, None))?;
    Ok(value)
}

fn json_error(e: serde_json::Error, field: Option<String>) -> ApiError {
    use serde_json::error::Category;
    let place = format!("line {} column {}", e.line(), e.column());
    match (e.classify(), field) {
        (Category::Syntax | Category::Eof | Category::Io, _) => {
            ApiError::new(Code::BadRequest, format!("malformed JSON at {place}"))
        }
        (Category::Data, None) => ApiError::new(
            Code::Unprocessable,
            format!("the body must be a JSON object as documented (at {place})"),
        ),
        (Category::Data, Some(field)) => ApiError::new(
            Code::Unprocessable,
            format!("{field}: {} (at {place})", without_rust_types(&serde_message(&e))),
        ),
    }
}

/// serde_json's message without its " at line L column C" suffix (the
/// place is said once, in our words).
fn serde_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    match full.rfind(" at line ") {
        Some(at) => full[..at].to_string(),
        None => full,
    }
}

/// Replaces "struct Name" / "enum Name" (serde's words for what it
/// expected) by what a client can act on.
pub fn without_rust_types(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    loop {
        let next = ["struct ", "enum "]
            .iter()
            .filter_map(|w| rest.find(w).map(|i| (i, *w)))
            .min();
        let Some((i, word)) = next else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..i]);
        out.push_str(if word == "struct " {
            "a JSON object"
        } else {
            "one of the documented values"
        });
        let after = &rest[i + word.len()..];
        let name_len = after
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        rest = &after[name_len..];
    }
}

/// A query string, refused as a JSON error when it does not fit.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<ApiQuery<T>, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(q)) => Ok(ApiQuery(q)),
            Err(r) => Err(ApiError::new(Code::BadRequest, without_rust_types(&r.body_text()))),
        }
    }
}

/// Unknown paths under `/api`.
pub async fn not_found() -> ApiError {
    ApiError::new(Code::NotFound, "no such API path; see /api/openapi.json")
}

/// The last line of defence: any error under `/api` that is not already
/// JSON (a wrong method, an unreadable path segment, a body the framework
/// refused) becomes the documented error body. Its text is dropped, since
/// it can name Rust types; only the status is kept (and `Allow` for 405).
pub async fn json_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let allow = res.headers().get(header::ALLOW).cloned();
    let (code, message) = match status {
        StatusCode::NOT_FOUND => (Code::NotFound, "no such resource"),
        StatusCode::METHOD_NOT_ALLOWED => (Code::MethodNotAllowed, "this method is not allowed on this path"),
        StatusCode::PAYLOAD_TOO_LARGE => (Code::PayloadTooLarge, "the request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (Code::UnsupportedMediaType, "unsupported content type"),
        StatusCode::UNAUTHORIZED => (Code::Unauthorized, "authentication required"),
        StatusCode::FORBIDDEN => (Code::Forbidden, "forbidden"),
        StatusCode::TOO_MANY_REQUESTS => (Code::RateLimited, "too many requests"),
        StatusCode::UNPROCESSABLE_ENTITY => (Code::Unprocessable, "the request does not fit the documented schema"),
        s if s.is_server_error() => (Code::Internal, "internal error"),
        _ => (Code::BadRequest, "the request is malformed"),
    };
    let mut out = ApiError::new(code, message).into_response();
    // Keep the original status where our code maps to another one (e.g. 408).
    *out.status_mut() = status;
    if let Some(allow) = allow {
        out.headers_mut().insert(header::ALLOW, allow);
    }
    out
}

/// The language of the mails an API call causes: the portal's `lang`
/// cookie for browser sessions, else the first of German or English in
/// `Accept-Language` (a service can pass on the person's), else German.
pub fn mail_lang(headers: &HeaderMap) -> Lang {
    let jar = CookieJar::from_headers(headers);
    if let Some(c) = jar.get("lang") {
        return Lang::pick(None, Some(c.value()));
    }
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .unwrap_or("");
    for tag in accept.split(',') {
        let tag = tag.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if tag == "en" || tag.starts_with("en-") {
            return Lang::En;
        }
        if tag == "de" || tag.starts_with("de-") {
            return Lang::De;
        }
    }
    Lang::De
}

/// The request's `Idempotency-Key`, if it sent one.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match v.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= 200 => Ok(Some(k.to_string())),
        _ => Err(ApiError::new(
            Code::BadRequest,
            "Idempotency-Key must be 1 to 200 visible ASCII characters",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Probe {
        name: Option<String>,
    }

    #[test]
    fn rust_type_names_are_replaced() {
        assert_eq!(
            without_rust_types("invalid type: string \"x\", expected struct CreateObjection"),
            "invalid type: string \"x\", expected a JSON object"
        );
        assert_eq!(
            without_rust_types("expected enum Scope_2 or struct A!"),
            "expected one of the documented values or a JSON object!"
        );
        assert_eq!(without_rust_types("no types here"), "no types here");
    }

    #[test]
    fn json_errors_name_the_place_and_field_but_no_type() {
        let e = parse_json::<Probe>(b"\"x\"").unwrap_err();
        assert_eq!(e.code, Code::Unprocessable);
        assert!(
            !e.message.contains("Probe") && e.message.contains("line 1 column 3"),
            "{}",
            e.message
        );
        let e = parse_json::<Probe>(b"{\"name\": 5}").unwrap_err();
        assert!(e.message.starts_with("name: invalid type: integer"), "{}", e.message);
        let e = parse_json::<Probe>(b"{\"name\": ").unwrap_err();
        assert_eq!(e.code, Code::BadRequest);
        let e = parse_json::<Probe>(b"{} {}").unwrap_err();
        assert_eq!(e.code, Code::BadRequest);
        assert!(parse_json::<Probe>(b" {\"name\": \"a\"} ").is_ok());
    }

    #[test]
    fn mail_language_follows_cookie_then_accept_language() {
        let mut h = HeaderMap::new();
        assert_eq!(mail_lang(&h), Lang::De);
        h.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_static("fr, en-GB;q=0.8, de;q=0.5"),
        );
        assert_eq!(mail_lang(&h), Lang::En);
        h.insert(header::COOKIE, HeaderValue::from_static("lang=de"));
        assert_eq!(mail_lang(&h), Lang::De);
    }
}
