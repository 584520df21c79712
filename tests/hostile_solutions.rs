//! The exercises' solutions in a hostile classroom (issue 8): each attack
//! on loopback, bounded in count and time, then a normal client still
//! served, the server's CPU and standard error small, and no panic.
//!
//! Limits are set on the spawned server only, by `ulimit` in the shell
//! that execs it: few file descriptors (`-n`) to exhaust them, a small
//! address space (`-v`) with huge thread stacks (RUST_MIN_STACK) for a
//! thread that cannot be started. Linux only: CPU time comes from /proc.
#![cfg(target_os = "linux")]

mod support;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

/// Every wait of this file on the server ends after this long.
const LIMIT: Duration = Duration::from_secs(10);

/// A server example started with limits; killed when dropped.
struct Spawned {
    command: String,
    child: Child,
    address: SocketAddr,
    stdout: Option<Receiver<String>>,
    stderr: Receiver<String>,
    stderr_seen: String,
}

impl Spawned {
    /// Starts example `name` on 127.0.0.1, port 0, with `args`.
    fn start(name: &str, args: &[&str]) -> Spawned {
        Spawned::launch(name, args, "", true)
    }

    /// Starts example `name` as [`Spawned::start`] does, from a shell
    /// that first runs `limits` (`ulimit ...`) and then execs it, so that
    /// the limits hold for the server alone and its pid is the shell's.
    fn start_limited(name: &str, limits: &str) -> Spawned {
        Spawned::launch(name, &[], limits, true)
    }

    /// Starts example `name` as [`Spawned::start`] does, and closes the
    /// reading end of its standard output after the ready line.
    fn start_then_close_stdout(name: &str) -> Spawned {
        Spawned::launch(name, &[], "", false)
    }

