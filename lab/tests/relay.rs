//! End-to-end tests of `socket-walkthrough relay`: the relay binary as a
//! real process between the UDP examples (or sockets owned by the test),
//! everything on loopback, port 0.
//!
//! The relay's log is its contract: one line per datagram, in arrival
//! order per direction. The tests read it to learn what the relay decided
//! and then check that the datagrams did exactly that.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use support::{RUN_LIMIT, Run, Server, expected_stdout, run_example};

const BINARY: &str = env!("CARGO_BIN_EXE_lab");
/// How long a test waits for any one line or datagram before failing.
const PATIENCE: Duration = Duration::from_secs(10);

#[test]
fn udp_client_gets_its_reply_through_a_lossless_relay() {
    let mut server = Server::start("udp_server");
    let server_address = server.loopback().to_string();
    let mut relay = Relay::start(&["--server", &server_address]);
    assert!(
        relay
            .ready
            .ends_with(&format!(", forwarding to {server_address}")),
        "{}",
        relay.describe()
    );
    let run = udp_client(&relay, "through the relay", "5");
    run.assert_success();
    assert_eq!(
        run.stdout,
        expected_stdout("THROUGH THE RELAY"),
        "{}",
        run.describe()
    );
    server.expect_line("through the relay");
    let request = relay.next_entry();
    let reply = relay.next_entry();
    assert!(
        request.to_server
            && request.number == 1
            && request.length == 17
            && request.fate == "forwarded",
        "{request:?}\n{}",
        relay.describe()
    );
    assert!(
        !reply.to_server
            && reply.number == 1
            && reply.peer == request.peer
            && reply.fate == "forwarded",
        "{reply:?}\n{}",
        relay.describe()
    );
    relay.assert_alive();
}

#[test]
fn the_same_seed_gives_the_same_fates() {
    let first = fates_of_a_lossy_run("7");
    let again = fates_of_a_lossy_run("7");
    assert_eq!(first, again, "seed 7 gave two different fate sequences");
    let all: Vec<&String> = first.0.iter().chain(&first.1).collect();
    for fate in ["forwarded", "dropped", "duplicated", "reordered"] {
        assert!(
            all.iter().any(|seen| *seen == fate),
            "seed 7 never chose {fate}: {first:?}"
        );
    }
    let other = fates_of_a_lossy_run("8");
    assert_ne!(first, other, "seeds 7 and 8 gave the same fates");
}

#[test]
fn drop_1_makes_the_udp_client_time_out() {
    let server = Server::start("udp_server");
    let mut relay = Relay::start(&[
        "--server",
        &server.loopback().to_string(),
        "--drop",
        "1",
    ]);
    let run = udp_client(&relay, "lost in transit", "1");
    run.assert_error("no reply from 127.0.0.1:");
    assert!(
        run.stderr.contains("UDP does not retransmit"),
        "{}",
        run.describe()
    );
    let request = relay.next_entry();
    assert!(
        request.to_server && request.fate == "dropped",
        "{request:?}\n{}",
        relay.describe()
    );
}

#[test]
fn duplicate_1_doubles_every_datagram_both_ways() {
    let mut server = Server::start("udp_server");
    let mut relay = Relay::start(&[
        "--server",
        &server.loopback().to_string(),
        "--duplicate",
        "1",
    ]);
    let client = test_socket();
    client.send_to(b"first", relay.address).unwrap();
    client.send_to(b"second", relay.address).unwrap();
    for line in ["first", "first", "second", "second"] {
        server.expect_line(line);
    }
    // Four replies from the server, each doubled again on the way back.
    let mut replies = Vec::new();
    for _ in 0..8 {
        replies.push(receive(&client, &mut relay));
    }
    let mut expected = vec!["FIRST"; 4];
    expected.extend(["SECOND"; 4]);
    assert_eq!(replies, expected, "{}", relay.describe());
    let entries: Vec<Entry> = (0..6).map(|_| relay.next_entry()).collect();
    let to_server = entries.iter().filter(|entry| entry.to_server).count();
    assert!(
        to_server == 2
            && entries.iter().all(|entry| entry.fate == "duplicated"),
        "{}",
        relay.describe()
    );
}

