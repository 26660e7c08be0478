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
    /// Objections filed per person per minute.
    pub objections_per_minute: u32,
    /// Where verification mails go when no SMTP relay is configured.
    pub mail_dir: PathBuf,
    /// The public base URL used in emailed links.
    pub public_url: String,
    /// SMTP relay (host, port) and sender; None: mail goes to `mail_dir`.
    pub smtp: Option<(String, u16, String)>,
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
            objections_per_minute: 30,
            mail_dir,
            smtp: None,
        }
    }
}
