//! What the commands that talk to Odoo over HTTP share: building the client from the global
//! options, and saving a rotated session the moment the server hands it out.

use super::Context;
use crate::error::Result;
use crate::odoo::client::{ClientOptions, OdooClient};
use crate::odoo::rpc::ErrorContext;
use crate::odoo::url::ServerUrl;
use crate::secret::SessionId;

impl Context {
    /// A client for `url` that honours `--insecure` and logs requests at `-vv`.
    pub fn odoo_client(&self, url: ServerUrl, session: Option<SessionId>) -> Result<OdooClient> {
        OdooClient::new(
            url,
            session,
            ClientOptions::new(self.ui.clone(), self.global.insecure),
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

    /// How [`crate::odoo::rpc::RpcError::user_error`] should phrase errors for this profile.
    pub fn error_context<'a>(&'a self, server: &'a ServerUrl, login: bool) -> ErrorContext<'a> {
        ErrorContext {
            server,
            profile: self.profile_name(),
            login,
        }
    }
}
