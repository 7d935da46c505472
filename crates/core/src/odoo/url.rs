//! The server's base URL, normalised once so every route and the websocket URL derive from it.
//!
//! Users paste URLs from browsers (`https://erp.example.com/odoo/discuss`), type bare hosts
//! (`erp.example.com`), or run Odoo under a path prefix behind a proxy (`https://x.com/erp/`).
//! [`ServerUrl::parse`] turns all of these into `scheme://host[:port][/prefix]`.

use std::fmt;
use std::net::IpAddr;

use url::Url;

use crate::error::{Error, Result};

/// A normalised Odoo base URL: http(s), a host, an optional path prefix, no trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    /// Always ends without `/`; the path is empty or a prefix like `/erp`.
    base: String,
    url: Url,
}

/// Paths of Odoo's own web client: pasting a browser URL must not turn them into a prefix.
const CLIENT_PATHS: &[&str] = &["/odoo", "/web", "/websocket", "/discuss"];

impl ServerUrl {
    pub fn parse(input: &str) -> Result<Self> {
        let input = input.trim();
        if input.is_empty() {
            return Err(Error::usage(
                "the server URL is empty: give e.g. https://erp.example.com",
            ));
        }
        let with_scheme = if input.contains("://") {
            input.to_string()
        } else {
            format!("https://{input}")
        };
        let bad = |why: &str| Error::usage(format!("`{input}` is not a usable server URL: {why}"));
        let mut url = Url::parse(&with_scheme).map_err(|e| bad(&e.to_string()))?;
        match url.scheme() {
            "http" | "https" => {}
            "ws" => url.set_scheme("http").map_err(|_| bad("bad scheme"))?,
            "wss" => url.set_scheme("https").map_err(|_| bad("bad scheme"))?,
            other => return Err(bad(&format!("scheme `{other}` is not http or https"))),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("it has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "credentials do not belong in the URL; use --user and a password prompt",
            ));
        }
        url.set_query(None);
        url.set_fragment(None);
        let mut path = url.path().trim_end_matches('/').to_string();
        // Cut at the first client path in the URL, whichever it is (`/web/odoo` is cut at
        // `/web`, not at `/odoo`, else the result would keep a client path as its prefix).
        if let Some(pos) = CLIENT_PATHS
            .iter()
            .filter_map(|client_path| find_segment(&path, client_path))
            .min()
        {
            path.truncate(pos);
        }
        url.set_path(&path);
        let base = url.as_str().trim_end_matches('/').to_string();
        Ok(ServerUrl { base, url })
    }

    /// `https://host[:port][/prefix]`, no trailing slash.
    pub fn as_str(&self) -> &str {
        &self.base
    }

    /// Full URL of an HTTP route such as `/web/session/check`.
    pub fn route(&self, route: &str) -> String {
        format!("{}{}", self.base, route)
    }

    /// `ws(s)://host[:port][/prefix]/websocket[?version=V]`.
    pub fn websocket(&self, version: Option<&str>) -> String {
        let scheme = if self.is_https() { "wss" } else { "ws" };
        let rest = &self.base[self.url.scheme().len()..];
        let mut s = format!("{scheme}{rest}/websocket");
        if let Some(v) = version {
            s.push_str("?version=");
            s.extend(url::form_urlencoded::byte_serialize(v.as_bytes()));
        }
        s
    }

    /// `scheme://host[:port]`: the Origin header Odoo expects for this server.
    pub fn origin(&self) -> String {
        self.url.origin().ascii_serialization()
    }

    pub fn is_https(&self) -> bool {
        self.url.scheme() == "https"
    }

    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }

    /// The port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.url.port_or_known_default().unwrap_or(443)
    }

    /// `host:port` as written in the Host header (port only when not the default).
    pub fn host_header(&self) -> String {
        match self.url.port() {
            Some(p) => format!("{}:{p}", self.host()),
            None => self.host().to_string(),
        }
    }

    /// True for localhost and loopback addresses, where cleartext HTTP is not a risk.
    pub fn is_loopback(&self) -> bool {
        let host = self.host().trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost")
            || host.ends_with(".localhost")
            || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// The warning for a session that would travel in clear text, if any.
    pub fn cleartext_warning(&self) -> Option<String> {
        (!self.is_https() && !self.is_loopback()).then(|| {
            format!(
                "{} uses plain http: the session cookie travels in clear text; use https if the server offers it",
                self.base
            )
        })
    }
}

