//! F5: the socket is open, the session valid, the notification stored for the user, yet the
//! socket never hears it. Says which of the real causes it is, by asking Odoo's own rule again
//! with one thing changed at a time. Owns those experiments and their verdict; the delivery
//! check calls it on a miss. May not touch the profile (its sockets and calls use the session
//! as it is and change nothing a user sees).
//!
//! The rule (Odoo 16–19, `addons/bus/websocket.py`, `_handle_public_configuration`): with
//! `ODOO_BUS_PUBLIC_SAMESITE_WS` set, a socket whose `Origin` netloc differs from the Host Odoo
//! sees, or whose Origin scheme differs from the request's scheme, runs in a new public session
//! while the 101 keeps the user's cookie (17.0 late and later log `Downgrading websocket
//! session. Host=…, Origin=…, Scheme=…`). What Odoo sees comes from werkzeug's ProxyFix, which
//! `odoo/http.py` applies only when `proxy_mode` is on **and** the request carries
//! `X-Forwarded-Host`. So, on fresh sockets (each subscribes and waits for one more
//! settings echo):
//! 1. doctor sends `X-Forwarded-Host`/`-Proto` itself: if that socket hears the user, Odoo has
//!    `proxy_mode` and the proxy sends no `X-Forwarded-Host` on `/websocket` (nginx passes a
//!    client's header it does not set; a `proxy_set_header` in `location /websocket` drops the
//!    server-level ones);
//! 2. the Origin with the other scheme: if that one hears, Odoo sees the host right and the
//!    scheme wrong (`X-Forwarded-Proto`: Traefik, TLS ended before a proxy without it);
//! 3. the Origin of `web.base.url` (the address Odoo saw at the last admin login), when it
//!    differs: if that one hears, that is the address Odoo sees.
//!
//! None hearing leaves it unexplained by the rule (proxy_mode off with a rewritten Host, or
//! `/websocket` reaching another Odoo), said as such.

use std::time::Duration;

use super::check::Verdict;
use super::hints;
use super::websocket;
use odoo_bus_core::bus::connection::{self, ConnectOptions, Exchange};
use odoo_bus_core::bus::roundtrip::{self, Outcome, Target};
use odoo_bus_core::odoo::client::OdooClient;
use odoo_bus_core::secret::SessionId;

/// What the experiments need.
pub struct Experiments<'a> {
    pub connect: &'a ConnectOptions,
    pub session: &'a SessionId,
    pub client: &'a OdooClient,
    pub target: &'a Target,
    pub partner_id: i64,
    /// `web.base.url` from `session_info`.
    pub web_base_url: Option<&'a str>,
    /// How long each socket waits for the echo.
    pub wait: Duration,
}

/// Which change made a socket hear the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Sending `X-Forwarded-Host`/`-Proto` ourselves: `proxy_mode` is on, the proxy sends none.
    ForwardedHostMissing,
    /// The Origin with this scheme and our host: Odoo sees that.
    OtherScheme(String),
    /// The Origin of `web.base.url`: Odoo sees that address.
    BaseUrl(String),
    /// None did.
    Unexplained,
}

/// What doctor observed, for the verdict and `--json`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    pub origin: String,
    pub host: String,
    /// The 101's `Server` header (`nginx/1.22.1`: a proxy answered; `Werkzeug/…`: Odoo itself).
    pub server: Option<String>,
    pub web_base_url: Option<String>,
}

fn server_of(e: &Exchange) -> Option<String> {
    e.response
        .iter()
        .find_map(|l| l.strip_prefix("Server: ").map(str::to_string))
}

/// Whether a fresh socket opened with `extra` headers hears the user's next notification.
async fn hears(x: &Experiments<'_>, extra: &[(&str, String)], seen: &mut Seen) -> bool {
    let mut record = Exchange::default();
    let opened = connection::connect_with_headers(x.connect, x.session, extra, &mut record).await;
    if seen.server.is_none() {
        seen.server = server_of(&record);
    }
    let Ok((mut conn, _)) = opened else {
        return false;
    };
    let heard = match websocket::subscribe_and_settle(&mut conn, x.partner_id, x.wait).await {
        Ok(_) => matches!(
            roundtrip::round_trip(x.client, x.target, &mut conn, x.wait).await,
            Outcome::Delivered(_)
        ),
        Err(_) => false,
    };
    conn.close().await;
    heard
}

