//! The first hops: the URL, DNS and TCP, with the same dial steps the websocket uses
//! ([`odoo_bus_core::bus::connection`]), so what doctor says about them is what `tail` meets.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::TcpStream;

use super::check::Verdict;
use odoo_bus_core::bus::connection::{self, ConnectError};
use odoo_bus_core::odoo::url::ServerUrl;

/// How TCP reaches the server: straight to its addresses, or through the environment's proxy.
pub enum Route {
    Direct(Vec<SocketAddr>),
    /// `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` applies; the proxy resolves the host.
    Proxy(hyper_util::client::proxy::matcher::Intercept),
}

/// The URL is usable; plain http to a remote host works but deserves a warning.
pub fn check_url(url: &ServerUrl) -> Verdict {
    match url.cleartext_warning() {
        Some(w) => Verdict::warn(
            format!("{url}"),
            format!("{w} (and some browsers refuse websockets from https pages to ws:// URLs)"),
        ),
        None => Verdict::pass(format!("{url}")),
    }
}

/// Resolve the host (or notice that a proxy will).
pub async fn check_dns(url: &ServerUrl) -> (Verdict, Option<Route>) {
    if let Some(proxy) = connection::proxy_for(url) {
        let detail = format!(
            "not resolved here: the proxy {} (from the *_PROXY environment) resolves {}",
            proxy.uri(),
            url.host()
        );
        return (Verdict::pass(detail), Some(Route::Proxy(proxy)));
    }
    let bare = url.host().trim_start_matches('[').trim_end_matches(']');
    let literal = bare.parse::<IpAddr>().is_ok();
    match connection::resolve(url.host(), url.port()).await {
        Ok(addrs) => {
            let detail = if literal {
                format!("{bare} is an IP address (no lookup needed)")
            } else {
                format!("{bare} → {}", list_ips(&addrs))
            };
            (Verdict::pass(detail), Some(Route::Direct(addrs)))
        }
        Err(e) => {
            let why = match e {
                ConnectError::Dns(d) => d,
                other => other.to_string(),
            };
            (
                Verdict::fail(
                    format!("{bare} does not resolve ({why})"),
                    format!(
                        "check the host name in the URL and its DNS record (A/AAAA); `getent hosts {bare}` must answer on this machine"
                    ),
                ),
                None,
            )
        }
    }
}

/// The distinct IPs, in resolver order.
fn list_ips(addrs: &[SocketAddr]) -> String {
    let mut ips: Vec<IpAddr> = Vec::new();
    for a in addrs {
        if !ips.contains(&a.ip()) {
            ips.push(a.ip());
        }
    }
    ips.iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Open a TCP connection along `route` (also used again by the TLS check to fetch a rejected
/// certificate).
pub async fn open(
    url: &ServerUrl,
    route: &Route,
    timeout: Duration,
) -> Result<TcpStream, ConnectError> {
    let dial = async {
        match route {
            Route::Direct(addrs) => connection::connect_any(addrs).await,
            Route::Proxy(proxy) => connection::tunnel(url, proxy.clone()).await,
        }
    };
    tokio::time::timeout(timeout, dial)
        .await
        .unwrap_or(Err(ConnectError::Timeout))
}

/// Connect; the stream is handed to the TLS check.
pub async fn check_tcp(
    url: &ServerUrl,
    route: &Route,
    timeout: Duration,
) -> (Verdict, Option<TcpStream>) {
    let target = format!("{}:{}", url.host(), url.port());
    match open(url, route, timeout).await {
        Ok(stream) => {
            let detail = match (route, stream.peer_addr()) {
                (Route::Proxy(p), _) => format!("tunnel to {target} through {}", p.uri()),
                (Route::Direct(_), Ok(peer)) => format!("connected to {peer}"),
                (Route::Direct(_), Err(_)) => format!("connected to {target}"),
            };
            (Verdict::pass(detail), Some(stream))
        }
        Err(e) => (tcp_failure(&target, timeout, e), None),
    }
}

fn tcp_failure(target: &str, timeout: Duration, e: ConnectError) -> Verdict {
    match e {
        ConnectError::Refused(d) => Verdict::fail(
            format!("nothing accepts connections on {target} ({d})"),
            "start Odoo (or the reverse proxy in front of it), or fix the port in the URL; a firewall rejecting the port looks the same",
        ),
        ConnectError::Timeout => Verdict::fail(
            format!(
                "no answer from {target} within {} s: packets are dropped on the way",
                timeout.as_secs()
            ),
            "open the port in the firewall or security group, and check that the host is up and the address is right",
        ),
        ConnectError::Proxy(d) => Verdict::fail(
            format!("the HTTP proxy refused the tunnel to {target} ({d})"),
            "check HTTPS_PROXY/HTTP_PROXY, or add the Odoo host to NO_PROXY when it is reachable directly",
        ),
        other => Verdict::fail(
            format!("cannot connect to {target}: {other}"),
            "check the host and port in the URL and the network path to it",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::check::Status;

    #[test]
    fn ips_are_listed_once() {
        let a: Vec<SocketAddr> = vec![
            "127.0.0.1:80".parse().unwrap(),
            "127.0.0.1:80".parse().unwrap(),
            "[::1]:80".parse().unwrap(),
        ];
        assert_eq!(list_ips(&a), "127.0.0.1, ::1");
    }

    #[test]
    fn cleartext_to_a_remote_host_is_a_warning() {
        let v = check_url(&ServerUrl::parse("http://erp.example.com").unwrap());
        assert_eq!(v.status, Status::Pass);
        assert!(v.hint.unwrap().contains("clear text"));
        let v = check_url(&ServerUrl::parse("http://127.0.0.1:8069").unwrap());
        assert_eq!(v.hint, None);
    }

    #[tokio::test]
    async fn a_closed_port_fails_tcp_with_a_fix() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let url = ServerUrl::parse(&format!("http://127.0.0.1:{port}")).unwrap();
        let (dns, route) = check_dns(&url).await;
        assert_eq!(dns.status, Status::Pass, "{dns:?}");
        let (tcp, stream) = check_tcp(&url, &route.unwrap(), Duration::from_secs(5)).await;
        assert_eq!(tcp.status, Status::Fail);
        assert!(stream.is_none());
        assert!(
            tcp.detail.contains("nothing accepts connections"),
            "{tcp:?}"
        );
        assert!(tcp.hint.unwrap().contains("start Odoo"));
    }

    #[tokio::test]
    async fn an_unknown_host_fails_dns() {
        let url = ServerUrl::parse("http://no-such-host.invalid").unwrap();
        let (dns, route) = check_dns(&url).await;
        assert_eq!(dns.status, Status::Fail, "{dns:?}");
        assert!(route.is_none());
        assert!(
            dns.hint
                .unwrap()
                .contains("getent hosts no-such-host.invalid")
        );
    }
}
