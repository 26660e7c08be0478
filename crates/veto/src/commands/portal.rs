//! `veto serve`, `veto accounts add`, `veto tokens add`, `veto receipt verify`.

use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, bail};
use veto_portal::configuration::Settings;
use veto_portal::startup::{Application, shutdown_signal};
use veto_store::accounts::{Role, TokenRole};

pub async fn serve(
    home: &Path,
    listen: SocketAddr,
    policy: &str,
    smtp: Option<(String, String)>,
) -> anyhow::Result<()> {
    let policy = super::build::load_policy(policy)?;
    let mut settings = Settings::new(listen, home.to_path_buf(), policy);
    if let Some((relay, from)) = smtp {
        let (host, port) = relay.rsplit_once(':').context("--smtp takes HOST:PORT")?;
        settings.smtp = Some((host.to_string(), port.parse().context("--smtp port")?, from));
    }
    let app = Application::build(settings).await?;
    eprintln!(
        "veto portal on http://{}:{} (state in {}); Ctrl-C or SIGTERM stops it",
        listen.ip(),
        app.port(),
        home.display()
    );
    app.run_until_stopped(shutdown_signal()).await?;
    Ok(())
}

fn read_password_stdin() -> anyhow::Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .context("reading the password from standard input")?;
    let password = s.trim_end_matches(['\n', '\r']).to_string();
    if password.chars().count() < 8 {
        bail!("the password must have at least 8 characters");
    }
    Ok(password)
}

pub async fn add_account(
    home: &Path,
    person: Option<String>,
    operator: Option<String>,
    email: Option<String>,
    password_stdin: bool,
) -> anyhow::Result<()> {
    if !password_stdin {
        bail!("pass --password-stdin and the password on standard input (never as an argument)");
    }
    let password = read_password_stdin()?;
    let (username, role) = match (person, operator) {
        (Some(p), None) => (p.clone(), Role::Person { person_id: p }),
        (None, Some(o)) => (o, Role::Operator),
        _ => bail!("give exactly one of --person ID or --operator NAME"),
    };
    let hash = tokio::task::spawn_blocking(move || veto_portal::auth::hash_password(&password)).await?;
    let store = super::open_store(home).await?;
    store.upsert_account(&username, &role, email.as_deref(), &hash).await?;
    store.close().await;
    println!("Account {username} is ready.");
    Ok(())
}

pub async fn add_token(home: &Path, name: &str, operator: bool) -> anyhow::Result<()> {
    let store = super::open_store(home).await?;
    let token = store
        .create_api_token(
            name,
            if operator {
                TokenRole::Operator
            } else {
                TokenRole::Service
            },
        )
        .await?;
    store.close().await;
    println!("{token}");
    eprintln!("Keep this token secret: only its hash is stored, it cannot be shown again.");
    Ok(())
}

/// Checks a receipt offline. It writes nothing: the key is `public_key`, or
/// the one in force in the ledger of the existing installation at `home`,
/// read without opening the store (which would create a home, a key and a
/// ledger where there is none, and migrate one that exists).
pub async fn verify_receipt(home: &Path, file: &Path, public_key: Option<String>) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let receipt = veto_core::receipt::Receipt::from_json(&text)
        .with_context(|| format!("{} is not a receipt veto can vouch for", file.display()))?;
    let key = match public_key {
        Some(k) => k,
        None => installation_key(home).await?,
    };
    receipt
        .verify(Some(&key))
        .map_err(|m| anyhow::anyhow!("{}: {m}", file.display()))?;
    println!(
        "ok: receipt {} ({}) is signed by {key}",
        receipt.objection_id, receipt.event
    );
    Ok(())
}

/// The public key in force at the last `ledger_created` or `key_rotated`
/// entry of the store under `home`, read through a read-only connection.
async fn installation_key(home: &Path) -> anyhow::Result<String> {
    use sqlx::Connection;
    // The store's file name (veto_store's DB_FILE, which it does not export).
    let db = home.join("veto.db");
    if !db.is_file() {
        bail!(
            "no veto installation at {}: pass --public-key HEX (the key the operator publishes) \
             or --home DIR of the installation that issued the receipt",
            home.display()
        );
    }
    // Read-only still makes SQLite create the -shm and -wal files of a WAL
    // database that no one has open. Then there is no -wal: every commit
    // is in the main file, and `immutable` reads it without those files
    // and without locks. With a -wal (the store is open, or was not closed
    // cleanly) the files exist already and a plain read-only connection
    // sees the latest commits.
    let quiescent = !home.join("veto.db-wal").exists();
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&db)
        .read_only(true)
        .immutable(quiescent);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .with_context(|| format!("opening {} read-only", db.display()))?;
    let payload: Option<String> = sqlx::query_scalar(
        "SELECT payload FROM ledger WHERE kind IN ('ledger_created', 'key_rotated') ORDER BY seq DESC LIMIT 1",
    )
    .fetch_optional(&mut conn)
    .await
    .with_context(|| format!("reading the ledger of {}", db.display()))?;
    conn.close().await.ok();
    let payload: serde_json::Value = serde_json::from_str(&payload.context("the installation's ledger is empty")?)?;
    payload["public_key"]
        .as_str()
        .map(str::to_string)
        .context("the ledger's last key entry has no public_key")
}
