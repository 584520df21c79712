//! Exercise 2, timeouts and retries: a UDP client that reads lines until
//! the end of its input, sends each to the uppercase server with retries
//! and a growing timeout, and never takes a late reply to an earlier line
//! for the answer to the current one.
//!
//! The checker is the client's server: an uppercase server in a thread
//! on loopback, with a script of losses built in, decided by which line a
//! datagram carries and how many times that line came before:
//!
//! | line | what the script does |
//! | --- | --- |
//! | 1 `alpha` | drops the first attempt, answers the next |
//! | 2 `bravo` | holds the reply to the first attempt, answers the next |
//! | 3 `charlie` | sends the held reply to `bravo`, drops this attempt |
//! | 4 `delta` | drops every attempt |
//! | 5 `echo` | answers |
//!
//! The held reply reaches the client exactly while it waits for line 3:
//! no timing decides whether it is stale. The client runs with
//! `--timeout 0.2` and its default of 3 retries.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::pinger::FIRST_SILENCE;
use super::pinger::ending;
use super::{Criterion, Failure, Finished, Student};

/// The lines the checker feeds the client, in order.
const LINES: [&str; 5] = ["alpha", "bravo", "charlie", "delta", "echo"];
/// The first timeout the checker gives the client (`--timeout`).
const TIMEOUT: &str = "0.2";
const FIRST_WAIT: Duration = Duration::from_millis(200);
/// Attempts the client makes for a line that is never answered: one and
/// its default of 3 retries.
const ATTEMPTS: usize = 4;
/// A client that sends nothing for this long is stuck (its longest wait
/// is 1.6 s, the fourth attempt's) and is killed.
const SILENCE: Duration = Duration::from_secs(4);
/// A client that sends a line this often retries forever and is killed.
const TOO_MANY_ATTEMPTS: usize = 8;
/// The longest a whole run may take.
const RUN_LIMIT: Duration = Duration::from_secs(20);

/// What the checker's server saw.
struct Seen {
    /// When each line's attempts arrived.
    attempts: [Vec<Instant>; 5],
    /// Datagrams that carried none of the lines.
    strays: Vec<String>,
    /// Whether the late reply to line 2 was sent during line 3.
    stale_sent: bool,
    last: Instant,
}

impl Seen {
    /// Whether the client has sent nothing for too long: [`SILENCE`]
    /// after a datagram, [`FIRST_SILENCE`] before the first.
    fn silent(&self) -> bool {
        let started = self.attempts.iter().any(|a| !a.is_empty())
            || !self.strays.is_empty();
        let limit = if started { SILENCE } else { FIRST_SILENCE };
        self.last.elapsed() > limit
    }
}

pub fn check(student: &Student) -> Vec<Criterion> {
    let names = [
        "answers-every-line",
        "retries-lost-requests",
        "grows-the-timeout",
        "ignores-stale-replies",
        "gives-up-after-retries",
        "keeps-going-after-a-failure",
        "prints-exactly-the-result-lines",
        "exits-0-when-all-answered",
    ];
    let server = match Server::start() {
        Ok(server) => server,
        Err(error) => {
            let reason = format!("cannot start the checker's server: {error}");
            return Criterion::skip_all(&names, &reason);
        }
    };
    let port = server.address.port().to_string();
    let args = [
        "--server-name",
        "127.0.0.1",
        "--server-port",
        &port,
        "--timeout",
        TIMEOUT,
    ];
    let stdin: String = LINES.iter().map(|line| format!("{line}\n")).collect();
    let finished =
        student.run_watched(&args, stdin.as_bytes(), RUN_LIMIT, || {
            let seen = server.seen();
            seen.silent()
                || seen.attempts.iter().any(|a| a.len() > TOO_MANY_ATTEMPTS)
        });
    let seen = server.stop();
    let sent_nothing =
        seen.attempts.iter().all(Vec::is_empty) && seen.strays.is_empty();
    let results = results(&finished.stdout);
    let run = Run {
        seen,
        results,
        finished,
    };
    vec![
        Criterion::from(names[0], run.answers_every_line()),
        Criterion::from(names[1], run.retries_lost_requests()),
        Criterion::from(names[2], run.grows_the_timeout()),
        Criterion::from(names[3], run.ignores_stale_replies()),
        Criterion::from(names[4], run.gives_up_after_retries()),
        Criterion::from(names[5], run.keeps_going_after_a_failure()),
        Criterion::from(names[6], run.prints_exactly_the_result_lines()),
        if sent_nothing {
            // A second run would only wait as long again.
            Criterion::fail(
                names[7],
                "a client that sends its lines",
                "the first run sent nothing",
                format!("see {}", names[0]),
            )
        } else {
            all_answered(student, names[7])
        },
    ]
}

