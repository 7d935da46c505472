//! Stdout written by a thread of its own, so that a slow or stuck reader of our output (`| less`
//! scrolled back, a paused consumer) never blocks the task that reads the websocket: Ctrl-C,
//! SIGTERM, `--timeout` and the server's close keep being handled while a write waits.
//!
//! The printers format each frame in memory as before, into the [`Collector`]; the tail loop
//! hands what was collected to the [`Pump`] as soon as it has nothing more to read (so output
//! is as prompt as with a flush per frame), or once [`Pump::HAND_OVER_BYTES`] piled up during a
//! burst (so a flood costs one thread wake-up and one `write` per 64 KiB, not per frame). The
//! thread writes each hand-over with one `write_all` + `flush`. At most [`Pump::DEPTH`]
//! hand-overs wait in the queue; then the loop waits (asynchronously), so backpressure reaches
//! the socket, never memory. Buffers travel back to be reused: no allocation per frame.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{mpsc, oneshot};

/// Formatted frames above this size are not kept for reuse (a huge replay must not pin memory).
const KEEP_BUFFER_BYTES: usize = 1 << 20;

/// The stdout thread and the queue to it.
pub struct Pump {
    frames: Option<mpsc::Sender<Vec<u8>>>,
    spare: std::sync::mpsc::Receiver<Vec<u8>>,
    failure: Arc<Mutex<Option<io::Error>>>,
    done: Option<oneshot::Receiver<()>>,
    collected: Arc<Mutex<Vec<u8>>>,
}

/// What the printers write into: it keeps the bytes of the current frame in memory until
/// [`Pump::send_collected`] takes them. Never fails.
#[derive(Clone)]
pub struct Collector(Arc<Mutex<Vec<u8>>>);

impl Write for Collector {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.write(buf).map(|_| ())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Pump {
    /// Hand-overs queued at most before [`Pump::send_collected`] waits.
    pub const DEPTH: usize = 8;

    /// During a burst, hand over once this much output has been collected.
    pub const HAND_OVER_BYTES: usize = 64 << 10;

