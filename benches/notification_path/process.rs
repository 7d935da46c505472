//! Running a client as whole processes and reading what the kernel accounted for them.
//!
//! CPU time comes from `wait4`: the child's own user and system time, exactly, with the exit
//! status. Peak RSS does not: `ru_maxrss` survives `exec`, and `Command::spawn` starts the child
//! as a vfork of this process, so every child would report at least the bench's own peak (the
//! prebuilt flood makes that ~100 MB). `VmHWM` in `/proc/<pid>/status` belongs to the address
//! space `exec` created, so a thread polls it every 2 ms while the process runs (`spawn` returns
//! only after the `exec`). The high-water mark never goes down, so the last reading is the peak
//! up to 2 ms before the exit, when a process only frees memory.

use std::io;
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What one process used, from `wait4`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// User + system CPU time.
    pub cpu: Duration,
    /// Peak resident set size (`VmHWM`), KiB.
    pub max_rss_kib: u64,
}

impl Usage {
    fn with_peak(self, max_rss_kib: u64) -> Usage {
        Usage {
            max_rss_kib,
            ..self
        }
    }

    /// Two processes side by side (a pipeline): CPU adds up, and so does memory, since both
    /// peaks are held at the same time for most of the run.
    pub fn plus(self, other: Usage) -> Usage {
        Usage {
            cpu: self.cpu + other.cpu,
            max_rss_kib: self.max_rss_kib + other.max_rss_kib,
        }
    }
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exit code {c}"),
            Exit::Signal(s) => write!(f, "signal {s}"),
        }
    }
}

/// A started process that this module reaps itself (so std's `Child` must never wait or kill it
/// afterwards: the pid could be reused). Dropping an unfinished one kills and reaps it.
pub struct Proc {
    pid: libc::pid_t,
    /// Kept so the pipes the caller did not take stay open as long as the process runs.
    _child: Child,
    peak: PeakRss,
    done: Option<(Exit, Usage)>,
}

impl Proc {
    pub fn new(child: Child) -> Proc {
        let pid = child.id() as libc::pid_t;
        Proc {
            pid,
            _child: child,
            peak: PeakRss::watch(pid),
            done: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// The exit and usage if the process has ended, without blocking.
    pub fn try_finish(&mut self) -> io::Result<Option<(Exit, Usage)>> {
        if self.done.is_none() && exited(self.pid)? {
            let peak = self.peak.stop();
            self.done = wait4(self.pid, 0)?.map(|(exit, usage)| (exit, usage.with_peak(peak)));
        }
        Ok(self.done)
    }

    /// Block until the process ends (killing it after `timeout`); also returns when it ended.
    ///
    /// The wait itself is a blocking `waitid(WNOWAIT)`: no polling interval adds to the wall
    /// time, and the process is only reaped once the watchdog can no longer signal its pid.
    pub fn finish(&mut self, timeout: Duration) -> io::Result<(Exit, Usage, Instant)> {
        if let Some((exit, usage)) = self.done {
            return Ok((exit, usage, Instant::now()));
        }
        let pid = self.pid;
        let (stop, stopped) = mpsc::channel::<()>();
        let watchdog = std::thread::spawn(move || {
            let expired = matches!(
                stopped.recv_timeout(timeout),
                Err(mpsc::RecvTimeoutError::Timeout)
            );
            if expired {
                // SAFETY: the pid is not reaped until this thread is joined.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
            expired
        });
        let waited = wait_exited(pid);
        let ended = Instant::now();
        let _ = stop.send(());
        let killed = watchdog.join().unwrap_or(false);
        waited?;
        let peak = self.peak.stop();
        let (exit, usage) =
            wait4(pid, 0)?.ok_or_else(|| io::Error::other("wait4 returned nothing"))?;
        let done = (exit, usage.with_peak(peak));
        self.done = Some(done);
        if killed {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("pid {pid} still running after {timeout:?}; killed"),
            ));
        }
        Ok((done.0, done.1, ended))
    }

    fn kill(&mut self) {
        if self.done.is_some() {
            return;
        }
        // SAFETY: plain syscall on a pid we started and have not reaped yet.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
        }
        let _ = wait_exited(self.pid);
        self.peak.stop();
        self.done = wait4(self.pid, 0).ok().flatten();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Block until `pid` has exited, leaving it unreaped (`waitid(P_PID, WEXITED | WNOWAIT)`).
fn wait_exited(pid: libc::pid_t) -> io::Result<()> {
    waitid_nowait(pid, 0).map(|_| ())
}

/// Whether `pid` has exited (it stays unreaped).
fn exited(pid: libc::pid_t) -> io::Result<bool> {
    waitid_nowait(pid, libc::WNOHANG)
}

fn waitid_nowait(pid: libc::pid_t, extra: libc::c_int) -> io::Result<bool> {
    loop {
        // SAFETY: siginfo_t is plain old data; waitid fills it in.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: the out-pointer points to a live, writable local.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT | extra,
            )
        };
        if r == 0 {
            // With WNOHANG and nothing to report, the kernel leaves si_pid at 0.
            // SAFETY: waitid succeeded, so info is initialised.
            return Ok(unsafe { info.si_pid() } != 0);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// The `VmHWM` poller of one process.
struct PeakRss {
    kib: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl PeakRss {
    fn watch(pid: libc::pid_t) -> PeakRss {
        let kib = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (kib, stop) = (kib.clone(), stop.clone());
            std::thread::spawn(move || {
                let path = format!("/proc/{pid}/status");
                while !stop.load(Ordering::Relaxed) {
                    // None once the process is a zombie (its memory is gone).
                    match std::fs::read_to_string(&path)
                        .ok()
                        .and_then(|s| vm_hwm_kib(&s))
                    {
                        Some(v) => kib.fetch_max(v, Ordering::Relaxed),
                        None => break,
                    };
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        };
        PeakRss {
            kib,
            stop,
            thread: Some(thread),
        }
    }

    /// Stop polling (before the pid is reaped and can be reused); the peak seen, KiB.
    fn stop(&mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.kib.load(Ordering::Relaxed)
    }
}

fn vm_hwm_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line["VmHWM:".len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// `wait4(pid, options)`: `None` when WNOHANG found it still running.
fn wait4(pid: libc::pid_t, options: libc::c_int) -> io::Result<Option<(Exit, Usage)>> {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; all-zero is a valid value that wait4 overwrites.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both out-pointers point to live, writable locals of the right types.
        let r = unsafe { libc::wait4(pid, &mut status, options, &mut usage) };
        if r == pid {
            break;
        }
        if r == 0 {
            return Ok(None);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    let exit = if libc::WIFEXITED(status) {
        Exit::Code(libc::WEXITSTATUS(status))
    } else {
        Exit::Signal(libc::WTERMSIG(status))
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Ok(Some((
        exit,
        Usage {
            cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
            max_rss_kib: 0,
        },
    )))
}
