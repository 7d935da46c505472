//! Apache httpd configs, cheaply: line by line, the directives that decide the websocket route
//! (`ProxyPass`, `ProxyPassMatch`, `RewriteRule … [P]`), the forwarded scheme, and basic auth.
//! Apache's `ProxyPass` rules match in order (the first wins), and mod_proxy adds
//! X-Forwarded-Host and -For by itself (`ProxyAddHeaders On`) but not X-Forwarded-Proto.

use super::Finding;
use super::odoo_conf::OdooFacts;
use crate::doctor::check::Level;

/// Apache, not nginx: a `<VirtualHost` or a `ProxyPass` line.
pub fn looks_like_apache(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim_start().to_ascii_lowercase();
        l.starts_with("<virtualhost")
            || l.starts_with("proxypass ")
            || l.starts_with("proxypassmatch ")
    })
}

struct Line<'a> {
    n: usize,
    name: String,
    args: Vec<&'a str>,
}

fn port_of(url: &str) -> Option<u16> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    authority.rsplit_once(':')?.1.parse().ok()
}

pub fn check(file: &str, text: &str, odoo: Option<&OdooFacts>) -> Vec<Finding> {
    let lines: Vec<Line> = text
        .lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let l = l.trim();
            if l.starts_with('#') || l.is_empty() {
                return None;
            }
            let mut words = l.split_whitespace();
            let name = words.next()?.to_ascii_lowercase();
            Some(Line {
                n: i + 1,
                name,
                args: words.map(|w| w.trim_matches('"')).collect(),
            })
        })
        .collect();
    let mut out = Vec::new();
    let passes: Vec<&Line> = lines
        .iter()
        .filter(|l| l.name == "proxypass" || l.name == "proxypassmatch")
        .filter(|l| l.args.get(1).is_none_or(|a| *a != "!"))
        .collect();
    let upgrades = |l: &Line| {
        l.args
            .iter()
            .any(|a| a.eq_ignore_ascii_case("upgrade=websocket"))
            || l.args
                .get(1)
                .is_some_and(|t| t.starts_with("ws://") || t.starts_with("wss://"))
    };
    let ws = passes
        .iter()
        .find(|l| l.args.first().is_some_and(|p| p.contains("/websocket")));
    let root = passes.iter().find(|l| {
        l.args
            .first()
            .is_some_and(|p| *p == "/" || *p == "^/(.*)$" || *p == "^/(.*)")
    });
    let rewrite_ws = lines.iter().find(|l| {
        l.name == "rewriterule"
            && l.args
                .iter()
                .any(|a| a.starts_with("ws://") || a.starts_with("wss://"))
    });
    let mut route = String::from("/websocket → no ProxyPass");
    match (ws, rewrite_ws) {
        (Some(w), _) => {
            route = format!(
                "/websocket → {} (line {})",
                w.args.get(1).unwrap_or(&"?"),
                w.n
            );
            if let Some(r) = root.filter(|r| r.n < w.n) {
                out.push(
                    Finding::new(Level::Failure, Some(2), file, Some(w.n))
                        .what(format!("`ProxyPass {}` comes after `ProxyPass /` (line {}): Apache uses the first rule that matches, so /websocket never reaches this one", w.args[0], r.n))
                        .fix("put the /websocket ProxyPass lines before `ProxyPass /`"),
                );
            }
            if !upgrades(w) {
                out.push(
                    Finding::new(Level::Failure, Some(3), file, Some(w.n))
                        .what(format!("`ProxyPass {}` does not upgrade the websocket: Odoo answers 400 (\"Empty or missing header(s): upgrade\")", w.args[0]))
                        .fix("append `upgrade=websocket` (Apache ≥ 2.4.47), or proxy to ws:// with mod_proxy_wstunnel on older Apache"),
                );
            }
            if let (Some(o), Some(p)) = (odoo, w.args.get(1).and_then(|t| port_of(t))) {
                if o.workers > 0 && p != o.gevent_port {
                    out.push(
                        Finding::new(Level::Failure, Some(1), file, Some(w.n))
                            .what(format!("/websocket goes to port {p}, but with workers = {} ({}) only the gevent process on port {} serves websockets", o.workers, o.workers_place(), o.gevent_port))
                            .fix(format!("ProxyPass /websocket ws://127.0.0.1:{}/websocket upgrade=websocket", o.gevent_port)),
                    );
                } else if o.workers <= 0 && p == o.gevent_port && p != o.http_port {
                    out.push(
                        Finding::new(Level::Failure, Some(4), file, Some(w.n))
                            .what(format!("/websocket goes to the gevent port {p}, but workers = 0 ({}) starts no gevent process: 503/502", o.workers_place()))
                            .fix("set workers > 0, or send /websocket to the HTTP port"),
                    );
                }
            }
        }
        (None, Some(r)) => route = format!("/websocket → RewriteRule (line {})", r.n),
        (None, None) => {
            let lp = passes
                .iter()
                .find(|l| l.args.first().is_some_and(|p| p.contains("longpolling")));
            let what = match lp {
                Some(l) => format!(
                    "`ProxyPass {}` and no /websocket rule: the /longpolling route is gone since Odoo 16",
                    l.args[0]
                ),
                None => "no ProxyPass for /websocket: the upgrade goes to the catch-all rule"
                    .to_string(),
            };
            let level = match (root, odoo) {
                (Some(r), Some(o)) if o.workers <= 0 && upgrades(r) => Level::Info,
                (Some(r), None) if upgrades(r) => Level::Warning,
                _ => Level::Failure,
            };
            out.push(
                Finding::new(level, Some(2), file, lp.or(root).map(|l| l.n))
                    .what(what)
                    .fix("add before `ProxyPass /`: ProxyPass /websocket ws://127.0.0.1:8072/websocket upgrade=websocket (the gevent port; threaded Odoo: its HTTP port)"),
            );
        }
    }
    let https = lines.iter().any(|l| {
        (l.name == "sslengine" && l.args.first().is_some_and(|a| a.eq_ignore_ascii_case("on")))
            || (l.name == "<virtualhost" && l.args.iter().any(|a| a.contains(":443")))
    });
    let proto = lines.iter().any(|l| {
        l.name == "requestheader"
            && l.args
                .iter()
                .any(|a| a.eq_ignore_ascii_case("X-Forwarded-Proto"))
    });
    if https && !proto {
        out.push(
            Finding::new(Level::Warning, Some(5), file, None)
                .what("an https virtual host that does not set X-Forwarded-Proto: Odoo (proxy_mode) thinks it is served over http://, and with ODOO_BUS_PUBLIC_SAMESITE_WS the https Origin gets a public socket")
                .fix("RequestHeader set X-Forwarded-Proto \"https\" (and proxy_mode = True in odoo.conf)"),
        );
    }
    if let Some(a) = lines.iter().find(|l| {
        l.name == "authtype"
            && l.args
                .first()
                .is_some_and(|a| a.eq_ignore_ascii_case("basic"))
    }) {
        out.push(
            Finding::new(Level::Warning, Some(21), file, Some(a.n))
                .what("basic auth in front of Odoo: a websocket without the credentials gets 401")
                .fix("exclude /websocket from the auth (`<Location /websocket> Require all granted </Location>`)"),
        );
    }
    out.push(Finding::new(Level::Ok, None, file, None).what(format!("Apache: {route}")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apache_is_told_from_nginx() {
        assert!(looks_like_apache("<VirtualHost *:443>\n</VirtualHost>"));
        assert!(!looks_like_apache(
            "server { location / { proxy_pass http://x; } }"
        ));
    }

    #[test]
    fn websocket_rules_and_their_order() {
        let good = "<VirtualHost *:80>\nProxyPass /websocket ws://127.0.0.1:8072/websocket upgrade=websocket\nProxyPass / http://127.0.0.1:8069/\n</VirtualHost>\n";
        let found = check("a.conf", good, None);
        assert_eq!(found.len(), 1, "{found:?}");
        let late = "<VirtualHost *:80>\nProxyPass / http://127.0.0.1:8069/\nProxyPass /websocket http://127.0.0.1:8072/websocket\n</VirtualHost>\n";
        let found = check("a.conf", late, None);
        assert!(
            found
                .iter()
                .any(|f| f.cause == Some(2) && f.line == Some(3) && f.level == Level::Failure)
        );
        assert!(
            found
                .iter()
                .any(|f| f.cause == Some(3) && f.line == Some(3))
        );
        let lp = "<VirtualHost *:443>\nSSLEngine on\nProxyPass /longpolling http://127.0.0.1:8072/longpolling\nProxyPass / http://127.0.0.1:8069/\n</VirtualHost>\n";
        let found = check("a.conf", lp, None);
        assert!(
            found
                .iter()
                .any(|f| f.cause == Some(2) && f.line == Some(3) && f.level == Level::Failure),
            "{found:?}"
        );
        assert!(found.iter().any(|f| f.cause == Some(5)));
    }
}
