//! The TLS hop: handshake with the same verifier the tool uses everywhere, then read the
//! certificate to say how long it lasts, or, when it is rejected, *what* is wrong with it
//! (expired, another host's, self-signed, an incomplete chain): rustls only says "invalid
//! peer certificate", which does not tell a sysadmin what to fix.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use x509_parser::extensions::GeneralName;

use super::check::Verdict;
use super::network::{self, Route};
use odoo_bus_core::bus::connection;
use odoo_bus_core::odoo::url::ServerUrl;

/// Below this many days left, a passing certificate gets a warning.
pub const EXPIRY_WARNING_DAYS: i64 = 14;

const DAY: i64 = 86_400;

/// What the leaf certificate says, as far as a sysadmin cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFacts {
    /// The subject's common name, or the whole subject when it has none.
    pub subject: String,
    pub issuer: String,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// `subjectAltName` DNS entries (wildcards as written).
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<IpAddr>,
    /// Subject and issuer are the same name.
    pub self_signed: bool,
}

/// What is wrong with a certificate, in the order a client would complain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertProblem {
    Expired { days_ago: i64 },
    NotYetValid { days_ahead: i64 },
    WrongHost { names: String },
    SelfSigned,
}

/// Read the facts from a DER certificate.
pub fn parse_certificate(der: &[u8]) -> Result<CertFacts, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    let name_of = |name: &x509_parser::x509::X509Name<'_>| {
        name.iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| name.to_string())
    };
    let mut dns_names = Vec::new();
    let mut ip_addresses = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => dns_names.push(d.to_string()),
                GeneralName::IPAddress(bytes) => {
                    if let Some(ip) = ip_from_bytes(bytes) {
                        ip_addresses.push(ip);
                    }
                }
                _ => {}
            }
        }
    }
    Ok(CertFacts {
        subject: name_of(cert.subject()),
        issuer: name_of(cert.issuer()),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        dns_names,
        ip_addresses,
        self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
    })
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// RFC 6125 matching: case-insensitive, a `*` only as the whole left-most label, matching
/// exactly one label.
pub fn name_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(rest) => host
            .split_once('.')
            .is_some_and(|(first, tail)| !first.is_empty() && tail == rest),
        None => pattern == host,
    }
}

impl CertFacts {
    /// Whole days until it expires (negative once expired).
    pub fn days_left(&self, now: i64) -> i64 {
        (self.not_after - now).div_euclid(DAY)
    }

    /// Whether the certificate is valid for `host` (an IP literal is matched against IP
    /// entries; the common name only counts when there is no subjectAltName at all, as in
    /// browsers before they dropped it).
    pub fn covers(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self.ip_addresses.contains(&ip);
        }
        if self.dns_names.is_empty() && self.ip_addresses.is_empty() {
            return name_matches(&self.subject, host);
        }
        self.dns_names.iter().any(|p| name_matches(p, host))
    }

    /// The names it is valid for, for messages.
    pub fn names(&self) -> String {
        let mut all: Vec<String> = self.dns_names.clone();
        all.extend(self.ip_addresses.iter().map(IpAddr::to_string));
        if all.is_empty() {
            all.push(self.subject.clone());
        }
        all.join(", ")
    }

    /// The first thing wrong with it for `host` at `now`; `None` when the only possible
    /// problem left is trust (an unknown CA or a missing intermediate).
    pub fn problem(&self, host: &str, now: i64) -> Option<CertProblem> {
        if now > self.not_after {
            return Some(CertProblem::Expired {
                days_ago: (now - self.not_after).div_euclid(DAY),
            });
        }
        if now < self.not_before {
            return Some(CertProblem::NotYetValid {
                days_ahead: (self.not_before - now).div_euclid(DAY),
            });
        }
        if !self.covers(host) {
            return Some(CertProblem::WrongHost {
                names: self.names(),
            });
        }
        self.self_signed.then_some(CertProblem::SelfSigned)
    }
}

/// Date of a Unix time, for messages (`2027-01-31`).
fn date(unix: i64) -> String {
    jiff::Timestamp::from_second(unix)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_else(|_| unix.to_string())
}

fn now_unix() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// The sentence and the fix for a rejected certificate.
fn rejection(problem: Option<&CertProblem>, facts: &CertFacts, host: &str) -> (String, String) {
    match problem {
        Some(CertProblem::Expired { days_ago }) => (
            format!(
                "the certificate expired on {} ({days_ago} days ago)",
                date(facts.not_after)
            ),
            "renew the certificate (e.g. `certbot renew`) and reload the proxy that serves it"
                .into(),
        ),
        Some(CertProblem::NotYetValid { days_ahead }) => (
            format!(
                "the certificate is not valid before {} ({days_ahead} days ahead)",
                date(facts.not_before)
            ),
            "check the clock of this machine and of the server (NTP), or reissue the certificate"
                .into(),
        ),
        Some(CertProblem::WrongHost { names }) => (
            format!("the certificate is for {names}, not {host}"),
            format!(
                "use the URL with a name the certificate covers, or issue a certificate that includes {host} and install it in the proxy"
            ),
        ),
        Some(CertProblem::SelfSigned) => (
            format!("the certificate is self-signed ({})", facts.subject),
            "install a certificate from a trusted CA (e.g. Let's Encrypt), or add this one to the system trust store; --insecure skips verification (unsafe)".into(),
        ),
        None => (
            format!(
                "the certificate issued by {} is not trusted here (unknown CA or missing intermediate)",
                facts.issuer
            ),
            "serve the full chain (nginx: `ssl_certificate` must point at fullchain.pem, not cert.pem), or add the private CA to the system trust store".into(),
        ),
    }
}