/// A second run, of one line that the server answers at once: the exit
/// status must then be 0.
fn all_answered(student: &Student, name: &'static str) -> Criterion {
    let server = match Server::start() {
        Ok(server) => server,
        Err(error) => {
            return Criterion::skip(
                name,
                format!("cannot start the checker's server: {error}"),
            );
        }
    };
    let port = server.address.port().to_string();
    let args = [
        "--server-name",
        "127.0.0.1",
        "--server-port",
        &port,
        "--timeout",
        TIMEOUT,
    ];
    // `echo` is the line the server answers at once.
    let stdin = format!("{}\n", LINES[4]);
    let finished =
        student.run_watched(&args, stdin.as_bytes(), RUN_LIMIT, || {
            server.seen().silent()
        });
    drop(server.stop());
    let result = match finished.status {
        Some(status) if status.success() => Ok(()),
        _ => Err(Failure::new(
            "with one input line, answered at once: exit status 0",
            ending(&finished),
            "exit with status 0 when every line got its answer (Python: \
             reach the end of the program, or sys.exit(0); sys.exit(\"some \
             text\") exits with 1)",
        )),
    };
    Criterion::from(name, result)
}

/// The checker's scripted uppercase server, in a thread until stopped.
struct Server {
    address: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start() -> std::io::Result<Server> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        // Wakes the thread now and then to see whether to stop.
        socket.set_read_timeout(Some(Duration::from_millis(20)))?;
        let address = socket.local_addr()?;
        let seen = Arc::new(Mutex::new(Seen {
            attempts: Default::default(),
            strays: Vec::new(),
            stale_sent: false,
            last: Instant::now(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let seen = Arc::clone(&seen);
            let stop = Arc::clone(&stop);
            thread::spawn(move || serve(&socket, &seen, &stop))
        };
        Ok(Server {
            address,
            seen,
            stop,
            thread: Some(thread),
        })
    }

    fn seen(&self) -> MutexGuard<'_, Seen> {
        lock(&self.seen)
    }

    fn stop(mut self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let mut seen = self.seen();
        Seen {
            attempts: std::mem::take(&mut seen.attempts),
            strays: std::mem::take(&mut seen.strays),
            stale_sent: seen.stale_sent,
            last: seen.last,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The server's loop: answers with the uppercase, as the script says.
fn serve(socket: &UdpSocket, seen: &Mutex<Seen>, stop: &AtomicBool) {
    let mut buffer = [0; 2048];
    // The reply to line 2's first attempt, and where it goes.
    let mut held: Option<(String, SocketAddr)> = None;
    while !stop.load(Ordering::Relaxed) {
        // A timeout, or an error about one datagram: either way, the
        // next datagram is what matters.
        let Ok((length, from)) = socket.recv_from(&mut buffer) else {
            continue;
        };
        let message = String::from_utf8_lossy(&buffer[..length]);
        let reply = message.to_uppercase();
        let mut seen = lock(seen);
        seen.last = Instant::now();
        let Some(line) = which_line(&message) else {
            seen.strays.push(message.into_owned());
            let _ = socket.send_to(reply.as_bytes(), from);
            continue;
        };
        seen.attempts[line].push(Instant::now());
        let attempt = seen.attempts[line].len();
        match (line, attempt) {
            (0, 1) | (3, _) => {}
            (1, 1) => held = Some((reply, from)),
            (2, 1) => {
                if let Some((late, to)) = held.take() {
                    let _ = socket.send_to(late.as_bytes(), to);
                    seen.stale_sent = true;
                }
            }
            _ => {
                let _ = socket.send_to(reply.as_bytes(), from);
            }
        }
    }
}

/// Which of [`LINES`] a request carries (after its tag, if any).
fn which_line(message: &str) -> Option<usize> {
    LINES
        .iter()
        .position(|line| message.trim_end().ends_with(line))
}

/// What the client printed for one line.
#[derive(Debug)]
enum Shown {
    /// The text after `From Server:`.
    Answer(String),
    /// A line that says no reply came.
    NoReply(String),
}

/// The lines of `stdout` that report a line's fate, in order.
fn results(stdout: &str) -> Vec<Shown> {
    stdout
        .lines()
        .filter_map(|line| {
            if let Some((_, answer)) = line.split_once("From Server:") {
                Some(Shown::Answer(answer.trim().to_string()))
            } else if line.to_lowercase().contains("no reply") {
                Some(Shown::NoReply(line.to_string()))
            } else {
                None
            }
        })
        .collect()
}

/// Whether `answer` is the uppercase of `line`, with or without a tag
/// (anything but letters) before it.
fn answers(answer: &str, line: &str) -> bool {
    answer
        .strip_suffix(&line.to_uppercase())
        .is_some_and(|tag| {
            tag.is_empty()
                || tag.ends_with(' ') && !tag.contains(char::is_alphabetic)
        })
}

/// A run of the client and what the server saw, to judge.
struct Run {
    seen: Seen,
    results: Vec<Shown>,
    finished: Finished,
}

impl Run {
    /// The failure when line `index` (0-based) was never sent.
    fn not_reached(&self, expected: &str, index: usize) -> Failure {
        Failure::new(
            expected,
            format!(
                "line {} (`{}`) was never sent; {}",
                index + 1,
                LINES[index],
                ending(&self.finished)
            ),
            "read every line of standard input until it ends, and send \
             each one",
        )
    }

    /// How the client reported line `index`, as a reader sees it.
    fn shown(&self, index: usize) -> String {
        match self.results.get(index) {
            Some(Shown::Answer(answer)) => format!("`From Server: {answer}`"),
            Some(Shown::NoReply(line)) => format!("`{line}`"),
            None => "no line".to_string(),
        }
    }

    fn answered(&self, index: usize) -> bool {
        matches!(
            self.results.get(index),
            Some(Shown::Answer(answer)) if answers(answer, LINES[index])
        )
    }

    fn answers_every_line(&self) -> Result<(), Failure> {
        let wrong = (0..LINES.len()).find(|&index| {
            if index == 3 {
                !matches!(self.results.get(index), Some(Shown::NoReply(_)))
            } else {
                !self.answered(index)
            }
        });
        let Some(index) = wrong else {
            if self.results.len() == LINES.len() {
                return Ok(());
            }
            return Err(Failure::new(
                "one result line per input line (5)",
                format!("{} result lines", self.results.len()),
                "print exactly one line per input line",
            ));
        };
        let line = LINES[index];
        let expected = if index == 3 {
            "a line saying that line 4 (`delta`) got no reply, as result \
             line 4 (one per input line, in order)"
                .to_string()
        } else {
            format!(
                "`From Server: {}` as result line {} (one per input line, \
                 in order)",
                line.to_uppercase(),
                index + 1
            )
        };
        Err(Failure::new(
            expected,
            format!(
                "{}; stdout: {:?}",
                self.shown(index),
                self.finished.stdout
            ),
            "print `From Server: ` and the reply without its tag for every \
             line that gets a reply, and `No reply to line <n> after <k> \
             attempts` for one that does not",
        ))
    }

    fn retries_lost_requests(&self) -> Result<(), Failure> {
        let expected = "line 1, whose first attempt the server drops, sent \
                        again after waiting --timeout (0.2 s)";
        let attempts = &self.seen.attempts[0];
        match attempts.as_slice() {
            [] => Err(self.not_reached(expected, 0)),
            [_] => Err(Failure::new(
                expected,
                format!("it was sent once; {}", ending(&self.finished)),
                "when the wait for the answer times out, send the same \
                 request again (Python: catch socket.timeout; Rust: match \
                 the WouldBlock or TimedOut error of recv_from)",
            )),
            [first, second, ..] => {
                let gap = second.duration_since(*first);
                if gap < FIRST_WAIT / 2 {
                    return Err(Failure::new(
                        expected,
                        format!("it was sent again after {gap:.2?}"),
                        "wait for the reply (a read timeout of --timeout \
                         seconds) before sending again",
                    ));
                }
                Ok(())
            }
        }
    }

    fn grows_the_timeout(&self) -> Result<(), Failure> {
        let expected = "longer and longer waits between the attempts of \
                        line 4, which the server never answers (e.g. 0.2 \
                        s, 0.4 s, 0.8 s)";
        let attempts = &self.seen.attempts[3];
        if attempts.is_empty() {
            return Err(self.not_reached(expected, 3));
        }
        let gaps: Vec<Duration> = attempts
            .windows(2)
            .map(|pair| pair[1].duration_since(pair[0]))
            .collect();
        let shown: Vec<String> =
            gaps.iter().map(|gap| format!("{gap:.2?}")).collect();
        let grows = match (gaps.first(), gaps.last()) {
            (Some(first), Some(last)) if gaps.len() >= 2 => {
                last.as_secs_f64() >= 1.5 * first.as_secs_f64()
            }
            _ => false,
        };
        if grows {
            return Ok(());
        }
        Err(Failure::new(
            expected,
            format!(
                "{} attempt(s), {} apart",
                attempts.len(),
                if shown.is_empty() {
                    "nothing".to_string()
                } else {
                    shown.join(", ")
                }
            ),
            "double the timeout after each attempt that got no reply",
        ))
    }

    fn ignores_stale_replies(&self) -> Result<(), Failure> {
        let expected = "line 3 (`charlie`) answered with `From Server: \
                        CHARLIE`, although the late reply to line 2 (`BRAVO`) \
                        arrived while the client waited for line 3";
        if !self.seen.stale_sent {
            let index = if self.seen.attempts[1].is_empty() {
                1
            } else {
                2
            };
            return Err(self.not_reached(expected, index));
        }
        let stale_shown = (0..self.results.len()).find(|&index| {
            index != 1
                && matches!(
                    &self.results[index],
                    Shown::Answer(answer) if answers(answer, LINES[1])
                )
        });
        let hint = "tag each request (e.g. `3 charlie`; digits survive the \
                    uppercase) and discard a reply whose tag is not the \
                    current request's";
        if let Some(index) = stale_shown {
            return Err(Failure::new(
                expected,
                format!(
                    "{} for line {} (`{}`): the late reply to line 2",
                    self.shown(index),
                    index + 1,
                    LINES[index]
                ),
                hint,
            ));
        }
        if !self.answered(2) {
            return Err(Failure::new(
                expected,
                format!(
                    "{} for line 3; {}",
                    self.shown(2),
                    ending(&self.finished)
                ),
                hint,
            ));
        }
        Ok(())
    }

    fn gives_up_after_retries(&self) -> Result<(), Failure> {
        let expected = "line 4 (`delta`), which the server never answers, \
                        sent 4 times (1 + 3 retries), then reported as \
                        unanswered";
        let sent = self.seen.attempts[3].len();
        if sent == 0 {
            return Err(self.not_reached(expected, 3));
        }
        if sent != ATTEMPTS {
            let still = if self.finished.killed() {
                format!(" and was still retrying; {}", ending(&self.finished))
            } else {
                String::new()
            };
            return Err(Failure::new(
                expected,
                format!("it was sent {sent} time(s){still}"),
                "count the attempts: give up after --retries retries \
                 (default 3)",
            ));
        }
        if !matches!(self.results.get(3), Some(Shown::NoReply(_))) {
            return Err(Failure::new(
                expected,
                format!("{} for line 4", self.shown(3)),
                "print `No reply to line <n> after <k> attempts` for a line \
                 that gets no reply",
            ));
        }
        Ok(())
    }

    fn keeps_going_after_a_failure(&self) -> Result<(), Failure> {
        let expected = "line 5 (`echo`) sent and answered after line 4 \
                        failed, then exit status 1";
        if self.seen.attempts[3].is_empty() {
            return Err(self.not_reached(expected, 3));
        }
        if self.seen.attempts[4].is_empty() {
            return Err(Failure::new(
                expected,
                format!(
                    "nothing was sent after line 4; {}",
                    ending(&self.finished)
                ),
                "report a line that got no reply and go on with the next",
            ));
        }
        if !self.answered(4) {
            return Err(Failure::new(
                expected,
                format!("{} for line 5", self.shown(4)),
                "print `From Server: ` and the reply for line 5",
            ));
        }
        if self.finished.status.and_then(|status| status.code()) != Some(1) {
            return Err(Failure::new(
                expected,
                ending(&self.finished),
                "exit with status 1 at the end when a line got no reply",
            ));
        }
        if !self
            .finished
            .stderr
            .lines()
            .any(|line| line.starts_with("error: "))
        {
            return Err(Failure::new(
                "a line `error: ...` on standard error before exit status 1",
                format!(
                    "exit status 1, stderr: {:?}",
                    self.finished.stderr.trim_end()
                ),
                "say why the client failed on standard error, e.g. `error: 1 \
                 line(s) got no reply` (Python: sys.exit(\"error: ...\") \
                 prints it there and exits with 1; Rust: eprintln! and \
                 std::process::exit(1))",
            ));
        }
        Ok(())
    }

    /// Standard output holds one result line per input line, in the
    /// page's words, and nothing else.
    fn prints_exactly_the_result_lines(&self) -> Result<(), Failure> {
        let lines: Vec<&str> = self.finished.stdout.lines().collect();
        let expected = format!(
            "{} lines on standard output, each `From Server: ` and an \
             answer without its tag, or `No reply to line <n> after <k> \
             attempts`",
            LINES.len()
        );
        let hint = "print only the result lines on standard output, the \
                    answer without its tag (`From Server: ALPHA`); notes go \
                    to standard error (Python: print(..., file=sys.stderr); \
                    Rust: eprintln!)";
        let well_formed = |line: &str| {
            if let Some(answer) = line.strip_prefix("From Server: ") {
                return LINES.iter().any(|l| answer == l.to_uppercase());
            }
            let words: Vec<&str> = line.split(' ').collect();
            matches!(
                words[..],
                ["No", "reply", "to", "line", n, "after", k, "attempts"]
                    if n.parse::<u32>().is_ok() && k.parse::<u32>().is_ok()
            )
        };
        if let Some(line) = lines.iter().find(|line| !well_formed(line)) {
            return Err(Failure::new(expected, format!("{line:?}"), hint));
        }
        if lines.len() != LINES.len() {
            return Err(Failure::new(
                expected,
                format!("{} line(s); {}", lines.len(), ending(&self.finished)),
                hint,
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_known_by_its_line_with_or_without_a_tag() {
        assert_eq!(which_line("1 alpha"), Some(0));
        assert_eq!(which_line("echo\n"), Some(4));
        assert_eq!(which_line("12 charlie"), Some(2));
        assert_eq!(which_line("hello"), None);
    }

    #[test]
    fn an_answer_may_keep_its_tag_but_no_other_text() {
        assert!(answers("CHARLIE", "charlie"));
        assert!(answers("3 CHARLIE", "charlie"));
        assert!(answers("#3 CHARLIE", "charlie"));
        assert!(!answers("BRAVO", "charlie"));
        assert!(!answers("NOT CHARLIE", "charlie"));
        assert!(!answers("3CHARLIE", "charlie"));
    }

    #[test]
    fn reads_result_lines() {
        let stdout = "Input: From Server: 1 ALPHA\nnote\nNo reply to line 2 \
                      after 4 attempts\n";
        let results = results(stdout);
        assert!(matches!(&results[..], [Shown::Answer(a), Shown::NoReply(_)]
            if a == "1 ALPHA"));
    }
}
