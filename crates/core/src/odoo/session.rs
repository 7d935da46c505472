//! Logging in and out, and asking Odoo about the session (protocol §1.2-1.8).
//!
//! Two ways in: the JSON route `/web/session/authenticate` (one call, enough for most accounts)
//! and, for accounts with two-factor authentication, the HTML form flow `/web/login` →
//! `/web/login/totp`, which needs CSRF tokens scraped from the pages. The scrapers are pure
//! functions so they can be tested (and fuzzed) without a server.

use std::sync::LazyLock;

use regex_lite::Regex;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use crate::odoo::client::{OdooClient, RawResponse};
use crate::odoo::rpc::{RpcError, names};
use crate::secret::Password;

/// `/web/webclient/version_info`.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionInfo {
    /// As the server writes it: "18.0", "saas~17.2", "17.0+e".
    pub server_version: String,
    /// `[18, 0, 0, "final", 0, ""]`.
    pub server_version_info: Vec<Value>,
    /// The number a client branches on.
    pub major: u32,
}

/// `/web/database/list`: the names, or the server refuses to list them (`list_db = False`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseList {
    Listed(Vec<String>),
    Disabled,
}

/// What `/web/session/authenticate` decided.
#[expect(
    clippy::large_enum_variant,
    reason = "built once per login; boxing would only add noise for callers"
)]
#[derive(Debug, Clone, PartialEq)]
pub enum AuthOutcome {
    LoggedIn(SessionInfo),
    /// `{"uid": null}`: the password was right and the account has 2FA; finish with the form flow.
    TwoFactorRequired,
}

/// The parts of `session_info` (§1.5) the tool uses. Every field is optional on purpose: the
/// shape differs between versions and editions, and a missing key must not fail a login.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct SessionInfo {
    #[serde(deserialize_with = "lenient")]
    pub uid: Option<i64>,
    #[serde(deserialize_with = "lenient")]
    pub partner_id: Option<i64>,
    #[serde(deserialize_with = "lenient")]
    pub db: Option<String>,
    /// The login.
    #[serde(deserialize_with = "lenient")]
    pub username: Option<String>,
    /// The user's display name.
    #[serde(deserialize_with = "lenient")]
    pub name: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub partner_display_name: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub server_version: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub server_version_info: Option<Vec<Value>>,
    /// Sent as `/websocket?version=`; opaque, absent before 18.0.
    #[serde(deserialize_with = "lenient")]
    pub websocket_worker_version: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub is_internal_user: Option<bool>,
    #[serde(deserialize_with = "lenient")]
    pub is_admin: Option<bool>,
    #[serde(deserialize_with = "lenient")]
    pub is_system: Option<bool>,
    #[serde(deserialize_with = "lenient")]
    pub is_public: Option<bool>,
    /// `web.base.url`: the address Odoo saw at the last admin login (through the proxy fix, so it
    /// tells whether `proxy_mode` and the forwarded headers worked then), unless frozen.
    #[serde(rename = "web.base.url", deserialize_with = "lenient")]
    pub web_base_url: Option<String>,
}

impl SessionInfo {
    /// `server_version_info[0]` (or the number in `server_version`).
    pub fn major_version(&self) -> Option<u32> {
        major_version(
            self.server_version_info.as_deref().unwrap_or_default(),
            self.server_version.as_deref().unwrap_or_default(),
        )
    }
}

/// Odoo writes `false` where it means "none" in some versions; anything of the wrong type is `None`.
fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let value = Value::deserialize(d)?;
    Ok(serde_json::from_value(value).ok())
}

/// The major version from `server_version_info[0]` (a number, or a string like "saas~17"),
/// falling back to the first number in `server_version`.
pub fn major_version(info: &[Value], version: &str) -> Option<u32> {
    let first_number = |s: &str| -> Option<u32> {
        let digits: String = s
            .chars()
            .skip_while(|c| !c.is_ascii_digit())
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    };
    match info.first() {
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Some(Value::String(s)) => first_number(s),
        _ => None,
    }
    .or_else(|| first_number(version))
}

