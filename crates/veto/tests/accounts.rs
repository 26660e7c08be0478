//! `veto accounts` and `veto tokens` as a user runs them: the password
//! rule of the portal holds on the command line, an operator gets a second
//! factor with a working otpauth link, and tokens are listed (never shown
//! again) and revoked.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn veto(home: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_veto"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("VETO_HOME")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn new_passwords_follow_the_portal_rule() {
    let home = tempfile::tempdir().unwrap();
    let add = |password: &str| {
        veto(
            home.path(),
            &[
                "accounts",
                "add",
                "--person",
                "p1",
                "--email",
                "p1@example.invalid",
                "--password-stdin",
            ],
            Some(password),
        )
    };
    let short = add("kurz & gut!\n");
    assert!(!short.status.success());
    assert!(
        text(&short.stderr).contains("at least 12 characters"),
        "{}",
        text(&short.stderr)
    );
    let breached = add("password1234\n");
    assert!(
        text(&breached.stderr).contains("too easy to guess"),
        "{}",
        text(&breached.stderr)
    );
    let mail = add("p1@example.invalid\n");
    assert!(
        text(&mail.stderr).contains("too easy to guess"),
        "the mail address is no password"
    );
    // A trailing space is part of the password; only the line end is not.
    let ok = add("Kanu Fahrrad Zitrone Nebel \r\n");
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("Account p1 is ready."));
}

#[test]
fn an_operator_gets_a_second_factor_and_a_new_one_replaces_it() {
    let home = tempfile::tempdir().unwrap();
    let out = veto(
        home.path(),
        &["accounts", "add", "--operator", "olga", "--password-stdin"],
        Some("Kanu Fahrrad Zitrone Nebel\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let secret_of = |stdout: &str| {
        let url = stdout
            .split_whitespace()
            .find(|w| w.starts_with("otpauth://totp/"))
            .unwrap_or_else(|| panic!("an otpauth link in {stdout}"))
            .to_string();
        assert!(url.contains("issuer=veto"), "{url}");
        assert!(url.contains("olga"), "{url}");
        let secret = url
            .split("secret=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .to_string();
        assert!(secret.len() >= 32, "160 bits: {secret}");
        assert!(stdout.contains(&format!("key: {secret}")), "{stdout}");
        secret
    };
    let first = secret_of(&stdout);
    let again = veto(home.path(), &["accounts", "totp", "--operator", "olga"], None);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_ne!(secret_of(&text(&again.stdout)), first);
    // A person's account gets no second factor this way.
    veto(
        home.path(),
        &["accounts", "add", "--person", "p1", "--password-stdin"],
        Some("Kanu Fahrrad Zitrone Nebel\n"),
    );
    let person = veto(home.path(), &["accounts", "totp", "--operator", "p1"], None);
    assert!(!person.status.success());
    assert!(
        text(&person.stderr).contains("person's account"),
        "{}",
        text(&person.stderr)
    );
}

#[test]
fn tokens_are_listed_without_their_secret_and_revoked_by_name() {
    let home = tempfile::tempdir().unwrap();
    let add = veto(
        home.path(),
        &["tokens", "add", "--name", "backend", "--days", "30"],
        None,
    );
    assert!(add.status.success(), "{}", text(&add.stderr));
    let token = text(&add.stdout).trim().to_string();
    assert!(token.starts_with("veto_"), "{token}");
    assert!(text(&add.stderr).contains("expires in 30 days"));
    let twice = veto(home.path(), &["tokens", "add", "--name", "backend"], None);
    assert!(!twice.status.success(), "a name is used once");

    let list = text(&veto(home.path(), &["tokens", "list"], None).stdout);
    let row = list.lines().find(|l| l.starts_with("backend")).unwrap();
    assert!(row.contains("service") && row.ends_with("valid"), "{row}");
    assert!(!list.contains(&token), "the token is never shown again");

    assert!(
        veto(home.path(), &["tokens", "revoke", "backend"], None)
            .status
            .success()
    );
    let list = text(&veto(home.path(), &["tokens", "list"], None).stdout);
    assert!(
        list.lines().any(|l| l.starts_with("backend") && l.contains("revoked")),
        "{list}"
    );
    let again = veto(home.path(), &["tokens", "revoke", "backend"], None);
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("no valid token named \"backend\""));
    let zero = veto(home.path(), &["tokens", "add", "--name", "x", "--days", "0"], None);
    assert!(!zero.status.success(), "a token that never works is a usage error");
}
