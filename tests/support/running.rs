//! A binary under test that keeps running (tail, demo): lines of stdout as they come, stderr
//! collected, signals, and a bounded wait for the exit code.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Running {
    child: Child,
    lines: Option<Receiver<String>>,
    stderr: Arc<Mutex<String>>,
    raw_stdout: Option<ChildStdout>,
}

/// What a finished run left behind.
#[derive(Debug)]
pub struct Finished {
    /// None when killed by a signal.
    pub code: Option<i32>,
    pub stdout: Vec<String>,
    pub stderr: String,
}

impl Running {
    /// Start `cmd` with stdout read line by line in the background.
    pub fn spawn(mut cmd: Command) -> Running {
        Self::start(&mut cmd, true)
    }

    /// Start `cmd` and leave its stdout pipe to the test (to close it early, like `| head`).
    pub fn spawn_raw(mut cmd: Command) -> Running {
        Self::start(&mut cmd, false)
    }

    fn start(cmd: &mut Command, read_lines: bool) -> Running {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let mut err = child.stderr.take().expect("stderr piped");
        // Appended as it comes, so a test can watch a process that keeps running.
        std::thread::spawn(move || {
            let mut pending = Vec::new();
            let mut chunk = [0u8; 4096];
            while let Ok(n) = err.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                pending.extend_from_slice(&chunk[..n]);
                // Keep an incomplete UTF-8 sequence for the next chunk.
                let valid = match std::str::from_utf8(&pending) {
                    Ok(_) => pending.len(),
                    Err(e) if e.error_len().is_none() => e.valid_up_to(),
                    Err(_) => pending.len(),
                };
                let text = String::from_utf8_lossy(&pending[..valid]).into_owned();
                sink.lock().unwrap().push_str(&text);
                pending.drain(..valid);
            }
            let rest = String::from_utf8_lossy(&pending).into_owned();
            sink.lock().unwrap().push_str(&rest);
        });
        let out = child.stdout.take().expect("stdout piped");
        let (lines, raw_stdout) = if read_lines {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    match line {
                        Ok(l) => {
                            if tx.send(l).is_err() {
                                break;
                            }
                        }
                        Err(_) => break,
                    }
                }
            });
            (Some(rx), None)
        } else {
            (None, Some(out))
        };
        Running {
            child,
            lines,
            stderr,
            raw_stdout,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the process wrote on stderr up to now (complete only after it exited).
    pub fn stderr_so_far(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The process's peak resident memory so far (`VmHWM` in `/proc/PID/status`), in bytes.
    /// Read it before the process exits.
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the process is still there");
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/PID/status");
        kb * 1024
    }

    /// The next stdout line, or None if none came within `timeout` (or stdout closed).
    pub fn next_line(&self, timeout: Duration) -> Option<String> {
        self.lines.as_ref()?.recv_timeout(timeout).ok()
    }

    /// Take the raw stdout pipe (spawn_raw only).
    pub fn take_stdout(&mut self) -> ChildStdout {
        self.raw_stdout.take().expect("spawned with spawn_raw")
    }

    /// The stderr collected so far is only complete after the process ended; see [`Running::wait`].
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Wait for the exit (killing the process if it outlives `timeout`) and collect the rest.
    pub fn wait(mut self, timeout: Duration) -> Finished {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break Some(status);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stdout = Vec::new();
        if let Some(rx) = &self.lines {
            while let Ok(l) = rx.recv_timeout(Duration::from_millis(500)) {
                stdout.push(l);
            }
        }
        // Give the stderr reader a moment to reach EOF.
        std::thread::sleep(Duration::from_millis(50));
        let stderr = self.stderr.lock().unwrap().clone();
        assert!(
            status.is_some(),
            "the process did not exit within {timeout:?}; stderr:\n{stderr}"
        );
        Finished {
            code: status.and_then(|s| s.code()),
            stdout,
            stderr,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
