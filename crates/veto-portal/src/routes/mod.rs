//! Pages and the JSON API. Helpers shared by the pages live here: the
//! language, the session, CSRF tokens and rendering.

pub mod account;
pub mod api;
pub mod gpc;
pub mod health;
pub mod login;
pub mod mydata;
pub mod nonuser;
pub mod objections;
pub mod operator;
pub mod pages;

use askama::Template;
use axum::Router;
use axum::http::{HeaderValue, Request, header};
use axum::middleware::Next;
use axum::response::{Html, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use veto_store::accounts::{Role, Session};

use crate::error::{ApiError, Code, PageError};
use crate::i18n::{Lang, Texts};
use crate::state::AppState;
use crate::telemetry::Metrics;

/// `__Host-`: the browser takes this cookie only if it is Secure, has
/// `Path=/` and names no Domain, so no sibling host or plain-HTTP page can
/// set or overwrite it (ASVS 3.4.4).
pub const SESSION_COOKIE: &str = "__Host-veto_session";

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(pages::landing))
        .route("/login", get(login::login_form).post(login::login))
        .route("/login/code", post(login::login_code))
        .route("/logout", post(login::logout))
        .route("/logout/everywhere", post(login::logout_everywhere))
        .route(
            "/account/password",
            get(account::password_form).post(account::change_password),
        )
        .route("/object", get(objections::form).post(objections::submit))
        .route("/receipts/verify", get(pages::verify_form).post(pages::verify))
        .route("/receipts/{id}", get(objections::receipt_page))
        .route("/receipts/{id}/json", get(objections::receipt_json))
        .route(
            "/receipts/{id}/withdraw",
            get(objections::withdraw_confirm).post(objections::withdraw),
        )
        .route("/my-data", get(mydata::page))
        .route("/my-data/certificate.json", get(mydata::certificate_json))
        .route("/my-data/{snapshot}/items", get(mydata::items))
        .route("/non-user", get(nonuser::form).post(nonuser::submit))
        .route("/non-user/verify", get(nonuser::verify).post(nonuser::confirm))
        .route("/operator", get(operator::dashboard))
        .route("/operator/objections.csv", get(operator::csv))
        .route("/operator/review/{id}", post(operator::decide))
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .route("/static/app.js", get(pages::app_js))
        .route("/static/app.css", get(pages::app_css))
        .nest("/api", api::router())
        .layer(axum::middleware::from_fn_with_state(state.clone(), count_and_secure))
        .with_state(state)
}

/// Counts requests, refuses state changes from other origins, and sets the
/// security headers on every response.
async fn count_and_secure(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request<axum::body::Body>,
    next: Next,
) -> Response {
    use axum::response::IntoResponse;
    Metrics::inc(&state.metrics.http_requests);
    let path = req.uri().path().to_string();
    let lang = request_lang(req.headers(), req.uri());
    let mut res = if crate::origin::allowed(req.method(), req.headers(), state.settings.public_origin.as_deref()) {
        next.run(req).await
    } else {
        Metrics::inc(&state.metrics.csrf_rejected);
        let e = ApiError::new(
            Code::Forbidden,
            "cross-origin request refused: send it from this portal's own pages",
        );
        if path.starts_with("/api/") {
            e.into_response()
        } else {
            PageError(e).into_response()
        }
    };
    if is_page(&path) && (res.status().is_client_error() || res.status().is_server_error()) {
        res = localized_error(res, lang);
    }
    let h = res.headers_mut();
    // Receipts, My data, the CSV, the dashboard and the API carry personal
    // data: no response but the static assets may be kept by a browser or
    // a shared cache.
    if !path.starts_with("/static/") {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    // An API answer opened in a browser tab is a download, never a page the
    // browser might render or sniff as one (ASVS 14.4.2).
    if path.starts_with("/api/") && !h.contains_key(header::CONTENT_DISPOSITION) {
        h.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment; filename=\"api.json\""),
        );
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    res
}

/// Paths whose answers people read in a browser: everything but the JSON
/// API, the assets and the machine endpoints.
fn is_page(path: &str) -> bool {
    !(path.starts_with("/api/") || path.starts_with("/static/") || path == "/healthz" || path == "/metrics")
}

/// The language of a request, the same for its page and for an error
/// answered without one.
fn request_lang(headers: &axum::http::HeaderMap, uri: &axum::http::Uri) -> Lang {
    let jar = CookieJar::from_headers(headers);
    let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    Lang::negotiate(query_param(uri, "lang"), jar.get("lang").map(|c| c.value()), accept)
}

