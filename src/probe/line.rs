//! How one probe is printed on stdout: a human line, or one NDJSON object
//! (`{"type":"odoo-bus/probe",…}`, the `odoo-bus/` prefix marking it as ours, not Odoo's).

use std::time::SystemTime;

use serde_json::{Value, json};

use super::sample::{Delivery, Sample, close_label, ms};

fn rfc3339(t: SystemTime) -> String {
    jiff::Timestamp::try_from(t)
        .map(|ts| ts.round(jiff::Unit::Millisecond).unwrap_or(ts).to_string())
        .unwrap_or_default()
}

/// The NDJSON object of one probe.
pub fn json(s: &Sample) -> Value {
    let secs = |d: std::time::Duration| (d.as_secs_f64() * 1e6).round() / 1e6;
    let mut v = json!({
        "type": "odoo-bus/probe",
        "time": rfc3339(s.at),
        "profile": s.profile,
        "seq": s.seq,
        "result": s.result(),
        "latency_s": s.latency().map(secs),
        "http_s": s.http.as_ref().ok().map(|d| secs(*d)),
        "reconnects": s.socket.reconnects,
        "close_codes": s.socket.closes.iter().map(|c| close_label(*c)).collect::<Vec<_>>(),
    });
    match &s.delivery {
        Delivery::Missed { stored } => v["stored"] = json!(stored),
        Delivery::Error(e) => v["error"] = json!(e),
        Delivery::Delivered(_) => {}
    }
    if let Err(e) = &s.http {
        v["http_error"] = json!(e);
    }
    if let Some(n) = s.sockets {
        v["sockets"] = json!(n);
    }
    v
}

/// `02:41:07  ok    delivery 42 ms   http 8 ms`, with the profile first when several run.
pub fn pretty(s: &Sample, with_profile: bool) -> String {
    let time = jiff::Timestamp::try_from(s.at)
        .map(|t| {
            t.to_zoned(jiff::tz::TimeZone::system())
                .strftime("%H:%M:%S")
                .to_string()
        })
        .unwrap_or_default();
    let who = if with_profile {
        format!("{}  ", s.profile)
    } else {
        String::new()
    };
    let what = match &s.delivery {
        Delivery::Delivered(d) => format!("ok     delivery {:>8}", ms(*d)),
        Delivery::Missed { stored: Some(true) } => {
            "MISS   stored but not pushed (NOTIFY or the dispatcher is broken)".into()
        }
        Delivery::Missed {
            stored: Some(false),
        } => "MISS   never heard (not even stored)".into(),
        Delivery::Missed { stored: None } => "MISS   not delivered".into(),
        Delivery::Error(e) => format!("ERROR  {e}"),
    };
    let http = match &s.http {
        Ok(d) => format!("http {}", ms(*d)),
        Err(e) => format!("http failed: {e}"),
    };
    let mut line = format!("{who}{time}  {what}  {http}");
    if let Some(n) = s.sockets {
        line.push_str(&format!("  sockets {n}"));
    }
    if s.socket.reconnects > 0 || !s.socket.closes.is_empty() {
        let codes: Vec<String> = s.socket.closes.iter().map(|c| close_label(*c)).collect();
        line.push_str(&format!(
            "  reconnects {} (closes: {})",
            s.socket.reconnects,
            codes.join(",")
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::sample::SocketEvents;
    use std::time::Duration;

    #[test]
    fn ndjson_has_latency_result_reconnects_and_codes() {
        let s = Sample {
            profile: "prod".into(),
            seq: 3,
            at: SystemTime::UNIX_EPOCH + Duration::from_secs(1),
            delivery: Delivery::Delivered(Duration::from_millis(42)),
            http: Ok(Duration::from_millis(8)),
            socket: SocketEvents {
                reconnects: 1,
                closes: vec![Some(1013)],
            },
            sockets: None,
        };
        let v = json(&s);
        assert_eq!(v["type"], "odoo-bus/probe");
        assert_eq!(v["result"], "ok");
        assert_eq!(v["latency_s"], 0.042);
        assert_eq!(v["http_s"], 0.008);
        assert_eq!(v["reconnects"], 1);
        assert_eq!(v["close_codes"], json!(["1013"]));
        assert_eq!(v["time"], "1970-01-01T00:00:01Z");
        let line = pretty(&s, true);
        assert!(line.starts_with("prod  "), "{line}");
        assert!(line.contains("ok     delivery    42 ms"), "{line}");
        assert!(line.contains("reconnects 1 (closes: 1013)"), "{line}");
    }
}
