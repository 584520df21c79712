//! Exercise 3: a TCP server that serves its clients concurrently.
//!
//! The protocol is tcp_server's: a line in, its uppercase and a newline
//! out, then the server closes the connection. The checker starts the
//! student's server once and, on that one server, plays these clients in
//! turn: a normal one, a silent one beside a talking one, twenty at once,
//! some that reset their connection, and a last normal one.
//!
//! [`Client`] is the checker's side of a TCP conversation, every wait
//! bounded; exercise 4 (framing.rs) uses it too.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use socket2::SockRef;

use super::{Criterion, Failure, RunningServer, Student};

/// How long the server may take to print its ready line.
pub(super) const START_LIMIT: Duration = Duration::from_secs(5);
/// How long a client waits for what it expects. A reply over loopback
/// takes well under a millisecond: only a server that is not serving this
/// client takes this long.
pub(super) const LIMIT: Duration = Duration::from_secs(5);
/// The deadline of a wait that starts now.
pub(super) fn soon() -> Instant {
    Instant::now() + LIMIT
}

/// How many clients connect at once in `serves-many-at-once`.
const AT_ONCE: usize = 20;
/// The pause before each connection of a series: a server that listens
/// with a small backlog and accepts quickly must not lose connection
/// requests to a burst with no pause at all.
const CONNECT_PAUSE: Duration = Duration::from_millis(10);

type Scenario = fn(SocketAddr) -> Result<(), Failure>;

const SCENARIOS: [(&str, Scenario); 5] = [
    ("answers-one-client", answers_one_client),
    (
        "serves-while-one-client-is-silent",
        serves_while_one_is_silent,
    ),
    ("serves-many-at-once", serves_many_at_once),
    ("survives-client-resets", survives_client_resets),
    ("keeps-serving-after", keeps_serving_after),
];

pub fn check(student: &Student) -> Vec<Criterion> {
    let names: Vec<&'static str> =
        SCENARIOS.iter().map(|(name, _)| *name).collect();
    let server = match start(student) {
        Ok(server) => server,
        Err(failure) => return not_started(&names, failure),
    };
    let address = server.loopback();
    let mut server = Some(server);
    let mut exited_during = "";
    let mut criteria = Vec::new();
    // One server for all: a server lives through all kinds of clients.
    for (name, scenario) in SCENARIOS {
        let Some(running) = server.as_mut() else {
            criteria.push(Criterion::fail(
                name,
                "a running server",
                format!("the server exited during {exited_during}"),
                format!("see {exited_during}"),
            ));
            continue;
        };
        let result = scenario(address);
        if still_running(running, &result) {
            criteria.push(Criterion::from(name, result));
        } else if let Some(stopped) = server.take() {
            exited_during = name;
            criteria.push(Criterion::from(name, Err(exited(stopped))));
        }
    }
    criteria
}

/// Starts the student's server as every server exercise does.
pub(super) fn start(student: &Student) -> Result<RunningServer, Failure> {
    student.start_server(&["--port", "0", "--bind", "127.0.0.1"], START_LIMIT)
}

