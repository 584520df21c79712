//! Exercise 1, the UDP pinger: ten pings `Ping <seq> <time>`, a reply
//! with its RTT or `Request timed out` for each, then the statistics.
//!
//! The checker runs the lab's server (the same [`PingerServer`] as
//! `pinger-server`) in a thread on loopback, with a seed that drops pings
//! 4, 5 and 8, runs the student's pinger once against it, and compares
//! what the pinger printed with what the server saw: which pings came,
//! when, and which it dropped. The pinger runs with its default timeout,
//! which the exercise sets at 1 second.

use std::fmt::Write as _;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::{Criterion, Failure, Finished, Student};
use crate::pinger_server::LAB_DROP;

/// The exercise's number of pings.
const PINGS: usize = 10;
/// With the lab's drop rate, this seed drops pings 4, 5 and 8 of ten:
/// three replies come before the first loss, and two losses in a row.
const SEED: u64 = 11;
/// How long the pinger may wait after a lost ping before its next step:
/// the exercise asks for 1 second; the bounds leave room for a slow
/// machine and for a pinger that also pauses between pings.
const SHORTEST_WAIT: Duration = Duration::from_millis(750);
const LONGEST_WAIT: Duration = Duration::from_millis(2500);
/// A pinger that sends nothing for this long is stuck: it is killed
/// instead of waiting for [`RUN_LIMIT`].
const SILENCE: Duration = Duration::from_secs(4);
/// How long the first ping may take: a program's start (an interpreter,
/// a wrapper script) can be slow on a loaded machine.
pub(super) const FIRST_SILENCE: Duration = Duration::from_secs(10);
/// The longest a whole run may take: ten pings with a pause of 1 s and a
/// timeout of 1 s each fit with room to spare.
const RUN_LIMIT: Duration = Duration::from_secs(30);

/// One datagram the checker's server received.
struct Ping {
    at: Instant,
    message: String,
    /// Whether the server sent the uppercase reply.
    answered: bool,
    /// How long the server held the reply before sending it.
    held: Duration,
}

/// How long the server holds its reply to each ping, by the ping's
/// number: the RTTs then differ from ping to ping by more than any noise,
/// and each printed RTT can be checked against what the server saw.
const HOLD_MS: [u64; PINGS] = [15, 45, 80, 0, 0, 120, 30, 0, 100, 60];
/// How much longer than the gap to the next ping a printed RTT may be.
const RTT_SLACK_MS: f64 = 250.0;
/// The timeout of the second run, where the server drops every ping: a
/// fraction, as the page says `--timeout` must take.
const SHORT_TIMEOUT: &str = "0.25";
/// The gap after a lost ping that the short timeout allows: room for a
/// loaded machine, short of the default second.
const SHORT_WAIT: (Duration, Duration) =
    (Duration::from_millis(100), Duration::from_millis(900));

pub fn check(student: &Student) -> Vec<Criterion> {
    let names = [
        "sends-ten-pings",
        "waits-about-one-second",
        "reports-replies",
        "reports-timeouts",
        "prints-statistics",
        "exits-cleanly",
        "measures-each-rtt",
        "honours-the-timeout-flag",
        "statistics-when-all-lost",
    ];
    let server = match Server::start(LAB_DROP) {
        Ok(server) => server,
        Err(error) => {
            let reason = format!("cannot start the checker's server: {error}");
            return Criterion::skip_all(&names, &reason);
        }
    };
    let port = server.address.port().to_string();
    let args = ["--server-name", "127.0.0.1", "--server-port", &port];
    let started = Instant::now();
    let finished = student.run_watched(&args, b"", RUN_LIMIT, || match server
        .pings()
        .last()
    {
        Some(ping) => ping.at.elapsed() > SILENCE,
        None => started.elapsed() > FIRST_SILENCE,
    });
    let ended = Instant::now();
    let server_address = server.address;
    let pings = server.stop();
    let pings_sent = pings.len();
    let results = results(&finished.stdout);
    vec![
        Criterion::from(names[0], sends_ten_pings(&pings, &finished)),
        Criterion::from(names[1], waits(&pings, &finished, ended)),
        Criterion::from(
            names[2],
            reports_replies(&pings, &finished, server_address),
        ),
        Criterion::from(
            names[3],
            reports_timeouts(&pings, &results, &finished),
        ),
        Criterion::from(names[4], prints_statistics(&pings, &finished)),
        Criterion::from(names[5], exits_cleanly(&finished)),
        Criterion::from(names[6], measures_each_rtt(&pings, &finished, ended)),
    ]
    .into_iter()
    .chain(if pings_sent == 0 {
        // A second run would only wait as long again.
        names[7..]
            .iter()
            .map(|name| {
                Criterion::fail(
                    name,
                    "a pinger that sends its pings",
                    "the first run sent no ping",
                    "see sends-ten-pings",
                )
            })
            .collect()
    } else {
        all_lost(student, &names[7..])
    })
    .collect()
}

