//! The programs under test, started as a user would start them: `odoo-bus tail` in its three
//! configurations, and the baselines `websocat` (raw frames) and `websocat | jq`.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};

use crate::process::Proc;
use crate::support::TestEnv;

/// The filter a jq user writes to keep the inserts, one per line.
pub const JQ_FILTER: &str = r#".[] | select(.message.type == "mail.record/insert")"#;

/// What `websocat` must send first: the same subscribe `odoo-bus tail` sends (no extra channels,
/// the server adds the user's implicit ones; `last = 0`).
const SUBSCRIBE: &str = r#"{"event_name":"subscribe","data":{"channels":[],"last":0}}"#;

/// Where a client's stdout goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    DevNull,
    /// A file in the bench's temporary directory (rewritten by every run).
    File,
}

#[derive(Debug, Clone, Copy)]
pub enum Client {
    /// `odoo-bus tail ARGS`.
    Tail {
        label: &'static str,
        args: &'static [&'static str],
        sink: Sink,
        /// Run the `--before` binary instead of this tree's (a before/after in one run).
        before: bool,
    },
    /// `websocat … > /dev/null`: the raw frames, one per line.
    Websocat,
    /// `websocat … | jq -c FILTER > /dev/null`.
    WebsocatJq,
    /// The floor (`floor.rs`): handshake, subscribe, then only frame boundaries; prints the
    /// count of text frames at the end.
    Floor,
}

impl Client {
    pub fn label(&self) -> String {
        match self {
            Client::Tail {
                label,
                before: false,
                ..
            } => (*label).to_string(),
            Client::Tail {
                label,
                before: true,
                ..
            } => format!("{label} (before)"),
            Client::Websocat => "websocat > /dev/null".to_string(),
            Client::WebsocatJq => "websocat | jq -c 'select(insert)' > /dev/null".to_string(),
            Client::Floor => "floor: read and find frame boundaries only".to_string(),
        }
    }
}

/// The external programs, where installed.
#[derive(Debug, Clone, Default)]
pub struct Tools {
    pub websocat: Option<PathBuf>,
    pub jq: Option<PathBuf>,
}

impl Tools {
    /// Looks in `PATH`, then in `~/.cargo/bin` (where `cargo install websocat` puts it).
    pub fn find() -> Tools {
        Tools {
            websocat: find_program("websocat"),
            jq: find_program("jq"),
        }
    }
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let cargo_bin = std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo").join("bin"));
    std::env::split_paths(&path)
        .chain(cargo_bin)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A client's processes while it runs.
pub struct Started {
    /// In pipeline order.
    pub procs: Vec<Proc>,
    /// websocat's stdin: held open for the whole run (at EOF websocat would close the socket).
    _stdin: Option<ChildStdin>,
}

/// Everything a start needs to know about the environment.
pub struct Setup<'a> {
    pub env: &'a TestEnv,
    pub tools: &'a Tools,
    /// The session the profile holds (websocat sends it as a cookie).
    pub session: &'a str,
    /// `ws://127.0.0.1:PORT/websocket?version=…`.
    pub ws_url: String,
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
    /// The bench's scratch directory (output files, stderr logs).
    pub dir: &'a Path,
    /// A command `odoo-bus` runs under (`--wrap 'strace -c -o /tmp/s'`), for profiling; empty
    /// for measurements.
    pub wrap: Vec<String>,
    /// `--before BIN`: another `odoo-bus` (e.g. a copy of the last release build) whose tail
    /// clients run alongside this tree's, so a change is measured before/after in one run.
    pub before: Option<PathBuf>,
}

