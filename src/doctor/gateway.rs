//! F21: an authentication gateway in front of Odoo (HTTP basic auth in the proxy, a forward
//! proxy that wants credentials, an SSO portal or a WAF) answering 401, 403 or 407 where Odoo
//! would have answered. Owns the reading of such an answer; the upgrade and the `odoo` check
//! call it. May not touch the network.
//!
//! Odoo itself never answers 401 or 407, and on `/websocket` nor `/web/webclient/version_info`
//! a 403: such a status is always something in between. Its challenge header names it
//! (`WWW-Authenticate: Basic realm="…"` from `auth_basic`, `Proxy-Authenticate` from a forward
//! proxy), or its page does (a login form: an SSO portal; anything else: access rules or a WAF).

use super::check::Verdict;

/// An answer that may be a gateway's.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    pub status: u16,
    /// `WWW-Authenticate: …` or `Proxy-Authenticate: …`, as received.
    pub challenge: Option<&'a str>,
    pub server: Option<&'a str>,
    pub body: &'a str,
}

/// `realm="…"` of a challenge.
fn realm(challenge: &str) -> Option<&str> {
    let at = challenge.to_ascii_lowercase().find("realm=")?;
    let rest = challenge[at + 6..].trim_start();
    match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next(),
        None => rest.split([',', ' ']).next(),
    }
}

/// The `<title>` of an HTML page, if short.
fn title(body: &str) -> Option<String> {
    let lower = body.to_ascii_lowercase();
    let start = lower.find("<title>")? + 7;
    let end = start + lower[start..].find("</title>")?;
    let t = odoo_bus_core::odoo::rpc::one_line(body[start..end].trim(), 60);
    (!t.is_empty()).then_some(t)
}

/// A page with a password field or a sign-in wording: a login portal.
fn login_page(body: &str) -> bool {
    let lower = body.to_ascii_lowercase();
    lower.contains("type=\"password\"")
        || lower.contains("type=password")
        || lower.contains("sign in")
        || lower.contains("log in")
        || lower.contains("login")
}

/// The gateway's verdict for a 401/403/407 met at `route`, or `None` for any other status.
pub fn diagnose(a: &Answer<'_>, route: &str) -> Option<Verdict> {
    let by = match a.server {
        Some(s) if !s.trim().is_empty() => {
            format!(" (Server: {})", odoo_bus_core::odoo::rpc::one_line(s, 40))
        }
        None | Some(_) => String::new(),
    };
    let quoted = a
        .challenge
        .map(|c| format!(" with `{}`", odoo_bus_core::odoo::rpc::one_line(c, 100)))
        .unwrap_or_default();
    let realm = a
        .challenge
        .and_then(realm)
        .map(|r| format!(", realm \"{}\"", odoo_bus_core::odoo::rpc::one_line(r, 60)))
        .unwrap_or_default();
    let status = a.status;
    let exempt = "let Odoo's own routes through without the gateway's login (nginx: `auth_basic off;` in `location /websocket` and the JSON routes; Apache: `Require all granted` in `<Location /websocket>`; an SSO proxy: a skip/allow rule for /websocket and /web), or run odoo-bus inside the protected network";
    let verdict = match status {
        401 => Verdict::fail(
            format!(
                "HTTP 401 at {route}{quoted}{by}: an authentication gateway in front of Odoo asks for its own credentials{realm} (Odoo itself never answers 401)"
            ),
            exempt,
        ),
        407 => Verdict::fail(
            format!(
                "HTTP 407 at {route}{quoted}{by}: a proxy between this machine and Odoo wants its own credentials{realm}"
            ),
            "give the proxy its credentials (HTTPS_PROXY=http://user:password@proxy:port) or bypass it for this server (NO_PROXY=<odoo host>)",
        ),
        403 if login_page(a.body) => Verdict::fail(
            format!(
                "HTTP 403 at {route} with a login page{}{by}: an authentication gateway (SSO portal) in front of Odoo",
                title(a.body)
                    .map(|t| format!(" (\"{t}\")"))
                    .unwrap_or_default()
            ),
            exempt,
        ),
        403 => Verdict::fail(
            format!(
                "HTTP 403 at {route}{}{by}: access rules, a WAF or an authentication gateway in front of Odoo refuse it (Odoo itself does not answer 403 here)",
                title(a.body)
                    .map(|t| format!(" (\"{t}\")"))
                    .unwrap_or_default()
            ),
            "allow it through the proxy's access rules (nginx `allow`/`deny`, Apache `Require`), the WAF's rules (websocket upgrades are often blocked by default) or the gateway",
        ),
        _ => return None,
    };
    Some(
        verdict.with_evidence(
            [
                Some(("status", status.to_string())),
                a.challenge.map(|c| ("challenge", c.to_string())),
                a.server.map(|s| ("server", s.to_string())),
            ]
            .into_iter()
            .flatten()
            .collect(),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, challenge: Option<&'static str>, body: &'static str) -> Verdict {
        diagnose(
            &Answer {
                status,
                challenge,
                server: Some("nginx"),
                body,
            },
            "/websocket",
        )
        .expect("a gateway status")
    }

    #[test]
    fn each_gateway_is_named_with_its_realm() {
        let v = answer(
            401,
            Some("WWW-Authenticate: Basic realm=\"Staff only\""),
            "",
        );
        assert!(v.detail.contains("authentication gateway"), "{v:?}");
        assert!(v.detail.contains("realm \"Staff only\""), "{v:?}");
        assert!(v.hint.unwrap().contains("auth_basic off"));
        let v = answer(407, Some("Proxy-Authenticate: Basic realm=squid"), "");
        assert!(v.detail.contains("realm \"squid\""), "{v:?}");
        assert!(v.hint.unwrap().contains("NO_PROXY"));
        let v = answer(
            403,
            None,
            "<html><title>Sign in - SSO</title><input type=\"password\"></html>",
        );
        assert!(v.detail.contains("SSO portal"), "{v:?}");
        assert!(v.detail.contains("Sign in - SSO"), "{v:?}");
        let v = answer(403, None, "<html><title>Blocked</title></html>");
        assert!(v.detail.contains("WAF"), "{v:?}");
        assert!(!v.detail.contains("SSO"), "{v:?}");
        assert!(
            diagnose(
                &Answer {
                    status: 404,
                    challenge: None,
                    server: None,
                    body: ""
                },
                "/"
            )
            .is_none()
        );
    }

    #[test]
    fn realms_are_read_quoted_or_not() {
        assert_eq!(realm("Basic realm=\"a b\", charset=\"UTF-8\""), Some("a b"));
        assert_eq!(realm("Digest realm=x, nonce=1"), Some("x"));
        assert_eq!(realm("Bearer"), None);
    }
}
