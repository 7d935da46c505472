//! Secrets that cannot leak by accident.
//!
//! The session id is as good as a password: whoever holds it *is* the user until it expires.
//! [`SessionId`] and [`Password`] print as `[redacted]` through `Debug` and `Display`, so neither a
//! `{:?}` in a log line, an error message nor a panic can reveal them. The raw value is only
//! reachable through [`SessionId::expose`], which is greppable and used where the value must go on
//! the wire (the `Cookie` header) or into the config file.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const REDACTED: &str = "[redacted]";

/// The value of Odoo's `session_id` cookie.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId(String);

impl SessionId {
    pub fn new(value: impl Into<String>) -> Self {
        SessionId(value.into())
    }
    /// The raw value, for the Cookie header and the config file only.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Odoo only accepts ids of this shape (`FilesystemSessionStore.is_valid_key`); anything else
    /// is silently replaced by a fresh anonymous session, so we reject it up front.
    pub fn looks_valid(&self) -> bool {
        self.0.len() == 84
            && self
                .0
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({REDACTED})")
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for SessionId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SessionId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(SessionId)
    }
}

/// A password (or TOTP code) read from stdin, the environment or a prompt. Never serialised.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(value: impl Into<String>) -> Self {
        Password(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Password({REDACTED})")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let sid = SessionId::new("s3cr3t-session");
        assert!(!format!("{sid:?} {sid}").contains("s3cr3t"));
        let pw = Password::new("hunter2");
        assert!(!format!("{pw:?} {pw}").contains("hunter2"));
        assert_eq!(sid.expose(), "s3cr3t-session");
    }

    #[test]
    fn shape_check_matches_odoo() {
        assert!(SessionId::new("a".repeat(84)).looks_valid());
        assert!(!SessionId::new("a".repeat(83)).looks_valid());
        assert!(!SessionId::new(format!("{}!", "a".repeat(83))).looks_valid());
    }
}
