//! `-o ndjson`: one `{"id":N,"type":T,"payload":P}` line per notification, for `jq` and scripts.
//!
//! The payload bytes are copied as received (Python spacing and `\u` escapes included): no
//! parse, no re-serialization, no allocation per notification.

use std::io::{self, Write};

use super::{
    FrameView, PrintOptions, Printer, ProfileLabel, emit, push_json_string, push_single_line,
    write_utc_millis,
};

pub struct NdjsonPrinter<W> {
    out: W,
    timestamps: bool,
    /// The frame being formatted; reused from frame to frame.
    buf: Vec<u8>,
    /// `,"received_at":"…"`, formatted once per frame.
    stamp: Vec<u8>,
    /// `,"profile":"NAME"` when one tail follows several profiles (else empty).
    profile: Vec<u8>,
}

impl<W: Write> NdjsonPrinter<W> {
    pub fn new(out: W, opts: PrintOptions) -> Self {
        NdjsonPrinter {
            out,
            timestamps: opts.timestamps,
            buf: Vec::with_capacity(16 << 10),
            stamp: Vec::with_capacity(48),
            profile: Vec::new(),
        }
    }

    /// Every line gains `"profile":"NAME"` (after the other keys).
    pub fn with_label(mut self, label: Option<ProfileLabel>) -> Self {
        self.profile.clear();
        if let Some(label) = label {
            self.profile.extend_from_slice(br#","profile":"#);
            // Writing into a Vec cannot fail.
            let _ = push_json_string(&mut self.profile, &label.name);
            // Several hundred printers in one process: start small, grow with the traffic.
            self.buf = Vec::new();
        }
        self
    }

    /// The writer, e.g. to inspect what a test printed.
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> Printer for NdjsonPrinter<W> {
    fn frame(&mut self, frame: &FrameView<'_>) -> io::Result<()> {
        self.stamp.clear();
        if self.timestamps {
            self.stamp.extend_from_slice(br#","received_at":""#);
            write_utc_millis(&mut self.stamp, frame.received_at);
            self.stamp.push(b'"');
        }
        let buf = &mut self.buf;
        for n in frame.notifications {
            buf.extend_from_slice(br#"{"id":"#);
            buf.extend_from_slice(itoa::Buffer::new().format(n.id).as_bytes());
            buf.extend_from_slice(br#","type":"#);
            push_json_string(buf, &n.kind)?;
            buf.extend_from_slice(br#","payload":"#);
            push_single_line(buf, n.payload.get());
            buf.extend_from_slice(&self.stamp);
            buf.extend_from_slice(&self.profile);
            buf.extend_from_slice(b"}\n");
        }
        emit(&mut self.out, buf)
    }
}
