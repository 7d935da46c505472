//! The config file: several profiles (servers) in one TOML file, with the saved session.
//!
//! May not touch: the network or the terminal.
//!
//! Why it is careful:
//! - It holds session ids, so it is written with mode 0600 inside a 0700 directory, and a file
//!   that others can read triggers an ssh-style warning.
//! - Several `odoo-bus` processes can run at once (a `tail` saving its last id while a `login`
//!   rotates the session), so every change is a read-modify-write under an advisory lock, and the
//!   write itself is atomic (temp file in the same directory, fsync, rename). A crash or a full disk
//!   can never leave a half-written file.
//! - A file that does not parse is reported with its path and line and is never overwritten.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::secret::SessionId;

/// Everything in the config file.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Config {
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
    /// Keys written by a newer version are kept as they are.
    #[serde(flatten)]
    pub extra: toml::Table,
}

/// One server, user and saved session.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// The server's base URL, normalised (scheme, no trailing slash, path prefix kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<i64>,
    /// `server_version` as the server reports it, e.g. "18.0".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
    /// `server_version_info[0]`, the major version the client branches on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_version_major: Option<u32>,
    /// `session_info.websocket_worker_version`, sent as `/websocket?version=`. Opaque; absent
    /// on 16.0 and early 17.0 (then no `?version=` is sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub websocket_worker_version: Option<String>,
    /// The `session_id` cookie. Absent when logged out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<SessionId>,
    /// Channels every `tail` of this profile subscribes to (`odoo-bus subscribe`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    /// The highest notification id the last `tail` saw, for `tail --resume`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_id: Option<u64>,
    /// How to listen when no `--transport` is given: `auto`, `websocket` or `poll`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    #[serde(flatten)]
    pub extra: toml::Table,
}

impl Profile {
    /// What the server is, from what login saved (an old profile without a version: 18, the
    /// version this client spoke before it knew others). See [`crate::odoo::version`].
    pub fn flavor(&self) -> crate::odoo::version::Flavor {
        crate::odoo::version::Flavor::detect(
            self.server_version_major,
            self.websocket_worker_version.as_deref(),
        )
    }

    /// Forget the session but keep where and who (logout, expired session).
    pub fn forget_session(&mut self) {
        self.session_id = None;
    }
}

/// Where the config file lives and how to read and change it safely.
#[derive(Debug, Clone)]
pub struct ConfigStore {
    path: PathBuf,
}

impl ConfigStore {
    /// `--config PATH` / `ODOO_BUS_CONFIG` when given, else `$XDG_CONFIG_HOME/odoo-bus/config.toml`,
    /// else `~/.config/odoo-bus/config.toml`.
    pub fn locate(explicit: Option<&Path>) -> Result<Self> {
        if let Some(p) = explicit {
            if p.as_os_str().is_empty() {
                return Err(Error::usage(
                    "--config is empty: give the path of a config file",
                ));
            }
            return Ok(ConfigStore {
                path: p.to_path_buf(),
            });
        }
        let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
            Some(xdg) => PathBuf::from(xdg),
            None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
                Some(home) => PathBuf::from(home).join(".config"),
                None => {
                    return Err(Error::usage(
                        "cannot find the config directory: neither HOME nor XDG_CONFIG_HOME is set; set one, or pass --config PATH",
                    ));
                }
            },
        };
        Ok(ConfigStore {
            path: base.join("odoo-bus").join("config.toml"),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Read the file. A missing file is an empty config; anything else that goes wrong is an
    /// error naming the file (and the line, for a parse error).
    pub fn load(&self) -> Result<Config> {
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(Error::other(format!(
                    "config file {} is not UTF-8 text; fix it or move it away (it was left untouched)",
                    self.path.display()
                )));
            }
            Err(e) => {
                return Err(Error::other(format!(
                    "cannot read config file {}: {e}",
                    self.path.display()
                )));
            }
        };
        parse(&text).map_err(|e| {
            Error::other(format!(
                "config file {} {e}; fix it or move it away (it was left untouched)",
                self.path.display()
            ))
        })
    }

    /// A warning when others can read the file, as ssh does for private keys.
    pub fn permission_warning(&self) -> Option<String> {
        let meta = fs::metadata(&self.path).ok()?;
        let mode = meta.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then(|| {
            format!(
                "config file {} is readable by others (mode {mode:o}); it holds session ids: run `chmod 600 {}`",
                self.path.display(),
                self.path.display()
            )
        })
    }

    /// Read-modify-write under the lock. `change` sees the current file content (not a stale copy
    /// read earlier), and nothing is written when it fails.
    pub fn update<T>(&self, change: impl FnOnce(&mut Config) -> Result<T>) -> Result<T> {
        self.ensure_dir()?;
        let _lock = self.lock()?;
        let mut config = self.load()?;
        let out = change(&mut config)?;
        self.write_atomically(&config)?;
        Ok(out)
    }

    /// Change one profile (created if missing).
    pub fn update_profile<T>(
        &self,
        name: &str,
        change: impl FnOnce(&mut Profile) -> Result<T>,
    ) -> Result<T> {
        self.update(|c| change(c.profiles.entry(name.to_string()).or_default()))
    }

    fn dir(&self) -> &Path {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        }
    }

    fn ensure_dir(&self) -> Result<()> {
        let dir = self.dir();
        if dir.exists() {
            return Ok(());
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| {
                Error::other(format!(
                    "cannot create config directory {}: {e}",
                    dir.display()
                ))
            })?;
        // The umask can only remove bits, but be explicit: the directory is ours and private.
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
        Ok(())
    }

    fn lock(&self) -> Result<File> {
        let mut lock_path = self.path.clone().into_os_string();
        lock_path.push(".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| {
                Error::other(format!(
                    "cannot write next to config file {}: {e} (is the directory read-only?)",
                    self.path.display()
                ))
            })?;
        file.lock().map_err(|e| {
            Error::other(format!(
                "cannot lock config file {}: {e}",
                self.path.display()
            ))
        })?;
        Ok(file)
    }

    fn write_atomically(&self, config: &Config) -> Result<()> {
        let text = toml::to_string_pretty(config)
            .map_err(|e| Error::other(format!("cannot encode the config: {e}")))?;
        let fail = |e: std::io::Error| {
            Error::other(format!(
                "cannot write config file {}: {e} (the file was left as it was)",
                self.path.display()
            ))
        };
        if let Ok(meta) = fs::metadata(&self.path)
            && meta.permissions().readonly()
        {
            return Err(fail(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "the file is read-only",
            )));
        }
        let mut tmp = tempfile::Builder::new()
            .prefix(".config.toml.")
            .tempfile_in(self.dir())
            .map_err(fail)?;
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(fail)?;
        tmp.write_all(HEADER.as_bytes()).map_err(fail)?;
        tmp.write_all(text.as_bytes()).map_err(fail)?;
        tmp.as_file().sync_all().map_err(fail)?;
        tmp.persist(&self.path).map_err(|e| fail(e.error))?;
        if let Ok(d) = File::open(self.dir()) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

