//! Shared state of the portal, and the mail sender.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;

use governor::clock::DefaultClock;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use veto_core::Policy;
use veto_store::Store;
use veto_store::portal::OutboxMail;

use crate::auth::Authenticator;
use crate::configuration::Settings;
use crate::telemetry::Metrics;
use crate::writer::ObjectionWriter;

pub type KeyedLimiter = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>;

/// Builds a per-key limiter of `per_minute` with a burst of a third of it.
pub fn limiter(per_minute: u32) -> KeyedLimiter {
    let rate = NonZeroU32::new(per_minute.max(1)).expect("at least 1");
    let burst = NonZeroU32::new((per_minute / 3).max(1)).expect("at least 1");
    RateLimiter::keyed(Quota::per_minute(rate).allow_burst(burst))
}

/// Delivers mail from the outbox.
pub trait Mailer: Send + Sync {
    fn send(&self, mail: &OutboxMail) -> std::io::Result<()>;
}

/// The default sender: one `.eml` file per mail in a directory, for a local
/// mail pickup or for reading during development and tests.
pub struct FileMailer {
    pub dir: PathBuf,
}

impl Mailer for FileMailer {
    fn send(&self, mail: &OutboxMail) -> std::io::Result<()> {
        use std::io::Write;
        create_private_dir(&self.dir)?;
        let path = self.dir.join(format!("{:08}.eml", mail.id));
        let tmp = path.with_extension("tmp");
        // A leftover from a crash would keep its old mode: start afresh.
        let _ = std::fs::remove_file(&tmp);
        // Mails hold receipts and confirmation links: readable by the
        // portal's user only (ASVS 8.1.2), whatever the umask.
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp)?;
        write!(
            f,
            "To: {}\r\nSubject: {}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
            mail.recipient, mail.subject, mail.body
        )?;
        f.sync_all()?;
        std::fs::rename(tmp, path)
    }
}

/// The outbox directory, private to the portal's user: created so, and
/// an existing one (made by an older version, or by hand) tightened.
fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Deletes mail files in `dir` last written before `before` (the file sink
/// keeps receipts and links as long as the store keeps the mail); returns
/// how many.
pub fn purge_mail_files(dir: &std::path::Path, before: std::time::SystemTime) -> std::io::Result<u64> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    let mut removed = 0;
    for entry in entries {
        let path = entry?.path();
        let is_mail = path.extension().is_some_and(|e| e == "eml" || e == "tmp");
        if is_mail && std::fs::metadata(&path)?.modified()? < before {
            std::fs::remove_file(&path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Delivery through an SMTP relay (for example the local MTA on port 25).
pub struct SmtpMailer {
    pub transport: lettre::SmtpTransport,
    pub from: lettre::message::Mailbox,
}

impl SmtpMailer {
    pub fn new(relay: &str, port: u16, from: &str) -> Result<SmtpMailer, String> {
        let from = from.parse().map_err(|e| format!("--mail-from {from:?}: {e}"))?;
        let transport = lettre::SmtpTransport::builder_dangerous(relay).port(port).build();
        Ok(SmtpMailer { transport, from })
    }
}

impl Mailer for SmtpMailer {
    fn send(&self, mail: &OutboxMail) -> std::io::Result<()> {
        use lettre::Transport;
        let to = mail
            .recipient
            .parse()
            .map_err(|e| std::io::Error::other(format!("recipient: {e}")))?;
        let message = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&mail.subject)
            .body(mail.body.clone())
            .map_err(std::io::Error::other)?;
        self.transport.send(&message).map(|_| ()).map_err(std::io::Error::other)
    }
}

pub struct Inner {
    pub store: Store,
    pub policy: Policy,
    pub settings: Settings,
    pub auth: Box<dyn Authenticator>,
    pub writer: ObjectionWriter,
    pub login_limiter: KeyedLimiter,
    /// Failed logins per client address and per account.
    pub login_throttle: crate::throttle::LoginThrottle,
    /// The key that signs double-submit CSRF tokens (see `csrf`).
    pub csrf_key: [u8; 32],
    pub objection_limiter: KeyedLimiter,
    pub metrics: Metrics,
    pub mailer: Box<dyn Mailer>,
    /// Held while handing mail to the sender: two requests delivering at
    /// once would otherwise both read and send the same pending mail.
    pub delivering: tokio::sync::Mutex<()>,
    pub public_key: String,
}

pub type AppState = Arc<Inner>;

impl Inner {
    /// The rate-limit bucket of a request's client (see `throttle`).
    pub fn client_bucket(&self, peer: std::net::IpAddr, headers: &axum::http::HeaderMap) -> String {
        crate::throttle::client_bucket(self.client_ip(peer, headers))
    }

    pub fn client_ip(&self, peer: std::net::IpAddr, headers: &axum::http::HeaderMap) -> std::net::IpAddr {
        crate::throttle::client_ip(peer, headers, &self.settings.trusted_proxies)
    }

    /// Hands queued mail to the sender; what fails stays queued.
    pub async fn deliver_mail(&self) {
        let _delivering = self.delivering.lock().await;
        let Ok(pending) = self.store.pending_mail(100).await else {
            return;
        };
        for mail in pending {
            match self.mailer.send(&mail) {
                Ok(()) => {
                    let _ = self.store.mark_mail_sent(mail.id, chrono::Utc::now()).await;
                }
                Err(e) => tracing::warn!(mail = mail.id, error = %e, "mail delivery failed; kept in the outbox"),
            }
        }
    }
}