/// The second run: `--timeout 0.25` against a server that drops every
/// ping.
fn all_lost(student: &Student, names: &[&'static str]) -> Vec<Criterion> {
    let server = match Server::start(1.0) {
        Ok(server) => server,
        Err(error) => {
            let reason = format!("cannot start the checker's server: {error}");
            return Criterion::skip_all(names, &reason);
        }
    };
    let port = server.address.port().to_string();
    let args = [
        "--server-name",
        "127.0.0.1",
        "--server-port",
        &port,
        "--timeout",
        SHORT_TIMEOUT,
    ];
    let started = Instant::now();
    let finished = student.run_watched(&args, b"", RUN_LIMIT, || match server
        .pings()
        .last()
    {
        Some(ping) => ping.at.elapsed() > SILENCE,
        None => started.elapsed() > FIRST_SILENCE,
    });
    let ended = Instant::now();
    let pings = server.stop();
    let shown = format!("--timeout {SHORT_TIMEOUT}");
    let flag = honours_the_timeout_flag(&pings, &finished, ended, &shown);
    let statistics = if pings.len() == PINGS && !finished.killed() {
        Criterion::from(names[1], statistics_when_all_lost(&finished))
    } else {
        Criterion::skip(
            names[1],
            format!(
                "the run with {shown} did not send its ten pings (see \
                 {})",
                names[0]
            ),
        )
    };
    vec![Criterion::from(names[0], flag), statistics]
}

/// With `--timeout 0.25`, the next ping comes 0.1 s to 0.9 s after each
/// lost one.
fn honours_the_timeout_flag(
    pings: &[Ping],
    finished: &Finished,
    ended: Instant,
    shown: &str,
) -> Result<(), Failure> {
    let expected = format!(
        "with {shown} and every ping lost, ten pings, each {:?} to {:?} \
         after the one before",
        SHORT_WAIT.0, SHORT_WAIT.1
    );
    let hint = "read --timeout as seconds with a fraction (Python: \
                float(...); Rust: parse::<f64>() then \
                Duration::from_secs_f64) and use it as the read timeout";
    if pings.len() < PINGS {
        return Err(Failure::new(
            expected,
            format!("{} ping(s); {}", pings.len(), ending(finished)),
            hint,
        ));
    }
    for seq in 1..=pings.len() {
        let next = pings.get(seq).map_or(ended, |ping| ping.at);
        let waited = next.duration_since(pings[seq - 1].at);
        if waited < SHORT_WAIT.0 || waited > SHORT_WAIT.1 {
            return Err(Failure::new(
                expected,
                format!(
                    "ping {seq} was lost and the {} came {waited:.2?} later",
                    if seq < pings.len() {
                        "next ping"
                    } else {
                        "end"
                    }
                ),
                hint,
            ));
        }
    }
    Ok(())
}

/// When every ping is lost, the statistics line ends after `100% loss`.
fn statistics_when_all_lost(finished: &Finished) -> Result<(), Failure> {
    let expected = "a line `10 sent, 0 received, 100% loss` and nothing after \
                    it: with no reply there is no RTT";
    let line = finished.stdout.lines().rev().find(|l| l.contains("% loss"));
    let figures = line.map(statistics);
    let right = line.is_some_and(|line| line.trim_end().ends_with("100% loss"))
        && figures.as_ref().is_some_and(|f| {
            f.sent == Some(PINGS as u32) && f.received == Some(0)
        });
    if right {
        return Ok(());
    }
    Err(Failure::new(
        expected,
        match line {
            Some(line) => format!("{line:?}"),
            None => format!("no line with `% loss`; {}", ending(finished)),
        },
        "when no reply came, print the counts and the loss only: a minimum \
         or mean of no RTT at all does not exist (Python's min() of an \
         empty list raises ValueError; Rust's iter().min() gives None)",
    ))
}

/// Each printed RTT lies between how long the server held the reply and
/// the time from the ping to the next one (or to the end of the run).
fn measures_each_rtt(
    pings: &[Ping],
    finished: &Finished,
    ended: Instant,
) -> Result<(), Failure> {
    let lines: Vec<&str> = finished.stdout.lines().collect();
    let mut measured = 0;
    for (index, ping) in pings.iter().enumerate() {
        if !ping.answered {
            continue;
        }
        let seq = index + 1;
        let reply = ping.message.to_uppercase();
        let Some(shown) = lines
            .iter()
            .find(|line| line.contains(&reply))
            .and_then(|line| rtt(line))
        else {
            continue;
        };
        measured += 1;
        let next = pings.get(seq).map_or(ended, |ping| ping.at);
        // The RTT holds the time the server held the reply (less 1 ms
        // for rounding). It cannot be much longer than the gap to the
        // next ping; the slack covers the server's own delay in taking
        // the ping in, which its clock does not see, on a loaded machine.
        let held = ping.held.as_secs_f64() * 1000.0;
        let gap = next.duration_since(ping.at).as_secs_f64() * 1000.0;
        let (least, most) = (held - 1.0, gap + RTT_SLACK_MS);
        if shown < least || shown > most {
            return Err(Failure::new(
                format!(
                    "for ping {seq}, an RTT in milliseconds from {:.0} to \
                     {most:.0}: the server held the reply {held:.0} ms, and \
                     the next ping came {gap:.0} ms after this one",
                    least.max(0.0),
                ),
                format!("RTT {shown}"),
                "take the time just before sending and again just after the \
                 reply arrives, and print the difference in milliseconds \
                 (Python: time.perf_counter(), times 1000; Rust: \
                 Instant::now() and .elapsed().as_secs_f64() * 1000.0)",
            ));
        }
    }
    if measured == 0 {
        return Err(Failure::new(
            "a reply line with an RTT for each answered ping",
            "none (see reports-replies)",
            "print each reply with `RTT` and the time in milliseconds",
        ));
    }
    Ok(())
}

/// The checker's pinger server, running in a thread until stopped.
struct Server {
    address: SocketAddr,
    pings: Arc<Mutex<Vec<Ping>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts the server; it drops each ping with probability `drop`.
    fn start(drop: f64) -> std::io::Result<Server> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        // Wakes the thread now and then to see whether to stop.
        socket.set_read_timeout(Some(Duration::from_millis(20)))?;
        let address = socket.local_addr()?;
        let pings = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let pings = Arc::clone(&pings);
            let stop = Arc::clone(&stop);
            // The draws of pinger-server with the same seed: one per
            // datagram, in the order they come.
            let mut rng = fastrand::Rng::with_seed(SEED);
            thread::spawn(move || {
                let mut buffer = [0; 2048];
                while !stop.load(Ordering::Relaxed) {
                    // A timeout, or an error about one datagram: either
                    // way, the next datagram is what matters.
                    let Ok((length, from)) = socket.recv_from(&mut buffer)
                    else {
                        continue;
                    };
                    let at = Instant::now();
                    let message =
                        String::from_utf8_lossy(&buffer[..length]).into_owned();
                    let answered = rng.f64() >= drop;
                    let mut held = Duration::ZERO;
                    if answered {
                        let count = lock(&pings).len();
                        let hold = HOLD_MS.get(count).copied().unwrap_or(0);
                        thread::sleep(Duration::from_millis(hold));
                        held = at.elapsed();
                        let reply = message.to_uppercase();
                        let _ = socket.send_to(reply.as_bytes(), from);
                    }
                    lock(&pings).push(Ping {
                        at,
                        message,
                        answered,
                        held,
                    });
                }
            })
        };
        Ok(Server {
            address,
            pings,
            stop,
            thread: Some(thread),
        })
    }

    fn pings(&self) -> MutexGuard<'_, Vec<Ping>> {
        lock(&self.pings)
    }

    fn stop(mut self) -> Vec<Ping> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        std::mem::take(&mut *self.pings())
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