    /// Starts the thread that writes to `out`.
    pub fn start<W: Write + Send + 'static>(mut out: W) -> io::Result<Pump> {
        let (frames_tx, mut frames_rx) = mpsc::channel::<Vec<u8>>(Self::DEPTH);
        let (spare_tx, spare_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = oneshot::channel();
        let failure = Arc::new(Mutex::new(None));
        let failed = failure.clone();
        std::thread::Builder::new()
            .name("stdout".into())
            .spawn(move || {
                while let Some(mut frame) = frames_rx.blocking_recv() {
                    if let Err(e) = out.write_all(&frame).and_then(|()| out.flush()) {
                        *failed.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
                        break;
                    }
                    frame.clear();
                    if frame.capacity() <= KEEP_BUFFER_BYTES {
                        let _ = spare_tx.send(frame);
                    }
                }
                // Closing the queue first: a sender waiting for room learns of the failure.
                drop(frames_rx);
                let _ = done_tx.send(());
            })?;
        Ok(Pump {
            frames: Some(frames_tx),
            spare: spare_rx,
            failure,
            done: Some(done_rx),
            collected: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// The writer to give the printer.
    pub fn collector(&self) -> Collector {
        Collector(self.collected.clone())
    }

    /// Bytes collected and not handed over yet.
    pub fn collected_len(&self) -> usize {
        self.collected
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Queues what the collector holds (nothing when empty), waiting while the queue is full.
    /// An error is the writer's (kind unchanged: `BrokenPipe` when stdout was closed).
    ///
    /// Cancel-safe: the bytes are taken only once the queue has room, so a `select!` that
    /// drops this future loses nothing.
    pub async fn send_collected(&mut self) -> io::Result<()> {
        if self.collected_len() == 0 {
            return Ok(());
        }
        let Some(frames) = &self.frames else {
            return Err(self.failure());
        };
        let Ok(permit) = frames.reserve().await else {
            return Err(self.failure());
        };
        let spare = self.spare.try_recv().unwrap_or_default();
        let frame = std::mem::replace(
            &mut *self
                .collected
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
            spare,
        );
        permit.send(frame);
        Ok(())
    }

    /// Hands over what is left and waits until everything is written; the first write error,
    /// if any.
    pub async fn finish(&mut self) -> io::Result<()> {
        let sent = self.send_collected().await;
        drop(self.frames.take());
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
        let failure = self
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match (failure, sent) {
            (Some(e), _) | (None, Err(e)) => Err(e),
            (None, Ok(())) => Ok(()),
        }
    }

    fn failure(&self) -> io::Error {
        let failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        match &*failure {
            Some(e) => io::Error::new(e.kind(), e.to_string()),
            None => io::Error::other("the stdout thread stopped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::tests::Recorder;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A writer the test can share, block and break.
    #[derive(Clone, Default)]
    struct Gate {
        bytes: Arc<Mutex<Vec<u8>>>,
        flushes: Arc<Mutex<usize>>,
        closed: Arc<AtomicBool>,
        hold: Arc<Mutex<()>>,
    }

    impl Write for Gate {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let _held = self.hold.lock().unwrap();
            if self.closed.load(Ordering::SeqCst) {
                return Err(io::Error::from(io::ErrorKind::BrokenPipe));
            }
            self.bytes.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            *self.flushes.lock().unwrap() += 1;
            Ok(())
        }
    }

    fn frame(pump: &Pump, text: &str) {
        pump.collector().write_all(text.as_bytes()).unwrap();
    }

    #[tokio::test]
    async fn frames_arrive_in_order_one_flush_each() {
        let gate = Gate::default();
        let mut pump = Pump::start(gate.clone()).unwrap();
        for i in 0..100 {
            frame(&pump, &format!("{i}\n"));
            pump.send_collected().await.unwrap();
        }
        // Nothing collected: nothing sent.
        pump.send_collected().await.unwrap();
        pump.finish().await.unwrap();
        let expected: String = (0..100).map(|i| format!("{i}\n")).collect();
        assert_eq!(
            String::from_utf8(gate.bytes.lock().unwrap().clone()).unwrap(),
            expected
        );
        assert_eq!(*gate.flushes.lock().unwrap(), 100);
    }

    // The held lock stands for a stuck stdout: it blocks the writer *thread* on purpose, not a task.
    #[allow(clippy::await_holding_lock)]
    #[tokio::test]
    async fn a_stuck_stdout_blocks_no_one_and_a_full_queue_waits() {
        let gate = Gate::default();
        let held = gate.hold.lock().unwrap();
        let mut pump = Pump::start(gate.clone()).unwrap();
        // The thread takes one frame and blocks in write; DEPTH more fit in the queue.
        for _ in 0..=Pump::DEPTH {
            frame(&pump, "x\n");
            pump.send_collected().await.unwrap();
        }
        frame(&pump, "one too many\n");
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(100), pump.send_collected())
                .await;
        assert!(waited.is_err(), "the send should wait for room");
        drop(held);
        pump.finish().await.unwrap();
        // The waiting frame was not lost: finish handed it over.
        let written = gate.bytes.lock().unwrap().len();
        assert_eq!(written, (Pump::DEPTH + 1) * 2 + "one too many\n".len());
    }

    #[tokio::test]
    async fn a_closed_stdout_surfaces_as_broken_pipe() {
        let gate = Gate::default();
        gate.closed.store(true, Ordering::SeqCst);
        let mut pump = Pump::start(gate).unwrap();
        let mut kinds = Vec::new();
        for _ in 0..(Pump::DEPTH + 5) {
            frame(&pump, "x\n");
            if let Err(e) = pump.send_collected().await {
                kinds.push(e.kind());
                break;
            }
            tokio::task::yield_now().await;
        }
        let finished = pump.finish().await;
        // Either the send or the finish reports it, as BrokenPipe.
        let kind = kinds.first().copied().or(finished.err().map(|e| e.kind()));
        assert_eq!(kind, Some(io::ErrorKind::BrokenPipe));
    }

    // The held lock stands for a stuck stdout: it blocks the writer *thread* on purpose, not a task.
    #[allow(clippy::await_holding_lock)]
    #[tokio::test]
    async fn a_cancelled_send_loses_nothing_and_finish_sends_the_rest() {
        let gate = Gate::default();
        let held = gate.hold.lock().unwrap();
        let mut pump = Pump::start(gate.clone()).unwrap();
        for _ in 0..=Pump::DEPTH {
            frame(&pump, "x\n");
            pump.send_collected().await.unwrap();
        }
        frame(&pump, "kept\n");
        // The queue is full: the send waits and is dropped, as a select! would.
        let cancelled =
            tokio::time::timeout(std::time::Duration::from_millis(20), pump.send_collected()).await;
        assert!(cancelled.is_err());
        assert_eq!(pump.collected_len(), 5);
        frame(&pump, "last\n");
        drop(held);
        pump.finish().await.unwrap();
        let written = String::from_utf8(gate.bytes.lock().unwrap().clone()).unwrap();
        assert!(written.ends_with("x\nkept\nlast\n"), "{written}");
    }

    #[test]
    fn the_collector_never_fails() {
        let pump = Pump::start(Recorder::default()).unwrap();
        let mut c = pump.collector();
        c.write_all(b"abc").unwrap();
        c.flush().unwrap();
        assert_eq!(&*pump.collected.lock().unwrap(), b"abc");
    }
}
