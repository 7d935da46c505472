//! What Odoo believes its own address is: the Host and scheme a request carries, as Odoo reads
//! them. Owns that one rule; the handshake (the `ODOO_BUS_PUBLIC_SAMESITE_WS` comparison) and
//! `session_info`'s `web.base.url` use it. May not touch sessions or sockets.
//!
//! Odoo 16–19 (`odoo/http.py`, `Application.__call__`) run werkzeug's `ProxyFix(x_for=1,
//! x_proto=1, x_host=1)` only when `proxy_mode` is on **and** the request carries
//! `X-Forwarded-Host`: with `proxy_mode` alone, a request without that header is read as it
//! arrived (the Host the proxy sent, plain http). `X-Forwarded-Port` is never trusted
//! (`x_port=0`); of a comma-separated list the last value counts (one trusted hop).

use hyper::HeaderMap;

/// The Host and scheme Odoo sees, and whether the proxy fix was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub host: String,
    pub scheme: String,
    pub proxy_fixed: bool,
}

impl Seen {
    /// `scheme://host`, as werkzeug's `host_url` without the trailing slash.
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }
}

fn last_value(headers: &HeaderMap, name: &str) -> Option<String> {
    let v = headers.get(name)?.to_str().ok()?;
    v.rsplit(',')
        .next()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// What Odoo sees of `headers` with `proxy_mode` set as given; `fallback_host` when the request
/// has no Host at all.
pub fn seen(headers: &HeaderMap, proxy_mode: bool, fallback_host: &str) -> Seen {
    let host = headers
        .get(hyper::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or(fallback_host)
        .to_string();
    let forwarded_host = last_value(headers, "x-forwarded-host");
    match forwarded_host {
        Some(fh) if proxy_mode => Seen {
            host: fh,
            scheme: last_value(headers, "x-forwarded-proto").unwrap_or_else(|| "http".into()),
            proxy_fixed: true,
        },
        _ => Seen {
            host,
            scheme: "http".into(),
            proxy_fixed: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn proxy_mode_needs_the_forwarded_host() {
        let only_proto = headers(&[("host", "odoo:8069"), ("x-forwarded-proto", "https")]);
        // proxy_mode on, no X-Forwarded-Host: inert, X-Forwarded-Proto ignored too.
        let s = seen(&only_proto, true, "x");
        assert_eq!((s.host.as_str(), s.scheme.as_str()), ("odoo:8069", "http"));
        assert!(!s.proxy_fixed);
        let full = headers(&[
            ("host", "odoo:8069"),
            ("x-forwarded-host", "evil, erp.example.com"),
            ("x-forwarded-proto", "https"),
        ]);
        let s = seen(&full, true, "x");
        assert_eq!(s.base_url(), "https://erp.example.com");
        // proxy_mode off: the forwarded headers mean nothing.
        assert_eq!(seen(&full, false, "x").base_url(), "http://odoo:8069");
        assert_eq!(seen(&HeaderMap::new(), false, "h:1").host, "h:1");
    }
}
