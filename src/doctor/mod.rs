//! `doctor`'s checks: walk the hops from the URL to a delivered notification and say which one
//! is broken and how to fix it. Nothing here prints; the command renders the [`Report`].
//!
//! Owns: the checks, their verdicts and hints. May not touch: stdout/stderr (the `doctor` command
//! renders), the config file (it only reads what the command passes in).
//!
//! The chain (one [`Check`] each, in this order): `url`, `dns`, `tcp`, `tls`, `odoo`, `health`,
//! `session`, `upgrade`, `socket-auth`, `delivery`, and with `--deep` `ping` and `idle`. A
//! failure stops the chain where later checks cannot run (they are reported as skipped, with
//! the reason); `health` and `session` failures do not stop it, since the upgrade can still be
//! tested without them.

pub mod causes;
pub mod check;
pub mod deep;
pub mod delivery;
pub mod downgrade;
pub mod embed;
pub mod files;
pub mod gateway;
pub mod held;
pub mod hints;
pub mod http;
pub mod instance;
pub mod network;
pub mod outdated;
pub mod poll;
pub mod tls;
pub mod websocket;

use std::future::Future;
use std::time::{Duration, Instant};

pub use check::{Check, Level, Located, Report, Status, Verdict};

use odoo_bus_core::bus::connection::ConnectOptions;
use odoo_bus_core::odoo::client::{ClientOptions, OdooClient};
use odoo_bus_core::odoo::url::ServerUrl;
use odoo_bus_core::secret::SessionId;

/// The check names, in the order they run.
pub mod names {
    pub const URL: &str = "url";
    pub const DNS: &str = "dns";
    pub const TCP: &str = "tcp";
    pub const TLS: &str = "tls";
    pub const ODOO: &str = "odoo";
    pub const HEALTH: &str = "health";
    pub const SESSION: &str = "session";
    pub const UPGRADE: &str = "upgrade";
    pub const SOCKET_AUTH: &str = "socket-auth";
    pub const DELIVERY: &str = "delivery";
    pub const PING: &str = "ping";
    pub const IDLE: &str = "idle";
    /// Only when the upgrade failed: whether polling still works.
    pub const POLL: &str = "poll";
    /// Only with `--origin` (F17).
    pub const EMBED: &str = "embed";

    /// Every check of a normal run.
    pub const STANDARD: &[&str] = &[
        URL,
        DNS,
        TCP,
        TLS,
        ODOO,
        HEALTH,
        SESSION,
        UPGRADE,
        SOCKET_AUTH,
        DELIVERY,
    ];
    /// Added by `--deep`.
    pub const DEEP: &[&str] = &[PING, IDLE];
}

/// How long each kind of wait may last.
#[derive(Debug, Clone)]
pub struct Timing {
    /// TCP connect and TLS handshake.
    pub connect: Duration,
    /// From the presence change to its notification.
    pub delivery: Duration,
    /// `--deep`: how long to hold the idle connection (`None`: no deep checks).
    pub idle_hold: Option<Duration>,
    /// How long the server stays silent before it pings (Odoo: 45 s), for the idle check's
    /// "no server ping" warning.
    pub ping_after: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            connect: Duration::from_secs(10),
            delivery: Duration::from_secs(5),
            idle_hold: None,
            ping_after: deep::ODOO_PING_AFTER,
        }
    }
}

/// What a run needs; the command builds it from the profile and the options.
pub struct Input {
    pub url: ServerUrl,
    /// The saved session, when the URL is the profile's.
    pub session: Option<SessionId>,
    /// For the HTTP checks (holding `session`; the command decides whether rotations persist).
    pub client: OdooClient,
    /// For the private client that re-checks the session after the upgrade.
    pub client_options: ClientOptions,
    /// The websocket; `worker_version` is replaced by what the server announces.
    pub connect: ConnectOptions,
    /// The websocket worker version saved with the profile (to report a change).
    pub saved_worker_version: Option<String>,
    /// The user's partner, if the profile knows it (the session check tells it anyway).
    pub partner_id: Option<i64>,
    /// Accept any certificate (`--insecure`).
    pub insecure: bool,
    /// The exact command that logs in, for hints (`odoo-bus login -p prod`).
    pub login_command: String,
    pub timing: Timing,
    /// `--origin`: the site that embeds the live chat (F17), checked as its pages do.
    pub embed_origin: Option<String>,
}

/// Told about progress, so the command can print each line as soon as it is known (a deep
/// run takes over a minute).
pub trait Observer {
    /// A check starts (`what` says what it is doing, for a spinner).
    fn started(&mut self, _name: &'static str, _what: &str) {}
    fn finished(&mut self, check: &Check);
}

/// Records checks in order and tells the observer.
struct Runner<'o> {
    plan: Vec<&'static str>,
    checks: Vec<Check>,
    observer: &'o mut dyn Observer,
}

