//! Settings of a portal instance.

use std::net::SocketAddr;
use std::path::PathBuf;

/// How a portal instance runs.
#[derive(Clone, Debug)]
pub struct Settings {
    pub listen: SocketAddr,
    /// The veto home (snapshots, mail files; the SQLite store by default).
    pub home: PathBuf,
    /// The state store's database; None: `<home>/veto.db`. Several portal
    /// processes share one PostgreSQL database.
    pub database: Option<veto_store::Database>,
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
            database: None,
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

/// `veto.toml`: the settings of `veto serve` that its flags and `VETO_*`
/// variables also set (a flag or variable wins over the file). Every key is
/// optional; an unknown key or a wrong type is an error naming it.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    pub listen: Option<SocketAddr>,
    /// The base URL of links in mails (`https://veto.example`); also the
    /// origin state changes must come from.
    pub public_url: Option<String>,
    /// A preset name or a policy TOML file.
    pub policy: Option<String>,
    /// SMTP relay `HOST:PORT`; needs `mail_from`.
    pub smtp: Option<String>,
    pub mail_from: Option<String>,
    pub trusted_proxies: Option<Vec<std::net::IpAddr>>,
    pub public_metrics: Option<bool>,
    pub login_per_minute: Option<u32>,
    pub login_failures_per_client: Option<u32>,
    pub login_failures_per_account: Option<u32>,
    pub objections_per_minute: Option<u32>,
    pub session_hours: Option<u32>,
}

impl FileSettings {
    /// Reads and checks `path`; the error names the file, line and key.
    pub fn read(path: &std::path::Path) -> Result<FileSettings, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let file: FileSettings = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if let Some(url) = &file.public_url {
            check_public_url(url).map_err(|m| format!("{}: public_url: {m}", path.display()))?;
        }
        if file.smtp.is_some() != file.mail_from.is_some() {
            return Err(format!("{}: smtp and mail_from go together", path.display()));
        }
        Ok(file)
    }

    /// Applies the file's rate limits and lifetimes to `settings`.
    pub fn apply_limits(&self, settings: &mut Settings) {
        let set = |slot: &mut u32, v: Option<u32>| {
            if let Some(v) = v {
                *slot = v;
            }
        };
        set(&mut settings.login_per_minute, self.login_per_minute);
        set(&mut settings.login_failures_per_client, self.login_failures_per_client);
        set(
            &mut settings.login_failures_per_account,
            self.login_failures_per_account,
        );
        set(&mut settings.objections_per_minute, self.objections_per_minute);
        if let Some(h) = self.session_hours {
            settings.session_lifetime = chrono::Duration::hours(i64::from(h));
        }
    }
}

/// A public base URL: `http` or `https`, a host, no path, query or
/// fragment (links are made by appending paths to it).
pub fn check_public_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("must start with https:// or http://")?;
    if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
        return Err(format!(
            "{url:?} must be scheme and host only, such as https://veto.example"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod file_tests {
    use super::*;

    #[test]
    fn a_file_sets_what_it_names_and_refuses_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("veto.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\npublic_url = \"https://veto.example\"\nsession_hours = 2\n",
        )
        .unwrap();
        let f = FileSettings::read(&path).unwrap();
        assert_eq!(f.listen, Some("127.0.0.1:9000".parse().unwrap()));
        let mut s = Settings::new(
            f.listen.unwrap(),
            dir.path().into(),
            veto_core::Policy::preset("strict").unwrap(),
        );
        f.apply_limits(&mut s);
        assert_eq!(s.session_lifetime, chrono::Duration::hours(2));
        std::fs::write(&path, "listen = \"127.0.0.1:9000\"\nlisten_adress = \"x\"\n").unwrap();
        let err = FileSettings::read(&path).unwrap_err();
        assert!(err.contains("listen_adress") && err.contains("veto.toml"), "{err}");
        std::fs::write(&path, "public_url = \"https://veto.example/portal\"\n").unwrap();
        assert!(FileSettings::read(&path).unwrap_err().contains("public_url"));
        std::fs::write(&path, "session_hours = \"two\"\n").unwrap();
        assert!(FileSettings::read(&path).unwrap_err().contains("session_hours"));
    }
}
