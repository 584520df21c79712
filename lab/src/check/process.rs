//! What keeps the checker in charge of a student's program: output read
//! into bounded buffers, and every process the program started killed
//! when its run ends.
//!
//! Output: each pipe is read by a thread into a [`Capture`] that keeps
//! the first [`HEAD`] and the last [`TAIL`] bytes and counts the rest, so
//! a program that prints without end costs the checker a fixed amount of
//! memory. The run ends when the program's own process ends; a child that
//! still holds the pipe gets [`PIPE_GRACE`], then is killed with the rest.
//!
//! Processes (Linux): the checker makes itself a *child subreaper*
//! (`PR_SET_CHILD_SUBREAPER`), so a process that a submission started and
//! left behind, even after `setsid` or a double fork, becomes the
//! checker's child instead of init's. [`kill_descendants`] then finds
//! every process below the checker in `/proc` and kills it, until none is
//! left. Under `--class`, each check runs in a PID namespace of its own
//! as well (see `sandbox.rs`), so nothing escapes that tree.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// How much of the beginning of each output stream is kept.
pub const HEAD: usize = 64 * 1024;
/// How much of its end is kept.
pub const TAIL: usize = 16 * 1024;
/// A program that writes more than this (stdout and stderr together) is
/// stopped: no exercise needs a thousandth of it.
pub const OUTPUT_LIMIT: u64 = 16 * 1024 * 1024;
/// How long the checker still reads a pipe after the program's own
/// process ended (a child may hold it open).
pub const PIPE_GRACE: Duration = Duration::from_millis(300);
/// The longest line of a server's stdout that is kept whole.
const LINE_LIMIT: usize = 4096;
/// How many lines of a server's stdout wait to be read; later ones are
/// dropped until the checker reads some.
const LINES_WAITING: usize = 256;

/// The kept part of one output stream.
#[derive(Default)]
struct Kept {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    dropped: u64,
    done: bool,
}

impl Kept {
    fn push(&mut self, mut bytes: &[u8]) {
        let room = HEAD - self.head.len();
        if room > 0 {
            let now = bytes.len().min(room);
            self.head.extend_from_slice(&bytes[..now]);
            bytes = &bytes[now..];
        }
        self.tail.extend(bytes);
        let over = self.tail.len().saturating_sub(TAIL);
        if over > 0 {
            self.tail.drain(..over);
            self.dropped += over as u64;
        }
    }

    fn text(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.head).into_owned();
        if self.dropped > 0 {
            text.push_str(&format!(
                "\n[... {} bytes dropped ...]\n",
                self.dropped
            ));
        }
        let tail: Vec<u8> = self.tail.iter().copied().collect();
        text.push_str(&String::from_utf8_lossy(&tail));
        text
    }
}

/// One output stream of a program, read by a thread of its own.
#[derive(Clone)]
pub struct Capture {
    kept: Arc<(Mutex<Kept>, Condvar)>,
}

impl Capture {
    /// Reads `pipe` to its end in a thread; `written` counts the bytes of
    /// every stream of the same program.
    pub fn start(
        mut pipe: impl Read + Send + 'static,
        written: Arc<AtomicU64>,
    ) -> Capture {
        let capture = Capture {
            kept: Arc::default(),
        };
        let shared = capture.clone();
        thread::spawn(move || {
            let mut chunk = vec![0; 8192];
            loop {
                match pipe.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        written.fetch_add(n as u64, Ordering::Relaxed);
                        shared.lock().push(&chunk[..n]);
                    }
                }
            }
            shared.lock().done = true;
            shared.kept.1.notify_all();
        });
        capture
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until the stream ends or `deadline` passes, and returns what
    /// was kept of it.
    pub fn text_by(&self, deadline: Instant) -> String {
        let mut kept = self.lock();
        while !kept.done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            kept = self
                .kept
                .1
                .wait_timeout(kept, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        kept.text()
    }
}

