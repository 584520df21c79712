//! Small helpers shared by the example programs.
//!
//! They keep error handling, keyboard input and bookkeeping out of the way
//! so that every socket call stays visible in each example's `main`. None
//! of them touches a socket.

use std::collections::HashMap;
use std::fmt::{self, Display};
use std::io::{self, BufRead, Write};
use std::net::SocketAddr;
use std::process;
use std::time::{Duration, Instant};

/// Prints `error: <message>` on standard error and ends the program with
/// exit status 1.
///
/// This is the one way the examples stop on an error: one readable line
/// for the user instead of a panic and a backtrace.
pub fn fail(message: impl Display) -> ! {
    eprintln!("error: {message}");
    process::exit(1)
}

/// Turns a failed [`Result`] into a one-line error and an exit.
pub trait OrExit<T> {
    /// Returns the value on success; otherwise prints
    /// `error: <what failed>: <the error>` and exits with status 1.
    fn or_exit(self, what_failed: impl Display) -> T;
}

impl<T, E: Display> OrExit<T> for Result<T, E> {
    fn or_exit(self, what_failed: impl Display) -> T {
        match self {
            Ok(value) => value,
            Err(error) => fail(format_args!("{what_failed}: {error}")),
        }
    }
}

/// Shows `prompt`, reads one line from standard input and returns it
/// without its line ending: the Rust counterpart of Python's
/// `input(prompt)`.
///
/// Exits with an error when standard input is already closed (Python
/// raises `EOFError` there) or is not valid UTF-8.
pub fn input(prompt: &str) -> String {
    print!("{prompt}");
    // Standard output is line-buffered: without a flush the prompt would
    // stay in the buffer until after the user typed the answer.
    io::stdout().flush().or_exit("cannot write the prompt");
    read_line(io::stdin().lock())
        .or_exit("cannot read a line from standard input")
}

/// Reads one line from `reader` and strips its line ending (`\n` or
/// `\r\n`). A closed input before any character is an error.
fn read_line(mut reader: impl BufRead) -> io::Result<String> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "standard input was closed before a line was entered",
        ));
    }
    if line.ends_with('\n') {
        line.pop();
        if line.ends_with('\r') {
            line.pop();
        }
    }
    Ok(line)
}

/// Prints `line` and a newline on standard output, as `println!` does,
/// but ends the program with one line on standard error instead of a
/// panic when standard output is gone (`udp_server | head -1`, a closed
/// terminal): a server whose log nobody can read stops cleanly.
pub fn say(line: impl Display) {
    let mut stdout = io::stdout().lock();
    if let Err(error) = writeln!(stdout, "{line}").and_then(|()| stdout.flush())
    {
        fail(format_args!(
            "cannot write to standard output ({error}); stopping"
        ));
    }
}

/// Shows text that came from the network on a terminal without letting it
/// drive the terminal: every control character (escape sequences, bells,
/// carriage returns, C1 controls) is written as a Rust escape such as
/// `\u{1b}`, everything else as it is.
pub fn printable(text: &str) -> Printable<'_> {
    Printable(text)
}

/// The [`Display`] of [`printable`].
pub struct Printable<'a>(&'a str);

impl Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// A budget of datagrams per sender (a token bucket for each source
/// address): a sender may send `burst` datagrams at once, then `per_second`
/// more each second. A server asks [`allows`](Self::allows) before it
/// answers, so that no sender, real or forged, can make it answer without
/// end.
pub struct PerSourceLimit {
    burst: f64,
    per_second: f64,
    senders: HashMap<SocketAddr, Bucket>,
}

/// What one sender has left, and when that was last worked out.
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The most senders remembered at once: a table of a few hundred
/// kilobytes, however many addresses a flood of forged datagrams claims
/// to come from.
const MOST_SENDERS: usize = 4096;

impl PerSourceLimit {
    pub fn new(burst: u32, per_second: u32) -> PerSourceLimit {
        PerSourceLimit {
            burst: f64::from(burst),
            per_second: f64::from(per_second),
            senders: HashMap::new(),
        }
    }

    /// Takes one datagram from `sender`'s budget; false when it is spent.
    pub fn allows(&mut self, sender: SocketAddr) -> bool {
        self.allows_at(sender, Instant::now())
    }