#[test]
fn a_rate_above_1_is_a_usage_error() {
    let run = run_relay(&["--drop", "1.5"]);
    assert_eq!(run.status.code(), Some(2), "{}", run.describe());
    assert!(
        run.stderr.starts_with(
            "error: invalid value '1.5' for '--drop <RATE>': give a \
             probability from 0 to 1, such as 0.3\n"
        ),
        "{}",
        run.describe()
    );
    assert_eq!(run.stderr.matches("error").count(), 1, "{}", run.describe());
    assert!(run.stdout.is_empty(), "{}", run.describe());

    // Each flag is valid alone, but one datagram has only one fate.
    let run =
        run_relay(&["--drop", "0.5", "--duplicate", "0.3", "--reorder", "0.3"]);
    assert_eq!(run.status.code(), Some(2), "{}", run.describe());
    assert_eq!(
        run.stderr,
        "error: --drop, --duplicate and --reorder add up to 1.1; each \
         datagram gets one fate, so the sum must be at most 1\n",
        "{}",
        run.describe()
    );
    assert!(run.stdout.is_empty(), "{}", run.describe());
}

#[test]
fn the_relay_survives_an_absent_server_and_serves_it_once_it_is_back() {
    // A port on which nothing listens any more.
    let vacant = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server_address = vacant.local_addr().unwrap();
    drop(vacant);
    let mut relay = Relay::start(&["--server", &server_address.to_string()]);
    let client = test_socket();
    client.send_to(b"anyone there?", relay.address).unwrap();
    let request = relay.next_entry();
    assert_eq!(request.fate, "forwarded", "{}", relay.describe());
    // Linux answers with ICMP port unreachable; the relay's upstream
    // socket is connected, so the relay hears of it and says so.
    let error = relay.next_error();
    assert!(
        error.starts_with(&format!(
            "error: nothing receives on {server_address} (ICMP port \
             unreachable)"
        )),
        "{error}\n{}",
        relay.describe()
    );
    relay.assert_alive();

    let port = server_address.port().to_string();
    let mut server = Server::start_with(
        "udp_server",
        &["--bind", "127.0.0.1", "--port", &port],
    );
    // The same client, so the same upstream socket that got the error.
    client.send_to(b"back again", relay.address).unwrap();
    assert_eq!(receive(&client, &mut relay), "BACK AGAIN");
    server.expect_line("back again");
    // And a new client.
    let run = udp_client(&relay, "new client", "5");
    assert_eq!(
        run.stdout,
        expected_stdout("NEW CLIENT"),
        "{}",
        run.describe()
    );
    server.expect_line("new client");
    relay.assert_alive();
}

#[test]
fn a_reordered_datagram_arrives_after_the_next_one() {
    let receiver = test_socket();
    let receiver_address = receiver.local_addr().unwrap().to_string();
    // Seed 1 (the default) reorders the first datagram and forwards the
    // second, which the log below confirms.
    let mut relay = Relay::start(&[
        "--server",
        &receiver_address,
        "--reorder",
        "0.5",
        "--seed",
        "1",
    ]);
    let client = test_socket();
    // Back to back: the second reaches the relay well within the 200 ms
    // that the first one waits for it.
    client.send_to(b"sent first", relay.address).unwrap();
    client.send_to(b"sent second", relay.address).unwrap();
    let fates = [relay.next_entry().fate, relay.next_entry().fate];
    assert_eq!(fates, ["reordered", "forwarded"], "{}", relay.describe());
    let arrived = [
        receive(&receiver, &mut relay),
        receive(&receiver, &mut relay),
    ];
    assert_eq!(
        arrived,
        ["sent second", "sent first"],
        "{}",
        relay.describe()
    );
}

#[test]
fn a_delayed_reply_still_arrives() {
    let mut server = Server::start("udp_server");
    let mut relay = Relay::start(&[
        "--server",
        &server.loopback().to_string(),
        "--delay",
        "50ms",
    ]);
    let run = udp_client(&relay, "slow link", "5");
    assert_eq!(
        run.stdout,
        expected_stdout("SLOW LINK"),
        "{}",
        run.describe()
    );
    server.expect_line("slow link");
    for _ in 0..2 {
        let entry = relay.next_entry();
        assert_eq!(entry.fate, "delayed 50ms", "{}", relay.describe());
    }
}

#[test]
fn help_documents_every_flag() {
    let run = run_relay(&["--help"]);
    run.assert_success();
    for needle in [
        "--listen",
        "--server",
        "--drop",
        "--delay",
        "--duplicate",
        "--reorder",
        "--seed",
        "[default: 127.0.0.1:12001]",
        "[default: 127.0.0.1:12000]",
        "[default: 1]",
        "same fates run after run",
    ] {
        assert!(
            run.stdout.contains(needle),
            "no {needle:?}\n{}",
            run.describe()
        );
    }
}

