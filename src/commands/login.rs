//! `odoo-bus login`: check the server, pick the database, authenticate (with 2FA when the
//! account has it) or adopt an existing session, and save it all in the profile.
//!
//! Decisions worth knowing:
//! - The server is checked (`version_info`) before asking for a password, so a wrong URL fails
//!   before the user types anything; whether a password *source* exists is checked even earlier.
//! - Sessions created half-way (the anonymous session of the login page, the half-authenticated
//!   one of a 2FA login) are never saved: the profile only changes once the login succeeded, so
//!   a failed re-login leaves a still-valid saved session alone.
//! - An unknown database exits 1 (a wrong value, not a wrong credential); wrong credentials, the
//!   brute-force cooldown and a missing two-factor code exit 3.

use std::io::{BufRead, IsTerminal};

use super::Context;
use crate::cli::LoginArgs;
use odoo_bus_core::config::Profile;
use odoo_bus_core::error::{Error, Result, profile_flag};
use odoo_bus_core::odoo::client::OdooClient;
use odoo_bus_core::odoo::rpc::{ErrorContext, RpcError};
use odoo_bus_core::odoo::session::{AuthOutcome, DatabaseList, SessionInfo, VersionInfo};
use odoo_bus_core::odoo::url::ServerUrl;
use odoo_bus_core::secret::{Password, SessionId};

/// The oldest Odoo with the websocket bus.
const MIN_MAJOR: u32 = 16;

/// The environment variable a password can come from.
const PASSWORD_ENV: &str = "ODOO_PASSWORD";

pub async fn run(ctx: &Context, args: LoginArgs) -> Result<i32> {
    let profile = ctx.load_profile()?;
    let url_text = args.url.clone().or_else(|| profile.url.clone()).ok_or_else(|| {
        Error::usage(format!(
            "no server URL: pass one, e.g. `odoo-bus login{} https://erp.example.com --user LOGIN`",
            profile_flag(ctx.profile_name())
        ))
    })?;
    let url = ServerUrl::parse(&url_text)?;
    if let Some(w) = url.cleartext_warning() {
        ctx.ui.warn_always(w);
    }
    // Values saved for another server (its database, its login) must not leak into this one.
    let same_server = profile.url.as_deref() == Some(url.as_str());
    let remembered = |v: &Option<String>| if same_server { v.clone() } else { None };

    // An explicit --password-stdin wins over a session id exported in ODOO_BUS_SESSION_ID.
    if let Some(raw) = args.session_id.as_deref().filter(|_| !args.password_stdin) {
        let sid = read_session_id(raw)?;
        return adopt_session(ctx, url, sid).await;
    }

    let login = args
        .user
        .clone()
        .or_else(|| remembered(&profile.login))
        .ok_or_else(|| {
            Error::usage(format!(
                "no login: pass --user LOGIN (e.g. `odoo-bus login{} {url} --user admin`)",
                profile_flag(ctx.profile_name())
            ))
        })?;
    let password_source = PasswordSource::detect(args.password_stdin)?;
    let totp = args.totp.as_deref().map(normalise_totp).transpose()?;

    let client = ctx.odoo_client(url.clone(), None)?;
    let cx = ctx.error_context(&url, true);
    let version = check_server(&client, &cx).await?;
    let db = choose_database(&client, &cx, args.db.or_else(|| remembered(&profile.db))).await?;
    let password = password_source.read(&login, &url)?;

    let info = match client.authenticate(&db, &login, &password).await {
        Ok(AuthOutcome::LoggedIn(info)) => info,
        Ok(AuthOutcome::TwoFactorRequired) => {
            let code = match totp {
                Some(code) => code,
                None => prompt_totp(ctx)?,
            };
            ctx.ui.debug(
                1,
                "two-factor account: completing the login through /web/login/totp",
            );
            client
                .totp_form_login(&db, &login, &password, &code)
                .await
                .map_err(|e| e.user_error(&cx))?
        }
        Err(e) => return Err(e.user_error(&cx)),
    };
    let login = info.username.clone().unwrap_or(login);
    save_login(ctx, &client, &version, &db, &login, &info).await?;
    ctx.ui.info(format!(
        "logged in to {url} ({db}) as {login} (uid {}), Odoo {}",
        info.uid.unwrap_or_default(),
        shown_version(&info, &version)
    ));
    Ok(0)
}

/// The version to show: the session's, else the one `version_info` gave.
fn shown_version<'a>(info: &'a SessionInfo, version: &'a VersionInfo) -> &'a str {
    info.server_version
        .as_deref()
        .unwrap_or(&version.server_version)
}