/// Marks a response drawn from a page template, which speaks the page's
/// language already, even when its status is an error (a failed login).
#[derive(Clone, Copy)]
struct RenderedPage;

/// A page drawn from its template.
pub struct Rendered(Html<String>);

impl axum::response::IntoResponse for Rendered {
    fn into_response(self) -> Response {
        let mut res = self.0.into_response();
        res.extensions_mut().insert(RenderedPage);
        res
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    t: &'static Texts,
    message: &'static str,
}

/// Any error a page route answers without its own template (a refused
/// token, a missing page, a form the extractor rejects, the internal
/// error) becomes a short page in the visitor's language: the English
/// technical messages are for the log and the API, not for people.
/// Status and headers (Retry-After) stay.
fn localized_error(res: Response, lang: Lang) -> Response {
    use axum::http::StatusCode;
    // A client that asked a page route for JSON (the login's 429) keeps
    // the documented JSON error.
    let json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if json || res.extensions().get::<RenderedPage>().is_some() {
        return res;
    }
    let t = lang.texts();
    let status = res.status();
    let message = match status {
        StatusCode::UNAUTHORIZED => t.error_unauthorized,
        StatusCode::FORBIDDEN => t.error_forbidden,
        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => t.error_not_found,
        StatusCode::TOO_MANY_REQUESTS => t.error_too_many,
        s if s.is_server_error() => t.error_internal,
        _ => t.error_bad_request,
    };
    let body = ErrorPage { t, message }.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "error template");
        format!(
            "<!doctype html><html lang=\"{}\"><title>{status}</title><p>{message}</p></html>",
            t.code
        )
    });
    let (mut parts, _) = res.into_parts();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// What every page needs to draw its frame.
pub struct PageCtx {
    pub t: &'static Texts,
    pub lang_href: String,
    pub user: Option<String>,
    pub is_person: bool,
    pub is_operator: bool,
    /// The CSRF token forms on this page must carry.
    pub csrf: String,
}

/// The request as the pages see it.
pub struct Visit {
    pub lang: Lang,
    pub session: Option<Session>,
    pub jar: CookieJar,
    path: String,
    /// Signs and checks the double-submit token of forms without a session.
    csrf_key: [u8; 32],
}

/// A page request by a signed-in person: their visit and their person id.
/// Anyone else is sent to the login page before the handler runs.
pub struct SignedIn {
    pub visit: Visit,
    pub person_id: String,
}

impl axum::extract::FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<SignedIn, Response> {
        use axum::response::IntoResponse;
        let visit = Visit::from_request_parts(parts, state).await?;
        match visit.person_id().map(str::to_string) {
            Some(person_id) => Ok(SignedIn { visit, person_id }),
            None => Err(axum::response::Redirect::to("/login").into_response()),
        }
    }
}

/// Every page request is a visit: its language, session and cookies.
impl axum::extract::FromRequestParts<AppState> for Visit {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &AppState) -> Result<Visit, Response> {
        use axum::response::IntoResponse;
        let uri = match parts.extensions.get::<axum::extract::OriginalUri>() {
            Some(original) => original.0.clone(),
            None => parts.uri.clone(),
        };
        Visit::new(state, &parts.headers, &uri)
            .await
            .map_err(|e| PageError::from(e).into_response())
    }
}

fn query_param<'a>(uri: &'a axum::http::Uri, name: &str) -> Option<&'a str> {
    uri.query()?
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