    fn launch(
        name: &str,
        args: &[&str],
        limits: &str,
        keep_stdout: bool,
    ) -> Spawned {
        let program = support::example(name);
        let mut command = if limits.is_empty() {
            Command::new(program)
        } else {
            let mut shell = Command::new("sh");
            shell
                .arg("-c")
                .arg(format!("{limits} && exec \"$0\" \"$@\""))
                .arg(program);
            shell
        };
        command
            .args(["--bind", "127.0.0.1", "--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stderr = lines(BufReader::new(child.stderr.take().unwrap()));
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut ready = String::new();
        stdout.read_line(&mut ready).unwrap();
        let address = ready
            .trim_end()
            .strip_prefix("The server is ready to receive on ")
            .and_then(|address| address.parse().ok())
            .unwrap_or_else(|| panic!("{name}: unexpected line {ready:?}"));
        Spawned {
            command: format!("{name} {}", args.join(" ")),
            child,
            address,
            stdout: keep_stdout.then(|| lines(stdout)),
            stderr,
            stderr_seen: String::new(),
        }
    }

    /// The next line on standard output (waits up to [`LIMIT`]).
    fn next_line(&mut self) -> String {
        let line = self.stdout.as_ref().unwrap().recv_timeout(LIMIT);
        line.unwrap_or_else(|_| panic!("no line\n{}", self.describe()))
    }

    /// Waits (up to [`LIMIT`]) for a line on standard error that contains
    /// `words`, and returns it.
    fn wait_stderr(&mut self, words: &str) -> String {
        let deadline = Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    self.stderr_seen.push_str(&line);
                    self.stderr_seen.push('\n');
                    if line.contains(words) {
                        return line;
                    }
                }
                Err(_) => panic!("no {words:?} on stderr\n{}", self.describe()),
            }
        }
    }

    /// Everything the server wrote on standard error, once it has exited
    /// (waits up to [`LIMIT`] for the pipe to close).
    fn stderr_at_exit(&mut self) -> &str {
        let deadline = Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    self.stderr_seen.push_str(&line);
                    self.stderr_seen.push('\n');
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("stderr still open\n{}", self.describe())
                }
            }
        }
        &self.stderr_seen
    }

    /// Everything on standard error so far.
    fn stderr(&mut self) -> &str {
        while let Ok(line) = self.stderr.try_recv() {
            self.stderr_seen.push_str(&line);
            self.stderr_seen.push('\n');
        }
        &self.stderr_seen
    }

    /// CPU time (user and system) the server used so far.
    fn cpu_time(&self) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
                .unwrap();
        // Fields 14 and 15, counted after the name in parentheses.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap()
            + fields[12].parse::<u64>().unwrap();
        Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second())
    }

    /// The share of one core the server uses over the next second.
    fn cpu_share_over_a_second(&self) -> f64 {
        let before = self.cpu_time();
        thread::sleep(Duration::from_secs(1));
        (self.cpu_time() - before).as_secs_f64()
    }

    /// Asserts that the next line on standard output is `expected`.
    fn expect_line(&mut self, expected: &str) {
        let line = self.next_line();
        assert_eq!(line, expected, "{}", self.describe());
    }

    fn assert_alive(&mut self) {
        let status = self.child.try_wait().unwrap();
        assert!(status.is_none(), "server exited\n{}", self.describe());
    }

    /// Waits (up to [`LIMIT`]) for the server to exit.
    fn wait_exit(&mut self) -> ExitStatus {
        match support::wait_with_limit(&mut self.child, LIMIT) {
            Some(status) => status,
            None => {
                panic!("still running after {LIMIT:?}\n{}", self.describe())
            }
        }
    }

    fn describe(&mut self) -> String {
        let command = self.command.clone();
        format!("command: {command}\nstderr:\n{}", self.stderr())
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Forwards each line of `pipe` into a channel, from a thread.
fn lines(pipe: impl BufRead + Send + 'static) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        for line in pipe.lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// The unit of the CPU times in /proc/PID/stat (`getconf CLK_TCK`).
fn clock_ticks_per_second() -> f64 {
    let output = Command::new("getconf").arg("CLK_TCK").output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim()
        .parse()
        .expect("getconf CLK_TCK prints a number")
}

/// Everything `stream` receives until the end of the stream, a reset or
/// [`LIMIT`]: `None` when the read failed (reset, timeout).
fn read_reply(stream: &mut TcpStream) -> Option<Vec<u8>> {
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).ok().map(|_| reply)
}

/// Whether the server has closed `stream` (end of stream or reset)
/// within `limit`; false if the connection is still open then.
fn closed_within(mut stream: &TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut byte = [0; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(error) => {
            !matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
        }
    }
}

// Item 2: out of file descriptors, accept fails at once, every time.

#[test]
fn threaded_server_backs_off_while_out_of_descriptors() {
    // 0, 1 and 2, the listener, and room for eight connections.
    let mut server =
        Spawned::start_limited("tcp_threaded_server", "ulimit -n 12");
    // They wait in the accept queue once the descriptors are gone.
    let idle: Vec<TcpStream> = (0..30)
        .map(|_| TcpStream::connect(server.address).unwrap())
        .collect();
    server.wait_stderr("cannot accept a connection");
    let cpu = server.cpu_share_over_a_second();
    let stderr_bytes = server.stderr().len();
    eprintln!(
        "out of descriptors: {:.1}% of a core, {stderr_bytes} bytes of \
         stderr",
        cpu * 100.0
    );
    assert!(cpu < 0.1, "{:.1}% CPU\n{}", cpu * 100.0, server.describe());
    assert!(stderr_bytes < 300, "{}", server.describe());
    drop(idle);
    let mut client = TcpStream::connect(server.address).unwrap();
    client.write_all(b"descriptors are back\n").unwrap();
    assert_eq!(
        read_reply(&mut client).as_deref(),
        Some(&b"DESCRIPTORS ARE BACK\n"[..]),
        "{}",
        server.describe()
    );
    server.wait_stderr("accepting again");
    server.assert_alive();
    assert!(
        !server.stderr().contains("panicked"),
        "{}",
        server.describe()
    );
}

// Item 3: no thread can be started for a connection.

#[test]
fn threaded_server_refuses_only_the_connection_it_has_no_thread_for() {
    // Stacks of 1 GiB in an address space of 3 GiB: one thread fits, and
    // at most two.
    let mut server = Spawned::start_limited(
        "tcp_threaded_server",
        "export RUST_MIN_STACK=1073741824 && ulimit -v 3145728",
    );
    let silent: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(server.address).unwrap())
        .collect();
    server.wait_stderr("cannot start a thread for");
    let refused = silent
        .iter()
        .filter(|client| closed_within(client, Duration::from_millis(300)))
        .count();
    assert!(
        (2..4).contains(&refused),
        "{refused}\n{}",
        server.describe()
    );
    server.assert_alive();
    drop(silent);
    // Each held thread sees the end of the stream and says its empty
    // sentence; the thread ends just after, and a new one fits again.
    for _ in refused..4 {
        server.expect_line("");
    }
    let served = (0..50).any(|_| {
        let mut client = TcpStream::connect(server.address).unwrap();
        client.write_all(b"room again\n").unwrap();
        read_reply(&mut client).as_deref() == Some(&b"ROOM AGAIN\n"[..])
    });
    assert!(served, "{}", server.describe());
    assert!(
        !server.stderr().contains("panicked"),
        "{}",
        server.describe()
    );
}

// --max-clients: silent or trickling clients cannot hold every place.

#[test]
fn threaded_server_frees_the_places_of_silent_and_trickling_clients() {
    let mut server = Spawned::start(
        "tcp_threaded_server",
        &["--max-clients", "2", "--timeout", "0.5"],
    );
    let silent = TcpStream::connect(server.address).unwrap();
    let mut trickler = TcpStream::connect(server.address).unwrap();
    let started = Instant::now();
    // One byte every 100 ms, never a newline, for at most 3 s.
    let trickle = thread::spawn(move || {
        while started.elapsed() < Duration::from_secs(3) {
            if trickler.write_all(b"a").is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(100));
        }
        started.elapsed()
    });
    let mut third = TcpStream::connect(server.address).unwrap();
    third.write_all(b"third\n").unwrap();
    assert_eq!(
        read_reply(&mut third).as_deref(),
        Some(&b"THIRD\n"[..]),
        "{}",
        server.describe()
    );
    let waited = started.elapsed();
    let trickled = trickle.join().unwrap();
    eprintln!(
        "the third client waited {waited:?}; the trickler was cut after \
         {trickled:?}"
    );
    assert!(waited >= Duration::from_millis(450), "{waited:?}");
    assert!(waited < Duration::from_secs(2), "{waited:?}");
    assert!(trickled < Duration::from_secs(2), "{trickled:?}");
    assert!(closed_within(&silent, LIMIT), "{}", server.describe());
    server.wait_stderr("no sentence from");
    server.wait_stderr("no sentence from");
    server.expect_line("third");
}

