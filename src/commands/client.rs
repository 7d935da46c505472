//! What the commands that talk to Odoo over HTTP share: building the client from the global
//! options, and saving a rotated session the moment the server hands it out.

use super::Context;
use odoo_bus_core::error::{Error, Result};
use odoo_bus_core::odoo::client::{ClientOptions, OdooClient};
use odoo_bus_core::odoo::rpc::ErrorContext;
use odoo_bus_core::odoo::url::ServerUrl;
use odoo_bus_core::secret::SessionId;

impl Context {
    /// A client for `url` that honours `--insecure` and logs requests at `-vv`.
    pub fn odoo_client(&self, url: ServerUrl, session: Option<SessionId>) -> Result<OdooClient> {
        OdooClient::new(
            url,
            session,
            ClientOptions::new(self.ui.trace(), self.global.insecure),
        )
    }

    /// Write every rotated `session_id` into this profile at once, so the saved session never
    /// falls behind the server (a stale id means "session expired" on the next run).
    pub fn persist_session_rotations(&self, client: &mut OdooClient) {
        let store = self.store.clone();
        let profile = self.profile_name().to_string();
        let ui = self.ui.clone();
        client.on_session_rotated(move |sid| {
            let saved = store.update_profile(&profile, |p| {
                p.session_id = Some(sid.clone());
                Ok(())
            });
            if let Err(e) = saved {
                ui.warn(format!(
                    "the server rotated the session but the new one could not be saved: {e}"
                ));
            }
        });
    }

    /// How [`odoo_bus_core::odoo::rpc::RpcError::user_error`] should phrase errors for this profile.
    pub fn error_context<'a>(&'a self, server: &'a ServerUrl, login: bool) -> ErrorContext<'a> {
        ErrorContext {
            server,
            profile: self.profile_name(),
            login,
        }
    }
}

/// Room for the HTTP upgrade on a slow link (DNS + TCP + TLS + 101).
const WEBSOCKET_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// Test knob (documented in docs/testing.md): a shorter websocket connect timeout, so a server
/// that accepts TCP and never answers the upgrade is tested in seconds.
const CONNECT_TIMEOUT_ENV: &str = "ODOO_BUS_CONNECT_TIMEOUT";

impl Context {
    /// An HTTP client for a logged-in profile that saves every session rotation at once.
    pub fn logged_in_client(&self, me: &super::LoggedIn) -> Result<OdooClient> {
        let mut client = self.odoo_client(me.url.clone(), Some(me.session.clone()))?;
        self.persist_session_rotations(&mut client);
        Ok(client)
    }

    /// Fail with exit 3 unless the server still accepts the saved session. Odoo would otherwise
    /// hand us a silently *public* websocket that never carries the user's notifications.
    pub async fn require_valid_session(&self, client: &OdooClient) -> Result<()> {
        match client.check().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::session_expired(self.profile_name())),
            Err(e) => Err(e.user_error(&self.error_context(client.url(), false))),
        }
    }

    /// How to reach this profile's websocket.
    pub fn connect_options(
        &self,
        me: &super::LoggedIn,
    ) -> Result<odoo_bus_core::bus::connection::ConnectOptions> {
        Ok(odoo_bus_core::bus::connection::ConnectOptions {
            url: me.url.clone(),
            worker_version: me.profile.websocket_worker_version.clone(),
            tls: odoo_bus_core::tls::client_config(self.global.insecure)?,
            user_agent: odoo_bus_core::odoo::client::USER_AGENT.to_string(),
            connect_timeout: duration_env(CONNECT_TIMEOUT_ENV)?
                .unwrap_or(WEBSOCKET_CONNECT_TIMEOUT),
        })
    }
}

/// The bus stream's link to the HTTP client and the config file.
pub struct ProfileSessionKeeper {
    client: OdooClient,
    store: odoo_bus_core::config::ConfigStore,
    profile: String,
    ui: crate::ui::Ui,
}

impl ProfileSessionKeeper {
    /// `client` should persist its own rotations (see [`Context::logged_in_client`]); the ones
    /// the websocket handshake reports are saved here.
    pub fn new(ctx: &Context, client: OdooClient) -> Self {
        ProfileSessionKeeper {
            client,
            store: ctx.store.clone(),
            profile: ctx.profile_name().to_string(),
            ui: ctx.ui.clone(),
        }
    }
}

impl odoo_bus_core::bus::stream::SessionKeeper for ProfileSessionKeeper {
    fn http(&self) -> &OdooClient {
        &self.client
    }

    fn current(&self) -> SessionId {
        // The client always holds a session here: it was built from a logged-in profile, and a
        // cookie deletion would only come from a logout, which this process never sends.
        self.client
            .session()
            .unwrap_or_else(|| SessionId::new(String::new()))
    }

    fn rotated(&mut self, sid: &SessionId) {
        self.client.set_session(Some(sid.clone()));
        let saved = self.store.update_profile(&self.profile, |p| {
            p.session_id = Some(sid.clone());
            Ok(())
        });
        if let Err(e) = saved {
            self.ui.warn(format!(
                "the websocket handshake set a new session but it could not be saved: {e}"
            ));
        }
    }

    async fn check(&mut self) -> odoo_bus_core::bus::stream::SessionCheck {
        use odoo_bus_core::bus::stream::SessionCheck;
        match self.client.check().await {
            Ok(true) => SessionCheck::Valid,
            Ok(false) => SessionCheck::Expired,
            Err(odoo_bus_core::odoo::rpc::RpcError::SessionExpired) => SessionCheck::Expired,
            Err(e) => SessionCheck::Unknown(format!("{e}")),
        }
    }
}

/// A duration from a test knob (`ODOO_BUS_WATCHDOG=700ms`): `None` when unset or empty; a value
/// that is not a duration is a usage error naming the variable, never silently ignored.
pub(super) fn duration_env(name: &str) -> Result<Option<std::time::Duration>> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => crate::cli::parse_duration(&v)
            .map(Some)
            .map_err(|e| Error::usage(format!("{name}: {e}"))),
        _ => Ok(None),
    }
}
