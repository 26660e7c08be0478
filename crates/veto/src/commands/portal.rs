//! `veto serve`, `veto accounts add`, `veto tokens add`, `veto receipt verify`.

use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, bail};
use veto_portal::configuration::{FileSettings, Settings};
use veto_portal::startup::{Application, shutdown_signal};
use veto_store::accounts::{Role, TokenRole};

/// What `veto serve` was told by flags (or their `VETO_*` variables); a
/// value not given comes from `config` (veto.toml), then the default.
pub struct ServeOptions {
    pub config: Option<std::path::PathBuf>,
    pub listen: Option<SocketAddr>,
    pub public_url: Option<String>,
    pub policy: Option<String>,
    /// SMTP relay HOST:PORT, and the sender.
    pub smtp: Option<String>,
    pub mail_from: Option<String>,
    pub trusted_proxies: Vec<std::net::IpAddr>,
    pub public_metrics: bool,
    pub operator_mfa_required: bool,
}

/// The settings of flags over file over defaults.
fn settings_of(home: &Path, options: ServeOptions) -> anyhow::Result<Settings> {
    let file = match &options.config {
        Some(path) => FileSettings::read(path).map_err(anyhow::Error::msg)?,
        None => FileSettings::default(),
    };
    let listen = options
        .listen
        .or(file.listen)
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080)));
    let policy = options
        .policy
        .or(file.policy.clone())
        .unwrap_or_else(|| "meta-2025".into());
    let mut settings = Settings::new(listen, home.to_path_buf(), super::build::load_policy(&policy)?);
    settings.database = Some(super::database(home));
    file.apply_limits(&mut settings);
    if let Some(url) = options.public_url.or(file.public_url.clone()) {
        veto_portal::configuration::check_public_url(&url).map_err(|m| anyhow::anyhow!("--public-url: {m}"))?;
        settings.public_origin = Some(url.clone());
        settings.public_url = url;
    }
    settings.trusted_proxies = if options.trusted_proxies.is_empty() {
        file.trusted_proxies.clone().unwrap_or_default()
    } else {
        options.trusted_proxies
    };
    settings.metrics_public = options.public_metrics || file.public_metrics.unwrap_or(false);
    settings.operator_mfa_required = options.operator_mfa_required;
    match (options.smtp.or(file.smtp), options.mail_from.or(file.mail_from)) {
        (Some(relay), Some(from)) => {
            let (host, port) = relay.rsplit_once(':').context("--smtp takes HOST:PORT")?;
            settings.smtp = Some((host.to_string(), port.parse().context("--smtp port")?, from));
        }
        (None, None) => {}
        _ => bail!("--smtp and --mail-from go together (flags, VETO_SMTP / VETO_MAIL_FROM, or veto.toml)"),
    }
    Ok(settings)
}

pub async fn serve(home: &Path, options: ServeOptions) -> anyhow::Result<()> {
    let settings = settings_of(home, options)?;
    let listen = settings.listen;
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

/// The password on standard input (one line; its line end is not part of
/// it), held to the portal's rule for new passwords.
fn read_password_stdin(user_inputs: &[&str]) -> anyhow::Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .context("reading the password from standard input")?;
    let password = s.strip_suffix('\n').unwrap_or(&s);
    let password = password.strip_suffix('\r').unwrap_or(password).to_string();
    veto_portal::password::check_new(&password, user_inputs).map_err(|weak| anyhow::anyhow!("{weak}"))?;
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
    let (username, role) = match (person, operator) {
        (Some(p), None) => (p.clone(), Role::Person { person_id: p }),
        (None, Some(o)) => (o, Role::Operator),
        _ => bail!("give exactly one of --person ID or --operator NAME"),
    };
    let inputs: Vec<&str> = std::iter::once(username.as_str()).chain(email.as_deref()).collect();
    let password = read_password_stdin(&inputs)?;
    let hash = tokio::task::spawn_blocking(move || veto_portal::auth::hash_password(&password)).await?;
    let store = super::open_store(home).await?;
    store.upsert_account(&username, &role, email.as_deref(), &hash).await?;
    if role == Role::Operator {
        set_second_factor(&store, &username).await?;
    }
    store.close().await;
    println!("Account {username} is ready.");
    Ok(())
}

/// `veto accounts totp --operator NAME`.
pub async fn new_second_factor(home: &Path, operator: &str) -> anyhow::Result<()> {
    let store = super::open_store(home).await?;
    match store.account(operator).await? {
        Some(a) if a.role == Role::Operator => {}
        Some(_) => bail!("{operator:?} is a person's account: second factors are for operators"),
        None => bail!("no account {operator:?}: add it with veto accounts add --operator"),
    }
    set_second_factor(&store, operator).await?;
    store.close().await;
    Ok(())
}