/// Run the experiments in order, stopping at the first socket that hears the user.
pub async fn investigate(x: &Experiments<'_>) -> (Finding, Seen) {
    let url = &x.connect.url;
    let origin = url.origin();
    let scheme = if url.is_https() { "https" } else { "http" };
    let authority = origin
        .split_once("://")
        .map(|(_, a)| a.to_string())
        .unwrap_or_default();
    let mut seen = Seen {
        origin: origin.clone(),
        host: authority.clone(),
        server: None,
        web_base_url: x.web_base_url.map(str::to_string),
    };
    let forwarded = [
        ("x-forwarded-host", authority.clone()),
        ("x-forwarded-proto", scheme.to_string()),
    ];
    if hears(x, &forwarded, &mut seen).await {
        return (Finding::ForwardedHostMissing, seen);
    }
    let other = if url.is_https() { "http" } else { "https" };
    let flipped = format!("{other}://{authority}");
    if hears(x, &[("origin", flipped.clone())], &mut seen).await {
        return (Finding::OtherScheme(flipped), seen);
    }
    let base = x
        .web_base_url
        .and_then(|b| url::Url::parse(b).ok())
        .map(|u| u.origin().ascii_serialization())
        .filter(|b| b != &origin && b != &flipped && b != "null");
    if let Some(base) = base
        && hears(x, &[("origin", base.clone())], &mut seen).await
    {
        return (Finding::BaseUrl(base), seen);
    }
    (Finding::Unexplained, seen)
}

