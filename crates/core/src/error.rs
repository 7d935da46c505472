//! One error type for the whole tool, and the exit code each kind maps to.
//!
//! Users script around exit codes (`odoo-bus tail --count 1 || alert`), so the mapping from
//! *what went wrong* to *which number* lives in exactly one place: [`ErrorKind::exit_code`].
//! Every message is a single line that names the cause and the next step.

use std::fmt;

/// The documented exit codes (see `odoo-bus --help` and docs/usage.md).
pub mod exit {
    pub const OK: i32 = 0;
    pub const OTHER: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const AUTH: i32 = 3;
    pub const CONNECTION: i32 = 4;
    pub const DOCTOR_FAILED: i32 = 5;
    pub const TIMEOUT: i32 = 124;
    pub const INTERRUPTED: i32 = 130;
    pub const TERMINATED: i32 = 143;
}

/// What kind of failure happened; decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Anything without a more specific code: server errors, config file problems, I/O.
    Other,
    /// The command line or a user-supplied value is wrong.
    Usage,
    /// Not logged in, wrong password, session expired, two-factor needed.
    Auth,
    /// Unreachable host, TLS failure, handshake refused, a disconnect with `--no-reconnect`.
    Connection,
    /// `doctor` found at least one failing check.
    DoctorFailed,
    /// A `--timeout` passed before the asked-for result.
    Timeout,
    /// SIGINT (Ctrl-C).
    Interrupted,
    /// SIGTERM.
    Terminated,
}

impl ErrorKind {
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Other => exit::OTHER,
            ErrorKind::Usage => exit::USAGE,
            ErrorKind::Auth => exit::AUTH,
            ErrorKind::Connection => exit::CONNECTION,
            ErrorKind::DoctorFailed => exit::DOCTOR_FAILED,
            ErrorKind::Timeout => exit::TIMEOUT,
            ErrorKind::Interrupted => exit::INTERRUPTED,
            ErrorKind::Terminated => exit::TERMINATED,
        }
    }
}

/// An error meant for a human: one line, already phrased, plus the kind for the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }
    pub fn other(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Other, message)
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, message)
    }
    pub fn auth(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Auth, message)
    }
    pub fn connection(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Connection, message)
    }
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, message)
    }
    /// The standard answer when a command needs a session and the profile has none or it expired.
    pub fn session_expired(profile: &str) -> Self {
        Self::auth(format!(
            "session expired: run `odoo-bus login{}` to log in again",
            profile_flag(profile)
        ))
    }
    /// Session expired, when the profile name is not at hand (the bus core).
    pub fn session_expired_plain() -> Self {
        Self::auth(
            "session expired: the server no longer accepts the saved session; run `odoo-bus login` again",
        )
    }
    pub fn not_logged_in(profile: &str) -> Self {
        Self::auth(format!(
            "not logged in (profile `{profile}`): run `odoo-bus login{} URL --db DB --user LOGIN` first",
            profile_flag(profile)
        ))
    }
    pub fn exit_code(&self) -> i32 {
        self.kind.exit_code()
    }
    /// Prefix the message with context, keeping the kind: `reading config: ...`.
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

/// ` -p NAME` when the profile is not the default, so hints can be pasted as they are.
pub fn profile_flag(profile: &str) -> String {
    if profile == "default" {
        String::new()
    } else {
        format!(" -p {profile}")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::other(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_documented_codes() {
        assert_eq!(Error::usage("x").exit_code(), 2);
        assert_eq!(Error::auth("x").exit_code(), 3);
        assert_eq!(Error::connection("x").exit_code(), 4);
        assert_eq!(ErrorKind::DoctorFailed.exit_code(), 5);
        assert_eq!(Error::timeout("x").exit_code(), 124);
        assert_eq!(ErrorKind::Interrupted.exit_code(), 130);
        assert_eq!(ErrorKind::Terminated.exit_code(), 143);
        assert_eq!(Error::other("x").exit_code(), 1);
    }

    #[test]
    fn hints_name_the_profile_only_when_not_default() {
        assert!(
            Error::session_expired("default")
                .message
                .contains("`odoo-bus login`")
        );
        assert!(
            Error::session_expired("prod")
                .message
                .contains("`odoo-bus login -p prod`")
        );
    }
}
