//! Shared by every integration test: an emulator on its own runtime, a private HOME and config,
//! and the real `odoo-bus` binary wired to both.
//!
//! ```ignore
//! let env = TestEnv::new();
//! env.logged_in("demo");
//! env.cmd().args(["send", "general", "hi"]).assert().success();
//! ```
#![allow(dead_code)]

pub mod nginx;
pub mod running;

use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;

use odoo_bus_core::config::ConfigStore;
use odoo_bus_core::secret::SessionId;
use odoo_bus_emulator::{Control, Emulator, EmulatorConfig};
use tempfile::TempDir;

/// Variables of the developer's shell that must not leak into the binary under test.
pub const CLEARED_ENV: &[&str] = &[
    "ODOO_BUS_PROFILE",
    "ODOO_PASSWORD",
    "ODOO_BUS_SESSION_ID",
    "XDG_CONFIG_HOME",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "COMPLETE",
];

/// One emulator plus one temporary home directory.
pub struct TestEnv {
    control: Control,
    url: String,
    home: TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestEnv {
    /// An emulator with test timings ([`EmulatorConfig::fast`]).
    pub fn new() -> Self {
        Self::with_config(EmulatorConfig::fast())
    }

    /// An emulator with test timings playing Odoo `version` (16, 17 early/late, 18, 19).
    #[allow(dead_code)]
    pub fn with_version(version: odoo_bus_emulator::OdooVersion) -> Self {
        Self::with_config(EmulatorConfig::fast().with_version(version))
    }

    pub fn with_config(cfg: EmulatorConfig) -> Self {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        // Its own thread and runtime: plain #[test]s block on the binary while it serves.
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("emulator runtime");
            runtime.block_on(async move {
                let emulator = Emulator::start(cfg).await.expect("emulator starts");
                ready_tx
                    .send((emulator.control(), emulator.url()))
                    .expect("test alive");
                let _ = stop_rx.await;
                drop(emulator);
            });
        });
        let (control, url) = ready_rx.recv().expect("emulator started");
        TestEnv {
            control,
            url,
            home: tempfile::tempdir().expect("temp home"),
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn control(&self) -> &Control {
        &self.control
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    pub fn home(&self) -> PathBuf {
        self.home.path().to_path_buf()
    }

    /// `<tmp>/config/config.toml` (given to the binary as `ODOO_BUS_CONFIG`).
    pub fn config_path(&self) -> PathBuf {
        self.home.path().join("config").join("config.toml")
    }

    /// The real binary with a clean, private environment.
    pub fn cmd(&self) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.std_cmd())
    }

    /// The same command as [`TestEnv::cmd`], as a std `Command` (for processes that keep running).
    pub fn std_cmd(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("odoo-bus"));
        cmd.env("ODOO_BUS_CONFIG", self.config_path())
            .env("HOME", self.home.path())
            .env("NO_COLOR", "1");
        for var in CLEARED_ENV {
            cmd.env_remove(var);
        }
        cmd
    }

    /// Start the binary with `args`, reading its stdout line by line.
    pub fn spawn(&self, args: &[&str]) -> running::Running {
        let mut cmd = self.std_cmd();
        cmd.args(args);
        running::Running::spawn(cmd)
    }

    /// Save a logged-in `default` profile for `login` (a session minted by the emulator), as a
    /// finished `odoo-bus login` would, without running it.
    pub fn logged_in(&self, login: &str) -> SessionId {
        self.logged_in_profile("default", login)
    }

    pub fn logged_in_profile(&self, profile: &str, login: &str) -> SessionId {
        self.logged_in_at(&self.config_path(), profile, login)
    }

    /// The same, in another config file (a test that runs several binaries side by side, each
    /// with its own config and its own session).
    pub fn logged_in_at(&self, config: &std::path::Path, profile: &str, login: &str) -> SessionId {
        let user = self
            .control
            .find_user(login)
            .unwrap_or_else(|| panic!("no emulator user {login:?}"));
        let session = SessionId::new(self.control.create_session(user.uid));
        let store = ConfigStore::locate(Some(config)).expect("config path");
        let cfg = self.control.config();
        let (url, db, version, wwv) = (
            self.url.clone(),
            self.control.db(),
            cfg.server_version.clone(),
            cfg.websocket_worker_version.clone(),
        );
        let major = cfg.server_version_info[0].as_u64().unwrap_or(18) as u32;
        let saved = session.clone();
        store
            .update_profile(profile, move |p| {
                p.url = Some(url);
                p.db = Some(db);
                p.login = Some(login.to_string());
                p.uid = Some(user.uid);
                p.partner_id = Some(user.partner_id);
                p.server_version = Some(version);
                p.server_version_major = Some(major);
                p.websocket_worker_version = wwv;
                p.session_id = Some(saved);
                Ok(())
            })
            .expect("write config");
        session
    }

    /// Point the saved profile at `url` (a proxy in front of this emulator: the session works
    /// through it).
    pub fn point_profile_at(&self, url: &str) {
        let config = std::fs::read_to_string(self.config_path()).unwrap();
        let current = config
            .lines()
            .find_map(|l| l.strip_prefix("url = "))
            .expect("a saved url")
            .trim_matches('"')
            .to_string();
        std::fs::write(self.config_path(), config.replace(&current, url)).unwrap();
    }

    /// The config file as the binary left it ("" when absent).
    pub fn config_text(&self) -> String {
        std::fs::read_to_string(self.config_path()).unwrap_or_default()
    }
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
