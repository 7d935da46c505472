//! F17: Odoo's live chat embedded on another site (`doctor --origin https://shop.example.com`).
//! Owns the two things a visitor's page there does before any message can arrive, and their
//! verdict; may not touch the profile (a guest has no session: nothing here sends one).
//!
//! What the page does (16–19, `bus_service.js`): it starts the bus worker from
//! `<odoo>/bus/websocket_worker_bundle?v=<worker version>` (from another site through a `data:`
//! worker that `importScripts` it, which needs a JavaScript answer, not CORS; Odoo serves it
//! with `cors='*'` anyway), then the worker opens `/websocket` with the embedding site's
//! `Origin` and no Odoo session. Odoo itself refuses no Origin (its only Origin rule, under
//! `ODOO_BUS_PUBLIC_SAMESITE_WS`, downgrades a *user's* session, and a guest has none), so a
//! refusal here is a hop in between: a WAF or a proxy rule for foreign Origins, or the script's
//! URL answered by something else. Third-party cookie policies (Safari) are the browser's and
//! cannot be seen from here.

use std::time::{Duration, Instant};

use super::check::Verdict;
use odoo_bus_core::bus::connection::{self, ConnectError, ConnectOptions, Incoming, Observed};
use odoo_bus_core::bus::protocol;
use odoo_bus_core::odoo::client::{ClientOptions, OdooClient};
use odoo_bus_core::secret::SessionId;

const BARRIER: &[u8] = b"odoo-bus-doctor-guest";

/// The worker script as a page on `origin` loads it, then a guest socket with its Origin.
pub async fn check(
    connect: &ConnectOptions,
    options: &ClientOptions,
    origin: &str,
    wait: Duration,
) -> Verdict {
    let route = match connect.worker_version.as_deref() {
        Some(v) => format!("/bus/websocket_worker_bundle?v={v}"),
        None => "/bus/websocket_worker_bundle".to_string(),
    };
    let guest = match OdooClient::new(connect.url.clone(), None, options.clone()) {
        Ok(c) => c,
        Err(e) => return Verdict::fail(e.message, "see the error"),
    };
    let script = match guest.get(&route).await {
        Ok(r) => r,
        Err(e) => {
            return Verdict::fail(
                format!("a page on {origin} cannot load the bus worker script ({route}): {e}"),
                "serve /bus/websocket_worker_bundle from Odoo to every site (no rule may block it)",
            );
        }
    };
    let kind = script
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if script.status != 200 || !kind.contains("javascript") {
        return Verdict::fail(
            format!(
                "a page on {origin} cannot start the bus worker: {route} answered HTTP {} ({}) instead of Odoo's script, so the browser reports \"Failed to fetch a worker script\" or \"Bus service failed to initialized\" and the chat never hears the operator",
                script.status,
                if kind.is_empty() { "no Content-Type" } else { kind.as_str() }
            ),
            "route /bus/websocket_worker_bundle to Odoo like its other pages (a CDN, cache or SSO rule in front answers it here)",
        )
        .with_evidence(vec![
            ("cause", "worker-script-blocked".into()),
            ("worker_script", format!("HTTP {} {kind}", script.status)),
        ]);
    }
    let mut opts = connect.clone();
    opts.connect_timeout = wait;
    let none = SessionId::new(String::new());
    let mut record = connection::Exchange::default();
    let opened = connection::connect_with_headers(
        &opts,
        &none,
        &[("origin", origin.to_string())],
        &mut record,
    )
    .await;
    let mut conn = match opened {
        Ok((conn, _)) => conn,
        Err(ConnectError::Refusal { status, .. }) => {
            return Verdict::fail(
                format!(
                    "a guest socket with `Origin: {origin}` was refused with HTTP {status} while doctor's own upgrade (Origin {}) got a 101: a hop in front of Odoo refuses websockets from other sites (Odoo itself refuses no Origin), so the embedded live chat gets replies only after a reload",
                    connect.url.origin()
                ),
                format!(
                    "allow the Origin {origin} on /websocket in the WAF or proxy (nginx: no `if ($http_origin …)` return there; a CSP or CORS module must not apply to the upgrade)"
                ),
            )
            .with_evidence(vec![
                ("cause", "foreign-origin-refused".into()),
                ("origin_sent", origin.to_string()),
                ("status", status.to_string()),
            ]);
        }
        Err(e) => {
            return Verdict::fail(
                format!("a guest socket with `Origin: {origin}` could not be opened: {e}"),
                "see the upgrade check above: the same hop",
            );
        }
    };
    // The guest's socket must also carry frames: a subscribe (no channels) and a ping.
    let sent = async {
        conn.send_text(protocol::subscribe_event(&[], 0)).await?;
        conn.send_ping(BARRIER.to_vec()).await
    };
    if let Err(e) = sent.await {
        return Verdict::fail(
            format!("a guest socket with `Origin: {origin}` opened but cannot send: {e}"),
            "check the WAF or proxy log for that connection",
        );
    }
    let deadline = Instant::now() + wait;
    let answered = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break Err("no pong".to_string());
        }
        match conn.next_observed(left).await {
            Observed::Pong(p) if p.as_ref() == BARRIER => break Ok(()),
            Observed::Pong(_) | Observed::Ping | Observed::Frame(Incoming::Text(_)) => {}
            Observed::Frame(Incoming::Closed { code, reason }) => {
                break Err(format!("closed with {code:?} {reason}"));
            }
            Observed::Frame(other) => break Err(format!("{other:?}")),
        }
    };
    conn.close().await;
    match answered {
        Ok(()) => Verdict::pass(format!(
            "a page on {origin} can load the bus worker script ({kind}) and open a guest socket with its Origin, which answers; whether the browser sends Odoo's cookies from another site (Safari, third-party cookie blocking) cannot be seen from here"
        )),
        Err(why) => Verdict::fail(
            format!(
                "a guest socket with `Origin: {origin}` opened but then failed ({why}) within {} s",
                wait.as_secs_f64()
            ),
            "a hop in front of Odoo treats websockets from other sites differently: check the WAF or proxy rules for that Origin",
        ),
    }
}
