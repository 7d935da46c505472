use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::*;
use odoo_bus_core::bus::protocol::decode_batch;

pub(super) const HELLO: &str =
    include_str!("../../crates/core/fixtures/odoo18/new_message_hello.json");
pub(super) const NON_ASCII: &str =
    include_str!("../../crates/core/fixtures/odoo18/new_message_non_ascii.json");

/// 2026-11-21T23:06:28.123Z
pub(super) fn received_at() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_302_388_123)
}

/// A writer that records every call, and can be told to fail like a closed pipe.
#[derive(Default)]
pub(super) struct Recorder {
    pub bytes: Vec<u8>,
    pub writes: usize,
    pub flushes: usize,
    pub broken: bool,
}

impl Write for Recorder {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.broken {
            return Err(io::Error::from(io::ErrorKind::BrokenPipe));
        }
        self.writes += 1;
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flushes += 1;
        Ok(())
    }
}

/// A `Write + Send` the factory can own while the test keeps reading it.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn print_with(printer: &mut dyn Printer, text: &str) {
    let batch = decode_batch(text).unwrap();
    let frame = FrameView {
        text,
        received_at: received_at(),
        notifications: &batch,
    };
    printer.frame(&frame).unwrap();
}

fn ndjson(text: &str, opts: PrintOptions) -> String {
    let mut p = NdjsonPrinter::new(Recorder::default(), opts);
    print_with(&mut p, text);
    String::from_utf8(p.into_inner().bytes).unwrap()
}

#[test]
fn ndjson_lines_carry_the_payload_bytes_untouched() {
    let out = ndjson(NON_ASCII, PrintOptions::default());
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(out.ends_with('\n'));
    assert_eq!(
        lines[0],
        r#"{"id":16,"type":"mail.record/insert","payload":{"discuss.channel": [{"id": 1, "last_interest_dt": "2026-11-21 23:06:32"}]}}"#
    );
    let batch = decode_batch(NON_ASCII).unwrap();
    for (line, n) in lines.iter().zip(&batch) {
        let want = format!(
            r#"{{"id":{},"type":"{}","payload":{}}}"#,
            n.id,
            n.kind,
            n.payload.get()
        );
        assert_eq!(*line, want);
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["id"], n.id);
    }
    assert!(
        lines[2].contains(r"caf\u00e9 \ud83d\ude00"),
        "escapes kept as sent"
    );
}

#[test]
fn ndjson_timestamps_are_utc_rfc3339_with_millis() {
    let out = ndjson(
        HELLO,
        PrintOptions {
            timestamps: true,
            ..Default::default()
        },
    );
    for line in out.lines() {
        assert!(
            line.ends_with(r#","received_at":"2026-11-21T23:06:28.123Z"}"#),
            "{line}"
        );
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["received_at"], "2026-11-21T23:06:28.123Z");
    }
    assert_eq!(out.lines().count(), 3);
}