/// How the run ended, in a few words, for a failure's "got" part.
pub(super) fn ending(finished: &Finished) -> String {
    let mut text = match finished.status {
        Some(status) => format!("the program exited ({status})"),
        None if finished.limit.is_zero() => {
            "the program did not start".to_string()
        }
        None if finished.flooded => format!(
            "the program wrote more than {} MiB and was stopped",
            super::process::OUTPUT_LIMIT >> 20
        ),
        None => format!(
            "the program was still running after {:?} and was killed",
            finished.limit
        ),
    };
    let mut said = finished.stderr.lines().filter(|l| !l.trim().is_empty());
    if let Some(first) = said.next() {
        // A Python traceback says what happened on its last line.
        let line = match said.next_back() {
            Some(last) if first.starts_with("Traceback") => last,
            _ => first,
        };
        let _ = write!(text, ", stderr: {line:?}");
    }
    text
}

/// Ping numbers as a reader says them: "4, 5 and 8".
fn numbers(list: &[usize]) -> String {
    let shown: Vec<String> = list.iter().map(usize::to_string).collect();
    match shown.split_last() {
        None => "none".to_string(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// The failure of a criterion that needs pings when none came.
fn no_ping(expected: impl Into<String>, finished: &Finished) -> Failure {
    Failure::new(
        expected,
        format!("no ping arrived; {}", ending(finished)),
        "send ten pings `Ping <seq> <time>` (see sends-ten-pings)",
    )
}

/// The pings the server dropped (1-based positions).
fn dropped(pings: &[Ping]) -> Vec<usize> {
    (1..=pings.len())
        .filter(|&seq| !pings[seq - 1].answered)
        .collect()
}

fn sends_ten_pings(pings: &[Ping], finished: &Finished) -> Result<(), Failure> {
    let hint = "send `Ping`, the sequence number (1 to 10) and a time \
                stamp, separated by single spaces, one datagram per ping";
    for (index, ping) in pings.iter().enumerate() {
        let seq = index + 1;
        let well_formed = ping
            .message
            .strip_prefix(&format!("Ping {seq} "))
            .is_some_and(|time| !time.trim().is_empty());
        if !well_formed {
            return Err(Failure::new(
                format!("datagram {seq} to be `Ping {seq} <time>`"),
                format!("{:?}", ping.message),
                hint,
            ));
        }
    }
    match pings.len() {
        PINGS => Ok(()),
        0 => Err(Failure::new(
            "10 pings",
            format!("no datagram; {}", ending(finished)),
            "send ten pings without reading standard input",
        )),
        sent if sent < PINGS => Err(Failure::new(
            "10 pings",
            format!("{sent}, then nothing; {}", ending(finished)),
            "go on with the next ping after a timeout, up to ping 10",
        )),
        sent => Err(Failure::new(
            "10 pings",
            format!("{sent} datagrams"),
            "send each ping once, and stop after ping 10",
        )),
    }
}

/// Each lost ping (but the last ping) is followed by the next ping after
/// about 1 s; the last is followed by the end of the program.
fn waits(
    pings: &[Ping],
    finished: &Finished,
    ended: Instant,
) -> Result<(), Failure> {
    let expected = "the next ping (or the end) about 1 s after a lost ping";
    if pings.is_empty() {
        return Err(no_ping(expected, finished));
    }
    let lost = dropped(pings);
    let Some(&first) = lost.first() else {
        return Err(Failure::new(
            expected,
            format!(
                "no lost ping: the server got {} ping(s) and answered all; \
                 {}",
                pings.len(),
                ending(finished)
            ),
            "send all ten pings: the server drops some of them",
        ));
    };
    for seq in lost {
        let next = pings.get(seq).map_or(ended, |ping| ping.at);
        let waited = next.duration_since(pings[seq - 1].at);
        let got = if seq < pings.len() {
            format!(
                "ping {seq} was lost and ping {} came {waited:.2?} later",
                seq + 1
            )
        } else if finished.killed() {
            format!(
                "ping {seq} was lost and {waited:.2?} later the program had \
                 sent nothing more; it was killed"
            )
        } else {
            format!(
                "ping {seq} was lost and the program ended {waited:.2?} later"
            )
        };
        if waited < SHORTEST_WAIT {
            return Err(Failure::new(
                expected,
                got,
                "wait up to 1 second for each reply (a read timeout of 1 \
                 s) before giving up on the ping",
            ));
        }
        if waited > LONGEST_WAIT {
            return Err(Failure::new(
                expected,
                got,
                if seq == first && finished.killed() {
                    "set a read timeout of 1 s (set_read_timeout, or \
                     settimeout(1) in Python): without one, a lost ping \
                     stops the pinger for good"
                } else {
                    "give up on a ping after 1 second"
                },
            ));
        }
    }
    Ok(())
}

/// What the pinger printed for one ping.
#[derive(PartialEq)]
enum Shown {
    Timeout,
    /// A line with a server reply (`PING <n> ...`), and the `<n>`.
    Reply(Option<usize>),
}

/// The lines of `stdout` that report a ping, in order.
fn results(stdout: &str) -> Vec<Shown> {
    stdout
        .lines()
        .filter_map(|line| {
            if line.contains("Request timed out") {
                Some(Shown::Timeout)
            } else {
                line.split_once("PING ").map(|(_, rest)| {
                    Shown::Reply(
                        rest.split_whitespace()
                            .next()
                            .and_then(|n| n.parse().ok()),
                    )
                })
            }
        })
        .collect()
}

/// The number after `RTT` in `line` (case does not matter; `:` or `=`
/// may come between).
fn rtt(line: &str) -> Option<f64> {
    let at = line.to_ascii_lowercase().find("rtt")?;
    let rest = line[at + 3..].trim_start_matches([' ', ':', '=']);
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Every answered ping has a line with the server's reply and its RTT,
/// in ping order.
fn reports_replies(
    pings: &[Ping],
    finished: &Finished,
    server: SocketAddr,
) -> Result<(), Failure> {
    let lines: Vec<&str> = finished.stdout.lines().collect();
    let mut after = 0; // replies must come in ping order
    let mut answered = 0;
    for (index, ping) in pings.iter().enumerate() {
        if !ping.answered {
            continue;
        }
        answered += 1;
        let seq = index + 1;
        let reply = ping.message.to_uppercase();
        let expected = format!(
            "for ping {seq}, a line with the reply {reply:?} and its RTT, \
             e.g. `Reply from 127.0.0.1:12000: {reply} RTT 0.215 ms`"
        );
        let Some(found) = lines.iter().position(|line| line.contains(&reply))
        else {
            return Err(Failure::new(
                expected,
                format!("no such line; stdout: {:?}", finished.stdout),
                "print each reply the server sends back",
            ));
        };
        if found < after {
            return Err(Failure::new(
                expected,
                format!(
                    "it came before the reply to an earlier ping: {:?}",
                    lines[found]
                ),
                "print each reply as it comes, one ping after the other",
            ));
        }
        after = found;
        let from = format!("Reply from {server}: {reply}");
        if !lines[found].contains(&from) {
            return Err(Failure::new(
                format!("for ping {seq}, a line with {from:?}"),
                format!("{:?}", lines[found]),
                "print `Reply from`, the address the reply came from (the \
                 second value recvfrom returns), `: ` and the reply",
            ));
        }
        if rtt(lines[found]).is_none() {
            return Err(Failure::new(
                expected,
                format!("{:?}", lines[found]),
                "measure the time from send to reply and print it after \
                 `RTT`, in milliseconds (Python: time.perf_counter() \
                 before sendto and after recvfrom; Rust: Instant::now() \
                 before sending, .elapsed() after receiving)",
            ));
        }
    }
    if answered == 0 {
        return Err(no_ping("replies from the server to report", finished));
    }
    Ok(())
}

/// One result line per ping, and `Request timed out` exactly for the
/// dropped ones.
fn reports_timeouts(
    pings: &[Ping],
    results: &[Shown],
    finished: &Finished,
) -> Result<(), Failure> {
    let lost = dropped(pings);
    let expected = format!(
        "`Request timed out` for ping {} (the server dropped {}), one line \
         per ping in order",
        numbers(&lost),
        if lost.len() == 1 { "it" } else { "them" }
    );
    if pings.is_empty() {
        return Err(no_ping("lost pings to report", finished));
    }
    if lost.is_empty() {
        return Err(Failure::new(
            "lost pings to report",
            format!("the server got {} ping(s) and dropped none", pings.len()),
            "send all ten pings: the server drops some of them",
        ));
    }
    let reported: Vec<usize> = (1..=results.len())
        .filter(|&n| results[n - 1] == Shown::Timeout)
        .collect();
    let in_place = (1..=pings.len()).all(|seq| {
        let shown = results.get(seq - 1);
        if pings[seq - 1].answered {
            matches!(shown, Some(Shown::Reply(Some(n))) if *n == seq)
        } else {
            shown == Some(&Shown::Timeout)
        }
    });
    if reported == lost && in_place && results.len() == pings.len() {
        return Ok(());
    }
    let got = if reported.is_empty() {
        format!(
            "no `Request timed out` among {} result line(s)",
            results.len()
        )
    } else {
        format!(
            "`Request timed out` on result line {} of {}",
            numbers(&reported),
            results.len()
        )
    };
    Err(Failure::new(
        expected,
        got,
        "when the read times out, print `Request timed out` and go on with \
         the next ping",
    ))
}

/// The numbers of the statistics line, as printed.
struct Statistics {
    sent: Option<u32>,
    received: Option<u32>,
    loss: Option<f64>,
    rtt: Option<[f64; 3]>,
}

/// Finds the number just before `word` in `line`.
fn number_before(line: &str, word: &str) -> Option<f64> {
    let head = &line[..line.find(word)?];
    let start = head
        .rfind(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or(0, |at| at + 1);
    head[start..].parse().ok()
}

fn statistics(line: &str) -> Statistics {
    let rtt = line.split_once("min/avg/max").and_then(|(_, rest)| {
        let rest = rest.trim_start_matches([' ', '=', ':']);
        let figures: Vec<f64> = rest
            .split_whitespace()
            .next()?
            .split('/')
            .map(|figure| figure.parse().ok())
            .collect::<Option<_>>()?;
        figures.try_into().ok()
    });
    Statistics {
        sent: number_before(line, " sent").map(|n| n as u32),
        received: number_before(line, " received").map(|n| n as u32),
        loss: number_before(line, "% loss"),
        rtt,
    }
}

fn prints_statistics(
    pings: &[Ping],
    finished: &Finished,
) -> Result<(), Failure> {
    let sent = pings.len();
    if sent == 0 {
        return Err(no_ping("statistics after the pings", finished));
    }
    let received = pings.iter().filter(|ping| ping.answered).count();
    let loss = (sent - received) as f64 * 100.0 / sent as f64;
    let expected = format!(
        "a line `{sent} sent, {received} received, {loss:.0}% loss; RTT \
         min/avg/max = <min>/<avg>/<max> ms`"
    );
    let hint = "count the pings sent and the replies received, the loss \
                rate in percent, and the smallest, mean and largest RTT of \
                the replies";
    let Some(line) =
        finished.stdout.lines().rev().find(|l| l.contains("% loss"))
    else {
        return Err(Failure::new(
            expected,
            format!("no line with `% loss`; {}", ending(finished)),
            hint,
        ));
    };
    let figures = statistics(line);
    let counts_right = figures.sent == Some(sent as u32)
        && figures.received == Some(received as u32)
        && figures
            .loss
            .is_some_and(|shown| (shown - loss).abs() <= 0.5);
    if !counts_right {
        return Err(Failure::new(expected, format!("{line:?}"), hint));
    }
    let Some([min, avg, max]) = figures.rtt else {
        return Err(Failure::new(
            expected,
            format!("{line:?} (no `min/avg/max = a/b/c`)"),
            hint,
        ));
    };
    // The RTTs printed for the replies: min and max must be among them.
    let shown: Vec<f64> = finished
        .stdout
        .lines()
        .filter(|line| line.contains("PING "))
        .filter_map(rtt)
        .collect();
    let close = |a: f64, b: f64| (a - b).abs() <= 0.01 + 0.05 * a.max(b);
    let smallest = shown.iter().copied().reduce(f64::min);
    let largest = shown.iter().copied().reduce(f64::max);
    let mean = (!shown.is_empty())
        .then(|| shown.iter().sum::<f64>() / shown.len() as f64);
    let consistent = min <= avg
        && avg <= max
        && smallest.is_none_or(|s| close(s, min))
        && largest.is_none_or(|l| close(l, max))
        && mean.is_none_or(|m| close(m, avg));
    if !consistent {
        return Err(Failure::new(
            format!(
                "min, avg and max of the RTTs printed for the replies: {}",
                match (smallest, mean, largest) {
                    (Some(s), Some(m), Some(l)) =>
                        format!("{s:.3}/{m:.3}/{l:.3}"),
                    _ => "min <= avg <= max".to_string(),
                }
            ),
            format!("{line:?}"),
            "average the RTTs of the replies only: a lost ping has no RTT \
             (divide their sum by the number of replies, not of pings)",
        ));
    }
    Ok(())
}

fn exits_cleanly(finished: &Finished) -> Result<(), Failure> {
    match finished.status {
        Some(status) if status.success() => Ok(()),
        _ => Err(Failure::new(
            "exit status 0 after the statistics",
            ending(finished),
            if finished.killed() {
                "stop after ping 10: no wait may last forever"
            } else {
                "a lost ping is not an error: report it and go on"
            },
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_drops_pings_4_5_and_8() {
        let mut rng = fastrand::Rng::with_seed(SEED);
        let lost: Vec<usize> =
            (1..=PINGS).filter(|_| rng.f64() < LAB_DROP).collect();
        assert_eq!(lost, [4, 5, 8]);
    }

    #[test]
    fn reads_rtts_and_statistics() {
        assert_eq!(rtt("Reply from x: PING 1 2 RTT 0.215 ms"), Some(0.215));
        assert_eq!(rtt("PING 1 2 rtt=12 ms"), Some(12.0));
        assert_eq!(rtt("PING 1 2"), None);
        let line = "10 sent, 7 received, 30% loss; RTT min/avg/max = \
                    0.014/0.057/0.128 ms";
        let figures = statistics(line);
        assert_eq!(figures.sent, Some(10));
        assert_eq!(figures.received, Some(7));
        assert_eq!(figures.loss, Some(30.0));
        assert_eq!(figures.rtt, Some([0.014, 0.057, 0.128]));
    }

    #[test]
    fn lists_numbers_as_a_reader_says_them() {
        assert_eq!(numbers(&[4, 5, 8]), "4, 5 and 8");
        assert_eq!(numbers(&[4]), "4");
        assert_eq!(numbers(&[]), "none");
    }
}