// Item 5: a client's control characters never reach the terminal raw.

#[test]
fn tcp_solutions_show_control_characters_escaped() {
    for name in ["tcp_threaded_server", "tcp_lines_server"] {
        let mut server = Spawned::start(name, &[]);
        let mut client = TcpStream::connect(server.address).unwrap();
        client.write_all(b"\x1b]0;owned\x07\x1b[2Jhi\n").unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(
            read_reply(&mut client).as_deref(),
            Some(&b"\x1b]0;OWNED\x07\x1b[2JHI\n"[..]),
            "{}",
            server.describe()
        );
        server.expect_line(r"\u{1b}]0;owned\u{7}\u{1b}[2Jhi");
    }
}

// Item 6: standard output goes away.

#[test]
fn tcp_solutions_stop_with_one_line_when_stdout_is_closed() {
    for name in ["tcp_threaded_server", "tcp_lines_server"] {
        let mut server = Spawned::start_then_close_stdout(name);
        let mut client = TcpStream::connect(server.address).unwrap();
        client.write_all(b"anyone there?\n").unwrap();
        let status = server.wait_exit();
        let stderr = server.stderr_at_exit().to_string();
        assert_eq!(status.code(), Some(1), "{name}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{name}: {stderr}");
        assert!(
            lines[0].starts_with("error: cannot write to standard output"),
            "{name}: {stderr}"
        );
    }
}

// Item 7: replies from a third party.

/// A stand-in for the UDP server that answers `requests` datagrams with
/// their uppercase, each time after an intruder on another port has sent
/// the client `forge(request)` first. Returns the server's port, the
/// intruder's, and the thread.
fn server_with_intruder(
    requests: usize,
    forge: fn(&str) -> String,
) -> (u16, u16, thread::JoinHandle<()>) {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let intruder = UdpSocket::bind("127.0.0.1:0").unwrap();
    server.set_read_timeout(Some(LIMIT)).unwrap();
    let ports = (
        server.local_addr().unwrap().port(),
        intruder.local_addr().unwrap().port(),
    );
    let thread = thread::spawn(move || {
        let mut buffer = [0; 2048];
        for _ in 0..requests {
            let (length, client) = server.recv_from(&mut buffer).unwrap();
            let request = String::from_utf8_lossy(&buffer[..length]);
            intruder
                .send_to(forge(&request).as_bytes(), client)
                .unwrap();
            let reply = request.to_uppercase();
            server.send_to(reply.as_bytes(), client).unwrap();
        }
    });
    (ports.0, ports.1, thread)
}

#[test]
fn pinger_takes_replies_from_the_server_only() {
    // Built before the stand-in starts waiting.
    support::example("udp_pinger");
    let (port, intruder, server) =
        server_with_intruder(10, |_| "FAKE REPLY".to_string());
    let port = port.to_string();
    let run = support::run_example(
        "udp_pinger",
        &["--server-name", "127.0.0.1", "--server-port", &port],
        b"",
    );
    server.join().unwrap();
    assert!(run.status.success(), "{}", run.describe());
    let replies = run
        .stdout
        .lines()
        .filter(|line| {
            line.starts_with(&format!("Reply from 127.0.0.1:{port}: PING "))
        })
        .count();
    assert_eq!(replies, 10, "{}", run.describe());
    assert!(!run.stdout.contains("FAKE"), "{}", run.describe());
    let note = format!(
        "note: ignored a datagram from 127.0.0.1:{intruder}, which is not \
         the server\n"
    );
    assert_eq!(run.stderr, note.repeat(10), "{}", run.describe());
}

#[test]
fn retry_client_takes_replies_from_the_server_only() {
    support::example("udp_retry_client");
    // The forged reply even carries the right tag.
    let (port, intruder, server) = server_with_intruder(2, |request| {
        let (tag, _) = request.split_once(' ').unwrap();
        format!("{tag} FORGED")
    });
    let port = port.to_string();
    let run = support::run_example(
        "udp_retry_client",
        &["--server-name", "127.0.0.1", "--server-port", &port],
        b"hello\nworld\n",
    );
    server.join().unwrap();
    assert!(run.status.success(), "{}", run.describe());
    assert_eq!(
        run.stdout,
        "From Server: HELLO\nFrom Server: WORLD\n",
        "{}",
        run.describe()
    );
    let note = format!(
        "note: ignored a datagram from 127.0.0.1:{intruder}, which is not \
         the server\n"
    );
    assert_eq!(run.stderr, note.repeat(2), "{}", run.describe());
}