#[test]
fn ndjson_escapes_odd_types_and_flattens_multiline_payloads() {
    let text = "[{\"id\": 1, \"message\": {\"type\": \"we\\\"ird\\\\type\\n\\u0001\", \"payload\": {\n  \"a\": \"x\\ny\",\r\n  \"b\": [1,\n 2]\n}}}]";
    let out = ndjson(text, PrintOptions::default());
    assert_eq!(out.lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
    assert_eq!(v["type"], "we\"ird\\type\n\u{1}");
    assert_eq!(v["payload"], serde_json::json!({"a": "x\ny", "b": [1, 2]}));
}

#[test]
fn every_printer_writes_once_and_flushes_once_per_frame() {
    let opts = PrintOptions {
        timestamps: true,
        width: Some(80),
        ..Default::default()
    };
    let mut printers: Vec<Box<dyn FnMut() -> (usize, usize)>> = vec![
        Box::new(move || {
            let mut p = NdjsonPrinter::new(Recorder::default(), opts);
            print_with(&mut p, HELLO);
            let r = p.into_inner();
            (r.writes, r.flushes)
        }),
        Box::new(move || {
            let mut p = RawPrinter::new(Recorder::default(), opts);
            print_with(&mut p, HELLO);
            let r = p.into_inner();
            (r.writes, r.flushes)
        }),
        Box::new(move || {
            let mut p = PrettyPrinter::new(Recorder::default(), opts);
            print_with(&mut p, HELLO);
            let r = p.into_inner();
            (r.writes, r.flushes)
        }),
    ];
    for run in printers.iter_mut() {
        assert_eq!(run(), (1, 1));
    }
}

#[test]
fn a_closed_pipe_surfaces_as_broken_pipe() {
    let batch = decode_batch(HELLO).unwrap();
    let frame = FrameView {
        text: HELLO,
        received_at: received_at(),
        notifications: &batch,
    };
    let broken = || Recorder {
        broken: true,
        ..Default::default()
    };
    let opts = PrintOptions::default();
    let errors = [
        NdjsonPrinter::new(broken(), opts)
            .frame(&frame)
            .unwrap_err(),
        RawPrinter::new(broken(), opts).frame(&frame).unwrap_err(),
        PrettyPrinter::new(broken(), opts)
            .frame(&frame)
            .unwrap_err(),
    ];
    for e in errors {
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    }
}

#[test]
fn raw_prints_the_frame_as_received_one_line() {
    let mut p = RawPrinter::new(Recorder::default(), PrintOptions::default());
    print_with(&mut p, HELLO);
    let multi = "[{\"id\": 5,\n \"message\": {\"type\": \"t\"}}]\n";
    print_with(&mut p, multi);
    let out = String::from_utf8(p.into_inner().bytes).unwrap();
    assert_eq!(
        out,
        format!("{HELLO}\n[{{\"id\": 5,  \"message\": {{\"type\": \"t\"}}}}]\n")
    );
}

#[test]
fn raw_timestamps_are_a_tab_separated_prefix() {
    let mut p = RawPrinter::new(
        Recorder::default(),
        PrintOptions {
            timestamps: true,
            ..Default::default()
        },
    );
    print_with(&mut p, HELLO);
    let out = String::from_utf8(p.into_inner().bytes).unwrap();
    assert_eq!(out, format!("2026-11-21T23:06:28.123Z\t{HELLO}\n"));
}

#[test]
fn factory_builds_each_format() {
    let formats = [
        OutputFormat::Ndjson,
        OutputFormat::Raw,
        OutputFormat::Pretty,
    ];
    let mut outputs = Vec::new();
    for format in formats {
        let sink = Shared::default();
        let mut p = printer(format, PrintOptions::default(), Box::new(sink.clone()));
        print_with(p.as_mut(), PRESENCE);
        outputs.push(String::from_utf8(sink.0.lock().unwrap().clone()).unwrap());
    }
    assert_eq!(
        outputs[0],
        "{\"id\":29,\"type\":\"bus.bus/im_status_updated\",\"payload\":{\"im_status\": \"away\", \"partner_id\": 7}}\n"
    );
    assert_eq!(outputs[1], format!("{PRESENCE}\n"));
    assert!(
        outputs[2].contains(" 29 bus.bus/im_status_updated"),
        "{}",
        outputs[2]
    );
    assert!(
        outputs[2].trim_end().ends_with("partner 7 is away"),
        "{}",
        outputs[2]
    );
}

const PRESENCE: &str = include_str!("../../crates/core/fixtures/odoo18/presence_away.json");

#[test]
fn frame_buffers_do_not_keep_a_huge_replay_alive() {
    let mut buf = Vec::with_capacity(8 << 20);
    buf.extend_from_slice(b"x\n");
    let mut out = Recorder::default();
    emit(&mut out, &mut buf).unwrap();
    assert!(buf.is_empty());
    assert!(buf.capacity() <= KEEP_BUFFER_BYTES, "{}", buf.capacity());
    assert_eq!(out.bytes, b"x\n");

    let mut small = Vec::with_capacity(64 << 10);
    emit(&mut out, &mut small).unwrap();
    assert_eq!(
        small.capacity(),
        64 << 10,
        "ordinary buffers are reused as they are"
    );
}

fn labelled(format: OutputFormat, opts: PrintOptions, name: &str) -> String {
    let out = Shared::default();
    let label = ProfileLabel::for_all(&[name.to_string(), "a-longer-name".to_string()])
        .into_iter()
        .next();
    let mut p = labelled_printer(format, opts, Box::new(out.clone()), label);
    print_with(p.as_mut(), HELLO);
    String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
}

#[test]
fn labelled_lines_name_their_profile_in_every_format() {
    let stamped = PrintOptions {
        timestamps: true,
        ..Default::default()
    };
    let out = labelled(OutputFormat::Ndjson, stamped, "pr\"od");
    assert_eq!(out.lines().count(), 3);
    for line in out.lines() {
        assert!(line.ends_with(r#","profile":"pr\"od"}"#), "{line}");
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["profile"], "pr\"od");
        assert_eq!(v["received_at"], "2026-11-21T23:06:28.123Z");
    }
    let out = labelled(OutputFormat::Raw, stamped, "prod");
    assert!(
        out.starts_with("prod\t2026-11-21T23:06:28.123Z\t["),
        "{out}"
    );
    let out = labelled(OutputFormat::Pretty, PrintOptions::default(), "prod");
    for line in out.lines() {
        // Padded to the longest name of the tail, so every profile's lines line up.
        assert!(line.starts_with("prod          "), "{line}");
    }
    // Without a label: byte for byte the single-profile output.
    let plain = ndjson(HELLO, PrintOptions::default());
    let out = Shared::default();
    let mut p = labelled_printer(
        OutputFormat::Ndjson,
        PrintOptions::default(),
        Box::new(out.clone()),
        None,
    );
    print_with(p.as_mut(), HELLO);
    assert_eq!(
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap(),
        plain
    );
}

#[test]
fn a_profile_keeps_its_color_from_run_to_run() {
    // FNV-1a of the name, not the order given or the std hasher's seed: these are fixed.
    assert_eq!(pretty::profile_color("prod"), colored::Color::Cyan);
    assert_eq!(pretty::profile_color("staging"), colored::Color::Yellow);
    let colors: std::collections::HashSet<String> = ["prod", "staging", "cust-a", "cust-b", "dev"]
        .iter()
        .map(|n| format!("{:?}", pretty::profile_color(n)))
        .collect();
    assert!(colors.len() >= 3, "{colors:?}");
}