    fn allows_at(&mut self, sender: SocketAddr, now: Instant) -> bool {
        if self.senders.len() >= MOST_SENDERS
            && !self.senders.contains_key(&sender)
        {
            // A sender whose budget has refilled is as good as new:
            // forget those. If all are still busy, this is a flood, and
            // a new sender waits until some budget refills.
            let (burst, per_second) = (self.burst, self.per_second);
            self.senders
                .retain(|_, bucket| bucket.refilled(now, per_second) < burst);
            if self.senders.len() >= MOST_SENDERS {
                return false;
            }
        }
        let bucket = self.senders.entry(sender).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        bucket.tokens = bucket.refilled(now, self.per_second).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl Bucket {
    fn refilled(&self, now: Instant, per_second: f64) -> f64 {
        let elapsed = now.saturating_duration_since(self.updated);
        self.tokens + elapsed.as_secs_f64() * per_second
    }
}

/// Parses a positive number of seconds such as `5` or `0.5`, for clap's
/// `value_parser`.
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !(seconds > 0.0 && seconds <= 86_400.0) {
        return Err(format!(
            "`{text}` is out of range: give more than 0 and at most 86400 \
             seconds"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_line_strips_only_the_line_ending() {
        let line = read_line(&b"  two words \r\nnext line\n"[..]).unwrap();
        assert_eq!(line, "  two words ");
        assert_eq!(read_line(&b"\n"[..]).unwrap(), "");
        assert_eq!(
            read_line(&b"no newline at end"[..]).unwrap(),
            "no newline at end"
        );
    }

    #[test]
    fn read_line_reports_closed_input() {
        let error = read_line(&b""[..]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn read_line_rejects_invalid_utf8() {
        let error = read_line(&b"\xff\n"[..]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn printable_escapes_control_characters_only() {
        let shown =
            printable("caf\u{e9} \x1b]0;owned\x07\r\n\u{9b}2J ok").to_string();
        assert_eq!(shown, "caf\u{e9} \\u{1b}]0;owned\\u{7}\\r\\n\\u{9b}2J ok");
        assert!(!shown.chars().any(char::is_control));
    }

    #[test]
    fn a_spent_budget_refills_over_time_for_that_sender_only() {
        let mut limit = PerSourceLimit::new(3, 10);
        let start = Instant::now();
        let one: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let other: SocketAddr = "127.0.0.1:40001".parse().unwrap();
        let allowed = (0..5).filter(|_| limit.allows_at(one, start)).count();
        assert_eq!(allowed, 3, "a burst of 3, then nothing");
        assert!(limit.allows_at(other, start), "another sender is not hit");
        let later = start + Duration::from_millis(100);
        assert!(limit.allows_at(one, later), "0.1 s at 10/s refills one");
        assert!(!limit.allows_at(one, later));
        let much_later = start + Duration::from_secs(60);
        let allowed =
            (0..5).filter(|_| limit.allows_at(one, much_later)).count();
        assert_eq!(allowed, 3, "the budget never grows past the burst");
    }

    #[test]
    fn a_full_table_forgets_idle_senders_and_holds_busy_ones() {
        let mut limit = PerSourceLimit::new(2, 1);
        let start = Instant::now();
        let sender = |n: usize| -> SocketAddr {
            SocketAddr::from(([10, 0, (n / 256) as u8, (n % 256) as u8], 9))
        };
        for n in 0..MOST_SENDERS {
            assert!(limit.allows_at(sender(n), start));
        }
        let newcomer: SocketAddr = "127.0.0.1:50000".parse().unwrap();
        assert!(!limit.allows_at(newcomer, start), "all busy: a flood");
        assert_eq!(limit.senders.len(), MOST_SENDERS);
        let idle = start + Duration::from_secs(2);
        assert!(limit.allows_at(newcomer, idle), "idle senders forgotten");
        assert_eq!(limit.senders.len(), 1);
    }

    #[test]
    fn parse_seconds_accepts_fractions_and_rejects_the_rest() {
        assert_eq!(parse_seconds("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_seconds("0.25"), Ok(Duration::from_millis(250)));
        for bad in ["0", "-1", "nan", "inf", "1e9", "five", ""] {
            assert!(parse_seconds(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