/// Sends 30 datagrams of lengths 1 to 30 through a relay with
/// `--drop 0.5 --duplicate 0.2 --reorder 0.2 --seed <seed>` to an echo
/// socket and back. Checks that every datagram met the fate the log gives
/// it, and returns the fates client->server and server->client.
fn fates_of_a_lossy_run(seed: &str) -> (Vec<String>, Vec<String>) {
    let echo = Echo::start();
    let mut relay = Relay::start(&[
        "--server",
        &echo.address.to_string(),
        "--drop",
        "0.5",
        "--duplicate",
        "0.2",
        "--reorder",
        "0.2",
        "--seed",
        seed,
    ]);
    let client = test_socket();
    let mut requests = Vec::new();
    let mut replies = Vec::new();
    for number in 1..=30 {
        client
            .send_to(payload(number).as_bytes(), relay.address)
            .unwrap();
        // One at a time: wait until the relay has decided this one.
        loop {
            let entry = relay.next_entry();
            if !entry.to_server {
                replies.push(entry);
                continue;
            }
            assert_eq!(entry.number, number as u64, "{}", relay.describe());
            requests.push(entry);
            break;
        }
    }
    // Every copy that reached the echo socket comes back to the relay.
    let echoed: usize = requests.iter().map(Entry::copies).sum();
    while replies.len() < echoed {
        let entry = relay.next_entry();
        assert!(!entry.to_server, "{}", relay.describe());
        replies.push(entry);
    }
    let mut received = Vec::new();
    for _ in 0..replies.iter().map(Entry::copies).sum() {
        received.push(receive(&client, &mut relay));
    }
    // The lengths tell the datagrams apart, whatever order they took.
    let mut heard_by_echo = echo.finish();
    for (log, heard) in
        [(&requests, &mut heard_by_echo), (&replies, &mut received)]
    {
        let mut expected: Vec<String> = log
            .iter()
            .flat_map(|entry| vec![payload(entry.length); entry.copies()])
            .collect();
        expected.sort();
        heard.sort();
        assert_eq!(*heard, expected, "seed {seed}\n{}", relay.describe());
    }
    let fates = |log: Vec<Entry>| log.into_iter().map(|entry| entry.fate);
    (fates(requests).collect(), fates(replies).collect())
}

/// `length` bytes that say which datagram this is.
fn payload(length: usize) -> String {
    format!("{length:-<length$}")
}

/// A UDP socket on loopback for the test to play client or server.
fn test_socket() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(PATIENCE)).unwrap();
    socket
}

/// The next datagram on `socket` as text; fails the test (showing the
/// relay's state) if none comes within [`PATIENCE`].
fn receive(socket: &UdpSocket, relay: &mut Relay) -> String {
    let mut buffer = [0; 2048];
    match socket.recv_from(&mut buffer) {
        Ok((length, _)) => {
            String::from_utf8_lossy(&buffer[..length]).into_owned()
        }
        Err(error) => panic!(
            "no datagram within {PATIENCE:?}: {error}\n{}",
            relay.describe()
        ),
    }
}

/// Runs the udp_client example against the relay.
fn udp_client(relay: &Relay, line: &str, timeout: &str) -> Run {
    let port = relay.address.port().to_string();
    run_example(
        "udp_client",
        &[
            "--server-name",
            "127.0.0.1",
            "--server-port",
            &port,
            "--timeout",
            timeout,
        ],
        format!("{line}\n").as_bytes(),
    )
}

/// Runs `socket-walkthrough relay <args>` to its end (for the ones that
/// end: errors and `--help`).
fn run_relay(args: &[&str]) -> Run {
    let mut all_args = vec!["relay"];
    all_args.extend(args);
    support::run_lab(&all_args, b"")
}

/// One line of the relay's log, e.g.
/// `#3 client 127.0.0.1:40001 -> server: 5 bytes, dropped`.
#[derive(Debug)]
struct Entry {
    number: u64,
    to_server: bool,
    peer: SocketAddr,
    length: usize,
    fate: String,
}

impl Entry {
    fn parse(line: &str) -> Option<Entry> {
        let (head, fate) = line.rsplit_once(", ")?;
        let (route, size) = head.rsplit_once(": ")?;
        let length = size
            .strip_suffix(" bytes")
            .or(size.strip_suffix(" byte"))?
            .parse()
            .ok()?;
        let (number, route) = route.strip_prefix('#')?.split_once(' ')?;
        let (to_server, peer) = match route.strip_prefix("client ") {
            Some(rest) => (true, rest.strip_suffix(" -> server")?),
            None => (false, route.strip_prefix("server -> client ")?),
        };
        Some(Entry {
            number: number.parse().ok()?,
            to_server,
            peer: peer.parse().ok()?,
            length,
            fate: fate.to_string(),
        })
    }

