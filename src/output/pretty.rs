//! `-o pretty`: one colored, human line per notification:
//! `23:06:28.123 15 discuss.channel/new_message    #general Marc Demo: hello`
//! (local receive time, id, type colored by family, a summary, see [`summary`]), cut to the
//! terminal width.

mod summary;
mod text;

use std::io::{self, Write};

use colored::{Color, Colorize};
use jiff::tz::TimeZone;

use super::{FrameView, PrintOptions, Printer, emit};
use summary::{Emphasis, summarize};
use text::fit;

/// Types are padded to this many columns so summaries line up for the common types.
const TYPE_COLUMNS: usize = 28;

pub struct PrettyPrinter<W> {
    out: W,
    opts: PrintOptions,
    tz: TimeZone,
    buf: Vec<u8>,
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
            buf: Vec::with_capacity(4 << 10),
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// How a part of the line is shown.
#[derive(Debug, Clone, Copy)]
enum Style {
    Plain,
    Dim,
    Bold,
    Family(Color),
}

/// One color per family of types (the part before `/`, grouped by its first word).
fn family_color(kind: &str) -> Color {
    let family = kind.split('/').next().unwrap_or(kind);
    match family.split('.').next().unwrap_or(family) {
        "discuss" => Color::Cyan,
        "mail" => Color::Green,
        "bus" => Color::Yellow,
        "res" => Color::Magenta,
        "ir" => Color::Blue,
        _ => Color::BrightBlue,
    }
}

impl<W: Write> Printer for PrettyPrinter<W> {
    fn frame(&mut self, frame: &FrameView<'_>) -> io::Result<()> {
        let at =
            jiff::Timestamp::try_from(frame.received_at).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let local = self.tz.to_datetime(at);
        let clock = format!(
            "{:02}:{:02}:{:02}.{:03}",
            local.hour(),
            local.minute(),
            local.second(),
            local.millisecond()
        );
        for n in frame.notifications {
            let kind_padded = format!("{:<TYPE_COLUMNS$}", n.kind.as_ref());
            let mut parts: Vec<(String, Style)> = vec![
                (clock.clone(), Style::Dim),
                (" ".into(), Style::Plain),
                (n.id.to_string(), Style::Dim),
                (" ".into(), Style::Plain),
                (kind_padded, Style::Family(family_color(&n.kind))),
                (" ".into(), Style::Plain),
            ];
            parts.extend(
                summarize(&n.kind, n.payload)
                    .into_iter()
                    .map(|(text, emphasis)| {
                        let style = match emphasis {
                            Emphasis::Strong => Style::Bold,
                            Emphasis::Normal => Style::Plain,
                        };
                        (text, style)
                    }),
            );
            self.write_line(&parts)?;
        }
        emit(&mut self.out, &mut self.buf)
    }
}

impl<W: Write> PrettyPrinter<W> {
    /// Appends the parts as one line, made displayable, cut to the width, colored if asked.
    fn write_line(&mut self, parts: &[(String, Style)]) -> io::Result<()> {
        let mut budget = self.opts.width.unwrap_or(usize::MAX);
        let mut line = String::new();
        for (text, style) in parts {
            if budget == 0 {
                break;
            }
            let fitted = fit(text, budget);
            budget -= fitted.columns;
            let shown = fitted.text;
            if self.opts.color {
                let styled = match *style {
                    Style::Plain => shown.normal(),
                    Style::Dim => shown.dimmed(),
                    Style::Bold => shown.bold(),
                    Style::Family(color) => shown.color(color),
                };
                line.push_str(&styled.to_string());
            } else {
                line.push_str(&shown);
            }
            if fitted.cut {
                break;
            }
        }
        let line = line.trim_end();
        self.buf.extend_from_slice(line.as_bytes());
        self.buf.push(b'\n');
        Ok(())
    }
}

#[cfg(test)]
mod tests;
