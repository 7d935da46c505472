//! One file per subcommand. Each wires the core layers together; none talks to a socket directly.
//!
//! Owns: turning parsed arguments into calls on the core, doctor and output. May not touch: sockets
//! or raw HTTP (the core does), the terminal except through `Ui` and the printers.

mod client;
pub mod completions;
pub mod demo;
pub mod doctor;
mod gaps;
pub mod login;
pub mod logout;
pub mod probe;
pub mod profiles;
pub mod send;
pub mod status;
pub mod subscribe;
pub mod tail;

use crate::cli::{Cli, Command, GlobalArgs};
use crate::ui::Ui;
use odoo_bus_core::config::{ConfigStore, Profile};
use odoo_bus_core::error::{Error, Result};
use odoo_bus_core::odoo::url::ServerUrl;
use odoo_bus_core::secret::SessionId;

/// What every command gets: the global options, the stderr reporter and the config store.
pub struct Context {
    pub global: GlobalArgs,
    pub ui: Ui,
    pub store: ConfigStore,
}

/// A profile that has a server URL and a session: what `tail`, `send`, `status` … need.
pub struct LoggedIn {
    pub profile: Profile,
    pub url: ServerUrl,
    pub session: SessionId,
}

impl Context {
    pub fn new(global: GlobalArgs) -> Result<Self> {
        let ui = Ui::new(&global);
        let store = ConfigStore::locate(global.config.as_deref())?;
        if global.insecure {
            ui.warn_always(odoo_bus_core::tls::INSECURE_WARNING);
        }
        Ok(Context { global, ui, store })
    }

    /// The profile this context works on (the first one given; a command that takes several
    /// gets one context per profile from [`Context::for_profile`]).
    pub fn profile_name(&self) -> &str {
        self.global
            .profile
            .first()
            .map(String::as_str)
            .unwrap_or("default")
    }

    /// The same options on one profile of several: its stderr lines are labelled with its name.
    pub fn for_profile(&self, name: &str) -> Context {
        let mut global = self.global.clone();
        global.profile = vec![name.to_string()];
        global.all = false;
        Context {
            global,
            ui: self.ui.labelled(name),
            store: self.store.clone(),
        }
    }

    /// The profile as saved (an empty one when the file or the profile does not exist yet).
    pub fn load_profile(&self) -> Result<Profile> {
        if let Some(w) = self.store.permission_warning() {
            self.ui.warn(w);
        }
        let config = self.store.load()?;
        Ok(config
            .profiles
            .get(self.profile_name())
            .cloned()
            .unwrap_or_default())
    }

    /// The profile with its URL and session, or the "not logged in" error (exit 3).
    pub fn logged_in(&self) -> Result<LoggedIn> {
        let profile = self.load_profile()?;
        let (Some(url), Some(session)) = (profile.url.as_deref(), profile.session_id.clone())
        else {
            if profile.url.is_some() && profile.login.is_some() {
                // The profile knows the server and the user: `login` alone is enough.
                return Err(Error::auth(format!(
                    "not logged in (profile `{}`): run `odoo-bus login{}`",
                    self.profile_name(),
                    odoo_bus_core::error::profile_flag(self.profile_name())
                )));
            }
            return Err(Error::not_logged_in(self.profile_name()));
        };
        let url = ServerUrl::parse(url).map_err(|e| {
            Error::other(format!(
                "profile `{}` holds a bad URL ({e}); run `odoo-bus login URL` again",
                self.profile_name()
            ))
        })?;
        if let Some(w) = url.cleartext_warning() {
            self.ui.warn_always(w);
        }
        Ok(LoggedIn {
            profile,
            url,
            session,
        })
    }
}

/// Run the parsed command line; the returned number is the process exit code.
pub async fn run(cli: Cli) -> Result<i32> {
    let ctx = Context::new(cli.global)?;
    let single = match &cli.command {
        Command::Login(_) => Some("login"),
        Command::Logout => Some("logout"),
        Command::Status(_) => Some("status"),
        Command::Subscribe(_) => Some("subscribe"),
        Command::Demo(_) => Some("demo"),
        Command::Send(args) if !args.wait => Some("send"),
        _ => None,
    };
    if let Some(command) = single {
        profiles::single(&ctx, command)?;
    }
    match cli.command {
        Command::Login(args) => login::run(&ctx, args).await,
        Command::Logout => logout::run(&ctx).await,
        Command::Status(args) => status::run(&ctx, args).await,
        Command::Subscribe(args) => subscribe::run(&ctx, args).await,
        Command::Tail(args) => tail::run(&ctx, args).await,
        Command::Send(args) => send::run(&ctx, args).await,
        Command::Doctor(args) => doctor::run(&ctx, args).await,
        Command::Demo(args) => demo::run(&ctx, args).await,
        Command::Probe(args) => probe::run(&ctx, args).await,
        Command::Completions(args) => completions::run(&ctx, args),
    }
}
