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
//!
//! Each hand-over carries where each frame in it ends and the stream position of its last
//! notification ([`Pump::mark`]); the thread records a position once the frame's bytes are
//! written. When output is cut short (a stuck reader and Ctrl-C, a closed pipe),
//! [`Pump::written_position`] is the position `--resume` can continue from: nothing that was
//! printed but never written is skipped; at most the last write in progress (≤ 16 KiB of
//! whole frames) may come again.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{mpsc, oneshot};

/// The most bytes of whole frames written by one `write` (see [`write_marked`]).
const WRITE_CHUNK: usize = 16 << 10;

/// Formatted frames above this size are not kept for reuse (a huge replay must not pin memory).
const KEEP_BUFFER_BYTES: usize = 1 << 20;

/// The stdout thread and the queue to it.
pub struct Pump {
    frames: Option<mpsc::Sender<HandOver>>,
    spare: std::sync::mpsc::Receiver<Vec<u8>>,
    failure: Arc<Mutex<Option<io::Error>>>,
    done: Option<oneshot::Receiver<()>>,
    collected: Arc<Mutex<Vec<u8>>>,
    /// Where each frame collected now ends, and the position it ends at.
    marks: Vec<Mark>,
    /// Per stream (one per profile tailed): the position of the last frame written, plus one
    /// (0: none yet).
    written: Arc<[AtomicU64]>,
    /// Set when [`Pump::finish`] saw everything written.
    complete: bool,
}

/// Bytes for stdout and the frames' positions in them.
struct HandOver {
    bytes: Vec<u8>,
    marks: Vec<Mark>,
}

/// A frame ends `end` bytes into a hand-over, at position `id` of stream `slot`.
#[derive(Clone, Copy)]
struct Mark {
    end: usize,
    id: u64,
    slot: usize,
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

    /// Starts the thread that writes to `out`, for one stream.
    pub fn start<W: Write + Send + 'static>(out: W) -> io::Result<Pump> {
        Self::start_for(out, 1)
    }

    /// Starts the thread that writes to `out`, keeping a written position for each of `streams`
    /// streams (one per profile of a multi-profile tail).
    pub fn start_for<W: Write + Send + 'static>(mut out: W, streams: usize) -> io::Result<Pump> {
        let (frames_tx, mut frames_rx) = mpsc::channel::<HandOver>(Self::DEPTH);
        let (spare_tx, spare_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = oneshot::channel();
        let failure = Arc::new(Mutex::new(None));
        let failed = failure.clone();
        let written: Arc<[AtomicU64]> = (0..streams.max(1)).map(|_| AtomicU64::new(0)).collect();
        let written_by_thread = written.clone();
        std::thread::Builder::new()
            .name("stdout".into())
            .spawn(move || {
                while let Some(HandOver {
                    bytes: mut frame,
                    marks,
                }) = frames_rx.blocking_recv()
                {
                    let record = |slot: usize, id: u64| {
                        written_by_thread[slot].fetch_max(id.saturating_add(1), Ordering::Release);
                    };
                    let written = write_marked(&mut out, &frame, &marks, WRITE_CHUNK, record)
                        .and_then(|()| out.flush());
                    if let Err(e) = written {
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
            marks: Vec::new(),
            written,
            complete: false,
        })
    }

    /// Records that the frame just collected ends at stream position `id` (the id of its last
    /// notification printed); it travels with the next hand-over.
    pub fn mark(&mut self, id: u64) {
        self.mark_in(0, id);
    }

    /// [`Pump::mark`] for stream `slot` (< the `streams` given to [`Pump::start_for`]).
    pub fn mark_in(&mut self, slot: usize, id: u64) {
        let end = self.collected_len();
        let slot = slot.min(self.written.len() - 1);
        self.marks.push(Mark { end, id, slot });
    }

    /// The position of the last frame the thread has written completely: everything printed
    /// up to it reached stdout. `None` before the first marked frame was written.
    pub fn written_position(&self) -> Option<u64> {
        self.written_position_of(0)
    }

    /// [`Pump::written_position`] of stream `slot`.
    pub fn written_position_of(&self, slot: usize) -> Option<u64> {
        self.written
            .get(slot)
            .and_then(|w| w.load(Ordering::Acquire).checked_sub(1))
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
        let bytes = std::mem::replace(
            &mut *self
                .collected
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
            spare,
        );
        permit.send(HandOver {
            bytes,
            marks: std::mem::take(&mut self.marks),
        });
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
            (None, Ok(())) => {
                self.complete = true;
                Ok(())
            }
        }
    }

    /// Whether [`Pump::finish`] ran to the end and everything handed over was written (false
    /// when it failed or was cut short).
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    fn failure(&self) -> io::Error {
        let failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        match &*failure {
            Some(e) => io::Error::new(e.kind(), e.to_string()),
            None => io::Error::other("the stdout thread stopped"),
        }
    }
}

