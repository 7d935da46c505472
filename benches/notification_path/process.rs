//! Running a client as whole processes and reading what the kernel accounted for them.
//!
//! Why `wait4` and not `Child::wait`: it returns the child's own resource usage (user and system
//! CPU time, peak RSS) with the exit status, exactly for that process, with no extra tool and no
//! polling. `getrusage(RUSAGE_CHILDREN)` would mix all children together (its `ru_maxrss` is the
//! largest of them, not the last one's).

use std::io;
use std::process::Child;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What one process used, from `wait4`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// User + system CPU time.
    pub cpu: Duration,
    /// Peak resident set size (`ru_maxrss`), KiB.
    pub max_rss_kib: u64,
}

impl Usage {
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
    done: Option<(Exit, Usage)>,
}

impl Proc {
    pub fn new(child: Child) -> Proc {
        let pid = child.id() as libc::pid_t;
        Proc {
            pid,
            _child: child,
            done: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// The exit and usage if the process has ended, without blocking.
    pub fn try_finish(&mut self) -> io::Result<Option<(Exit, Usage)>> {
        if self.done.is_none() {
            self.done = wait4(self.pid, libc::WNOHANG)?;
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
        let done = wait4(pid, 0)?.ok_or_else(|| io::Error::other("wait4 returned nothing"))?;
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
        self.done = wait4(self.pid, 0).ok().flatten();
    }
}

/// Block until `pid` has exited, leaving it unreaped (`waitid(P_PID, WEXITED | WNOWAIT)`).
fn wait_exited(pid: libc::pid_t) -> io::Result<()> {
    loop {
        // SAFETY: siginfo_t is plain old data; waitid fills it in.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: the out-pointer points to a live, writable local.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
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
            max_rss_kib: usage.ru_maxrss as u64,
        },
    )))
}
