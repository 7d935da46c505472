//! `odoo-bus demo`: a newcomer's first run, and a sandbox for every other command.
//!
//! It starts the built-in Odoo emulator (18 unless `--odoo-version` says otherwise) on 127.0.0.1, logs in to it (over HTTP, like `login`)
//! in a throwaway profile that never touches the user's config file, makes colleagues chat, type
//! and change presence, and tails it with the same options `tail` takes. `--serve` keeps only the
//! emulator (and its traffic) running, so `odoo-bus login` and the rest can be tried against it.

use std::io::Write;

use tokio::signal::unix::{SignalKind, signal};

use super::Context;
use crate::cli::DemoArgs;
use odoo_bus_core::config::ConfigStore;
use odoo_bus_core::error::{Error, Result};
use odoo_bus_core::odoo::session::AuthOutcome;
use odoo_bus_core::odoo::url::ServerUrl;
use odoo_bus_core::secret::Password;
use odoo_bus_emulator::{Emulator, EmulatorConfig, OdooVersion, traffic};

/// The emulator's seeded administrator (as in Odoo's demo data).
const DEMO_LOGIN: &str = "admin";
const DEMO_PASSWORD: &str = "admin";
/// Colleagues act every one to two seconds.
const TRAFFIC_RATE: f64 = 1.0;

pub async fn run(ctx: &Context, args: DemoArgs) -> Result<i32> {
    let config = EmulatorConfig {
        port: args.port.unwrap_or(0),
        ..EmulatorConfig::default()
    }
    .with_version(args.odoo_version);
    let version = args.odoo_version;
    let label = version.label();
    let db = config.main_db().to_string();
    let emulator = Emulator::start(config).await.map_err(|e| {
        Error::other(format!(
            "cannot start the demo server on 127.0.0.1:{}: {e}{}",
            args.port.unwrap_or(0),
            if args.port.is_some() {
                " (try another --port, or none)"
            } else {
                ""
            }
        ))
    })?;
    let url = emulator.url();
    let _traffic = traffic::spawn(emulator.control(), TRAFFIC_RATE);

    if args.serve {
        return serve(ctx, emulator, &url, &db, version).await;
    }

    // A profile in a temporary file: the demo never reads or writes the user's config.
    let sandbox = tempfile::tempdir()
        .map_err(|e| Error::other(format!("cannot create a temporary directory: {e}")))?;
    let demo_ctx = Context {
        global: ctx.global.clone(),
        ui: ctx.ui.clone(),
        store: ConfigStore::locate(Some(&sandbox.path().join("config.toml")))?,
    };
    log_in(&demo_ctx, &url, &db).await?;
    watch_colleagues_presence(&demo_ctx, &emulator)?;
    ctx.ui.info(format!(
        "demo: an Odoo {label} emulator runs at {url}; logged in as {DEMO_LOGIN}. Colleagues chat in #general and #sales. Ctrl-C stops."
    ));
    let me = demo_ctx.logged_in()?;
    let client = demo_ctx.logged_in_client(&me)?;
    let code = super::tail::follow(&demo_ctx, &me, client, &args.tail).await;
    emulator.shutdown().await;
    code
}

/// Log in over HTTP exactly as `odoo-bus login` would, into the sandbox profile.
async fn log_in(ctx: &Context, url: &str, db: &str) -> Result<()> {
    let server = ServerUrl::parse(url)?;
    let mut client = ctx.odoo_client(server.clone(), None)?;
    ctx.persist_session_rotations(&mut client);
    let cx = ctx.error_context(&server, true);
    let version = super::login::check_server(&client, &cx).await?;
    let outcome = client
        .authenticate(db, DEMO_LOGIN, &Password::new(DEMO_PASSWORD))
        .await
        .map_err(|e| e.user_error(&cx))?;
    let AuthOutcome::LoggedIn(info) = outcome else {
        return Err(Error::other(
            "the demo server asked for a two-factor code; this is a bug in the emulator",
        ));
    };
    super::login::save_login(ctx, &client, &version, db, DEMO_LOGIN, &info).await
}

/// Presence changes travel on per-person channels nobody is subscribed to by default: subscribe
/// the sandbox profile to every colleague's, so the demo shows them too.
fn watch_colleagues_presence(ctx: &Context, emulator: &Emulator) -> Result<()> {
    let control = emulator.control();
    let channels: Vec<String> = ["demo", "joel", "audrey"]
        .iter()
        .filter_map(|login| control.find_user(login))
        .map(|user| format!("odoo-presence-res.partner_{}", user.partner_id))
        .collect();
    ctx.store.update_profile(ctx.profile_name(), |p| {
        p.channels = channels;
        Ok(())
    })
}

/// `--serve`: print how to reach the emulator (stdout: it is what the user asked for), then wait.
async fn serve(
    ctx: &Context,
    emulator: Emulator,
    url: &str,
    db: &str,
    version: OdooVersion,
) -> Result<i32> {
    let (label, chat) = (version.label(), version.chat_model());
    let text = format!(
        "Odoo {label} emulator running at {url}\n\
         database: {db}\n\
         users:    admin/admin (uid 2, partner 3), demo/demo (uid 6, partner 7)\n\
         channels: {chat}_1 (#general), and #sales once the traffic starts\n\
         try:      echo admin | odoo-bus -p demo-server login {url} --db {db} --user admin --password-stdin\n\
         \x20         odoo-bus -p demo-server tail\n"
    );
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    drop(out);
    ctx.ui.info("Ctrl-C stops the server.");
    let mut sigint = signal(SignalKind::interrupt())
        .map_err(|e| Error::other(format!("cannot watch Ctrl-C: {e}")))?;
    let mut sigterm = signal(SignalKind::terminate())
        .map_err(|e| Error::other(format!("cannot watch SIGTERM: {e}")))?;
    tokio::select! {
        _ = sigint.recv() => {},
        _ = sigterm.recv() => {},
    }
    emulator.shutdown().await;
    ctx.ui.info("demo server stopped");
    Ok(0)
}