/// `version_info` answers without a database or session: the cheapest proof that this is an
/// Odoo with a bus.
pub(super) async fn check_server(
    client: &OdooClient,
    cx: &ErrorContext<'_>,
) -> Result<VersionInfo> {
    let version = client.version_info().await.map_err(|e| match e {
        // JSON that is not a version answer: something else entirely lives at that URL.
        RpcError::BadResponse(why) => RpcError::NotOdoo(why).user_error(cx),
        other => other.user_error(cx),
    })?;
    if version.major < MIN_MAJOR {
        return Err(Error::other(format!(
            "Odoo {} has no websocket bus (needs {MIN_MAJOR} or later): odoo-bus cannot work with {}",
            version.server_version, cx.server
        )));
    }
    Ok(version)
}

/// `--db` (or the profile's), checked against the list when the server shows it; without one,
/// the only database the server lists.
async fn choose_database(
    client: &OdooClient,
    cx: &ErrorContext<'_>,
    wanted: Option<String>,
) -> Result<String> {
    let url = cx.server;
    let listed = client.database_list().await;
    match (wanted, listed) {
        (Some(db), Ok(DatabaseList::Listed(names)))
            if !names.is_empty() && !names.contains(&db) =>
        {
            Err(Error::other(format!(
                "database `{db}` does not exist on {url} (it has: {}): pass --db with one of those",
                names.join(", ")
            )))
        }
        // Not listed, or the list failed: authenticate will tell whether the name is right.
        (Some(db), _) => Ok(db),
        (None, Ok(DatabaseList::Listed(names))) => match names.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(Error::other(format!(
                "{url} lists no database: create one in Odoo first, or pass --db NAME if it is hidden"
            ))),
            many => Err(Error::usage(format!(
                "{url} has several databases ({}): pass --db NAME",
                many.join(", ")
            ))),
        },
        (None, Ok(DatabaseList::Disabled)) => Err(Error::usage(format!(
            "the server does not list databases: pass --db NAME (ask the admin of {url} for it)"
        ))),
        (None, Err(e)) => Err(e.user_error(cx)),
    }
}

/// Where the password will come from, decided before any network traffic so that a script
/// without one fails at once.
enum PasswordSource {
    Stdin,
    Env(Password),
    Prompt,
}

impl PasswordSource {
    fn detect(password_stdin: bool) -> Result<Self> {
        if password_stdin {
            return Ok(PasswordSource::Stdin);
        }
        if let Some(pw) = std::env::var_os(PASSWORD_ENV).filter(|v| !v.is_empty()) {
            let pw = pw
                .into_string()
                .map_err(|_| Error::usage(format!("{PASSWORD_ENV} is not valid UTF-8")))?;
            return Ok(PasswordSource::Env(Password::new(pw)));
        }
        if std::io::stdin().is_terminal() {
            return Ok(PasswordSource::Prompt);
        }
        Err(Error::usage(format!(
            "no password: pipe it with --password-stdin, set {PASSWORD_ENV}, or run in a terminal to be asked"
        )))
    }

    fn read(self, login: &str, url: &ServerUrl) -> Result<Password> {
        let password = match self {
            PasswordSource::Stdin => Password::new(read_stdin_line("--password-stdin")?),
            PasswordSource::Env(pw) => pw,
            PasswordSource::Prompt => {
                rpassword::prompt_password(format!("Password for {login} on {url}: "))
                    .map(Password::new)
                    .map_err(|e| {
                        Error::usage(format!("cannot read the password from the terminal: {e}"))
                    })?
            }
        };
        if password.is_empty() {
            return Err(Error::usage(
                "the password is empty: give the account's password",
            ));
        }
        Ok(password)
    }
}

/// The first line of stdin without its line ending; an empty stdin is a usage error.
fn read_stdin_line(what: &str) -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::usage(format!("{what}: cannot read stdin: {e}")))?;
    let line = line.strip_suffix('\n').unwrap_or(&line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.is_empty() {
        return Err(Error::usage(format!(
            "{what}: stdin is empty; pipe the value in"
        )));
    }
    Ok(line.to_string())
}

/// A TOTP code as Odoo reads it: whitespace removed, digits only.
fn normalise_totp(code: &str) -> Result<String> {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.is_empty() || digits.len() > 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::usage(
            "--totp takes the 6-digit code your authenticator app shows (e.g. --totp 123456)",
        ));
    }
    Ok(digits)
}

fn prompt_totp(ctx: &Context) -> Result<String> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::auth(format!(
            "this account uses two-factor authentication: pass --totp CODE (e.g. `odoo-bus login{} --totp 123456`)",
            profile_flag(ctx.profile_name())
        )));
    }
    let code = rpassword::prompt_password("Two-factor code: ")
        .map_err(|e| Error::usage(format!("cannot read the code from the terminal: {e}")))?;
    normalise_totp(&code)
}

