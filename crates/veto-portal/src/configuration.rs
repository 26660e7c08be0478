//! Settings of a portal instance.

use std::net::SocketAddr;
use std::path::PathBuf;

/// How a portal instance runs.
#[derive(Clone, Debug)]
pub struct Settings {
    pub listen: SocketAddr,
    /// The veto home (state store, snapshots).
    pub home: PathBuf,
    /// The policy whose deadline and rules the pages explain.
    pub policy: veto_core::Policy,
    /// Login attempts per client address per minute (burst: a third of it).
    pub login_per_minute: u32,
    /// Failed logins from one client address (an IPv4 address, an IPv6
    /// /64) within `login_failure_window`; then 429 until the oldest expires.
    /// This stops one password tried against many accounts.
    pub login_failures_per_client: u32,
    /// Failed logins for one account within `login_failure_window`, from
    /// anywhere; a right password clears them.
    pub login_failures_per_account: u32,
    pub login_failure_window: std::time::Duration,
    /// The portal's own origin (`https://veto.example`) that state-changing
    /// requests must come from; None: the origin the request addressed
    /// (its Host), right when the portal is reached directly or through a
    /// proxy that keeps the Host.
    pub public_origin: Option<String>,
    /// Objections filed per person per minute.
    pub objections_per_minute: u32,
    /// Where verification mails go when no SMTP relay is configured.
    pub mail_dir: PathBuf,
    /// The public base URL used in emailed links.
    pub public_url: String,
    /// SMTP relay (host, port) and sender; None: mail goes to `mail_dir`.
    pub smtp: Option<(String, u16, String)>,
    /// Confirmation mails to one non-user address within
    /// `nonuser_mail_window` (more get 429): the form must not become a way
    /// to flood someone's inbox.
    pub nonuser_mails_per_address: u32,
    pub nonuser_mail_window: chrono::Duration,
    /// How long a login lasts.
    pub session_lifetime: chrono::Duration,
    /// Operators log in only with a second factor (a one-time code); an
    /// operator account without one is refused (ASVS 4.3.1).
    pub operator_mfa_required: bool,
    /// Sent mails (they hold receipts and links) are deleted this long
    /// after they were handed to the sender (ASVS 8.3.8).
    pub outbox_retention: chrono::Duration,
    /// `/metrics` answers anyone, instead of only operator tokens.
    pub metrics_public: bool,
    /// Reverse proxies whose `X-Forwarded-For` names the client for the
    /// rate limits; none: the peer address counts (see `throttle::client_ip`).
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Settings {
    pub fn new(listen: SocketAddr, home: PathBuf, policy: veto_core::Policy) -> Settings {
        let mail_dir = home.join("outbox");
        Settings {
            public_url: format!("http://{listen}"),
            listen,
            home,
            policy,
            login_per_minute: 10,
            login_failures_per_client: 20,
            login_failures_per_account: 10,
            login_failure_window: std::time::Duration::from_secs(15 * 60),
            public_origin: None,
            objections_per_minute: 30,
            mail_dir,
            smtp: None,
            nonuser_mails_per_address: 3,
            nonuser_mail_window: chrono::Duration::hours(24),
            session_lifetime: chrono::Duration::hours(8),
            operator_mfa_required: true,
            outbox_retention: chrono::Duration::days(30),
            metrics_public: false,
            trusted_proxies: Vec::new(),
        }
    }
}
