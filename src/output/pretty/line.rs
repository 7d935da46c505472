//! Assembling one pretty line straight into the frame buffer: pieces made displayable, cut to
//! the terminal width, colored if asked. No intermediate strings: a line costs no allocation.

use colored::Color;

use super::text::fit_into;

/// How a piece of the line is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Style {
    Plain,
    Dim,
    Bold,
    Family(Color),
}

impl Style {
    /// The SGR parameters, as the `colored` crate writes them (`None`: no escape at all).
    fn sgr(self) -> Option<std::borrow::Cow<'static, str>> {
        match self {
            Style::Plain => None,
            Style::Dim => Some("2".into()),
            Style::Bold => Some("1".into()),
            Style::Family(color) => Some(color.to_fg_str()),
        }
    }
}

/// One line being written at the end of `out`.
pub(super) struct Line<'b> {
    out: &'b mut Vec<u8>,
    start: usize,
    /// Columns left.
    budget: usize,
    color: bool,
    /// A piece was cut: nothing more goes on this line.
    full: bool,
}

impl<'b> Line<'b> {
    /// A line appended to `out`, cut to `width` columns when given.
    pub fn new(out: &'b mut Vec<u8>, width: Option<usize>, color: bool) -> Self {
        let start = out.len();
        Line {
            out,
            start,
            budget: width.unwrap_or(usize::MAX),
            color,
            full: false,
        }
    }

    /// Appends the concatenation of `parts` as one piece (it is cut as a whole, e.g. `#` and a
    /// channel name).
    pub fn push(&mut self, parts: &[&str], style: Style) {
        if self.full || self.budget == 0 {
            self.full = true;
            return;
        }
        let sgr = if self.color { style.sgr() } else { None };
        if let Some(sgr) = &sgr {
            self.out.extend_from_slice(b"\x1b[");
            self.out.extend_from_slice(sgr.as_bytes());
            self.out.push(b'm');
        }
        let fit = fit_into(self.out, parts, self.budget);
        if sgr.is_some() {
            self.out.extend_from_slice(b"\x1b[0m");
        }
        self.budget -= fit.columns;
        self.full = fit.cut;
    }

    /// Ends the line: trailing whitespace removed, then `\n`.
    pub fn finish(self) {
        loop {
            let line = &self.out[self.start..];
            // The last character starts at the last byte that is not a UTF-8 continuation byte.
            let Some(at) = line.iter().rposition(|b| b & 0xC0 != 0x80) else {
                break;
            };
            let last = std::str::from_utf8(&line[at..])
                .ok()
                .and_then(|s| s.chars().next());
            match last {
                Some(c) if c.is_whitespace() => self.out.truncate(self.start + at),
                _ => break,
            }
        }
        self.out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(width: Option<usize>, color: bool, pieces: &[(&[&str], Style)]) -> String {
        let mut out = b"before\n".to_vec();
        let mut line = Line::new(&mut out, width, color);
        for (parts, style) in pieces {
            line.push(parts, *style);
        }
        line.finish();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn pieces_are_joined_cut_and_trimmed() {
        let pieces: &[(&[&str], Style)] = &[
            (&["12:00"], Style::Dim),
            (&[" "], Style::Plain),
            (&["#", "general"], Style::Bold),
            (&["   \u{3000}"], Style::Plain),
        ];
        assert_eq!(line(None, false, pieces), "before\n12:00 #general\n");
        assert_eq!(line(Some(9), false, pieces), "before\n12:00 #g…\n");
        assert_eq!(line(Some(6), false, pieces), "before\n12:00\n");
    }

    #[test]
    fn colors_are_the_escapes_colored_writes() {
        use colored::Colorize;
        colored::control::set_override(true);
        let pieces: &[(&[&str], Style)] = &[
            (&["a"], Style::Dim),
            (&["b"], Style::Plain),
            (&["c"], Style::Bold),
            (&["d"], Style::Family(Color::Cyan)),
            (&["e"], Style::Family(Color::BrightBlue)),
        ];
        let expected = format!(
            "{}b{}{}{}",
            "a".dimmed(),
            "c".bold(),
            "d".color(Color::Cyan),
            "e".color(Color::BrightBlue)
        );
        assert_eq!(line(None, true, pieces), format!("before\n{expected}\n"));
    }
}