/// How many redirects a form flow follows before giving up.
const MAX_REDIRECTS: usize = 5;

impl OdooClient {
    /// `/web/webclient/version_info`: works without a database or session.
    pub async fn version_info(&self) -> Result<VersionInfo, RpcError> {
        let value: Value = self
            .call("/web/webclient/version_info", json!({}))
            .await?
            .ok_or_else(|| RpcError::BadResponse("version_info returned nothing".into()))?;
        let server_version = value
            .get("server_version")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let server_version_info = value
            .get("server_version_info")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let major = major_version(&server_version_info, &server_version)
            .ok_or_else(|| RpcError::BadResponse("version_info has no version number".into()))?;
        Ok(VersionInfo {
            server_version,
            server_version_info,
            major,
        })
    }

    /// `/web/database/list`; [`DatabaseList::Disabled`] when the server does not list them.
    pub async fn database_list(&self) -> Result<DatabaseList, RpcError> {
        match self
            .call::<Vec<String>>("/web/database/list", json!({}))
            .await
        {
            Ok(list) => Ok(DatabaseList::Listed(list.unwrap_or_default())),
            Err(e) if e.is_access_denied() => Ok(DatabaseList::Disabled),
            Err(e) => Err(e),
        }
    }

    /// `/web/session/authenticate` with a password. The session cookie it rotates is kept by the
    /// client (read it with [`OdooClient::session`]).
    pub async fn authenticate(
        &self,
        db: &str,
        login: &str,
        password: &Password,
    ) -> Result<AuthOutcome, RpcError> {
        let params = json!({"db": db, "login": login, "password": password.expose()});
        let value: Value = self
            .call("/web/session/authenticate", params)
            .await?
            .ok_or_else(|| RpcError::BadResponse("authenticate returned nothing".into()))?;
        if value.get("uid").is_none_or(Value::is_null) {
            return Ok(AuthOutcome::TwoFactorRequired);
        }
        let info = parse_session_info(value)?;
        Ok(AuthOutcome::LoggedIn(info))
    }