/// `write_all` in chunks of whole frames (at most `chunk` bytes unless one frame is larger),
/// telling `record` the position of each chunk's last frame once the chunk is written. Why
/// chunks: a blocking write to a pipe does not return until all of it is in, so when the reader
/// never comes back (a paused pager, then Ctrl-C) the lines of the write in progress may have
/// reached the reader unrecorded. Chunks bound what `--resume` can repeat then; they cost a
/// few more system calls per 64 KiB hand-over.
fn write_marked(
    out: &mut impl Write,
    bytes: &[u8],
    marks: &[Mark],
    chunk: usize,
    mut record: impl FnMut(usize, u64),
) -> io::Result<()> {
    let mut start = 0;
    let mut marks = marks.iter().peekable();
    let mut chunk_marks: Vec<Mark> = Vec::new();
    while start < bytes.len() {
        let mut end = start;
        chunk_marks.clear();
        while let Some(mark) = marks.next_if(|m| end == start || m.end - start <= chunk) {
            end = mark.end;
            chunk_marks.push(*mark);
        }
        if chunk_marks.is_empty() {
            // Output after the last marked frame (none is expected): written, not recorded.
            end = bytes.len();
        }
        out.write_all(&bytes[start..end])?;
        // Each stream's marks come in its own order: the last one of a stream is its position.
        for (i, m) in chunk_marks.iter().enumerate() {
            if !chunk_marks[i + 1..]
                .iter()
                .any(|later| later.slot == m.slot)
            {
                record(m.slot, m.id);
            }
        }
        start = end;
    }
    // Only frames that printed nothing can be left (none do today): all their bytes are out.
    marks.for_each(|m| record(m.slot, m.id));
    Ok(())
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

    /// With the writer stuck: the thread takes one "x\n" and blocks in write; DEPTH more fill
    /// the queue, so the next send waits.
    async fn fill_the_queue(pump: &mut Pump) {
        for _ in 0..=Pump::DEPTH {
            frame(pump, "x\n");
            pump.send_collected().await.unwrap();
        }
    }

    // The held lock stands for a stuck stdout: it blocks the writer *thread* on purpose, not a task.
    #[allow(clippy::await_holding_lock)]
    #[tokio::test]
    async fn a_stuck_stdout_blocks_no_one_and_a_full_queue_waits() {
        let gate = Gate::default();
        let held = gate.hold.lock().unwrap();
        let mut pump = Pump::start(gate.clone()).unwrap();
        fill_the_queue(&mut pump).await;
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
        fill_the_queue(&mut pump).await;
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

    /// Waits (briefly) until the thread has written up to `id`.
    async fn written_up_to(pump: &Pump, id: u64) {
        for _ in 0..500 {
            if pump.written_position() == Some(id) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        panic!("position {id} never written: {:?}", pump.written_position());
    }

    // The held lock stands for a stuck stdout: it blocks the writer *thread* on purpose, not a task.
    #[allow(clippy::await_holding_lock)]
    #[tokio::test]
    async fn the_written_position_counts_only_what_reached_stdout() {
        let gate = Gate::default();
        let mut pump = Pump::start(gate.clone()).unwrap();
        assert_eq!(pump.written_position(), None);
        frame(&pump, "1\n");
        pump.mark(1);
        frame(&pump, "3\n");
        pump.mark(3);
        pump.send_collected().await.unwrap();
        written_up_to(&pump, 3).await;

        let held = gate.hold.lock().unwrap();
        frame(&pump, "7\n");
        pump.mark(7);
        pump.send_collected().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(pump.written_position(), Some(3), "7 is not written yet");
        assert!(!pump.is_complete());
        drop(held);
        pump.finish().await.unwrap();
        assert!(pump.is_complete());
        assert_eq!(pump.written_position(), Some(7));
    }

    #[tokio::test]
    async fn a_failed_write_does_not_advance_the_position() {
        let gate = Gate::default();
        let mut pump = Pump::start(gate.clone()).unwrap();
        frame(&pump, "1\n");
        pump.mark(1);
        pump.send_collected().await.unwrap();
        written_up_to(&pump, 1).await;
        gate.closed.store(true, Ordering::SeqCst);
        frame(&pump, "2\n");
        pump.mark(2);
        let _ = pump.send_collected().await;
        assert!(pump.finish().await.is_err());
        assert!(!pump.is_complete());
        assert_eq!(pump.written_position(), Some(1));
    }

    /// Accepts at most `chunk` bytes per write, and fails after `limit` bytes in all.
    struct Trickle {
        chunk: usize,
        limit: usize,
        taken: Vec<u8>,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let room = self.limit - self.taken.len();
            if room == 0 {
                return Err(io::Error::from(io::ErrorKind::BrokenPipe));
            }
            let n = buf.len().min(self.chunk).min(room);
            self.taken.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_chunk_is_recorded_once_written_whole() {
        // Three frames: "aaaa\n" (id 10), "bbbbbbb\n" (id 11), "cc\n" (id 14).
        let bytes = b"aaaa\nbbbbbbb\ncc\n";
        let marks = [
            Mark {
                end: 5,
                id: 10,
                slot: 0,
            },
            Mark {
                end: 13,
                id: 11,
                slot: 0,
            },
            Mark {
                end: 16,
                id: 14,
                slot: 0,
            },
        ];
        // chunk 6: one frame per write (the 8-byte frame alone); chunk 13: the first two together.
        let cases: [(usize, &[(usize, u64)]); 2] = [
            (6, &[(5, 10), (13, 11), (16, 14)]),
            (13, &[(13, 11), (16, 14)]),
        ];
        for (chunk, chunks) in cases {
            for limit in 0..=bytes.len() {
                let mut out = Trickle {
                    chunk: 3,
                    limit,
                    taken: Vec::new(),
                };
                let mut recorded = Vec::new();
                let result =
                    write_marked(&mut out, bytes, &marks, chunk, |_, id| recorded.push(id));
                assert_eq!(result.is_ok(), limit == bytes.len(), "limit {limit}");
                let whole: Vec<u64> = chunks
                    .iter()
                    .filter(|(end, _)| *end <= limit)
                    .map(|(_, id)| *id)
                    .collect();
                assert_eq!(recorded, whole, "chunk {chunk}, limit {limit}");
                assert_eq!(out.taken, bytes[..limit], "chunk {chunk}, limit {limit}");
            }
        }
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