/// Lines of a server's stdout, each cut at [`LINE_LIMIT`] bytes, handed
/// over through a bounded queue: a server that prints without end fills
/// neither the checker's memory nor its pipe.
pub fn forward_lines(
    mut pipe: impl Read + Send + 'static,
    written: Arc<AtomicU64>,
) -> Receiver<String> {
    let (sender, receiver) = mpsc::sync_channel(LINES_WAITING);
    thread::spawn(move || {
        let mut line = Vec::new();
        let mut chunk = vec![0; 8192];
        loop {
            let n = match pipe.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            written.fetch_add(n as u64, Ordering::Relaxed);
            for &byte in &chunk[..n] {
                if byte == b'\n' {
                    if !send(&sender, &mut line) {
                        return;
                    }
                } else if line.len() < LINE_LIMIT {
                    line.push(byte);
                }
            }
        }
        if !line.is_empty() {
            send(&sender, &mut line);
        }
    });
    receiver
}

/// Sends a line unless the queue is full (then it is dropped); false
/// when nobody listens any more.
fn send(sender: &SyncSender<String>, line: &mut Vec<u8>) -> bool {
    let text = String::from_utf8_lossy(line).trim_end_matches('\r').into();
    line.clear();
    !matches!(sender.try_send(text), Err(TrySendError::Disconnected(_)))
}

/// Makes the checker the reaper of every orphan its children leave, so
/// that [`kill_descendants`] finds them. Does nothing off Linux.
pub fn become_subreaper() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes one integer and
    // changes only this process's own attribute.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

/// Kills every process below this one and reaps it, round after round
/// (a killed parent's children come to us), for at most two seconds.
/// Call it only when no child is meant to run any more.
pub fn kill_descendants() {
    #[cfg(target_os = "linux")]
    {
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            let below = descendants(std::process::id());
            if below.is_empty() {
                return;
            }
            for &(pid, _) in &below {
                // SAFETY: kill(2) with a pid read from /proc just now;
                // at worst the process is already gone (ESRCH).
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
            let me = std::process::id() as i32;
            for &(pid, parent) in &below {
                if parent == me {
                    // SAFETY: waitpid on our own child, without blocking.
                    unsafe {
                        libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG);
                    }
                }
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Every process whose chain of parents leads to `root`, with its
/// parent, from `/proc`.
#[cfg(target_os = "linux")]
fn descendants(root: u32) -> Vec<(i32, i32)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let parents: Vec<(i32, i32)> = entries
        .flatten()
        .filter_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let stat =
                std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // The name in parentheses may hold spaces: fields follow the
            // last `)`.
            let rest = &stat[stat.rfind(')')? + 1..];
            let parent = rest.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, parent))
        })
        .collect();
    let mut found = Vec::new();
    let mut frontier = vec![root as i32];
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid) in &parents {
            if ppid == parent && pid != root as i32 {
                found.push((pid, ppid));
                frontier.push(pid);
            }
        }
    }
    found
}

/// The port of a TCP socket that a process below the checker listens
/// on, if any (Linux: from /proc). It tells a server whose ready line is
/// stuck in a buffer from one that never got to `listen`.
pub fn listening_port() -> Option<u16> {
    #[cfg(target_os = "linux")]
    {
        let mut sockets = std::collections::HashSet::new();
        for (pid, _) in descendants(std::process::id()) {
            let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
                continue;
            };
            for fd in fds.flatten() {
                let Ok(target) = std::fs::read_link(fd.path()) else {
                    continue;
                };
                let target = target.to_string_lossy().into_owned();
                if let Some(inode) = target
                    .strip_prefix("socket:[")
                    .and_then(|rest| rest.strip_suffix(']'))
                {
                    sockets.insert(inode.to_string());
                }
            }
        }
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            let Ok(text) = std::fs::read_to_string(table) else {
                continue;
            };
            for line in text.lines().skip(1) {
                let fields: Vec<&str> = line.split_whitespace().collect();
                // local address, state (0A: LISTEN), ..., inode.
                let (Some(local), Some(&"0A"), Some(inode)) =
                    (fields.get(1), fields.get(3), fields.get(9))
                else {
                    continue;
                };
                if sockets.contains(*inode) {
                    let port = local.rsplit(':').next()?;
                    return u16::from_str_radix(port, 16).ok();
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_head_and_the_tail_and_counts_the_rest() {
        let mut kept = Kept::default();
        kept.push(&vec![b'a'; HEAD]);
        kept.push(&vec![b'x'; 1000]);
        kept.push(&vec![b'c'; TAIL]);
        let text = kept.text();
        assert!(text.starts_with(&"a".repeat(HEAD)));
        assert!(text.contains("[... 1000 bytes dropped ...]"));
        assert!(text.ends_with(&"c".repeat(TAIL)));
        assert!(!text.contains('x'));
    }
}
