//! Building and running the portal: bind, serve, and on SIGTERM or Ctrl-C
//! stop accepting, finish open requests, let the writer commit what is
//! queued, and close the store.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tower_http::trace::TraceLayer;
use veto_store::Store;

use crate::auth::LocalAccounts;
use crate::configuration::Settings;
use crate::state::{FileMailer, Inner, SmtpMailer, limiter};
use crate::telemetry::{Metrics, request_span};
use crate::writer::ObjectionWriter;

pub struct Application {
    listener: tokio::net::TcpListener,
    router: axum::Router,
    writer_task: tokio::task::JoinHandle<()>,
    store: Store,
    retention: Retention,
}

/// What the portal deletes by age, and how often it looks.
#[derive(Clone)]
struct Retention {
    sent_mail: chrono::Duration,
    every: std::time::Duration,
    /// Where the file sink writes mail (None with an SMTP relay).
    mail_files: Option<std::path::PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("state store: {0}")]
    Store(#[from] veto_store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("mail: {0}")]
    Mail(String),
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        let database = (settings.database.clone()).unwrap_or_else(|| veto_store::Database::default_for(&settings.home));
        let store = Store::open_at(&settings.home, &database).await?;
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .map_err(|source| StartupError::Bind {
                addr: settings.listen,
                source,
            })?;
        let (writer, writer_task) = ObjectionWriter::spawn(store.clone());
        let retention = Retention {
            sent_mail: settings.outbox_retention,
            every: std::time::Duration::from_secs(600),
            mail_files: settings.smtp.is_none().then(|| settings.mail_dir.clone()),
        };
        let state = Arc::new(Inner {
            public_key: store.public_key().await?,
            auth: Box::new(LocalAccounts { store: store.clone() }),
            login_limiter: limiter(settings.login_per_minute),
            login_throttle: crate::throttle::LoginThrottle::new(
                settings.login_failures_per_client,
                settings.login_failures_per_account,
                settings.login_failure_window,
            ),
            csrf_key: crate::csrf::derive_key(&store.secret().await?),
            objection_limiter: limiter(settings.objections_per_minute),
            metrics: Metrics::default(),
            delivering: Default::default(),
            mailer: match &settings.smtp {
                Some((host, port, from)) => Box::new(SmtpMailer::new(host, *port, from).map_err(StartupError::Mail)?),
                None => Box::new(FileMailer {
                    dir: settings.mail_dir.clone(),
                }),
            },
            policy: settings.policy.clone(),
            store: store.clone(),
            writer,
            settings,
        });
        let router = crate::routes::router(state).layer(TraceLayer::new_for_http().make_span_with(request_span));
        Ok(Application {
            listener,
            router,
            writer_task,
            store,
            retention,
        })
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves until `shutdown` completes, then drains and closes.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let Application {
            listener,
            router,
            writer_task,
            store,
            retention,
        } = self;
        let housekeeping = tokio::spawn(housekeep(store.clone(), retention));
        let served = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown)
            .await;
        // The router (and with it every writer handle) is gone: the writer
        // commits what is queued and ends.
        let _ = writer_task.await;
        housekeeping.abort();
        store.close().await;
        served
    }
}

/// Deletes expired sessions and mails sent longer ago than the retention
/// (ASVS 8.3.8), at start and then every `retention.every`. A failure is
/// logged and tried again next time: it never stops the portal.
async fn housekeep(store: Store, retention: Retention) {
    let mut tick = tokio::time::interval(retention.every);
    loop {
        tick.tick().await;
        let now = chrono::Utc::now();
        match store.purge_expired_sessions(now).await {
            Ok(n) if n > 0 => tracing::info!(sessions = n, "expired sessions deleted"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "deleting expired sessions"),
        }
        match store.purge_sent_mail(now - retention.sent_mail).await {
            Ok(n) if n > 0 => tracing::info!(mails = n, "sent mails past their retention deleted"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "deleting sent mails"),
        }
        if let Some(dir) = &retention.mail_files {
            let before = std::time::SystemTime::now() - retention.sent_mail.to_std().unwrap_or_default();
            match crate::state::purge_mail_files(dir, before) {
                Ok(n) if n > 0 => tracing::info!(files = n, "mail files past their retention deleted"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "deleting mail files"),
            }
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing open requests");
}