pub fn secure_cookie(name: &'static str, value: String) -> Cookie<'static> {
    let mut c = Cookie::new(name, value);
    c.set_http_only(true);
    c.set_secure(true);
    c.set_same_site(SameSite::Lax);
    c.set_path("/");
    c
}

impl Visit {
    pub async fn new(
        state: &AppState,
        headers: &axum::http::HeaderMap,
        uri: &axum::http::Uri,
    ) -> Result<Visit, ApiError> {
        let mut jar = CookieJar::from_headers(headers);
        let query_lang = query_param(uri, "lang");
        // Only an explicit choice is remembered; Accept-Language is asked
        // again on every visit until then.
        let lang = request_lang(headers, uri);
        if query_lang.is_some() {
            let mut c = Cookie::new("lang", lang.texts().code);
            c.set_path("/");
            c.set_same_site(SameSite::Lax);
            jar = jar.add(c);
        }
        let session = match jar.get(SESSION_COOKIE) {
            Some(c) => state.store.session(c.value(), chrono::Utc::now()).await?,
            None => None,
        };
        Ok(Visit {
            lang,
            session,
            jar,
            path: uri.path().to_string(),
            csrf_key: state.csrf_key,
        })
    }

    pub fn person_id(&self) -> Option<&str> {
        match &self.session.as_ref()?.account.role {
            Role::Person { person_id } => Some(person_id),
            Role::Operator => None,
        }
    }

    pub fn is_operator(&self) -> bool {
        self.session.as_ref().is_some_and(|s| s.account.role == Role::Operator)
    }

    /// The page frame. Without a session, forms use a double-submit token
    /// (set as a cookie here if missing).
    pub fn page(&mut self) -> PageCtx {
        let csrf = match &self.session {
            Some(s) => s.csrf_token.clone(),
            // A cookie this server did not sign (planted, or from before the
            // key) is replaced.
            None => match self.jar.get(crate::csrf::COOKIE) {
                Some(c) if crate::csrf::is_signed(&self.csrf_key, c.value()) => c.value().to_string(),
                _ => {
                    let token = crate::csrf::new_signed_token(&self.csrf_key);
                    self.jar = self.jar.clone().add(secure_cookie(crate::csrf::COOKIE, token.clone()));
                    token
                }
            },
        };
        PageCtx {
            t: self.lang.texts(),
            lang_href: format!("{}?lang={}", self.path, self.lang.texts().other_code),
            user: self.session.as_ref().map(|s| s.account.username.clone()),
            is_person: self.person_id().is_some(),
            is_operator: self.is_operator(),
            csrf,
        }
    }

    /// Checks a submitted form token against the session's, or against the
    /// double-submit cookie when there is no session.
    pub fn check_csrf(&self, state: &AppState, submitted: Option<&str>) -> Result<(), ApiError> {
        let expected = match &self.session {
            Some(s) => s.csrf_token.clone(),
            None => self
                .jar
                .get(crate::csrf::COOKIE)
                .map(|c| c.value().to_string())
                .filter(|token| crate::csrf::is_signed(&self.csrf_key, token))
                .unwrap_or_default(),
        };
        if crate::csrf::matches(&expected, submitted) {
            Ok(())
        } else {
            Metrics::inc(&state.metrics.csrf_rejected);
            Err(ApiError::new(
                Code::Csrf,
                "the form's security token is missing or wrong; reload the page and try again",
            ))
        }
    }
}

pub fn render(template: &impl Template) -> Result<Rendered, PageError> {
    template.render().map(|html| Rendered(Html(html))).map_err(|e| {
        tracing::error!(error = %e, "template");
        PageError(ApiError::new(Code::Internal, "internal error"))
    })
}

/// A small inline SVG bar chart (no script).
pub fn bar_chart_svg(label: &str, bars: &[(String, u64)]) -> String {
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let (w, h, gap) = (640usize, 160usize, 2usize);
    let bw = if bars.is_empty() {
        0
    } else {
        // At most 48 wide: a single day is a bar, not a filled box.
        (w / bars.len()).saturating_sub(gap).clamp(1, 48)
    };
    let mut svg = format!(
        "<svg class=\"chart\" role=\"img\" aria-label=\"{}\" viewBox=\"0 0 {w} {}\">",
        crate::error::html_escape(label),
        h + 20
    );
    for (i, (name, n)) in bars.iter().enumerate() {
        let bh = (*n as f64 / max as f64 * h as f64).round() as usize;
        svg.push_str(&format!(
            "<rect x=\"{}\" y=\"{}\" width=\"{bw}\" height=\"{bh}\" fill=\"#0b4f9c\"><title>{}: {n}</title></rect>",
            i * (bw + gap),
            h - bh,
            crate::error::html_escape(name)
        ));
    }
    // The first and the last day under the bars; one day is named once.
    if let Some(first) = bars.first() {
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{}\" font-size=\"18\">{}</text>",
            h + 19,
            crate::error::html_escape(&first.0)
        ));
    }
    if let (true, Some(last)) = (bars.len() > 1, bars.last()) {
        svg.push_str(&format!(
            "<text x=\"{w}\" y=\"{}\" font-size=\"18\" text-anchor=\"end\">{}</text>",
            h + 19,
            crate::error::html_escape(&last.0)
        ));
    }
    svg.push_str("</svg>");
    svg
}