/// Handshake over `tcp`; on a rejected certificate, connect again without verification only
/// to read the certificate and explain the rejection.
pub async fn check_tls(
    url: &ServerUrl,
    route: &Route,
    tcp: TcpStream,
    insecure: bool,
    timeout: Duration,
) -> Verdict {
    let config = match odoo_bus_core::tls::client_config(insecure) {
        Ok(c) => c,
        Err(e) => return Verdict::fail(e.message, "fix the system's TLS trust store"),
    };
    let host = url.host().trim_start_matches('[').trim_end_matches(']');
    let handshake = tokio::time::timeout(timeout, connection::tls_handshake(url, tcp, &config));
    let error = match handshake.await {
        Ok(Ok(stream)) => {
            let (_, session) = stream.get_ref();
            let version = session
                .protocol_version()
                .and_then(|v| v.as_str())
                .unwrap_or("TLS")
                .replace('_', ".");
            let leaf = session.peer_certificates().and_then(|c| c.first());
            return match leaf.map(|der| parse_certificate(der.as_ref())) {
                Some(Ok(facts)) => accepted(&facts, host, &version, insecure, now_unix()),
                _ => Verdict::pass(format!(
                    "{version} handshake done (certificate not readable)"
                )),
            };
        }
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no TLS answer within {} s", timeout.as_secs()),
    };
    let facts = fetch_certificate(url, route, timeout).await;
    match facts {
        Some(facts) => {
            let problem = facts.problem(host, now_unix());
            let (what, fix) = rejection(problem.as_ref(), &facts, host);
            Verdict::fail(format!("{what} ({error})"), fix)
        }
        None => Verdict::fail(
            error,
            "the port may not speak TLS (use http:// or the HTTPS port in the URL), or the server only offers protocols this client refuses (TLS 1.2 or later is required)",
        ),
    }
}

/// The verdict for a certificate the handshake accepted.
fn accepted(facts: &CertFacts, host: &str, version: &str, insecure: bool, now: i64) -> Verdict {
    let days = facts.days_left(now);
    let detail = format!(
        "{version}, certificate for {} issued by {}, expires {} ({days} days)",
        facts.names(),
        facts.issuer,
        date(facts.not_after)
    );
    if insecure && let Some(problem) = facts.problem(host, now) {
        let (what, fix) = rejection(Some(&problem), facts, host);
        return Verdict::warn(format!("{detail}; NOT verified (--insecure): {what}"), fix);
    }
    if days < EXPIRY_WARNING_DAYS {
        return Verdict::warn(
            detail,
            format!(
                "the certificate expires in {days} days: renew it now (e.g. `certbot renew`) and reload the proxy"
            ),
        );
    }
    Verdict::pass(detail)
}

