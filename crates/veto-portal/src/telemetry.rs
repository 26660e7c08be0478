//! Request logs and metrics. Logs carry method, path (never the query, which
//! may hold one-time tokens), status and latency; never bodies, cookies or
//! passwords. Metrics are counters in the Prometheus text format.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
    pub http_requests: AtomicU64,
    pub objections_filed: AtomicU64,
    pub objections_withdrawn: AtomicU64,
    pub logins_succeeded: AtomicU64,
    pub logins_failed: AtomicU64,
    pub rate_limited: AtomicU64,
    pub csrf_rejected: AtomicU64,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let rows: [(&str, &str, &AtomicU64); 7] = [
            ("veto_http_requests_total", "HTTP requests served", &self.http_requests),
            (
                "veto_objections_filed_total",
                "Objections filed and committed",
                &self.objections_filed,
            ),
            (
                "veto_objections_withdrawn_total",
                "Objections withdrawn",
                &self.objections_withdrawn,
            ),
            (
                "veto_logins_succeeded_total",
                "Successful logins",
                &self.logins_succeeded,
            ),
            ("veto_logins_failed_total", "Failed logins", &self.logins_failed),
            (
                "veto_rate_limited_total",
                "Requests refused by a rate limit",
                &self.rate_limited,
            ),
            (
                "veto_csrf_rejected_total",
                "Requests refused for a missing or wrong CSRF token",
                &self.csrf_rejected,
            ),
        ];
        let mut out = String::new();
        for (name, help, v) in rows {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                v.load(Ordering::Relaxed)
            ));
        }
        out
    }
}

/// The span of one request: method and path only.
pub fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
}
