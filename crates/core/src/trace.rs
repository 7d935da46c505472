//! Where the core's request logs go (`-vv` and `-vvv` in the CLI).
//!
//! The core knows nothing of terminals or colors: it hands finished lines to a sink that its
//! caller chooses. The CLI passes one that prints to stderr; a library user may pass its own,
//! or [`Trace::silent`]. Owns only the verbosity test; never formats for a terminal.

use std::fmt;
use std::sync::Arc;

type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// A verbosity level and the sink that receives the lines at or below it.
#[derive(Clone, Default)]
pub struct Trace {
    /// 0: nothing; 2: one line per request; 3: headers and bodies (secrets redacted).
    pub verbosity: u8,
    sink: Option<Sink>,
}

impl Trace {
    /// Lines up to `verbosity` go to `sink`.
    pub fn new(verbosity: u8, sink: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Trace {
            verbosity,
            sink: Some(Arc::new(sink)),
        }
    }

    /// Logs nothing.
    pub fn silent() -> Self {
        Trace::default()
    }

    /// True when a line at `level` would be written (to skip building costly ones).
    pub fn enabled(&self, level: u8) -> bool {
        self.sink.is_some() && self.verbosity >= level
    }

    /// Write `text` when the verbosity reaches `level`.
    pub fn debug(&self, level: u8, text: impl AsRef<str>) {
        if let Some(sink) = self.sink.as_ref().filter(|_| self.verbosity >= level) {
            sink(text.as_ref());
        }
    }
}

impl fmt::Debug for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trace")
            .field("verbosity", &self.verbosity)
            .field("sink", &self.sink.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn only_lines_at_or_below_the_verbosity_reach_the_sink() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let trace = Trace::new(2, move |t| s.lock().unwrap().push(t.to_string()));
        trace.debug(2, "request");
        trace.debug(3, "body");
        assert!(trace.enabled(2) && !trace.enabled(3));
        assert_eq!(*seen.lock().unwrap(), vec!["request".to_string()]);
        assert!(!Trace::silent().enabled(0));
    }
}
