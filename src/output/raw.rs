//! `-o raw`: each frame's text as received, one line per frame.
//!
//! A frame is printed whole, unchanged, when at least one of its notifications passed dedup and
//! the filters (the caller only hands such frames over): raw shows what the server sent, so it
//! does not rewrite frames to drop the filtered-out or repeated notifications. Only whitespace
//! changes: surrounding whitespace is trimmed, and a raw `\n`/`\r` between JSON tokens becomes a
//! space, so each frame is exactly one line.
//!
//! With `--timestamps` each line starts with the receive time and a tab
//! (`2026-11-21T23:00:00.123Z\t[{"id": 12, …}]`), so `cut -f2-` gives the frames back.

use std::io::{self, Write};

use super::{
    FrameView, PrintOptions, Printer, ProfileLabel, emit, push_single_line, write_utc_millis,
};

pub struct RawPrinter<W> {
    out: W,
    timestamps: bool,
    buf: Vec<u8>,
    /// `NAME<TAB>` when one tail follows several profiles (else empty).
    profile: Vec<u8>,
}

impl<W: Write> RawPrinter<W> {
    pub fn new(out: W, opts: PrintOptions) -> Self {
        RawPrinter {
            out,
            timestamps: opts.timestamps,
            buf: Vec::with_capacity(16 << 10),
            profile: Vec::new(),
        }
    }

    /// Every line starts with the profile name and a tab (before the timestamp, if any).
    pub fn with_label(mut self, label: Option<ProfileLabel>) -> Self {
        self.profile.clear();
        if let Some(label) = label {
            self.profile.extend_from_slice(label.name.as_bytes());
            self.profile.push(b'\t');
            self.buf = Vec::new();
        }
        self
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> Printer for RawPrinter<W> {
    fn frame(&mut self, frame: &FrameView<'_>) -> io::Result<()> {
        self.buf.extend_from_slice(&self.profile);
        if self.timestamps {
            write_utc_millis(&mut self.buf, frame.received_at);
            self.buf.push(b'\t');
        }
        push_single_line(
            &mut self.buf,
            frame
                .text
                .trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r')),
        );
        self.buf.push(b'\n');
        emit(&mut self.out, &mut self.buf)
    }
}