/// Every criterion fails when the server does not start: the first says
/// why.
pub(super) fn not_started(
    names: &[&'static str],
    failure: Failure,
) -> Vec<Criterion> {
    let first = names[0];
    let mut criteria = vec![Criterion::from(first, Err(failure))];
    for &name in &names[1..] {
        criteria.push(Criterion::fail(
            name,
            "a running server",
            "the server did not start",
            format!("see {first}"),
        ));
    }
    criteria
}

/// Whether the server still runs after a scenario. After a failure it
/// gets a moment to finish exiting: a server that dies of an error may
/// close its socket a little before its process ends.
pub(super) fn still_running(
    server: &mut RunningServer,
    result: &Result<(), Failure>,
) -> bool {
    let grace = if result.is_ok() { 0 } else { 20 };
    for _ in 0..grace {
        if !server.alive() {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
    server.alive()
}

/// The failure of a server that exited, with the end of its stderr.
pub(super) fn exited(server: RunningServer) -> Failure {
    let expected = format!("`{}` to keep running", server.shown);
    if server.flooded() {
        return Failure::new(
            expected,
            format!(
                "the server wrote more than {} MiB and was stopped",
                super::process::OUTPUT_LIMIT >> 20
            ),
            "print at most a line or two per client: a loop that prints \
             without end fills the disk of whoever runs the server",
        );
    }
    let stderr = server.stop();
    let mut got = "the server exited".to_string();
    // The error is near the end; Rust's panic message ends with a note on
    // backtraces, which says nothing about this error.
    let last = stderr
        .lines()
        .rev()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with("note: "));
    if let Some(last) = last {
        got += &format!(", its stderr ending with {last:?}");
    }
    Failure::new(
        expected,
        got,
        "an error with one client must not end the server: report it on \
         stderr and go on with the next connection",
    )
}

fn answers_one_client(address: SocketAddr) -> Result<(), Failure> {
    one_normal_client(address, "hello from the checker")
}

fn keeps_serving_after(address: SocketAddr) -> Result<(), Failure> {
    one_normal_client(address, "still there after all those clients?")
}

/// A client sends a line and expects its uppercase, a newline and the end
/// of the connection.
fn one_normal_client(address: SocketAddr, line: &str) -> Result<(), Failure> {
    let mut client = Client::connect(address, soon())?;
    let expected = format!("{}\n", line.to_uppercase());
    client.send(format!("{line}\n").as_bytes())?;
    let ended = client.receive_to_end(soon());
    if client.received != expected.as_bytes() {
        return Err(Failure::new(
            format!("{expected:?} after sending {:?}", format!("{line}\n")),
            client.got(&ended),
            "read up to the newline, then write the line's to_uppercase() \
             and a newline",
        ));
    }
    if ended != Ended::Closed {
        return Err(Failure::new(
            format!("{expected:?}, then the end of the connection"),
            client.got(&ended),
            "close the connection after the reply (Python: \
             connection_socket.close(); Rust: drop the TcpStream, as \
             tcp_server does)",
        ));
    }
    Ok(())
}

fn serves_while_one_is_silent(address: SocketAddr) -> Result<(), Failure> {
    let mut silent = Client::connect(address, soon())?;
    let mut talker = Client::connect(address, soon())?;
    talker.send(b"i am not the silent one\n")?;
    let ended = talker.receive_lines(1, soon());
    if talker.received != b"I AM NOT THE SILENT ONE\n" {
        return Err(Failure::new(
            format!(
                "\"I AM NOT THE SILENT ONE\\n\" within {LIMIT:?}, while \
                 another client is connected and silent"
            ),
            talker.got(&ended),
            "the server still waits for the silent client: serve each \
             connection on its own thread, at least two at once, and go \
             back to accept at once (Python: threading.Thread(target=..., \
             args=(connection_socket,)).start(); Rust: std::thread::spawn)",
        ));
    }
    // The silent client was not forgotten: it is served when it speaks.
    silent.send(b"now i speak\n")?;
    let ended = silent.receive_lines(1, soon());
    if silent.received != b"NOW I SPEAK\n" {
        return Err(Failure::new(
            "\"NOW I SPEAK\\n\" for the client that was silent, once it \
             sends its line",
            silent.got(&ended),
            "a slow client must be served when its line comes, however \
             long it waited",
        ));
    }
    Ok(())
}

fn serves_many_at_once(address: SocketAddr) -> Result<(), Failure> {
    let deadline = soon();
    let mut clients = Vec::new();
    for number in 1..=AT_ONCE {
        thread::sleep(CONNECT_PAUSE);
        match Client::connect(address, deadline) {
            Ok(client) => clients.push(client),
            Err(failure) => {
                return Err(Failure::new(
                    format!(
                        "{AT_ONCE} clients connected at once within {LIMIT:?}"
                    ),
                    format!(
                        "{} connected; client {number}: {}",
                        clients.len(),
                        failure.got
                    ),
                    "serve each connection on its own thread: a server busy \
                     with one client leaves the others in the accept queue, \
                     which fills up",
                ));
            }
        }
    }
    // Every client is connected before the first one speaks.
    for (number, client) in clients.iter_mut().enumerate() {
        client.send(format!("client number {}\n", number + 1).as_bytes())?;
    }
    let deadline = soon();
    for (number, client) in clients.iter_mut().enumerate() {
        let ended = client.receive_lines(1, deadline);
        let expected = format!("CLIENT NUMBER {}\n", number + 1);
        if client.received != expected.as_bytes() {
            return Err(Failure::new(
                format!(
                    "each of {AT_ONCE} clients connected at once to get its \
                     own reply within {LIMIT:?}, e.g. {expected:?}"
                ),
                format!("client {}: {}", number + 1, client.got(&ended)),
                "give each connection its own socket and buffer, and serve \
                 the connections concurrently",
            ));
        }
    }
    Ok(())
}

fn survives_client_resets(address: SocketAddr) -> Result<(), Failure> {
    // Resets before sending anything, halfway through a line, and right
    // after a whole line (the reply then goes to a reset connection).
    let sends: [&[u8]; 3] = [b"", b"half a li", b"a whole line\n"];
    for bytes in sends {
        thread::sleep(CONNECT_PAUSE);
        let mut client = Client::connect(address, soon())?;
        client.send(bytes)?;
        client.reset();
    }
    thread::sleep(CONNECT_PAUSE);
    let mut client = Client::connect(address, soon())?;
    client.send(b"after the resets\n")?;
    let ended = client.receive_lines(1, soon());
    if client.received != b"AFTER THE RESETS\n" {
        return Err(Failure::new(
            "\"AFTER THE RESETS\\n\" for a client after three that reset \
             their connection",
            client.got(&ended),
            "a read or write error concerns one client: report it and go \
             on with the next connection",
        ));
    }
    Ok(())
}

/// The checker's side of one TCP connection; no wait is unbounded.
pub(super) struct Client {
    stream: TcpStream,
    /// Every byte the server has sent so far.
    pub(super) received: Vec<u8>,
}

/// How a wait for the server's bytes ended.
#[derive(Debug, PartialEq)]
pub(super) enum Ended {
    /// What was expected came.
    Done,
    /// The server closed the connection (a read returned 0).
    Closed,
    /// The server reset the connection.
    Reset,
    /// Nothing more came before the deadline.
    TimedOut,
    /// Another error.
    Failed(String),
}

impl Client {
    /// Connects, giving up at the deadline.
    pub(super) fn connect(
        address: SocketAddr,
        deadline: Instant,
    ) -> Result<Client, Failure> {
        let hint = "listen and accept connections on the address of the \
                    ready line";
        let late = || {
            Failure::new(
                "to connect",
                "the connection was not established in time",
                hint,
            )
        };
        let limit = deadline.saturating_duration_since(Instant::now());
        if limit.is_zero() {
            return Err(late());
        }
        match TcpStream::connect_timeout(&address, limit) {
            Ok(stream) => {
                // A server that stops reading must not block a send for
                // ever.
                let _ = stream.set_write_timeout(Some(LIMIT));
                Ok(Client {
                    stream,
                    received: Vec::new(),
                })
            }
            Err(error) if is_timeout(&error) => Err(late()),
            Err(error) => Err(Failure::new(
                "to connect",
                format!("cannot connect: {error}"),
                hint,
            )),
        }
    }

    /// Sends every byte of `bytes`.
    pub(super) fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        self.stream.write_all(bytes).map_err(|error| {
            Failure::new(
                format!("to send {:?}", shown(bytes)),
                format!("{error}, after receiving {}", shown(&self.received)),
                "keep the connection open until the client closes it",
            )
        })
    }

    /// Sends each piece with a write of its own, pausing in between so
    /// that the server gets a chance to read each one alone; TCP_NODELAY
    /// makes each write leave at once instead of waiting for the next.
    pub(super) fn send_in_pieces(
        &mut self,
        pieces: &[&[u8]],
        pause: Duration,
    ) -> Result<(), Failure> {
        let _ = self.stream.set_nodelay(true);
        for (index, piece) in pieces.iter().enumerate() {
            if index > 0 {
                thread::sleep(pause);
            }
            self.send(piece)?;
        }
        Ok(())
    }

    /// A clone of the socket, e.g. for a thread that sends while this
    /// one receives.
    pub(super) fn try_clone(&self) -> std::io::Result<TcpStream> {
        self.stream.try_clone()
    }

    /// Tells the server that no more bytes will come (a FIN), leaving the
    /// other direction open.
    pub(super) fn shut_down_sending(&self) -> Result<(), Failure> {
        self.stream.shutdown(Shutdown::Write).map_err(|error| {
            Failure::new(
                "to shut down the sending side",
                error.to_string(),
                "keep the connection open until the client closes it",
            )
        })
    }

    /// Shuts down both directions, which also wakes a thread blocked in
    /// a send on a clone of the socket.
    pub(super) fn hang_up(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// Closes with a reset (RST) instead of the orderly FIN: SO_LINGER
    /// with a zero timeout.
    pub(super) fn reset(self) {
        let _ = SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
    }

    /// Reads until `lines` newlines in all have come.
    pub(super) fn receive_lines(
        &mut self,
        lines: usize,
        deadline: Instant,
    ) -> Ended {
        self.receive_until(deadline, |received| {
            received.iter().filter(|&&byte| byte == b'\n').count() >= lines
        })
    }

    /// Reads until the server closes the connection.
    pub(super) fn receive_to_end(&mut self, deadline: Instant) -> Ended {
        self.receive_until(deadline, |_| false)
    }

    /// Reads until `done` says what came is enough, the connection ends,
    /// or the deadline passes.
    fn receive_until(
        &mut self,
        deadline: Instant,
        done: impl Fn(&[u8]) -> bool,
    ) -> Ended {
        let mut buffer = vec![0; 64 * 1024];
        loop {
            if done(&self.received) {
                return Ended::Done;
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Ended::TimedOut;
            }
            if let Err(error) = self.stream.set_read_timeout(Some(remaining)) {
                return Ended::Failed(error.to_string());
            }
            match self.stream.read(&mut buffer) {
                Ok(0) => return Ended::Closed,
                Ok(length) => self.received.extend(&buffer[..length]),
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) if is_timeout(&error) => return Ended::TimedOut,
                Err(error) if error.kind() == ErrorKind::ConnectionReset => {
                    return Ended::Reset;
                }
                Err(error) => return Ended::Failed(error.to_string()),
            }
        }
    }

    /// What came and how the wait ended, for a failure's "got" part.
    pub(super) fn got(&self, ended: &Ended) -> String {
        let received = shown(&self.received);
        let (then, alone) = match ended {
            Ended::Done => return received,
            Ended::Closed => (
                "then the server closed the connection",
                "the server closed the connection without sending anything",
            ),
            Ended::Reset => (
                "then the connection was reset",
                "the connection was reset before any byte came",
            ),
            Ended::TimedOut => (
                "then nothing more within the time limit",
                "nothing within the time limit",
            ),
            Ended::Failed(error) => {
                return format!("{received}, then the read failed: {error}");
            }
        };
        if self.received.is_empty() {
            alone.to_string()
        } else {
            format!("{received}, {then}")
        }
    }
}

/// Bytes as a quoted string, shortened when long.
pub(super) fn shown(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "nothing".to_string();
    }
    let text = String::from_utf8_lossy(bytes);
    if bytes.len() <= 60 {
        return format!("{text:?}");
    }
    let start: String = text.chars().take(20).collect();
    let end: String = {
        let mut end: Vec<char> = text.chars().rev().take(10).collect();
        end.reverse();
        end.into_iter().collect()
    };
    format!("{} bytes ({start:?}...{end:?})", bytes.len())
}

fn is_timeout(error: &std::io::Error) -> bool {
    matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}