    /// `/web/session/check`: true while the session is logged in, false once it expired.
    pub async fn check(&self) -> Result<bool, RpcError> {
        match self.call::<Value>("/web/session/check", json!({})).await {
            Ok(_) => Ok(true),
            Err(RpcError::SessionExpired) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `/web/session/get_session_info` (also refreshes the session on the server).
    pub async fn session_info(&self) -> Result<SessionInfo, RpcError> {
        let value: Value = self
            .call("/web/session/get_session_info", json!({}))
            .await?
            .ok_or_else(|| RpcError::BadResponse("get_session_info returned nothing".into()))?;
        parse_session_info(value)
    }

    /// `/web/session/destroy`: log out on the server.
    pub async fn destroy(&self) -> Result<(), RpcError> {
        self.call::<Value>("/web/session/destroy", json!({}))
            .await
            .map(|_| ())
    }

    /// Log in through the HTML forms and complete two-factor authentication (§1.7-1.8):
    /// login page (with `?db=`) → CSRF → POST credentials → TOTP page → fresh CSRF (the sid
    /// rotated) → POST the code, without `remember` (it crashes Odoo for non-browser clients).
    pub async fn totp_form_login(
        &self,
        db: &str,
        login: &str,
        password: &Password,
        code: &str,
    ) -> Result<SessionInfo, RpcError> {
        let db_query: String = url::form_urlencoded::byte_serialize(db.as_bytes()).collect();
        let (page, _) = self
            .get_following(&format!("/web/login?db={db_query}"))
            .await?;
        let csrf = form_csrf(&page, "/web/login")?;
        let answer = self
            .post_form(
                "/web/login",
                &[
                    ("csrf_token", &csrf),
                    ("db", db),
                    ("login", login),
                    ("password", password.expose()),
                    ("type", "password"),
                    ("redirect", ""),
                ],
            )
            .await?;
        let next = match form_outcome(&answer, names::ACCESS_DENIED, "Wrong login/password")? {
            Some(route) => route,
            None => {
                return Err(RpcError::BadResponse(
                    "/web/login accepted the form but did not redirect".into(),
                ));
            }
        };
        let next = self
            .same_server_route(&next)
            .ok_or_else(|| redirected_away(&answer))?;
        if route_path(&next) == "/web/login/totp" {
            let (totp_page, route) = self.get_following(&next).await?;
            if route_path(&route) != "/web/login/totp" {
                return Err(RpcError::BadResponse(format!(
                    "the two-factor page sent us to {route}: the half-finished login was lost"
                )));
            }
            let csrf = form_csrf(&totp_page, "/web/login/totp")?;
            let answer = self
                .post_form(
                    "/web/login/totp",
                    &[("csrf_token", &csrf), ("totp_token", code)],
                )
                .await?;
            if form_outcome(&answer, names::TOTP_REFUSED, "Verification failed")?.is_none() {
                return Err(RpcError::BadResponse(
                    "/web/login/totp accepted the code but did not redirect".into(),
                ));
            }
        }
        let info = self.session_info().await?;
        if info.uid.is_none() {
            return Err(RpcError::BadResponse(
                "the form login finished without a logged-in session".into(),
            ));
        }
        Ok(info)
    }

    /// GET a route and follow redirects that stay on this server. Returns the final answer and
    /// the route it came from.
    async fn get_following(&self, route: &str) -> Result<(RawResponse, String), RpcError> {
        let mut route = route.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let answer = self.get(&route).await?;
            if !answer.is_redirect() {
                return Ok((answer, route));
            }
            route = answer
                .location()
                .and_then(|l| self.same_server_route(l))
                .ok_or_else(|| redirected_away(&answer))?;
        }
        Err(RpcError::BadResponse(format!(
            "too many redirects (last: {route})"
        )))
    }
}

fn parse_session_info(value: Value) -> Result<SessionInfo, RpcError> {
    serde_json::from_value(value).map_err(|e| RpcError::BadResponse(format!("session_info: {e}")))
}

fn redirected_away(answer: &RawResponse) -> RpcError {
    RpcError::Redirected {
        status: answer.status,
        location: answer.location().unwrap_or_default().to_string(),
    }
}

fn route_path(route: &str) -> &str {
    route.split('?').next().unwrap_or(route)
}

/// The CSRF token of a form page, or why there is none.
fn form_csrf(page: &RawResponse, route: &str) -> Result<String, RpcError> {
    if page.status != 200 {
        return Err(RpcError::Http {
            status: page.status,
            snippet: crate::odoo::rpc::text_snippet(&page.body),
        });
    }
    scrape_csrf_token(&page.text())
        .ok_or_else(|| RpcError::NotOdoo(format!("{route} has no login form with a csrf_token")))
}

/// After posting a form: `Ok(Some(location))` on a redirect (accepted), an error carrying the
/// page's alert when the form came back (refused), `BadResponse` for a CSRF rejection.
fn form_outcome(
    answer: &RawResponse,
    refused_name: &str,
    default_alert: &str,
) -> Result<Option<String>, RpcError> {
    if answer.is_redirect() {
        return Ok(answer.location().map(str::to_string));
    }
    let text = answer.text();
    match answer.status {
        200 => {
            let alert = scrape_alert(&text).unwrap_or_else(|| default_alert.to_string());
            let cooldown = alert.to_lowercase().contains("too many");
            Err(RpcError::Odoo {
                code: 200,
                name: if cooldown {
                    names::ACCESS_DENIED
                } else {
                    refused_name
                }
                .to_string(),
                message: alert,
            })
        }
        400 => Err(RpcError::BadResponse(format!(
            "the server rejected the form ({}); the CSRF token did not match the session",
            crate::odoo::rpc::text_snippet(&answer.body)
        ))),
        status => Err(RpcError::Http {
            status,
            snippet: crate::odoo::rpc::text_snippet(&answer.body),
        }),
    }
}

static INPUT_TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?is)<input\b[^>]*>").expect("static regex"));
static ATTRIBUTE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?s)([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))"#)
        .expect("static regex")
});
/// The token Odoo also puts in its inline script (`csrf_token: "…"`), used when no form field is found.
static SCRIPT_CSRF: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"csrf_token\s*:\s*["']([^"'\s]+)["']"#).expect("static regex"));
static ALERT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?is)<(p|div)\b[^>]*class\s*=\s*["'][^"']*\balert-danger\b[^"']*["'][^>]*>(.*?)</(?:p|div)>"#)
        .expect("static regex")
});
static TAG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?s)<[^>]*>").expect("static regex"));