/// The verdict for a socket that does not hear the user although the server stored the
/// notification for them (`stored`), after the experiments.
pub fn verdict(finding: &Finding, seen: &Seen, waited: Duration) -> Verdict {
    let waited = waited.as_secs_f64();
    let Seen {
        origin,
        host,
        server,
        web_base_url,
    } = seen;
    let nginx = server
        .as_deref()
        .is_some_and(|s| s.to_ascii_lowercase().starts_with("nginx"));
    let base_note = match web_base_url.as_deref() {
        Some(b) if b.trim_end_matches('/') == origin => format!(
            "; web.base.url is {b} (what Odoo saw at the last admin login): ordinary requests reach Odoo with the right address, only /websocket does not"
        ),
        Some(b) if !b.is_empty() => {
            format!("; web.base.url is {b} (what Odoo saw at the last admin login)")
        }
        _ => String::new(),
    };
    let missed = format!(
        "socket downgraded to public: the session is valid and Odoo stored doctor's notification for the user, but the socket did not hear it within {waited} s"
    );
    // Without its final `;`, so the sentence can go on.
    let fwd = hints::NGINX_FORWARDED.trim_end_matches(';');
    let log_line = "Odoo 17.0 (late) and later log `Downgrading websocket session. Host=…, Origin=…, Scheme=…` for each such socket";
    let mut evidence = vec![("origin_sent", origin.clone()), ("host_sent", host.clone())];
    if let Some(s) = server {
        evidence.push(("server_101", s.clone()));
    }
    if let Some(b) = web_base_url {
        evidence.push(("web_base_url", b.clone()));
    }
    let (cause, detail, hint) = match finding {
        Finding::ForwardedHostMissing => {
            evidence.push(("odoo_sees", "the Host the proxy sends, over http".into()));
            let trap = if nginx {
                " (nginx: a proxy_set_header inside `location /websocket` drops every server-level one)"
            } else {
                ""
            };
            (
                "forwarded-host-missing",
                format!(
                    "{missed}; with `X-Forwarded-Host: {host}` and `X-Forwarded-Proto` added by doctor a new socket kept the session and heard it. So Odoo runs with proxy_mode, but the upgrade reaches it without X-Forwarded-Host: proxy_mode is inert (Odoo applies its proxy fix only when that header is there), Odoo sees http://<the Host the proxy sends> while the Origin is {origin}{trap}{base_note}"
                ),
                if nginx {
                    format!(
                        "repeat the forwarded headers inside `location /websocket`, next to its Upgrade/Connection lines: {}; {log_line}",
                        fwd
                    )
                } else {
                    format!(
                        "make the proxy send X-Forwarded-Host (and X-Forwarded-Proto) on /websocket too: load balancers and proxy managers (AWS ALB, Nginx Proxy Manager, ngrok, Azure Container Apps) send none by default; nginx: {}; {log_line}",
                        fwd
                    )
                },
            )
        }
        Finding::OtherScheme(seen_origin) => {
            evidence.push(("odoo_sees", seen_origin.clone()));
            (
                "scheme-mismatch",
                format!(
                    "{missed}; a new socket with `Origin: {seen_origin}` kept the session and heard it. So Odoo sees {seen_origin} but the browser's Origin is {origin}: the host arrives, the scheme does not (X-Forwarded-Proto missing or wrong, or proxy_mode off behind TLS termination){base_note}"
                ),
                format!(
                    "set `{}` and send `X-Forwarded-Proto: https` with X-Forwarded-Host (nginx: {}; Traefik: its X-Forwarded-Proto follows its entry point, so trust it or set the header in a middleware); {log_line}",
                    hints::ODOO_PROXY_MODE,
                    fwd
                ),
            )
        }
        Finding::BaseUrl(seen_origin) => {
            evidence.push(("odoo_sees", seen_origin.clone()));
            (
                "host-mismatch",
                format!(
                    "{missed}; a new socket with `Origin: {seen_origin}` (from web.base.url) kept the session and heard it. So Odoo sees {seen_origin} but the browser's Origin is {origin}: the proxy sends Odoo its own address and proxy_mode does not correct it (off, or no X-Forwarded-Host)"
                ),
                format!(
                    "set `{}` and forward the original Host and scheme (nginx: {}); {log_line}",
                    hints::ODOO_PROXY_MODE,
                    fwd
                ),
            )
        }
        Finding::Unexplained => (
            "public-socket",
            format!(
                "{missed}, nor when doctor subscribed again, although an HTTP poll with the same session sees it: the socket is public. Neither sending X-Forwarded-Host/-Proto nor the other scheme in the Origin{} made a socket keep the session, so Odoo compares the Origin {origin} with another Host and proxy_mode is off, or /websocket reaches another Odoo (another instance or session store){}{base_note}",
                if web_base_url.is_some() {
                    " nor web.base.url's address"
                } else {
                    ""
                },
                if nginx {
                    " (nginx: a proxy_set_header inside `location /websocket` drops the server-level `Host` too, and nginx then sends its upstream's address)"
                } else {
                    ""
                }
            ),
            format!(
                "make the upgrade reach the same Odoo with the Host, Origin and scheme of the login: set `{}` in odoo.conf and forward them (nginx: {}), or unset ODOO_BUS_PUBLIC_SAMESITE_WS; check that /websocket goes to the same instance as /web; {log_line}",
                hints::ODOO_PROXY_MODE,
                fwd
            ),
        ),
    };
    evidence.insert(0, ("cause", cause.to_string()));
    Verdict::fail(detail, hint).with_evidence(evidence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::check::Status;

    fn seen(server: Option<&str>, base: Option<&str>) -> Seen {
        Seen {
            origin: "https://erp.example.com".into(),
            host: "erp.example.com".into(),
            server: server.map(str::to_string),
            web_base_url: base.map(str::to_string),
        }
    }

    #[test]
    fn the_missing_forwarded_host_names_the_nginx_trap() {
        let t = Duration::from_secs(5);
        let v = verdict(
            &Finding::ForwardedHostMissing,
            &seen(Some("nginx/1.22.1"), Some("https://erp.example.com")),
            t,
        );
        assert_eq!(v.status, Status::Fail);
        assert!(v.detail.starts_with("socket downgraded to public"), "{v:?}");
        assert!(v.detail.contains("proxy_mode is inert"), "{v:?}");
        assert!(v.detail.contains("location /websocket"), "{v:?}");
        assert!(v.detail.contains("only /websocket does not"), "{v:?}");
        assert!(
            v.hint
                .as_ref()
                .unwrap()
                .contains("X-Forwarded-Host $http_host")
        );
        assert_eq!(v.evidence[0], ("cause", "forwarded-host-missing".into()));
        // Not nginx: the load balancers are named instead of the nginx rule.
        let v = verdict(&Finding::ForwardedHostMissing, &seen(None, None), t);
        assert!(!v.detail.contains("location /websocket"), "{v:?}");
        assert!(v.hint.unwrap().contains("AWS ALB"));
    }

    #[test]
    fn scheme_and_host_mismatches_say_what_odoo_sees() {
        let t = Duration::from_secs(5);
        let v = verdict(
            &Finding::OtherScheme("http://erp.example.com".into()),
            &seen(None, None),
            t,
        );
        assert!(
            v.detail
                .contains("Odoo sees http://erp.example.com but the browser's Origin is https://erp.example.com"),
            "{v:?}"
        );
        assert!(v.hint.unwrap().contains("Traefik"));
        let v = verdict(
            &Finding::BaseUrl("http://127.0.0.1:8069".into()),
            &seen(None, Some("http://127.0.0.1:8069")),
            t,
        );
        assert!(
            v.detail.contains("Odoo sees http://127.0.0.1:8069"),
            "{v:?}"
        );
        assert!(
            v.evidence
                .contains(&("odoo_sees", "http://127.0.0.1:8069".into()))
        );
        let v = verdict(&Finding::Unexplained, &seen(None, None), t);
        assert!(v.detail.contains("another Odoo"), "{v:?}");
        assert!(!v.detail.contains("server-level `Host`"), "{v:?}");
        let v = verdict(&Finding::Unexplained, &seen(Some("nginx"), None), t);
        assert!(v.detail.contains("server-level `Host` too"), "{v:?}");
        assert_eq!(v.evidence[0], ("cause", "public-socket".into()));
    }
}
