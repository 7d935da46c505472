//! `-o pretty`: one colored, human line per notification:
//! `23:06:28.123 15 discuss.channel/new_message    #general Marc Demo: hello`
//! (local receive time, id, type colored by family, a summary, see [`summary`]), cut to the
//! terminal width.
//!
//! Lines are written straight into the frame buffer ([`line`]), and payloads are read for the
//! few fields a summary shows ([`store`]), so that pretty output keeps up with a busy server.

mod json;
mod legacy;
mod line;
mod names;
mod scan;
mod store;
mod summary;
mod text;

use std::io::{self, Write};

use colored::Color;
use jiff::tz::TimeZone;

use super::{FrameView, PrintOptions, Printer, ProfileLabel, emit};
use line::{Line, Style};
use summary::Summarizer;

/// Types are padded to this many columns so summaries line up for the common types.
const TYPE_COLUMNS: usize = 28;
const PADDING: &str = "                            ";

pub struct PrettyPrinter<W> {
    out: W,
    opts: PrintOptions,
    tz: TimeZone,
    buf: Vec<u8>,
    summarizer: Summarizer,
    /// The profile name, its padding and its color, first on each line (multi-profile tails).
    label: Option<(String, String, Color)>,
}

impl<W: Write> PrettyPrinter<W> {
    pub fn new(out: W, opts: PrintOptions) -> Self {
        Self::with_time_zone(out, opts, TimeZone::system())
    }

    /// With a fixed time zone instead of the system's (tests, reproducible output).
    pub fn with_time_zone(out: W, opts: PrintOptions, tz: TimeZone) -> Self {
        PrettyPrinter {
            out,
            opts,
            tz,
            buf: Vec::with_capacity(16 << 10),
            summarizer: Summarizer::default(),
            label: None,
        }
    }

    /// Every line starts with the profile name, padded and in the profile's color.
    pub fn with_label(mut self, label: Option<ProfileLabel>) -> Self {
        if let Some(label) = label {
            let pad = " ".repeat(label.columns.saturating_sub(label.name.chars().count()) + 1);
            let color = profile_color(&label.name);
            self.label = Some((label.name, pad, color));
            self.buf = Vec::new();
        }
        self
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// One color per family of types (the part before `/`, grouped by its first word).
fn family_color(kind: &str) -> Color {
    // Up to the first `/` or `.`: the first word of the family (bytes, not `split`: this runs
    // per line and `str::split` was 1.5% of `-o pretty`).
    let word = kind
        .bytes()
        .position(|b| b == b'/' || b == b'.')
        .map_or(kind, |end| &kind[..end]);
    match word {
        "discuss" => Color::Cyan,
        "mail" => Color::Green,
        "bus" => Color::Yellow,
        "res" => Color::Magenta,
        "ir" => Color::Blue,
        _ => Color::BrightBlue,
    }
}

/// A profile's color: the same for the same name in every run (a hash of the name, not the
/// order given), so `prod` keeps its color from one terminal to the next.
pub fn profile_color(name: &str) -> Color {
    const PALETTE: [Color; 10] = [
        Color::Cyan,
        Color::Green,
        Color::Yellow,
        Color::Magenta,
        Color::Blue,
        Color::BrightCyan,
        Color::BrightGreen,
        Color::BrightYellow,
        Color::BrightMagenta,
        Color::BrightRed,
    ];
    // FNV-1a: stable across builds and platforms, unlike the std hasher.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    PALETTE[(hash % PALETTE.len() as u64) as usize]
}

/// `HH:MM:SS.mmm` of the receive time, in `tz`.
fn clock(frame: &FrameView<'_>, tz: &TimeZone) -> [u8; 12] {
    let at = jiff::Timestamp::try_from(frame.received_at).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let local = tz.to_datetime(at);
    let mut out = *b"00:00:00.000";
    let digits = |out: &mut [u8], value: i64| {
        let mut v = value.unsigned_abs();
        for d in out.iter_mut().rev() {
            *d = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    digits(&mut out[0..2], local.hour().into());
    digits(&mut out[3..5], local.minute().into());
    digits(&mut out[6..8], local.second().into());
    digits(&mut out[9..12], local.millisecond().into());
    out
}

impl<W: Write> Printer for PrettyPrinter<W> {
    fn learn_partners(&mut self, partners: &[(u64, String)]) {
        self.summarizer.learn_partners(partners);
    }

    fn frame(&mut self, frame: &FrameView<'_>) -> io::Result<()> {
        let clock = clock(frame, &self.tz);
        // ASCII digits and colons only.
        let clock = std::str::from_utf8(&clock).unwrap_or("??:??:??.???");
        let mut id = itoa::Buffer::new();
        for n in frame.notifications {
            let mut line = Line::new(&mut self.buf, self.opts.width, self.opts.color);
            if let Some((name, pad, color)) = &self.label {
                line.push(&[name], Style::Family(*color));
                line.push(&[pad], Style::Plain);
            }
            line.push(&[clock], Style::Dim);
            line.push(&[" "], Style::Plain);
            // Odoo's ids start at 1: id 0 is a line of odoo-bus's own (`odoo-bus/presence`,
            // `odoo-bus/gap`), which has no bus id to show.
            let shown_id = if n.id == 0 { "-" } else { id.format(n.id) };
            line.push(&[shown_id], Style::Dim);
            line.push(&[" "], Style::Plain);
            let pad = TYPE_COLUMNS.saturating_sub(n.kind.chars().count());
            line.push(
                &[&n.kind, &PADDING[..pad]],
                Style::Family(family_color(&n.kind)),
            );
            line.push(&[" "], Style::Plain);
            self.summarizer.write(&n.kind, n.payload, &mut line);
            line.finish();
        }
        emit(&mut self.out, &mut self.buf)
    }
}

#[cfg(test)]
mod tests;