    /// How many copies of the datagram the relay sent on.
    fn copies(&self) -> usize {
        match self.fate.as_str() {
            "dropped" => 0,
            "duplicated" => 2,
            _ => 1,
        }
    }
}

/// A relay running in the background on a free port; killed when
/// dropped.
struct Relay {
    command: String,
    child: Child,
    /// The address the clients send to, from the first line.
    address: SocketAddr,
    /// The first line, e.g. `Relay listening on ..., forwarding to ...`.
    ready: String,
    lines: Receiver<String>,
    errors: Receiver<String>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Relay {
    /// Starts `relay --listen 127.0.0.1:0 <args>` and reads its first two
    /// lines (the address, then the settings).
    fn start(args: &[&str]) -> Relay {
        let mut all_args = vec!["relay", "--listen", "127.0.0.1:0"];
        all_args.extend(args);
        let command = format!("socket-walkthrough {}", all_args.join(" "));
        let mut child = Command::new(BINARY)
            .args(&all_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command}: {e}"));
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let lines = forward_lines(child.stdout.take().unwrap(), &stdout);
        let errors = forward_lines(child.stderr.take().unwrap(), &stderr);
        let mut relay = Relay {
            command,
            child,
            address: "0.0.0.0:0".parse().unwrap(),
            ready: String::new(),
            lines,
            errors,
            stdout,
            stderr,
        };
        relay.ready = relay.next_line();
        let address = relay
            .ready
            .strip_prefix("Relay listening on ")
            .and_then(|rest| rest.split_once(", forwarding to "))
            .and_then(|(address, _)| address.parse().ok());
        relay.address = address.unwrap_or_else(|| {
            panic!("unexpected first line\n{}", relay.describe())
        });
        let settings = relay.next_line();
        assert!(settings.starts_with("Seed "), "{}", relay.describe());
        relay
    }

    fn next_line(&mut self) -> String {
        match self.lines.recv_timeout(PATIENCE) {
            Ok(line) => line,
            Err(error) => panic!(
                "no line from the relay within {PATIENCE:?} ({error})\n{}",
                self.describe()
            ),
        }
    }

    fn next_entry(&mut self) -> Entry {
        let line = self.next_line();
        Entry::parse(&line).unwrap_or_else(|| {
            panic!("not a log line: {line:?}\n{}", self.describe())
        })
    }

    fn next_error(&mut self) -> String {
        match self.errors.recv_timeout(PATIENCE) {
            Ok(line) => line,
            Err(error) => panic!(
                "no error line within {PATIENCE:?} ({error})\n{}",
                self.describe()
            ),
        }
    }

    fn assert_alive(&mut self) {
        let status = self.child.try_wait().unwrap();
        assert!(status.is_none(), "relay exited\n{}", self.describe());
    }

    fn describe(&mut self) -> String {
        let status = match self.child.try_wait() {
            Ok(Some(status)) => status.to_string(),
            _ => "still running".to_string(),
        };
        format!(
            "command: {}\nstatus: {status}\nstdout:\n{}\nstderr:\n{}",
            self.command,
            self.stdout.lock().unwrap(),
            self.stderr.lock().unwrap()
        )
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends each line of `pipe` to the returned channel and keeps a copy
/// of everything in `record`, for failure messages.
fn forward_lines(
    pipe: impl Read + Send + 'static,
    record: &Arc<Mutex<String>>,
) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    let record = Arc::clone(record);
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            let mut record = record.lock().unwrap();
            record.push_str(&line);
            record.push('\n');
            // The test may have stopped listening; keep recording.
            let _ = sender.send(line);
        }
    });
    receiver
}

/// A UDP socket owned by the test that sends every datagram back and
/// remembers what it heard.
struct Echo {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<String>>,
}

impl Echo {
    fn start() -> Echo {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        // Short, so that `finish` is quick; the loop ends when told to or
        // after RUN_LIMIT at the latest.
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let address = socket.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let started = Instant::now();
                let mut heard = Vec::new();
                let mut buffer = [0; 2048];
                while !stop.load(Ordering::Relaxed)
                    && started.elapsed() < RUN_LIMIT
                {
                    let Ok((length, peer)) = socket.recv_from(&mut buffer)
                    else {
                        continue;
                    };
                    socket.send_to(&buffer[..length], peer).unwrap();
                    heard.push(
                        String::from_utf8_lossy(&buffer[..length]).into_owned(),
                    );
                }
                heard
            })
        };
        Echo {
            address,
            stop,
            thread,
        }
    }

    /// Stops the echo and returns the datagrams it heard, in order.
    fn finish(self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}
