//! `odoo-bus logout`: destroy the session on the server, then forget it locally.
//!
//! Forgetting locally always happens, even when the server cannot be reached (the user asked to
//! be logged out of this machine); the warning says the server-side session may live on until
//! it expires. Logging out twice is not an error.

use super::Context;
use odoo_bus_core::error::Result;
use odoo_bus_core::odoo::rpc::RpcError;
use odoo_bus_core::odoo::url::ServerUrl;

pub async fn run(ctx: &Context) -> Result<i32> {
    let profile = ctx.load_profile()?;
    let Some(session) = profile.session_id.clone() else {
        ctx.ui.info(format!(
            "not logged in (profile `{}`): nothing to do",
            ctx.profile_name()
        ));
        return Ok(0);
    };
    let url = profile
        .url
        .as_deref()
        .and_then(|u| ServerUrl::parse(u).ok());
    if let Some(w) = url.as_ref().and_then(|u| u.cleartext_warning()) {
        // The logout request carries the session: warn before it goes out in clear text.
        ctx.ui.warn_always(w);
    }
    let outcome = match &url {
        // No rotation listener on purpose: destroy rotates the sid to a fresh anonymous one,
        // which must not be saved.
        Some(url) => Some(ctx.odoo_client(url.clone(), Some(session))?.destroy().await),
        None => None,
    };
    ctx.store.update_profile(ctx.profile_name(), |p| {
        p.forget_session();
        Ok(())
    })?;
    let server = url
        .as_ref()
        .map_or_else(|| "the server".to_string(), ToString::to_string);
    match outcome {
        Some(Ok(())) => ctx.ui.info(format!("logged out of {server}")),
        Some(Err(RpcError::SessionExpired)) => ctx.ui.info(format!(
            "the session had already expired on {server}; forgot it locally"
        )),
        Some(Err(e)) => {
            let why = url
                .as_ref()
                .map(|u| e.user_error(&ctx.error_context(u, false)).message)
                .unwrap_or_else(|| e.to_string());
            ctx.ui.warn(format!(
                "forgot the session locally, but could not log out on the server ({why}); it stays valid there until it expires"
            ));
        }
        None => ctx.ui.warn(
            "forgot the session locally; the profile has no usable URL, so the server was not told",
        ),
    }
    Ok(0)
}