/// Position of `/seg` as a whole path segment (followed by `/` or the end).
fn find_segment(path: &str, seg: &str) -> Option<usize> {
    let mut start = 0;
    while let Some(i) = path[start..].find(seg) {
        let pos = start + i;
        let end = pos + seg.len();
        if path.len() == end || path.as_bytes()[end] == b'/' {
            return Some(pos);
        }
        start = end;
    }
    None
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        ServerUrl::parse(s).unwrap().as_str().to_string()
    }

    #[test]
    fn normalises_what_users_type() {
        assert_eq!(norm("erp.example.com"), "https://erp.example.com");
        assert_eq!(norm("http://localhost:8069/"), "http://localhost:8069");
        assert_eq!(norm("https://x.com/erp/"), "https://x.com/erp");
        assert_eq!(norm("https://x.com/odoo/discuss?x=1#a"), "https://x.com");
        assert_eq!(norm("https://x.com/erp/web/login"), "https://x.com/erp");
        assert_eq!(norm("https://x.com/odooish"), "https://x.com/odooish");
        assert_eq!(norm("wss://x.com/websocket"), "https://x.com");
    }

    #[test]
    fn rejects_what_cannot_work() {
        for bad in [
            "",
            "ftp://x",
            "https://",
            "https://u:p@x.com",
            "http://[::1",
        ] {
            assert!(ServerUrl::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(ServerUrl::parse("ftp://x").unwrap_err().exit_code(), 2);
    }

    #[test]
    fn derives_routes_websocket_and_origin() {
        let u = ServerUrl::parse("https://x.com:8443/erp").unwrap();
        assert_eq!(
            u.route("/web/session/check"),
            "https://x.com:8443/erp/web/session/check"
        );
        assert_eq!(
            u.websocket(Some("18.0-2")),
            "wss://x.com:8443/erp/websocket?version=18.0-2"
        );
        assert_eq!(u.origin(), "https://x.com:8443");
        assert_eq!(u.host_header(), "x.com:8443");
        let h = ServerUrl::parse("http://127.0.0.1:8069").unwrap();
        assert_eq!(h.websocket(None), "ws://127.0.0.1:8069/websocket");
        assert!(h.is_loopback());
        assert!(h.cleartext_warning().is_none());
        assert!(
            ServerUrl::parse("http://erp.lan")
                .unwrap()
                .cleartext_warning()
                .is_some()
        );
    }

    #[test]
    fn cleartext_warning_only_for_plain_http_off_this_machine() {
        for remote in [
            "http://localhost.example:1",
            "http://erp.lan",
            "http://127.0.0.1.nip.io",
            "http://10.0.0.5:8069",
            "ws://erp.example.com",
        ] {
            let w = ServerUrl::parse(remote).unwrap().cleartext_warning();
            let w = w.unwrap_or_else(|| panic!("{remote}: no warning"));
            assert!(w.contains("clear text"), "{w}");
        }
        for safe in [
            "https://erp.example.com",
            "erp.example.com",
            "http://localhost:8069",
            "http://LOCALHOST",
            "http://odoo.localhost",
            "http://127.0.0.2:8069",
            "http://[::1]:8069",
        ] {
            let u = ServerUrl::parse(safe).unwrap();
            assert!(u.cleartext_warning().is_none(), "{safe}");
        }
    }

    /// Found by fuzzing (`fuzz/fuzz_targets/cli_args.rs`, minimised to `w/web/odoo`): the first
    /// client path *in list order* was cut, so `/web/odoo` became the prefix `/web`, and
    /// normalising the result again gave another URL.
    #[test]
    fn the_first_client_path_in_the_url_is_cut_and_normalising_is_idempotent() {
        assert_eq!(norm("w/web/odoo"), "https://w");
        assert_eq!(
            norm("https://x.com/erp/discuss/odoo/action-1"),
            "https://x.com/erp"
        );
        for input in [
            "w/web/odoo",
            "https://x.com/websocket/web",
            "x.com/a/odoo/web/discuss",
        ] {
            let once = norm(input);
            assert_eq!(norm(&once), once, "{input}");
        }
    }
}