impl Runner<'_> {
    fn record(&mut self, name: &'static str, verdict: Verdict, elapsed: Duration) -> Status {
        let check = Check::new(name, verdict, elapsed);
        self.observer.finished(&check);
        let status = check.status;
        self.checks.push(check);
        status
    }

    fn skip(&mut self, name: &'static str, verdict: Verdict) {
        self.record(name, verdict, Duration::ZERO);
    }

    /// Time `work` and record its verdict; its other output is handed back.
    async fn time<T>(
        &mut self,
        name: &'static str,
        what: &str,
        work: impl Future<Output = (Verdict, T)>,
    ) -> (Status, T) {
        self.observer.started(name, what);
        let start = Instant::now();
        let (verdict, out) = work.await;
        (self.record(name, verdict, start.elapsed()), out)
    }

    /// Skip every planned check not recorded yet.
    fn skip_rest(&mut self, reason: &str) {
        let left: Vec<&'static str> = self
            .plan
            .iter()
            .copied()
            .filter(|n| !self.checks.iter().any(|c| c.name == *n))
            .collect();
        for name in left {
            self.skip(name, Verdict::skip(reason));
        }
    }
}

/// Run the chain.
pub async fn run(input: Input, observer: &mut dyn Observer) -> Report {
    let mut plan = names::STANDARD.to_vec();
    if input.embed_origin.is_some() {
        plan.push(names::EMBED);
    }
    if input.timing.idle_hold.is_some() {
        plan.extend_from_slice(names::DEEP);
    }
    let mut runner = Runner {
        plan,
        checks: Vec::new(),
        observer,
    };
    chain(&input, &mut runner).await;
    runner.skip_rest("not reached");
    Report {
        url: input.url.to_string(),
        with_session: input.session.is_some(),
        checks: runner.checks,
    }
}

