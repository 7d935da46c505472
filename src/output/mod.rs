//! Printing notifications on stdout: one printer per `--output` format, plus the filters that
//! decide what reaches them.
//!
//! Owns: stdout and the notification formats. May not touch: the network or the config file; human
//! messages go to stderr through `Ui`, never here.
//!
//! Every printer formats a whole frame into a buffer it reuses, then writes it with one
//! `write_all` and flushes once: a frame costs one syscall whatever its size, and a reader of
//! the pipe sees whole lines only. Write errors come back unchanged, so a closed stdout
//! (`| head`) surfaces as [`io::ErrorKind::BrokenPipe`] and the caller can end quietly.

pub mod filter;
mod ndjson;
mod pretty;
pub mod pump;
mod raw;

use std::io::{self, Write};
use std::time::SystemTime;

use crate::cli::OutputFormat;
use odoo_bus_core::bus::protocol::Notification;

pub use ndjson::NdjsonPrinter;
pub use pretty::PrettyPrinter;
pub use pretty::profile_color;
pub use raw::RawPrinter;

/// One websocket frame as the printers see it.
#[derive(Debug, Clone, Copy)]
pub struct FrameView<'a> {
    /// The frame text exactly as received (the raw printer prints it).
    pub text: &'a str,
    pub received_at: SystemTime,
    /// The notifications of the frame that passed dedup and the filters, in frame order. Frames
    /// where none passed are not given to printers.
    pub notifications: &'a [Notification<'a>],
}

/// A sink for frames in one output format.
pub trait Printer {
    /// Prints the frame and flushes. An `Err` is the writer's error, kind unchanged.
    fn frame(&mut self, frame: &FrameView<'_>) -> io::Result<()>;

    /// Partner names known before any payload, for printers that name people (pretty); the
    /// others ignore them.
    fn learn_partners(&mut self, _partners: &[(u64, String)]) {}
}

/// How to print, beyond the format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrintOptions {
    /// Colorize (pretty only). Decided by the caller (`Ui::color_stdout`).
    pub color: bool,
    /// Add the time each frame was received.
    pub timestamps: bool,
    /// Terminal width in columns: pretty lines are cut to it. `None`: never cut.
    pub width: Option<usize>,
}

/// The printer for `format`, writing to `out` (give it a `BufWriter` around stdout).
pub fn printer(
    format: OutputFormat,
    opts: PrintOptions,
    out: Box<dyn Write + Send>,
) -> Box<dyn Printer + Send> {
    labelled_printer(format, opts, out, None)
}

/// [`printer`] for one profile of a multi-profile tail: every line says which profile it is from
/// (NDJSON `"profile":"NAME"`, raw `NAME<TAB>`, pretty a colored name first). `None`: exactly
/// the single-profile output.
pub fn labelled_printer(
    format: OutputFormat,
    opts: PrintOptions,
    out: Box<dyn Write + Send>,
    label: Option<ProfileLabel>,
) -> Box<dyn Printer + Send> {
    match format {
        OutputFormat::Ndjson => Box::new(NdjsonPrinter::new(out, opts).with_label(label)),
        OutputFormat::Raw => Box::new(RawPrinter::new(out, opts).with_label(label)),
        OutputFormat::Pretty => Box::new(PrettyPrinter::new(out, opts).with_label(label)),
    }
}

/// The profile a line comes from, when one tail follows several.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileLabel {
    pub name: String,
    /// Pretty pads names to this many columns so the lines of all profiles line up.
    pub columns: usize,
}

impl ProfileLabel {
    /// Labels for `names`, padded to the longest.
    pub fn for_all(names: &[String]) -> Vec<ProfileLabel> {
        let columns = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
        names
            .iter()
            .map(|name| ProfileLabel {
                name: name.clone(),
                columns,
            })
            .collect()
    }
}

/// Above this, a printer's frame buffer is given back after the frame: one huge replay (Odoo
/// sends everything since `last` in one frame) must not pin its memory for the whole session.
const KEEP_BUFFER_BYTES: usize = 1 << 20;

/// Writes the formatted frame, flushes, and trims the buffer for the next frame.
fn emit(out: &mut impl Write, buf: &mut Vec<u8>) -> io::Result<()> {
    let written = out.write_all(buf).and_then(|()| out.flush());
    buf.clear();
    if buf.capacity() > KEEP_BUFFER_BYTES {
        buf.shrink_to(KEEP_BUFFER_BYTES / 16);
    }
    written
}

/// `2026-11-21T23:00:00.123Z`: RFC 3339, UTC, milliseconds.
fn write_utc_millis(buf: &mut Vec<u8>, at: SystemTime) {
    // A clock before 1970 or past 9999 cannot come from a received frame; print the epoch then.
    let ts = jiff::Timestamp::try_from(at).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    // Writing into a Vec cannot fail.
    let _ = write!(buf, "{ts:.3}");
}

/// Appends JSON text on one line: a raw `\n` or `\r` in JSON can only be whitespace between
/// tokens (inside strings they must be escaped), so replacing them by spaces keeps the JSON
/// identical in meaning and the output line-delimited.
fn push_single_line(buf: &mut Vec<u8>, json: &str) {
    let mut rest = json.as_bytes();
    while let Some(at) = memchr::memchr2(b'\n', b'\r', rest) {
        buf.extend_from_slice(&rest[..at]);
        buf.push(b' ');
        rest = &rest[at + 1..];
    }
    buf.extend_from_slice(rest);
}

/// Appends `s` as a JSON string literal.
fn push_json_string(buf: &mut Vec<u8>, s: &str) -> io::Result<()> {
    // `fold`, not `all`: no early exit, so the loop vectorizes (this runs per notification).
    let plain = !s.bytes().fold(false, |bad, b| {
        bad | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if plain {
        // The usual case (`discuss.channel/new_message`): nothing to escape.
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
        Ok(())
    } else {
        serde_json::to_writer(buf, s).map_err(io::Error::from)
    }
}

#[cfg(test)]
mod tests;
