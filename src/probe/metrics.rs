//! The probe's figures in the Prometheus text exposition format (version 0.0.4), served on
//! `--metrics-listen` and written to `--metrics-file` for node_exporter's textfile collector.
//!
//! One [`Registry`] per run, one series set per profile (`profile` label). Rendering is pure;
//! [`serve`] is a tiny hyper server that answers `GET /metrics` and nothing else, and
//! [`write_atomically`] replaces the file with a rename so the collector never reads half.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use super::sample::{Delivery, Sample, close_label};

/// Upper bounds of the latency histogram, in seconds: from a loopback's few ms to a timeout.
pub const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The series of one profile.
#[derive(Debug, Clone, Default)]
struct Series {
    probes: u64,
    misses: u64,
    errors: u64,
    /// Cumulative counts per bucket of [`BUCKETS`], then the sum and the count.
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    delivered: u64,
    reconnects: BTreeMap<String, u64>,
    last_success: Option<f64>,
    last_http: Option<f64>,
    up: Option<bool>,
    sockets: Option<usize>,
}

/// A gauge: name, help, and its value in a series (absent until known).
type Gauge = (&'static str, &'static str, fn(&Series) -> Option<f64>);

/// Every profile's series.
#[derive(Debug, Default)]
pub struct Registry {
    series: BTreeMap<String, Series>,
}

/// Shared between the probe loop and the server.
pub type Shared = Arc<Mutex<Registry>>;

impl Registry {
    pub fn shared(profiles: &[String]) -> Shared {
        let mut r = Registry::default();
        for p in profiles {
            r.series.entry(p.clone()).or_default();
        }
        Arc::new(Mutex::new(r))
    }

    pub fn record(&mut self, s: &Sample) {
        let series = self.series.entry(s.profile.clone()).or_default();
        series.probes += 1;
        match &s.delivery {
            Delivery::Delivered(d) => {
                let secs = d.as_secs_f64();
                for (i, le) in BUCKETS.iter().enumerate() {
                    if secs <= *le {
                        series.buckets[i] += 1;
                    }
                }
                series.sum += secs;
                series.delivered += 1;
                series.last_success = Some(unix_secs(s.at));
                series.up = Some(true);
            }
            Delivery::Missed { .. } => {
                series.misses += 1;
                series.up = Some(false);
            }
            Delivery::Error(_) => {
                series.errors += 1;
                series.up = Some(false);
            }
        }
        for c in &s.socket.closes {
            *series.reconnects.entry(close_label(*c)).or_default() += 1;
        }
        series.last_http = s.http.as_ref().ok().map(|d| d.as_secs_f64());
        series.sockets = s.sockets;
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let each = |out: &mut String, f: &dyn Fn(&mut String, &str, &Series)| {
            for (p, s) in &self.series {
                f(out, &label(p), s);
            }
        };
        header(
            &mut out,
            "odoo_bus_probe_latency_seconds",
            "histogram",
            "Delivery round trip: from the probe call to its notification on the websocket.",
        );
        each(&mut out, &|out, p, s| {
            for (i, le) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "odoo_bus_probe_latency_seconds_bucket{{profile=\"{p}\",le=\"{le}\"}} {}",
                    s.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "odoo_bus_probe_latency_seconds_bucket{{profile=\"{p}\",le=\"+Inf\"}} {}",
                s.delivered
            );
            let _ = writeln!(
                out,
                "odoo_bus_probe_latency_seconds_sum{{profile=\"{p}\"}} {}",
                float(s.sum)
            );
            let _ = writeln!(
                out,
                "odoo_bus_probe_latency_seconds_count{{profile=\"{p}\"}} {}",
                s.delivered
            );
        });
        for (name, help, get) in [
            (
                "odoo_bus_probes_total",
                "Probes run (delivered, missed or failed).",
                (|s: &Series| s.probes) as fn(&Series) -> u64,
            ),
            (
                "odoo_bus_probe_misses_total",
                "Probes whose notification did not arrive within the timeout.",
                |s| s.misses,
            ),
            (
                "odoo_bus_probe_errors_total",
                "Probes that could not run (the probe call failed).",
                |s| s.errors,
            ),
        ] {
            header(&mut out, name, "counter", help);
            each(&mut out, &|out, p, s| {
                let _ = writeln!(out, "{name}{{profile=\"{p}\"}} {}", get(s));
            });
        }
        header(
            &mut out,
            "odoo_bus_probe_reconnects_total",
            "counter",
            "Websocket disconnects of the probe's socket, by close code (none: dropped without a close frame).",
        );
        each(&mut out, &|out, p, s| {
            for (code, n) in &s.reconnects {
                let _ = writeln!(
                    out,
                    "odoo_bus_probe_reconnects_total{{profile=\"{p}\",code=\"{}\"}} {n}",
                    label(code)
                );
            }
        });
        let gauges: [Gauge; 4] = [
            (
                "odoo_bus_probe_last_success_timestamp_seconds",
                "When a probe was last delivered (Unix time).",
                |s| s.last_success,
            ),
            (
                "odoo_bus_probe_up",
                "1 when the last probe was delivered, 0 when it was missed or failed.",
                |s| s.up.map(|u| if u { 1.0 } else { 0.0 }),
            ),
            (
                "odoo_bus_probe_http_seconds",
                "Duration of the last HTTP check (/web/session/check).",
                |s| s.last_http,
            ),
            (
                "odoo_bus_probe_load_sockets",
                "Capacity test: websockets held open at the last probe.",
                |s| s.sockets.map(|n| n as f64),
            ),
        ];
        for (name, help, get) in gauges {
            if self.series.values().all(|s| get(s).is_none()) {
                continue;
            }
            header(&mut out, name, "gauge", help);
            each(&mut out, &|out, p, s| {
                if let Some(v) = get(s) {
                    let _ = writeln!(out, "{name}{{profile=\"{p}\"}} {}", float(v));
                }
            });
        }
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn unix_secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| (d.as_secs_f64() * 1000.0).round() / 1000.0)
        .unwrap_or(0.0)
}