async fn chain(input: &Input, r: &mut Runner<'_>) {
    use names::*;
    let url = &input.url;
    let timing = &input.timing;
    r.time(URL, "reading the URL", async {
        (network::check_url(url), ())
    })
    .await;

    let (status, route) = r
        .time(DNS, "resolving the host", network::check_dns(url))
        .await;
    let (Status::Pass, Some(route)) = (status, route) else {
        return r.skip_rest("needs the host name to resolve");
    };

    let (status, tcp) = r
        .time(
            TCP,
            "connecting",
            network::check_tcp(url, &route, timing.connect),
        )
        .await;
    let (Status::Pass, Some(tcp)) = (status, tcp) else {
        return r.skip_rest("needs a TCP connection to the server");
    };

    if url.is_https() {
        let handshake = tls::check_tls(url, &route, tcp, input.insecure, timing.connect);
        let (status, ()) = r
            .time(TLS, "TLS handshake", async { (handshake.await, ()) })
            .await;
        if status != Status::Pass {
            return r.skip_rest("needs a trusted TLS connection");
        }
    } else {
        drop(tcp);
        r.skip(TLS, Verdict::skip("plain http: no TLS on this hop"));
    }

    let (status, _) = r
        .time(
            ODOO,
            "asking Odoo's version",
            http::check_odoo(&input.client),
        )
        .await;
    if status != Status::Pass {
        return r.skip_rest("needs Odoo (16 or later) answering over HTTP");
    }

    r.time(HEALTH, "health routes", async {
        (http::check_health(&input.client).await, ())
    })
    .await;

    let session = input.session.as_ref();
    let mut facts = None;
    match session {
        None => r.skip(
            SESSION,
            Verdict::skip_with(
                "no saved session for this server",
                hints::login_hint(&input.login_command),
            ),
        ),
        Some(_) => {
            let work = http::check_session(
                &input.client,
                input.saved_worker_version.as_deref(),
                &input.login_command,
            );
            // F15: with another worker version than at login, does a browser with the old
            // one get `OUTDATED_VERSION`?
            let work = async {
                let (mut v, facts) = work.await;
                let saved = input.saved_worker_version.as_deref();
                let now = facts.as_ref().and_then(|f| f.worker_version.as_deref());
                if let (Some(sid), Some(saved), Some(now)) = (session, saved, now)
                    && saved != now
                {
                    let mut connect = input.connect.clone();
                    connect.connect_timeout = timing.connect;
                    let seen = outdated::browser_with(&connect, sid, saved).await;
                    if let Some(note) = outdated::note(&seen, saved) {
                        v.detail.push_str(&note);
                        v.evidence
                            .push(("browser_old_version", "closed 1000 OUTDATED_VERSION".into()));
                    }
                }
                (v, facts)
            };
            facts = r.time(SESSION, "checking the session", work).await.1;
        }
    }

    let mut connect = input.connect.clone();
    if let Some(f) = facts.as_ref() {
        // 16 and early 17 announce none: then no `?version=` at all.
        connect.worker_version = f.worker_version.clone();
    }
    // For the follow-up requests when the upgrade hangs: no session, the upgrade's patience.
    let followup = OdooClient::new(
        url.clone(),
        None,
        ClientOptions {
            timeout: timing.connect,
            ..input.client_options.clone()
        },
    )
    .ok();
    let (_, opened) = r
        .time(
            UPGRADE,
            "websocket upgrade",
            websocket::check_upgrade(&connect, session, followup.as_ref()),
        )
        .await;
    let Some((mut conn, handshake)) = opened else {
        r.time(POLL, "trying one poll instead", async {
            (poll::check_poll(&input.client).await, ())
        })
        .await;
        return r.skip_rest("needs the websocket upgrade");
    };

    let partner = facts
        .as_ref()
        .and_then(|f| f.partner_id)
        .or(input.partner_id);
    match (session, &facts, partner) {
        (None, _, _) => {
            let hint = hints::login_hint(&input.login_command);
            r.skip(
                SOCKET_AUTH,
                Verdict::skip_with("needs a saved session", hint.clone()),
            );
            r.skip(DELIVERY, Verdict::skip_with("needs a saved session", hint));
        }
        (Some(_), None, _) => {
            r.skip(
                SOCKET_AUTH,
                Verdict::skip("needs a valid session (see session)"),
            );
            r.skip(
                DELIVERY,
                Verdict::skip("needs a valid session (see session)"),
            );
        }
        (Some(_), Some(_), None) => {
            let why = "the server did not say which partner the user is";
            r.skip(SOCKET_AUTH, Verdict::skip(why));
            r.skip(DELIVERY, Verdict::skip(why));
        }
        (Some(sid), Some(facts), Some(partner)) => {
            let work = async {
                let checked = websocket::check_socket_auth(
                    &mut conn,
                    &handshake,
                    sid,
                    partner,
                    url,
                    &input.client_options,
                    timing.connect,
                )
                .await;
                // A new cookie in the 101 also comes from an Odoo that does not know the
                // session id at all (another instance whose ids have another format, F20).
                match handshake.rotated_session {
                    Some(_) => {
                        match instance::websocket_side(
                            &input.client,
                            &input.client_options,
                            partner,
                            facts.db.as_deref(),
                        )
                        .await
                        {
                            Some(seen) => (
                                instance::verdict(&seen, instance::Symptom::NewCookie),
                                false,
                            ),
                            None => checked,
                        }
                    }
                    None => checked,
                }
            };
            let (status, socket_usable) = r
                .time(SOCKET_AUTH, "checking the socket's session", work)
                .await;
            if status == Status::Pass {
                let work = async {
                    let probe = delivery::Probe {
                        client: &input.client,
                        flavor: facts.flavor,
                        uid: facts.uid,
                        partner_id: partner,
                        internal_user: facts.internal_user,
                        connect: &connect,
                        session: sid,
                        web_base_url: facts.web_base_url.as_deref(),
                        db: facts.db.as_deref(),
                        client_options: &input.client_options,
                    };
                    let v = delivery::check_delivery(&mut conn, &probe, timing.delivery).await;
                    (v, ())
                };
                r.time(DELIVERY, "waiting for a notification", work).await;
            } else if socket_usable {
                r.skip(
                    DELIVERY,
                    Verdict::skip("the socket is not authenticated (see socket-auth)"),
                );
            } else {
                r.skip(
                    DELIVERY,
                    Verdict::skip("the socket is gone (see socket-auth)"),
                );
            }
        }
    }
    conn.close().await;

    if let Some(origin) = input.embed_origin.as_deref() {
        let work = async {
            let v = embed::check(&connect, &input.client_options, origin, timing.connect).await;
            (v, ())
        };
        r.time(EMBED, "loading the chat as another site would", work)
            .await;
    }

    if let Some(hold) = timing.idle_hold {
        deep_checks(&connect, session, hold, timing, r).await;
    }
}

/// `ping` and `idle` on a fresh socket, so nothing from the checks before is in flight.
async fn deep_checks(
    connect: &ConnectOptions,
    session: Option<&SessionId>,
    hold: Duration,
    timing: &Timing,
    r: &mut Runner<'_>,
) {
    use names::*;
    let (status, opened) = r
        .time(PING, "pinging", async {
            match websocket::check_upgrade(connect, session, None).await {
                (_, Some((mut conn, handshake))) => {
                    let v =
                        deep::check_ping(&mut conn, &handshake, deep::PINGS, timing.connect).await;
                    (v, Some(conn))
                }
                (v, None) => (
                    Verdict::fail(
                        format!("a second websocket could not be opened: {}", v.detail),
                        v.hint.unwrap_or_default(),
                    ),
                    None,
                ),
            }
        })
        .await;
    let Some(mut conn) = opened.filter(|_| status == Status::Pass) else {
        return r.skip_rest("needs a working websocket (see ping)");
    };
    let what = format!("holding an idle connection for {} s", hold.as_secs());
    r.time(IDLE, &what, async {
        let log = deep::hold_idle(&mut conn, hold).await;
        (deep::judge_idle(&log, hold, timing.ping_after), ())
    })
    .await;
    conn.close().await;
}