/// The leaf certificate, read over a new connection that verifies nothing (the result is only
/// used to explain a rejection, never to trust anything).
async fn fetch_certificate(url: &ServerUrl, route: &Route, timeout: Duration) -> Option<CertFacts> {
    let tcp = network::open(url, route, timeout).await.ok()?;
    let any: Arc<rustls::ClientConfig> = odoo_bus_core::tls::client_config(true).ok()?;
    let stream = tokio::time::timeout(timeout, connection::tls_handshake(url, tcp, &any))
        .await
        .ok()?
        .ok()?;
    let (_, session) = stream.get_ref();
    let der = session.peer_certificates()?.first()?;
    parse_certificate(der.as_ref()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::check::Status;

    const CERT: &[u8] = include_bytes!("../../tests/fixtures/tls/localhost-self-signed.der");
    const KEY: &[u8] = include_bytes!("../../tests/fixtures/tls/localhost-self-signed.key.der");

    #[test]
    fn wildcards_match_one_label() {
        assert!(name_matches("*.odoo.test", "erp.odoo.test"));
        assert!(name_matches("*.Odoo.test", "ERP.odoo.test."));
        assert!(!name_matches("*.odoo.test", "odoo.test"));
        assert!(!name_matches("*.odoo.test", "a.b.odoo.test"));
        assert!(name_matches("erp.example.com", "erp.example.com"));
        assert!(!name_matches("erp.example.com", "www.example.com"));
    }

    #[test]
    fn reads_the_fixture_certificate() {
        let f = parse_certificate(CERT).unwrap();
        assert_eq!(f.subject, "localhost");
        assert!(f.self_signed);
        assert_eq!(f.dns_names, vec!["localhost", "*.odoo.test"]);
        assert_eq!(f.ip_addresses, vec!["127.0.0.1".parse::<IpAddr>().unwrap()]);
        assert!(f.covers("localhost") && f.covers("x.odoo.test") && f.covers("127.0.0.1"));
        assert!(!f.covers("127.0.0.2") && !f.covers("evil.example"));
        assert!(parse_certificate(b"not a certificate").is_err());
    }

    #[test]
    fn problems_in_the_order_a_client_sees_them() {
        let f = parse_certificate(CERT).unwrap();
        let inside = f.not_before + 10 * DAY;
        assert_eq!(
            f.problem("localhost", inside),
            Some(CertProblem::SelfSigned)
        );
        assert_eq!(
            f.problem("localhost", f.not_after + 3 * DAY + 5),
            Some(CertProblem::Expired { days_ago: 3 })
        );
        assert_eq!(
            f.problem("localhost", f.not_before - 2 * DAY - 5),
            Some(CertProblem::NotYetValid { days_ahead: 2 })
        );
        assert!(matches!(
            f.problem("erp.example.com", inside),
            Some(CertProblem::WrongHost { names }) if names.contains("localhost")
        ));
        let trusted = CertFacts {
            self_signed: false,
            ..f.clone()
        };
        assert_eq!(trusted.problem("localhost", inside), None);
        let (what, fix) = rejection(None, &trusted, "localhost");
        assert!(what.contains("not trusted"), "{what}");
        assert!(fix.contains("fullchain.pem"), "{fix}");
    }

    #[test]
    fn expiry_soon_is_a_warning() {
        let f = CertFacts {
            self_signed: false,
            ..parse_certificate(CERT).unwrap()
        };
        let v = accepted(&f, "localhost", "TLSv1.3", false, f.not_after - 9 * DAY - 5);
        assert_eq!(v.status, Status::Pass);
        assert!(v.detail.contains("(9 days)"), "{}", v.detail);
        assert!(v.hint.unwrap().contains("renew"));
        let v = accepted(&f, "localhost", "TLSv1.3", false, f.not_after - 90 * DAY);
        assert_eq!(v.hint, None);
    }

    /// A TLS server presenting the self-signed fixture, on a loopback address.
    async fn tls_server(ip: &str) -> u16 {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        odoo_bus_core::tls::install_crypto_provider();
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(CERT.to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(KEY.to_vec())),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(mut tls) = acceptor.accept(s).await {
                        use tokio::io::AsyncReadExt;
                        let mut buf = [0u8; 64];
                        let _ = tls.read(&mut buf).await;
                    }
                });
            }
        });
        port
    }

    async fn run(url: &str, insecure: bool) -> Verdict {
        let url = ServerUrl::parse(url).unwrap();
        let route = Route::Direct(connection::resolve(url.host(), url.port()).await.unwrap());
        let tcp = network::open(&url, &route, Duration::from_secs(5))
            .await
            .unwrap();
        check_tls(&url, &route, tcp, insecure, Duration::from_secs(5)).await
    }

    #[tokio::test]
    async fn a_self_signed_certificate_is_named_as_such() {
        let port = tls_server("127.0.0.1").await;
        let v = run(&format!("https://127.0.0.1:{port}"), false).await;
        assert_eq!(v.status, Status::Fail, "{v:?}");
        assert!(v.detail.contains("self-signed"), "{v:?}");
        assert!(v.hint.unwrap().contains("trusted CA"));
    }

    #[tokio::test]
    async fn a_wrong_host_is_named() {
        // Linux routes all of 127/8 to the loopback; the certificate lists only 127.0.0.1.
        let port = tls_server("127.0.0.2").await;
        let v = run(&format!("https://127.0.0.2:{port}"), false).await;
        assert_eq!(v.status, Status::Fail, "{v:?}");
        assert!(v.detail.contains("not 127.0.0.2"), "{v:?}");
        assert!(v.hint.unwrap().contains("includes 127.0.0.2"));
    }

    #[tokio::test]
    async fn insecure_passes_with_a_warning() {
        let port = tls_server("127.0.0.1").await;
        let v = run(&format!("https://127.0.0.1:{port}"), true).await;
        assert_eq!(v.status, Status::Pass, "{v:?}");
        assert!(v.detail.contains("NOT verified"), "{v:?}");
        assert!(v.detail.contains("TLSv1.3"), "{v:?}");
        assert!(v.hint.is_some());
    }

    #[tokio::test]
    async fn plain_http_on_an_https_url_is_not_tls() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
            }
        });
        let v = run(&format!("https://127.0.0.1:{port}"), false).await;
        assert_eq!(v.status, Status::Fail, "{v:?}");
        assert!(v.hint.unwrap().contains("may not speak TLS"));
    }
}
