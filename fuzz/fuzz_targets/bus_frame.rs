//! A websocket text frame from the server: decode the batch, run the filters, print it in every
//! format into a Vec, and explain a close reason. Also checks what `tail` promises: every NDJSON
//! line is valid JSON carrying the notification's id and type, and a raw frame is one line.
#![no_main]

use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use odoo_bus_core::bus::protocol::{self, Notification};
use odoo_bus::output::filter::{ChannelSelector, TypeFilter};
use odoo_bus::output::{
    FrameView, NdjsonPrinter, PrettyPrinter, PrintOptions, Printer, RawPrinter,
};

fuzz_target!(|data: &[u8]| {
    // tungstenite hands over only valid UTF-8 text frames.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A close reason is server text too (at most 123 bytes on the wire).
    let code = 1000 + (data.len() % 3100) as u16;
    let explanation = protocol::close_explanation(code, text);
    assert!(!explanation.contains('\n'), "{explanation:?}");
    let _ = protocol::close_action(Some(code), text);

    let Ok(batch) = protocol::decode_batch(text) else {
        return;
    };
    assert!(!batch.is_empty());

    let types = TypeFilter::new(
        &["discuss.channel/*".to_string(), "*insert*".to_string()],
        &["*/transient_*".to_string()],
    )
    .expect("fixed patterns");
    let selector = ChannelSelector::new(&[
        "discuss.channel_1".to_string(),
        "odoo-presence-res.partner_3".to_string(),
        "odoo-presence-mail.guest_2".to_string(),
    ]);
    for n in &batch {
        let _ = types.accepts(&n.kind);
        let _ = selector.accepts(&n.kind, n.payload);
    }

    let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_000_000_000);
    let frame = FrameView {
        text,
        received_at: at,
        notifications: &batch,
    };
    for opts in [
        PrintOptions::default(),
        PrintOptions {
            color: true,
            timestamps: true,
            width: Some(40),
        },
    ] {
        let mut ndjson = NdjsonPrinter::new(Vec::new(), opts);
        ndjson.frame(&frame).expect("a Vec never fails");
        check_ndjson(&ndjson.into_inner(), &batch);

        let mut raw = RawPrinter::new(Vec::new(), opts);
        raw.frame(&frame).expect("a Vec never fails");
        let raw = raw.into_inner();
        assert_eq!(raw.iter().filter(|&&b| b == b'\n').count(), 1);
        assert_eq!(raw.last(), Some(&b'\n'));

        let mut pretty =
            PrettyPrinter::with_time_zone(Vec::new(), opts, jiff::tz::TimeZone::UTC);
        pretty.frame(&frame).expect("a Vec never fails");
        let pretty = pretty.into_inner();
        let text = std::str::from_utf8(&pretty).expect("pretty output is UTF-8");
        if !opts.color {
            // Chat text is anyone's: nothing in it may drive the terminal.
            assert!(
                !text.chars().any(|c| c.is_control() && c != '\n'),
                "{text:?}"
            );
        }
        assert_eq!(
            pretty.iter().filter(|&&b| b == b'\n').count(),
            batch.len(),
            "one pretty line per notification"
        );
    }
});

/// One NDJSON line read back with the same grammar the decoder accepts (a payload may hold a lone
/// UTF-16 surrogate escape, as Python's json.dumps can write: valid JSON text that
/// `serde_json::Value` refuses, passed through untouched on purpose).
#[derive(serde::Deserialize)]
struct Line<'a> {
    id: u64,
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    payload: &'a serde_json::value::RawValue,
}

fn check_ndjson(out: &[u8], batch: &[Notification<'_>]) {
    let text = std::str::from_utf8(out).expect("NDJSON is UTF-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), batch.len(), "one line per notification");
    for (line, n) in lines.iter().zip(batch) {
        let v: Line<'_> = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("NDJSON line is not JSON ({e}): {line}"));
        assert_eq!(v.id, n.id, "{line}");
        assert_eq!(v.kind, n.kind, "{line}");
        let same = v.payload.get().replace(['\n', '\r'], " ");
        assert_eq!(same, n.payload.get().replace(['\n', '\r'], " "), "{line}");
    }
}
