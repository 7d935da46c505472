//! `odoo-bus status` (alias `whoami`): what the profile holds and whether its session works now.
//!
//! The report always goes to stdout (it is the asked-for data), even when the session is not
//! valid; the exit code says how it went, so scripts can branch on it:
//! 0 valid · 3 expired or not logged in · 4 server unreachable (validity unknown) · 1 other
//! server trouble (validity unknown). The session id itself is never printed.

use std::io::Write;

use serde_json::{Value, json};

use super::Context;
use crate::cli::StatusArgs;
use odoo_bus_core::config::Profile;
use odoo_bus_core::error::{Error, ErrorKind, Result, exit};
use odoo_bus_core::odoo::client::OdooClient;
use odoo_bus_core::odoo::url::ServerUrl;

/// What `/web/session/check` said about the saved session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SessionState {
    /// No session saved.
    None,
    Valid,
    Expired,
    /// The server could not be asked.
    Unknown,
}

impl SessionState {
    fn as_str(self) -> &'static str {
        match self {
            SessionState::None => "none",
            SessionState::Valid => "valid",
            SessionState::Expired => "expired",
            SessionState::Unknown => "unknown",
        }
    }
    fn valid(self) -> Value {
        match self {
            SessionState::Valid => json!(true),
            SessionState::Expired | SessionState::None => json!(false),
            SessionState::Unknown => Value::Null,
        }
    }
}

pub async fn run(ctx: &Context, args: StatusArgs) -> Result<i32> {
    let profile = ctx.load_profile()?;
    let (state, problem) = check_session(ctx, &profile).await;
    // Re-read: the check may have saved a rotated session (nothing else is shown from it, but
    // the report must describe the file as it is now).
    let profile = ctx.load_profile().unwrap_or(profile);
    let report = if args.json {
        json_report(ctx, &profile, state).to_string()
    } else {
        text_report(ctx, &profile, state)
    };
    let mut out = std::io::stdout().lock();
    // A closed stdout (`status | head -1`) is not an error worth reporting.
    let _ = writeln!(out, "{report}").and_then(|()| out.flush());
    match problem {
        Some(e) => {
            ctx.ui.error(&e.message);
            Ok(e.exit_code())
        }
        None => Ok(exit::OK),
    }
}

/// The session's state, and the error to report (and exit with) when it is not valid.
async fn check_session(ctx: &Context, profile: &Profile) -> (SessionState, Option<Error>) {
    let Some(session) = profile.session_id.clone() else {
        return (
            SessionState::None,
            Some(Error::not_logged_in(ctx.profile_name())),
        );
    };
    let url = match profile.url.as_deref().map(ServerUrl::parse) {
        Some(Ok(url)) => url,
        _ => {
            let e = Error::other(format!(
                "profile `{}` has a session but no usable URL: run `odoo-bus login URL` again",
                ctx.profile_name()
            ));
            return (SessionState::Unknown, Some(e));
        }
    };
    // The check sends the cookie: say so first when it goes in clear text.
    if let Some(w) = url.cleartext_warning() {
        ctx.ui.warn_always(w);
    }
    let mut client = match ctx.odoo_client(url.clone(), Some(session)) {
        Ok(c) => c,
        Err(e) => return (SessionState::Unknown, Some(e)),
    };
    ctx.persist_session_rotations(&mut client);
    match client.check().await {
        Ok(true) => {
            refresh_version(ctx, &client, profile).await;
            (SessionState::Valid, None)
        }
        Ok(false) => (
            SessionState::Expired,
            Some(Error::session_expired(ctx.profile_name())),
        ),
        Err(e) => {
            let mut err = e.user_error(&ctx.error_context(&url, false));
            if err.kind == ErrorKind::Auth {
                // Only a definite "expired" counts as exit 3 here; anything else is unknown.
                err.kind = ErrorKind::Other;
            }
            (
                SessionState::Unknown,
                Some(err.context("cannot check the session")),
            )
        }
    }
}

/// Odoo can be upgraded under a saved profile: when the server says it is another version than
/// the one saved, save what it says (best effort: a failure only leaves the old one).
async fn refresh_version(ctx: &Context, client: &OdooClient, profile: &Profile) {
    let Ok(info) = client.session_info().await else {
        return;
    };
    let major = info.major_version();
    if major.is_none()
        || (major == profile.server_version_major
            && info.websocket_worker_version == profile.websocket_worker_version)
    {
        return;
    }
    let was = profile.flavor();
    let saved = ctx.store.update_profile(ctx.profile_name(), |p| {
        p.server_version_major = major;
        p.websocket_worker_version = info.websocket_worker_version.clone();
        if info.server_version.is_some() {
            p.server_version = info.server_version.clone();
        }
        Ok(p.flavor())
    });
    if let Ok(now) = saved
        && now != was
    {
        ctx.ui.info(format!(
            "the server now answers as Odoo {now} (saved profile said {was}): profile updated"
        ));
    }
}

fn text_report(ctx: &Context, p: &Profile, state: SessionState) -> String {
    let none = || "-".to_string();
    let user = match (&p.login, p.uid) {
        (Some(login), Some(uid)) => {
            let partner = p
                .partner_id
                .map(|id| format!(", partner {id}"))
                .unwrap_or_default();
            format!("{login} (uid {uid}{partner})")
        }
        (Some(login), None) => login.clone(),
        _ => none(),
    };
    let server = match (&p.server_version, &p.websocket_worker_version) {
        (Some(v), Some(w)) => format!("Odoo {v} (websocket worker {w})"),
        (Some(v), None) => format!("Odoo {v}"),
        _ => none(),
    };
    let channels = if p.channels.is_empty() {
        none()
    } else {
        p.channels.join(", ")
    };
    let rows = [
        ("profile", ctx.profile_name().to_string()),
        ("url", p.url.clone().unwrap_or_else(none)),
        ("database", p.db.clone().unwrap_or_else(none)),
        ("user", user),
        ("server", server),
        ("protocol", protocol_row(p)),
        ("session", state.as_str().to_string()),
        ("channels", channels),
        ("last id", p.last_id.map_or_else(none, |id| id.to_string())),
        ("config", ctx.store.path().display().to_string()),
    ];
    rows.iter()
        .map(|(k, v)| format!("{k:<10}{v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// How odoo-bus speaks to this server (see [`odoo_bus_core::odoo::version::Flavor`]).
fn protocol_row(p: &Profile) -> String {
    if p.server_version_major.is_none() {
        return "-".to_string();
    }
    format!("Odoo {}", p.flavor().label())
}

fn json_report(ctx: &Context, p: &Profile, state: SessionState) -> Value {
    json!({
        "profile": ctx.profile_name(),
        "url": p.url,
        "db": p.db,
        "login": p.login,
        "uid": p.uid,
        "partner_id": p.partner_id,
        "server_version": p.server_version,
        "server_version_major": p.server_version_major,
        "websocket_worker_version": p.websocket_worker_version,
        "odoo_flavor": p.server_version_major.map(|_| p.flavor().key()),
        "session": state.as_str(),
        "session_valid": state.valid(),
        "channels": p.channels,
        "last_id": p.last_id,
        "config": ctx.store.path().display().to_string(),
    })
}