/// A sample value: Go's float syntax (`0.042`, `3`, `1.7e9` all parse).
fn float(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else if v.is_nan() {
        "NaN".into()
    } else if v > 0.0 {
        "+Inf".into()
    } else {
        "-Inf".into()
    }
}

/// A label value escaped as the format requires (backslash, double quote, newline).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The content type Prometheus expects for this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Replace `path` with the current text: write a temporary file beside it, then rename (the
/// textfile collector never reads a half-written file; a temp file is left behind by nothing).
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".odoo-bus-metrics")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    // node_exporter runs as another user: the file must be readable (tempfile makes it 0600).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.persist(path).map(|_| ()).map_err(|e| e.error)
}

/// Serve `GET /metrics` (anything else: 404) until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, registry: Shared) {
    use http_body_util::Full;
    use hyper::body::Bytes;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let registry = registry.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: hyper::Request<_>| {
                let registry = registry.clone();
                async move {
                    let response = if req.uri().path() == "/metrics" {
                        let text = registry
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .render();
                        hyper::Response::builder()
                            .header(hyper::header::CONTENT_TYPE, CONTENT_TYPE)
                            .body(Full::new(Bytes::from(text)))
                    } else {
                        hyper::Response::builder()
                            .status(404)
                            .body(Full::new(Bytes::from_static(b"only /metrics here\n")))
                    };
                    Ok::<_, Infallible>(response.expect("a static response is valid"))
                }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::sample::SocketEvents;
    use std::time::Duration;

    #[test]
    fn histogram_buckets_are_cumulative_and_labels_escaped() {
        let reg = Registry::shared(&["a\"b".to_string()]);
        let mut r = reg.lock().unwrap();
        let s = |d: Delivery| Sample {
            profile: "a\"b".into(),
            seq: 1,
            at: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            delivery: d,
            http: Ok(Duration::from_millis(2)),
            socket: SocketEvents {
                reconnects: 1,
                closes: vec![Some(1013)],
            },
            sockets: None,
        };
        r.record(&s(Delivery::Delivered(Duration::from_millis(30))));
        r.record(&s(Delivery::Missed { stored: None }));
        let text = r.render();
        assert!(
            text.contains(
                "odoo_bus_probe_latency_seconds_bucket{profile=\"a\\\"b\",le=\"0.025\"} 0"
            ),
            "{text}"
        );
        assert!(text.contains("le=\"0.05\"} 1"), "{text}");
        assert!(text.contains("le=\"+Inf\"} 1"), "{text}");
        assert!(text.contains("odoo_bus_probes_total{profile=\"a\\\"b\"} 2"));
        assert!(text.contains("odoo_bus_probe_misses_total{profile=\"a\\\"b\"} 1"));
        assert!(text.contains("code=\"1013\"} 2"), "{text}");
        assert!(text.contains(
            "odoo_bus_probe_last_success_timestamp_seconds{profile=\"a\\\"b\"} 1700000000"
        ));
        assert!(text.contains("odoo_bus_probe_up{profile=\"a\\\"b\"} 0"));
    }
}