const HEADER: &str = "# odoo-bus configuration: one [profiles.NAME] table per server.\n# It holds session ids: keep it private (mode 0600).\n\n";

/// Parse config text; the error says where.
pub fn parse(text: &str) -> std::result::Result<Config, String> {
    toml::from_str::<Config>(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
        let what = e.message().replace('\n', " ");
        match line {
            Some(l) => format!("is not valid at line {l}: {what}"),
            None => format!("is not valid: {what}"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_in(dir: &Path) -> ConfigStore {
        ConfigStore::locate(Some(&dir.join("sub").join("config.toml"))).unwrap()
    }

    #[test]
    fn round_trips_profiles_and_keeps_unknown_keys() {
        let text = "future = 1\n[profiles.default]\nurl = \"https://x\"\nsession_id = \"abc\"\nchannels = [\"a\"]\nnew_key = true\n";
        let c = parse(text).unwrap();
        let p = &c.profiles["default"];
        assert_eq!(p.url.as_deref(), Some("https://x"));
        assert_eq!(p.session_id.as_ref().unwrap().expose(), "abc");
        let again = toml::to_string(&c).unwrap();
        assert!(again.contains("future = 1"), "{again}");
        assert!(again.contains("new_key = true"), "{again}");
    }

    #[test]
    fn parse_errors_name_the_line() {
        let err = parse("[profiles.default]\nurl = \n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn writes_are_private_and_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path());
        store
            .update_profile("default", |p| {
                p.url = Some("https://erp".into());
                Ok(())
            })
            .unwrap();
        let mode = fs::metadata(store.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = fs::metadata(store.path().parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dmode, 0o700);
        assert!(store.permission_warning().is_none());
        let leftovers: Vec<_> = fs::read_dir(store.path().parent().unwrap())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".config.toml."))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn corrupt_file_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path());
        fs::create_dir_all(store.path().parent().unwrap()).unwrap();
        fs::write(store.path(), "[[[ not toml").unwrap();
        let err = store.update_profile("default", |_| Ok(())).unwrap_err();
        assert!(err.message.contains("config.toml"), "{err}");
        assert_eq!(fs::read_to_string(store.path()).unwrap(), "[[[ not toml");
    }

    #[test]
    fn failed_change_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path());
        let r: Result<()> = store.update(|_| Err(Error::usage("no")));
        assert!(r.is_err());
        assert!(!store.path().exists());
    }

    #[test]
    fn warns_when_others_can_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path());
        store.update(|_| Ok(())).unwrap();
        fs::set_permissions(store.path(), fs::Permissions::from_mode(0o644)).unwrap();
        assert!(store.permission_warning().unwrap().contains("chmod 600"));
    }
}