/// A new one-time-code key for the operator, printed once for their
/// authenticator app; their sessions end.
async fn set_second_factor(store: &veto_store::Store, username: &str) -> anyhow::Result<()> {
    let secret = veto_portal::mfa::new_secret();
    store.set_totp_secret(username, Some(&secret)).await?;
    let url = veto_portal::mfa::otpauth_url(&secret, username).context("making the otpauth link")?;
    println!("Second factor for {username}: add this to an authenticator app (it is shown only now):");
    println!("  {url}");
    println!("  key: {secret}");
    Ok(())
}

pub async fn add_token(home: &Path, name: &str, operator: bool, days: u32) -> anyhow::Result<()> {
    let store = super::open_store(home).await?;
    let role = if operator {
        TokenRole::Operator
    } else {
        TokenRole::Service
    };
    let token = store
        .create_api_token(name, role, chrono::Duration::days(i64::from(days)))
        .await?;
    store.close().await;
    println!("{token}");
    eprintln!(
        "Keep this token secret: only its hash is stored, it cannot be shown again. It expires in {days} days; \
         veto tokens revoke {name} ends it sooner."
    );
    Ok(())
}

pub async fn list_tokens(home: &Path) -> anyhow::Result<()> {
    let store = super::open_store(home).await?;
    let tokens = store.api_tokens().await?;
    store.close().await;
    let now = chrono::Utc::now();
    println!("{:<24} {:<9} {:<20} {:<20} state", "name", "role", "created", "expires");
    for t in tokens {
        let state = match t.revoked_at {
            Some(at) => format!("revoked {}", at.format("%Y-%m-%d %H:%M")),
            None if t.expires_at <= now => "expired".to_string(),
            None => "valid".to_string(),
        };
        let role = match t.role {
            TokenRole::Service => "service",
            TokenRole::Operator => "operator",
        };
        println!(
            "{:<24} {role:<9} {:<20} {:<20} {state}",
            t.name,
            t.created_at.format("%Y-%m-%d %H:%M"),
            t.expires_at.format("%Y-%m-%d %H:%M")
        );
    }
    Ok(())
}

pub async fn revoke_token(home: &Path, name: &str) -> anyhow::Result<()> {
    let store = super::open_store(home).await?;
    let revoked = store.revoke_api_token(name).await?;
    store.close().await;
    if !revoked {
        bail!("no valid token named {name:?} (see veto tokens list)");
    }
    println!("Token {name} is revoked.");
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

/// The last entry that named the installation's public key.
const KEY_ENTRY_SQL: &str =
    "SELECT payload FROM ledger WHERE kind IN ('ledger_created', 'key_rotated') ORDER BY seq DESC LIMIT 1";

/// The public key in force at the last `ledger_created` or `key_rotated`
/// entry of the installation's store, read without changing anything (a
/// store that is not there is not created).
async fn installation_key(home: &Path) -> anyhow::Result<String> {
    use sqlx::Connection;
    let database = super::database(home);
    let payload: Option<String> = match &database {
        veto_store::Database::Sqlite(db) => sqlite_key_entry(home, db).await?,
        veto_store::Database::Postgres(url) => {
            let mut conn = sqlx::PgConnection::connect(url)
                .await
                .with_context(|| format!("connecting to {database}"))?;
            let payload = sqlx::query_scalar(KEY_ENTRY_SQL)
                .fetch_optional(&mut conn)
                .await
                .with_context(|| format!("reading the ledger in {database} (is it a veto store?)"))?;
            conn.close().await.ok();
            payload
        }
    };
    let payload: serde_json::Value = serde_json::from_str(&payload.context("the installation's ledger is empty")?)?;
    payload["public_key"]
        .as_str()
        .map(str::to_string)
        .context("the ledger's last key entry has no public_key")
}

/// [`KEY_ENTRY_SQL`] on the SQLite file `db` of the installation at `home`,
/// through a read-only connection.
async fn sqlite_key_entry(home: &Path, db: &Path) -> anyhow::Result<Option<String>> {
    use sqlx::Connection;
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
    let wal = std::path::PathBuf::from(format!("{}-wal", db.display()));
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .read_only(true)
        .immutable(!wal.exists());
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .with_context(|| format!("opening {} read-only", db.display()))?;
    let payload = sqlx::query_scalar(KEY_ENTRY_SQL)
        .fetch_optional(&mut conn)
        .await
        .with_context(|| format!("reading the ledger of {}", db.display()))?;
    conn.close().await.ok();
    Ok(payload)
}
