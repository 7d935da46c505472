//! Everything meant for a human goes to stderr through [`Ui`]; stdout is data only.
//!
//! May not touch: stdout (data only) or the protocol.
//!
//! `Ui` owns the verbosity policy (`-q` silences all but errors, `-v…` adds detail) and the color
//! decision per stream, so no command has to think about `NO_COLOR` or whether stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use colored::Colorize;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{ColorChoice, GlobalArgs};

/// Whether to color a stream, following `--color`, `NO_COLOR` and `CLICOLOR_FORCE`.
pub fn use_color(choice: ColorChoice, is_terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
            if set("NO_COLOR") {
                false
            } else if std::env::var_os("CLICOLOR_FORCE").is_some_and(|v| !v.is_empty() && v != "0")
            {
                true
            } else {
                is_terminal
            }
        }
    }
}

/// The human side channel (stderr).
#[derive(Debug, Clone)]
pub struct Ui {
    pub verbosity: u8,
    pub quiet: bool,
    /// Colors on stderr.
    pub color: bool,
    /// Colors on stdout (for the pretty printer and doctor's lines).
    pub color_stdout: bool,
    /// stderr is a terminal: spinners instead of plain state lines.
    pub interactive: bool,
    /// The profile every line is about, when a command runs on several (`[prod] …`).
    pub label: Option<std::sync::Arc<str>>,
}

impl Ui {
    pub fn new(global: &GlobalArgs) -> Self {
        // Colors are decided per stream here; the crate-wide switch must not second-guess it.
        colored::control::set_override(true);
        let stderr_tty = std::io::stderr().is_terminal();
        Ui {
            verbosity: global.verbose,
            quiet: global.quiet,
            color: use_color(global.color, stderr_tty),
            color_stdout: use_color(global.color, std::io::stdout().is_terminal()),
            interactive: stderr_tty && !global.quiet,
            label: None,
        }
    }

    /// A Ui that prints nothing but errors, for library-style use in tests.
    pub fn silent() -> Self {
        Ui {
            verbosity: 0,
            quiet: true,
            color: false,
            color_stdout: false,
            interactive: false,
            label: None,
        }
    }

    /// The same reporter, each line starting with `[name] ` (one profile of several). No
    /// spinner then: several would fight over the one terminal line.
    pub fn labelled(&self, name: &str) -> Ui {
        Ui {
            label: Some(name.into()),
            interactive: false,
            ..self.clone()
        }
    }

    fn line(&self, text: &str) {
        let mut err = std::io::stderr().lock();
        let _ = match &self.label {
            Some(label) => writeln!(err, "[{label}] {text}"),
            None => writeln!(err, "{text}"),
        };
    }

    /// Normal progress and results meant for a human (suppressed by -q).
    pub fn info(&self, text: impl AsRef<str>) {
        if !self.quiet {
            self.line(text.as_ref());
        }
    }

    /// Something the user should know even if it is not fatal (suppressed by -q).
    pub fn warn(&self, text: impl AsRef<str>) {
        if !self.quiet {
            let label = if self.color {
                "warning:".yellow().bold().to_string()
            } else {
                "warning:".to_string()
            };
            self.line(&format!("{label} {}", text.as_ref()));
        }
    }

    /// Warnings that must show even with -q (insecure TLS, cleartext sessions).
    pub fn warn_always(&self, text: impl AsRef<str>) {
        let label = if self.color {
            "warning:".yellow().bold().to_string()
        } else {
            "warning:".to_string()
        };
        self.line(&format!("{label} {}", text.as_ref()));
    }

    /// The final error line.
    pub fn error(&self, text: impl AsRef<str>) {
        let label = if self.color {
            "error:".red().bold().to_string()
        } else {
            "error:".to_string()
        };
        self.line(&format!("{label} {}", text.as_ref()));
    }

    /// Detail shown at `-v` (level 1), `-vv` (2: HTTP), `-vvv` (3: frames).
    pub fn debug(&self, level: u8, text: impl AsRef<str>) {
        if self.verbosity >= level && !self.quiet {
            let t = text.as_ref();
            if self.color {
                self.line(&t.dimmed().to_string());
            } else {
                self.line(t);
            }
        }
    }

    /// The client core's request log (`-vv`, `-vvv`), printed like [`Ui::debug`] lines.
    pub fn trace(&self) -> odoo_bus_core::trace::Trace {
        if self.quiet {
            return odoo_bus_core::trace::Trace::silent();
        }
        let ui = self.clone();
        odoo_bus_core::trace::Trace::new(self.verbosity, move |line| ui.debug(0, line))
    }

    /// A spinner while waiting (only on an interactive stderr); otherwise one plain line.
    pub fn spinner(&self, message: impl Into<String>) -> Spinner {
        let message = message.into();
        if self.interactive {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
                bar.set_style(style);
            }
            bar.set_message(message);
            bar.enable_steady_tick(Duration::from_millis(100));
            Spinner { bar: Some(bar) }
        } else {
            self.info(message);
            Spinner { bar: None }
        }
    }

    /// Paint text for stdout when colors are on there.
    pub fn paint_stdout<'a>(
        &self,
        text: &'a str,
        paint: impl Fn(&'a str) -> colored::ColoredString,
    ) -> String {
        if self.color_stdout {
            paint(text).to_string()
        } else {
            text.to_string()
        }
    }
}

/// A running spinner; it disappears when dropped.
pub struct Spinner {
    bar: Option<ProgressBar>,
}

impl Spinner {
    pub fn set_message(&self, message: impl Into<String>) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.into());
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_choices_win() {
        assert!(use_color(ColorChoice::Always, false));
        assert!(!use_color(ColorChoice::Never, true));
    }
}