/// `--session-id SID` or `-` (read from stdin, keeping it out of the process list).
fn read_session_id(raw: &str) -> Result<SessionId> {
    let value = if raw == "-" {
        read_stdin_line("--session-id -")?
    } else {
        raw.to_string()
    };
    let sid = SessionId::new(value.trim());
    if !sid.looks_valid() {
        return Err(Error::usage(
            "--session-id does not look like an Odoo session id (84 characters of A-Z a-z 0-9 _ -): copy the value of the session_id cookie",
        ));
    }
    Ok(sid)
}

/// Adopt a session opened elsewhere (a browser), after checking it is logged in.
async fn adopt_session(ctx: &Context, url: ServerUrl, sid: SessionId) -> Result<i32> {
    let client = ctx.odoo_client(url.clone(), Some(sid))?;
    let cx = ctx.error_context(&url, false);
    let version = check_server(&client, &cx).await?;
    let not_logged_in = || {
        Error::auth(format!(
            "that session is not logged in (expired, logged out, or from another server): log in with a password instead (`odoo-bus login{} {url} --user LOGIN`)",
            profile_flag(ctx.profile_name())
        ))
    };
    let info = match client.session_info().await {
        Ok(info) => info,
        Err(RpcError::SessionExpired) => return Err(not_logged_in()),
        Err(e) => return Err(e.user_error(&cx)),
    };
    if info.uid.is_none() {
        return Err(not_logged_in());
    }
    let db = info.db.clone().unwrap_or_default();
    let login = info.username.clone().unwrap_or_default();
    save_login(ctx, &client, &version, &db, &login, &info).await?;
    ctx.ui.info(format!(
        "adopted the session of {login} (uid {}) on {url} ({db}), Odoo {}",
        info.uid.unwrap_or_default(),
        shown_version(&info, &version)
    ));
    Ok(0)
}

/// Save everything about the new session in one write. If that write fails the fresh session
/// is destroyed on the server, so no usable session is left behind unsaved.
pub(super) async fn save_login(
    ctx: &Context,
    client: &OdooClient,
    version: &VersionInfo,
    db: &str,
    login: &str,
    info: &SessionInfo,
) -> Result<()> {
    let session = client.session().ok_or_else(|| {
        Error::other(format!(
            "{} accepted the login but set no session cookie: a proxy may strip cookies; check it",
            client.url()
        ))
    })?;
    let url = client.url().as_str().to_string();
    let saved = ctx.store.update_profile(ctx.profile_name(), |p| {
        apply_login(p, &url, db, login, info, version, session);
        Ok(())
    });
    if let Err(e) = saved {
        let _ = client.destroy().await;
        return Err(e);
    }
    Ok(())
}

fn apply_login(
    p: &mut Profile,
    url: &str,
    db: &str,
    login: &str,
    info: &SessionInfo,
    version: &VersionInfo,
    session: SessionId,
) {
    // Notification ids belong to one database: a resume point from another is meaningless.
    if p.url.as_deref() != Some(url) || p.db.as_deref() != Some(db) {
        p.last_id = None;
        p.last_id_at = None;
    }
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    p.url = Some(url.to_string());
    p.db = non_empty(db);
    p.login = non_empty(login);
    p.uid = info.uid;
    p.partner_id = info.partner_id;
    p.server_version = info
        .server_version
        .clone()
        .or_else(|| Some(version.server_version.clone()));
    p.server_version_major = info.major_version().or(Some(version.major));
    p.websocket_worker_version = info.websocket_worker_version.clone();
    p.session_id = Some(session);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totp_codes_are_normalised_like_odoo() {
        assert_eq!(normalise_totp(" 123 456 ").unwrap(), "123456");
        for bad in ["", "abc123", "12-34", "12345678901"] {
            assert_eq!(normalise_totp(bad).unwrap_err().exit_code(), 2, "{bad}");
        }
    }

    #[test]
    fn session_ids_are_checked_before_use() {
        assert!(read_session_id(&"a".repeat(84)).is_ok());
        assert_eq!(read_session_id("abc").unwrap_err().exit_code(), 2);
    }

    #[test]
    fn a_new_database_forgets_the_resume_point() {
        let version = VersionInfo {
            server_version: "18.0".into(),
            server_version_info: vec![],
            major: 18,
        };
        let info = SessionInfo {
            uid: Some(2),
            ..SessionInfo::default()
        };
        let mut p = Profile {
            url: Some("http://a".into()),
            db: Some("x".into()),
            last_id: Some(9),
            channels: vec!["c".into()],
            ..Profile::default()
        };
        apply_login(
            &mut p,
            "http://a",
            "x",
            "admin",
            &info,
            &version,
            SessionId::new("s"),
        );
        assert_eq!(p.last_id, Some(9));
        assert_eq!(p.server_version_major, Some(18));
        apply_login(
            &mut p,
            "http://a",
            "y",
            "admin",
            &info,
            &version,
            SessionId::new("s"),
        );
        assert_eq!(p.last_id, None);
        assert_eq!(p.channels, vec!["c".to_string()]);
        assert_eq!(p.uid, Some(2));
    }
}