impl Setup<'_> {
    /// `odoo-bus` with the test environment, under the `--wrap` command if one was given.
    pub fn tail_command(&self) -> Command {
        self.odoo_bus_command(false)
    }

    /// [`Setup::tail_command`], of the `--before` binary when `before` is set.
    pub fn odoo_bus_command(&self, before: bool) -> Command {
        let mut plain = self.env.std_cmd();
        if let (true, Some(bin)) = (before, &self.before) {
            let mut other = Command::new(bin);
            for (key, value) in plain.get_envs() {
                match value {
                    Some(v) => other.env(key, v),
                    None => other.env_remove(key),
                };
            }
            plain = other;
        }
        let Some((wrapper, wrapper_args)) = self.wrap.split_first() else {
            return plain;
        };
        let mut cmd = Command::new(wrapper);
        cmd.args(wrapper_args).arg(plain.get_program());
        for (key, value) in plain.get_envs() {
            match value {
                Some(v) => cmd.env(key, v),
                None => cmd.env_remove(key),
            };
        }
        cmd
    }

    /// The file a client's stdout goes to with [`Sink::File`].
    pub fn output_file(&self) -> PathBuf {
        self.dir.join("stdout")
    }

    /// The file that receives a process's stderr (`n`: its place in the pipeline).
    pub fn stderr_file(&self, n: usize) -> PathBuf {
        self.dir.join(format!("stderr.{n}"))
    }

    /// What the processes of the last run wrote on stderr (for error messages).
    pub fn stderr_text(&self) -> String {
        (0..2)
            .filter_map(|n| std::fs::read_to_string(self.stderr_file(n)).ok())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn stdout(&self, sink: Sink) -> io::Result<Stdio> {
        let file = match sink {
            Sink::DevNull => File::create("/dev/null")?,
            Sink::File => File::create(self.output_file())?,
        };
        Ok(Stdio::from(file))
    }

    fn stderr(&self, n: usize) -> io::Result<Stdio> {
        Ok(Stdio::from(File::create(self.stderr_file(n))?))
    }

    /// Start `client`, its stdout going to `sink` (the last process of a pipeline).
    pub fn start(&self, client: &Client, sink: Sink) -> io::Result<Started> {
        match client {
            Client::Tail { args, before, .. } => {
                let mut cmd = self.odoo_bus_command(*before);
                cmd.arg("tail")
                    .args(*args)
                    .stdin(Stdio::null())
                    .stdout(self.stdout(sink)?)
                    .stderr(self.stderr(0)?);
                Ok(Started {
                    procs: vec![Proc::new(cmd.spawn()?)],
                    _stdin: None,
                })
            }
            Client::Websocat => {
                let (ws, stdin) = self.websocat(self.stdout(sink)?)?;
                Ok(Started {
                    procs: vec![ws],
                    _stdin: Some(stdin),
                })
            }
            Client::Floor => {
                let exe = std::env::current_exe()?;
                let rest = self
                    .ws_url
                    .strip_prefix("ws://")
                    .ok_or_else(|| io::Error::other("the floor client speaks ws:// only"))?;
                let (addr, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                let child = Command::new(exe)
                    .args([crate::floor::ARG, addr, path, &self.origin])
                    .env(crate::floor::COOKIE_ENV, self.session)
                    .stdin(Stdio::null())
                    .stdout(self.stdout(sink)?)
                    .stderr(self.stderr(0)?)
                    .spawn()?;
                Ok(Started {
                    procs: vec![Proc::new(child)],
                    _stdin: None,
                })
            }
            Client::WebsocatJq => {
                let jq_path = self.tools.jq.as_ref().ok_or_else(|| missing("jq"))?;
                let (read, write) = io::pipe()?;
                let (ws, stdin) = self.websocat(Stdio::from(write))?;
                let jq = Command::new(jq_path)
                    .args(["-c", JQ_FILTER])
                    .stdin(Stdio::from(read))
                    .stdout(self.stdout(sink)?)
                    .stderr(self.stderr(1)?)
                    .spawn()?;
                Ok(Started {
                    procs: vec![ws, Proc::new(jq)],
                    _stdin: Some(stdin),
                })
            }
        }
    }

    /// websocat with the handshake Odoo requires (Origin, the session cookie), in text mode,
    /// ending when the server closes, after writing the subscribe to its stdin.
    fn websocat(&self, stdout: Stdio) -> io::Result<(Proc, ChildStdin)> {
        let path = self
            .tools
            .websocat
            .as_ref()
            .ok_or_else(|| missing("websocat"))?;
        let mut child = Command::new(path)
            .arg("--text")
            // Without it websocat outlives the server's close while its stdin stays open.
            .arg("--exit-on-eof")
            .arg(format!("-H=Origin: {}", self.origin))
            .arg(format!("-H=Cookie: session_id={}", self.session))
            .arg(&self.ws_url)
            .stdin(Stdio::piped())
            .stdout(stdout)
            .stderr(self.stderr(0)?)
            .spawn()?;
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| io::Error::other("websocat stdin not piped"))?;
        writeln!(stdin, "{SUBSCRIBE}")?;
        Ok((Proc::new(child), stdin))
    }
}

fn missing(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{name} is not installed"))
}
