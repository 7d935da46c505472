//! Stdout for a long-running stream: the printers format into memory, a writer thread does the
//! blocking `write(2)`s behind a short queue.
//!
//! Why: a reader that stops reading (a paused `less`, a stuck consumer) blocks `write` for as
//! long as it likes. Done on the async loop, that also blocked Ctrl-C, SIGTERM and `--timeout`:
//! the process could not be stopped. With the queue the loop still waits when the queue is full
//! (so backpressure still reaches the socket and memory stays bounded) but it waits in a
//! `select!` that also watches signals and deadlines.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{mpsc, oneshot};

/// A `Write` that keeps what is written until [`Captured::take`]: give it to a printer, then
/// hand each formatted frame to a [`StdoutSink`].
#[derive(Debug, Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Everything written since the last call.
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One formatted frame and the stream position it completes.
struct Chunk {
    bytes: Vec<u8>,
    position: u64,
}

/// The writer thread and its queue.
pub struct StdoutSink {
    queue: Option<mpsc::Sender<Chunk>>,
    /// Why the writer stopped, once it has (a closed pipe, a full disk).
    failure: Arc<Mutex<Option<io::Error>>>,
    /// The `position` of the last chunk fully written and flushed.
    written: Arc<AtomicU64>,
    done: Option<oneshot::Receiver<()>>,
}

impl StdoutSink {
    /// Start the writer thread on `out`; at most `depth` frames wait in memory.
    pub fn spawn(mut out: Box<dyn Write + Send>, depth: usize) -> io::Result<Self> {
        let (tx, mut rx) = mpsc::channel::<Chunk>(depth.max(1));
        let (done_tx, done_rx) = oneshot::channel();
        let failure = Arc::new(Mutex::new(None));
        let written = Arc::new(AtomicU64::new(0));
        let (fail, pos) = (failure.clone(), written.clone());
        std::thread::Builder::new()
            .name("stdout".into())
            .spawn(move || {
                while let Some(chunk) = rx.blocking_recv() {
                    if let Err(e) = out.write_all(&chunk.bytes).and_then(|()| out.flush()) {
                        *fail.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
                        break;
                    }
                    pos.store(chunk.position, Ordering::Release);
                }
                let _ = done_tx.send(());
            })?;
        Ok(StdoutSink {
            queue: Some(tx),
            failure,
            written,
            done: Some(done_rx),
        })
    }

    /// Queue a frame, waiting while the queue is full. `position` is the stream position
    /// (highest id seen) once this frame is out. Err: the writer failed, with its error (kind
    /// `BrokenPipe` for a closed stdout).
    pub async fn send(&mut self, bytes: Vec<u8>, position: u64) -> io::Result<()> {
        let Some(queue) = &self.queue else {
            return Err(self.failure());
        };
        queue
            .send(Chunk { bytes, position })
            .await
            .map_err(|_| self.failure())
    }

    /// Close the queue and wait until everything queued is written. Cancel-safe: dropping the
    /// future (a signal while a reader is stuck) leaves the writer to the process exit.
    pub async fn drain(&mut self) -> io::Result<()> {
        self.queue = None;
        if let Some(done) = self.done.as_mut() {
            let _ = done.await;
            self.done = None;
        }
        match self
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The `position` of the last frame that reached stdout (0: none yet).
    pub fn written_position(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    fn failure(&self) -> io::Error {
        match self
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            Some(e) => io::Error::new(e.kind(), e.to_string()),
            None => io::Error::other("the stdout writer stopped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that fails like a closed pipe after `ok` writes.
    struct ClosesAfter {
        ok: usize,
        seen: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for ClosesAfter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.ok == 0 {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            self.ok -= 1;
            self.seen.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn frames_arrive_in_order_and_drain_waits_for_them() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let out = ClosesAfter {
            ok: usize::MAX,
            seen: seen.clone(),
        };
        let mut sink = StdoutSink::spawn(Box::new(out), 2).unwrap();
        for i in 1..=100u64 {
            sink.send(format!("{i}\n").into_bytes(), i).await.unwrap();
        }
        sink.drain().await.unwrap();
        let text = String::from_utf8(seen.lock().unwrap().clone()).unwrap();
        let lines: Vec<u64> = text.lines().map(|l| l.parse().unwrap()).collect();
        assert_eq!(lines, (1..=100).collect::<Vec<_>>());
        assert_eq!(sink.written_position(), 100);
    }

    #[tokio::test]
    async fn a_closed_pipe_surfaces_as_broken_pipe() {
        let out = ClosesAfter {
            ok: 1,
            seen: Arc::default(),
        };
        let mut sink = StdoutSink::spawn(Box::new(out), 1).unwrap();
        let mut first_error = None;
        for i in 1..=10u64 {
            if let Err(e) = sink.send(vec![b'x'], i).await {
                first_error = Some(e);
                break;
            }
        }
        let e = match first_error {
            Some(e) => e,
            None => sink.drain().await.unwrap_err(),
        };
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(sink.written_position(), 1);
    }

    #[test]
    fn captured_hands_over_what_was_written_once() {
        let c = Captured::default();
        let mut w = c.clone();
        w.write_all(b"abc").unwrap();
        assert_eq!(c.take(), b"abc");
        assert!(c.take().is_empty());
    }
}