/// The value of `<input name="csrf_token" value="…">` in an Odoo page (any attribute order or
/// quoting), else the token of the inline `odoo = {csrf_token: "…"}` script.
pub fn scrape_csrf_token(html: &str) -> Option<String> {
    for tag in INPUT_TAG.find_iter(html) {
        let mut name = None;
        let mut value = None;
        for attr in ATTRIBUTE.captures_iter(tag.as_str()) {
            let key = attr.get(1).map(|m| m.as_str().to_ascii_lowercase());
            let val = attr
                .get(2)
                .or(attr.get(3))
                .or(attr.get(4))
                .map(|m| m.as_str());
            match key.as_deref() {
                Some("name") => name = val,
                Some("value") => value = val,
                _ => {}
            }
        }
        if name == Some("csrf_token")
            && let Some(v) = value.map(|v| html_escape::decode_html_entities(v).trim().to_string())
            && !v.is_empty()
        {
            return Some(v);
        }
    }
    SCRIPT_CSRF
        .captures(html)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().to_string())
}

/// The text of the first `alert-danger` element ("Wrong login/password", "Verification failed…").
pub fn scrape_alert(html: &str) -> Option<String> {
    let inner = ALERT.captures(html)?.get(2)?.as_str();
    let text = TAG.replace_all(inner, " ");
    let text = html_escape::decode_html_entities(&text);
    // It ends up in a one-line error on the terminal: control characters (an ESC sequence)
    // count as whitespace.
    let text = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines from the real Odoo 18 login page.
    const LOGIN_PAGE: &str = r#"<script>
            var odoo = {
                csrf_token: "e89e92272331a54d3d37f51ec5a71b30a3b1a347o1826838685",
                debug: "",
            };
        </script>
        <form role="form" method="post" onsubmit="this.action = &#39;/web/login&#39; + location.hash" class="oe_login_form d-none" action="/web/login">
            <input type="hidden" name="csrf_token" value="e89e92272331a54d3d37f51ec5a71b30a3b1a347o1826838685"/>
            <input type="text" placeholder="Email" name="login" id="login" class="form-control" required="required"/>
            <p class="alert alert-danger" role="alert">
                Wrong login/password
            </p>
        </form>"#;

    #[test]
    fn scrapes_the_form_field() {
        assert_eq!(
            scrape_csrf_token(LOGIN_PAGE).as_deref(),
            Some("e89e92272331a54d3d37f51ec5a71b30a3b1a347o1826838685")
        );
    }

    #[test]
    fn any_attribute_order_and_quoting() {
        assert_eq!(
            scrape_csrf_token(r#"<input value="abc" type="hidden" name="csrf_token">"#).as_deref(),
            Some("abc")
        );
        assert_eq!(
            scrape_csrf_token("<INPUT NAME='csrf_token' VALUE='x1'/>").as_deref(),
            Some("x1")
        );
        assert_eq!(
            scrape_csrf_token("<input name=csrf_token value=tok9>").as_deref(),
            Some("tok9")
        );
        assert_eq!(
            scrape_csrf_token(
                "<input\n  type=\"hidden\"\n  name=\"csrf_token\"\n  value=\"a&amp;b\"/>"
            )
            .as_deref(),
            Some("a&b")
        );
    }

    #[test]
    fn other_inputs_are_not_taken() {
        assert_eq!(
            scrape_csrf_token(
                r#"<input name="login" value="admin"><input name="csrf_token_x" value="no">"#
            ),
            None
        );
        assert_eq!(
            scrape_csrf_token(r#"<input name="csrf_token" value="">"#),
            None
        );
        assert_eq!(
            scrape_csrf_token(r#"<input data-name="csrf_token" value="no">"#),
            None
        );
    }

    #[test]
    fn falls_back_to_the_script_token() {
        assert_eq!(
            scrape_csrf_token(r#"var odoo = { csrf_token: "s1o2" };"#).as_deref(),
            Some("s1o2")
        );
    }

    #[test]
    fn nothing_in_pages_without_a_token() {
        for page in [
            "",
            "<html><body>nginx</body></html>",
            "<input",
            "<input name=\"csrf_token\" value=\"unterminated",
            "csrf_token: ",
        ] {
            assert_eq!(scrape_csrf_token(page), None, "{page}");
        }
    }

    #[test]
    fn scraper_survives_arbitrary_input() {
        // Cheap fuzzing: every prefix and some byte-level mutations of a real page.
        for end in (0..LOGIN_PAGE.len()).filter(|&i| LOGIN_PAGE.is_char_boundary(i)) {
            let _ = scrape_csrf_token(&LOGIN_PAGE[..end]);
            let _ = scrape_alert(&LOGIN_PAGE[..end]);
        }
        let noisy: String = LOGIN_PAGE
            .chars()
            .map(|c| if c == '"' { '\'' } else { c })
            .collect();
        assert!(scrape_csrf_token(&noisy).is_some());
    }

    #[test]
    fn scrapes_alerts() {
        assert_eq!(
            scrape_alert(LOGIN_PAGE).as_deref(),
            Some("Wrong login/password")
        );
        let totp = r#"<div class="alert alert-danger mb-2"><span>Verification failed, please double-check the 6-digit code</span></div>"#;
        assert_eq!(
            scrape_alert(totp).as_deref(),
            Some("Verification failed, please double-check the 6-digit code")
        );
        assert_eq!(scrape_alert(r#"<p class="alert alert-info">hi</p>"#), None);
    }

    #[test]
    fn alerts_carry_no_control_characters() {
        let page =
            "<p class=\"alert alert-danger\">Wrong\u{1b}[2J login\u{7}&#10;password\u{0}</p>";
        assert_eq!(
            scrape_alert(page).as_deref(),
            Some("Wrong [2J login password")
        );
    }

    #[test]
    fn session_info_tolerates_missing_and_odd_keys() {
        let info: SessionInfo =
            serde_json::from_value(json!({"uid": 2, "partner_id": false, "username": "admin"}))
                .unwrap();
        assert_eq!(info.uid, Some(2));
        assert_eq!(info.partner_id, None);
        assert_eq!(info.username.as_deref(), Some("admin"));
        let info: SessionInfo = serde_json::from_value(json!({})).unwrap();
        assert_eq!(info, SessionInfo::default());
        let info: SessionInfo = serde_json::from_value(json!({
            "uid": 2, "server_version": "18.0", "server_version_info": [18, 0, 0, "final", 0, ""],
            "websocket_worker_version": "18.0-2", "is_internal_user": true, "storeData": {"x": 1}
        }))
        .unwrap();
        assert_eq!(info.major_version(), Some(18));
        assert_eq!(info.websocket_worker_version.as_deref(), Some("18.0-2"));
    }

    #[test]
    fn major_versions() {
        assert_eq!(major_version(&[json!(17), json!(0)], ""), Some(17));
        assert_eq!(
            major_version(&[json!("saas~17"), json!(2)], "saas~17.2"),
            Some(17)
        );
        assert_eq!(major_version(&[], "16.0+e"), Some(16));
        assert_eq!(major_version(&[json!(null)], "x"), None);
        assert_eq!(major_version(&[json!(-1)], ""), None);
    }
}
