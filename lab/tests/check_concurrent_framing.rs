//! Exercises 3 (a concurrent TCP server) and 4 (whole messages over TCP):
//! the checker passes the reference solutions and fails the plausible
//! wrong programs on the right criterion; it kills a server that never
//! gets ready; the solutions do what their pages say; the pages'
//! transcripts are real runs.
//!
//! The two exercises share this file so that their slow tests (a wrong
//! program waits out the checker's limits) run in parallel.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use support::{Run, Server, Session, check_text, run_example};
use wait_timeout::ChildExt;

const CONCURRENT: [&str; 5] = [
    "answers-one-client",
    "serves-while-one-client-is-silent",
    "serves-many-at-once",
    "survives-client-resets",
    "keeps-serving-after",
];

const FRAMING: [&str; 8] = [
    "answers-each-line",
    "byte-by-byte-writes",
    "two-lines-in-one-write",
    "a-100-kb-line",
    "splits-multibyte-characters-safely",
    "closes-on-eof",
    "answers-a-last-line-without-newline",
    "keeps-serving",
];

/// The criteria a checker run failed, by name.
fn failed(run: &Run) -> Vec<&str> {
    run.stdout
        .lines()
        .filter_map(|line| line.strip_prefix("FAIL "))
        .filter_map(|rest| rest.split(':').next())
        .collect()
}

/// Asserts the run passed every criterion in `names`, and nothing failed.
fn assert_all_pass(run: &Run, names: &[&str]) {
    assert_eq!(run.status.code(), Some(0), "{}", run.describe());
    assert!(failed(run).is_empty(), "{}", run.describe());
    for name in names {
        assert!(
            run.stdout
                .lines()
                .any(|line| line == format!("PASS {name}")),
            "{name} did not pass\n{}",
            run.describe()
        );
    }
}

/// The checker's run as the book shows it: the command with the path
/// relative to the project, then what it printed.
fn check_session(exercise: &str, program: &str, run: &Run) -> String {
    format!(
        "$ cargo lab check {exercise} -- target/debug/examples/{program}\n{}",
        run.stdout
    )
}

// Exercise 3: a concurrent TCP server.

#[test]
fn concurrent_checker_passes_the_threaded_server() {
    let program = support::example("tcp_threaded_server");
    let run = support::check("concurrent", &program, &[]);
    assert_all_pass(&run, &CONCURRENT);
    let session = check_session("concurrent", "tcp_threaded_server", &run);
    support::assert_transcripts([check_text(
        "exercises/concurrent-check.txt",
        session,
    )]);
}

/// The notes' server serves one client at a time: a silent client holds
/// up everyone behind it. A server that handles one client's error with
/// `exit` dies of a reset. The solution with room for one client at a
/// time cannot serve a second one beside a silent one. A server that
/// never prints its ready line is given up and killed. (The runs wait out
/// the checker's limits, so they run side by side.)
#[test]
fn concurrent_checker_fails_each_wrong_server_on_the_right_criterion() {
    let [tcp_server, exits, one_place, never_ready] = side_by_side([
        ("concurrent", support::example("tcp_server"), &[]),
        (
            "concurrent",
            support::fixture("exits_on_client_error_server"),
            &[],
        ),
        (
            "concurrent",
            support::example("tcp_threaded_server"),
            &["--max-clients", "1"],
        ),
        ("concurrent", support::fixture(STUCK), &[]),
    ]);
    tcp_server.assert_checker_failed("serves-while-one-client-is-silent", "");
    let session = check_session("concurrent", "tcp_server", &tcp_server);
    support::assert_transcripts([check_text(
        "exercises/concurrent-check-tcp-server.txt",
        session,
    )]);
    assert_eq!(
        failed(&exits),
        ["survives-client-resets", "keeps-serving-after"],
        "{}",
        exits.describe()
    );
    assert!(
        exits.stdout.contains("Connection reset by peer"),
        "{}",
        exits.describe()
    );
    assert_eq!(
        failed(&one_place),
        ["serves-while-one-client-is-silent"],
        "{}",
        one_place.describe()
    );
    assert_killed(&never_ready, "concurrent", "answers-one-client");
}

/// Runs the checker on each (exercise, program, extra arguments) at the
/// same time. The stuck server gets one more argument, which it ignores:
/// a marker to find its process by afterwards.
fn side_by_side<const N: usize>(
    runs: [(&str, PathBuf, &[&str]); N],
) -> [Run; N] {
    thread::scope(|scope| {
        let handles = runs.map(|(exercise, program, extra)| {
            scope.spawn(move || {
                let marker = marker(exercise);
                let mut extra = extra.to_vec();
                if program.ends_with(STUCK) {
                    extra.push(&marker);
                }
                support::check(exercise, &program, &extra)
            })
        });
        handles.map(|handle| handle.join().unwrap())
    })
}

/// The fixture that never prints its ready line.
const STUCK: &str = "never_ready_server";

/// A word nobody else passes: this test process and the exercise.
fn marker(exercise: &str) -> String {
    format!("marker-{}-{exercise}", std::process::id())
}

/// The checker gave up on a server that prints no ready line, failed
/// on it, and left no process behind.
fn assert_killed(run: &Run, exercise: &str, first: &str) {
    run.assert_checker_failed(first, "");
    assert!(
        run.stdout.contains("a first line ending in the address"),
        "{}",
        run.describe()
    );
    // The checker ended (run_lab kills it after 20 s and fails); its
    // server must have ended with it.
    let marker = marker(exercise);
    #[cfg(target_os = "linux")]
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline"));
        let cmdline =
            String::from_utf8_lossy(&cmdline.unwrap_or_default()).into_owned();
        assert!(
            !cmdline.contains(&marker),
            "still running: {cmdline:?}\n{}",
            run.describe()
        );
    }
}

/// A tcp_client started in the background: connected, waiting at its
/// prompt for the line nobody has typed yet.
struct WaitingClient {
    child: std::process::Child,
    stdout: mpsc::Receiver<Vec<u8>>,
}

impl WaitingClient {
    fn start(port: u16) -> WaitingClient {
        let mut child = Command::new(support::example("tcp_client"))
            .args(["--server-port", &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut pipe = child.stdout.take().unwrap();
        let (sender, stdout) = mpsc::channel();
        thread::spawn(move || {
            let mut chunk = [0; 1024];
            while let Ok(n @ 1..) = pipe.read(&mut chunk) {
                if sender.send(chunk[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let mut client = WaitingClient { child, stdout };
        // tcp_client connects before it prompts: once the prompt is out,
        // the connection is established and silent.
        let prompt = client.read_until_end_or(b"Input lowercase sentence: ");
        assert_eq!(prompt, b"Input lowercase sentence: ");
        client
    }

    /// Collects stdout until it equals `expected` or ends (10 s at most).
    fn read_until_end_or(&mut self, expected: &[u8]) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut output = Vec::new();
        while output != expected {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(chunk) => output.extend(chunk),
                Err(_) => break,
            }
        }
        output
    }

    /// Types `line` and returns the rest of the client's run.
    fn type_line(mut self, line: &str, expected: &str) -> Run {
        let mut stdin = self.child.stdin.take().unwrap();
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
        drop(stdin);
        let stdout = self.read_until_end_or(expected.as_bytes());
        let status = match self.child.wait_timeout(support::RUN_LIMIT) {
            Ok(Some(status)) => status,
            _ => {
                let _ = self.child.kill();
                panic!("tcp_client did not end after its line");
            }
        };
        let mut stderr = String::new();
        let _ = self
            .child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr);
        Run {
            command: "tcp_client".to_string(),
            status,
            stdout: format!(
                "Input lowercase sentence: {}",
                String::from_utf8_lossy(&stdout)
            ),
            stderr,
            elapsed: Duration::ZERO,
        }
    }
}

impl Drop for WaitingClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The page's three terminals: a client waits at its prompt, connected,
/// while a second client is served; then the first one types its line.
#[test]
fn threaded_server_serves_a_client_while_another_waits_at_its_prompt() {
    let mut server =
        Server::start_with("tcp_threaded_server", &["--port", "0"]);
    let port = server.port();
    let first = WaitingClient::start(port);
    let second = run_example(
        "tcp_client",
        &["--server-port", &port.to_string()],
        b"hello from terminal 3\n",
    );
    second.assert_success();
    assert_eq!(
        second.stdout,
        support::expected_stdout("HELLO FROM TERMINAL 3"),
        "{}",
        second.describe()
    );
    server.expect_line("hello from terminal 3");
    let first = first.type_line(
        "hello from terminal 2",
        "From Server: HELLO FROM TERMINAL 2\n",
    );
    first.assert_success();
    assert_eq!(
        first.stdout,
        support::expected_stdout("HELLO FROM TERMINAL 2"),
        "{}",
        first.describe()
    );
    server.expect_line("hello from terminal 2");

    let shown = "cargo run --example tcp_client";
    let mut terminal_2 = Session::default();
    terminal_2.record(shown, &first, Some("hello from terminal 2"));
    let mut terminal_3 = Session::default();
    terminal_3.record(shown, &second, Some("hello from terminal 3"));
    let mut terminal_1 = Session::default();
    terminal_1.line("$ cargo run --example tcp_threaded_server");
    terminal_1.line(&format!(
        "The server is ready to receive on {}",
        server.address
    ));
    terminal_1.line("hello from terminal 3");
    terminal_1.line("hello from terminal 2");
    let normalised =
        |session: Session| session.text.replace(&port.to_string(), "12000");
    for (file, session) in [
        ("exercises/concurrent-server.txt", terminal_1),
        ("exercises/concurrent-client-2.txt", terminal_2),
        ("exercises/concurrent-client-3.txt", terminal_3),
    ] {
        support::assert_transcripts([check_text(file, normalised(session))]);
    }
}

/// Reads what comes within `limit`; `None` when nothing came.
fn read_within(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buffer = [0; 1024];
    match stream.read(&mut buffer) {
        Ok(n) => Some(buffer[..n].to_vec()),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::WouldBlock | ErrorKind::TimedOut
            ) =>
        {
            None
        }
        Err(e) => panic!("read failed: {e}"),
    }
}

/// Reads until the server closes the connection (10 s at most).
fn read_to_end(stream: &mut TcpStream) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    reply
}

/// With `--max-clients 2` and two silent clients, a third one connects
/// (it waits in the accept queue) but is served only when a place frees.
#[test]
fn threaded_server_caps_the_clients_it_serves_at_once() {
    let mut server = Server::start_with(
        "tcp_threaded_server",
        &["--bind", "127.0.0.1", "--port", "0", "--max-clients", "2"],
    );
    let mut first = TcpStream::connect(server.loopback()).unwrap();
    let second = TcpStream::connect(server.loopback()).unwrap();
    let mut third = TcpStream::connect(server.loopback()).unwrap();
    third.write_all(b"third\n").unwrap();
    assert_eq!(
        read_within(&mut third, Duration::from_millis(500)),
        None,
        "the third client was served while two held both places"
    );
    first.write_all(b"first\n").unwrap();
    assert_eq!(read_to_end(&mut first), b"FIRST\n");
    server.expect_line("first");
    // The first client's place went to the third.
    assert_eq!(read_to_end(&mut third), b"THIRD\n");
    server.expect_line("third");
    drop(second);
    server.assert_alive();
}

#[test]
fn threaded_server_documents_and_checks_its_flags() {
    let run = run_example("tcp_threaded_server", &["--help"], b"");
    run.assert_success();
    for needle in ["--port", "--bind", "--max-clients", "[default: 100]"] {
        assert!(run.stdout.contains(needle), "{needle}\n{}", run.describe());
    }
    let run = run_example("tcp_threaded_server", &["--max-clients", "0"], b"");
    assert_eq!(run.status.code(), Some(2), "{}", run.describe());
    assert!(
        run.stderr.starts_with("error: invalid value '0'"),
        "{}",
        run.describe()
    );
}

// Exercise 4: whole messages over TCP.

#[test]
fn framing_checker_passes_the_lines_server() {
    let program = support::example("tcp_lines_server");
    let run = support::check("framing", &program, &[]);
    assert_all_pass(&run, &FRAMING);
    let session = check_session("framing", "tcp_lines_server", &run);
    support::assert_transcripts([check_text(
        "exercises/framing-check.txt",
        session,
    )]);
}

/// Each plausible wrong server fails on the criterion its file names; a
/// server that never gets ready is given up and killed. (They wait out
/// the checker's limits, so they run side by side.)
#[test]
fn framing_checker_fails_each_wrong_server_on_the_right_criterion() {
    let [
        single_read,
        bufreader_per_line,
        waits_after_eof,
        tcp_server,
        never_ready,
    ] = side_by_side([
        ("framing", support::fixture("single_read_server"), &[]),
        (
            "framing",
            support::fixture("bufreader_per_line_server"),
            &[],
        ),
        ("framing", support::fixture("waits_after_eof_server"), &[]),
        ("framing", support::example("tcp_server"), &[]),
        ("framing", support::fixture(STUCK), &[]),
    ]);
    // One read taken for one line: replies to pieces of it. (A read
    // never returns more than its 2048-byte buffer: the 100 KB line fails
    // whatever the timing.)
    single_read.assert_checker_failed("byte-by-byte-writes", "");
    single_read.assert_checker_failed("a-100-kb-line", "");
    // A new BufReader per line loses the second line of a read.
    bufreader_per_line.assert_checker_failed("two-lines-in-one-write", "");
    // A read of 0 bytes taken for "not yet".
    waits_after_eof.assert_checker_failed("closes-on-eof", "");
    // The notes' server answers one line and closes.
    tcp_server.assert_checker_failed("answers-each-line", "");
    assert_killed(&never_ready, "framing", "answers-each-line");
}

/// The page's session: tcp_client's one line; then one connection with
/// lines written whole, two at once, and cut inside a character, a CRLF
/// line, a last line without newline and the client's shutdown; then a
/// second client. The server's terminal shows each line.
#[test]
fn lines_server_answers_every_line_of_a_connection() {
    let mut server = Server::start_with("tcp_lines_server", &["--port", "0"]);
    let port = server.port();
    // tcp_client: one line, then it closes the connection.
    let run = run_example(
        "tcp_client",
        &["--server-port", &port.to_string()],
        b"one line per connection\n",
    );
    run.assert_success();
    assert_eq!(
        run.stdout,
        support::expected_stdout("ONE LINE PER CONNECTION"),
        "{}",
        run.describe()
    );
    let mut terminal_2 = Session::default();
    let shown = "cargo run --example tcp_client";
    terminal_2.record(shown, &run, Some("one line per connection"));
    let mut client = TcpStream::connect(server.loopback()).unwrap();
    client.set_nodelay(true).unwrap();
    let writes: [&[u8]; 6] = [
        b"hello over one connection\n",
        b"two lines\nin one write\n",
        b"stra\xc3",
        b"\x9fe \xec\x95\x88\xeb",
        b"\x85\x95\nfrom telnet\r\n",
        b"no newline at the end",
    ];
    for bytes in writes {
        client.write_all(bytes).unwrap();
        // A pause, so that each write reaches the server on its own.
        thread::sleep(Duration::from_millis(20));
    }
    client.shutdown(Shutdown::Write).unwrap();
    let reply = String::from_utf8(read_to_end(&mut client)).unwrap();
    assert_eq!(
        reply,
        "HELLO OVER ONE CONNECTION\nTWO LINES\nIN ONE WRITE\n\
         STRASSE 안녕\nFROM TELNET\nNO NEWLINE AT THE END\n"
    );
    // The page shows the replies as they came, one per line.
    support::assert_transcripts([check_text(
        "exercises/framing-replies.txt",
        reply,
    )]);
    let mut next = TcpStream::connect(server.loopback()).unwrap();
    next.write_all(b"a second client\n").unwrap();
    next.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut next), b"A SECOND CLIENT\n");

    let mut session = Session::default();
    session.line("$ cargo run --example tcp_lines_server");
    session.line(&format!(
        "The server is ready to receive on {}",
        server.address
    ));
    for _ in 0..8 {
        let line = server.next_line();
        session.line(&line);
    }
    assert!(server.stderr().is_empty(), "{}", server.describe());
    let text = session.text.replace(&port.to_string(), "12000");
    support::assert_transcripts([check_text(
        "exercises/framing-server.txt",
        text,
    )]);
    let text = terminal_2.text.replace(&port.to_string(), "12000");
    support::assert_transcripts([check_text(
        "exercises/framing-client.txt",
        text,
    )]);
}

/// A line of 1 MiB without newline closes the connection, without a
/// reply, and the server goes on with the next client.
#[test]
fn lines_server_closes_a_connection_whose_line_is_too_long() {
    let mut server = Server::start("tcp_lines_server");
    let mut client = TcpStream::connect(server.loopback()).unwrap();
    let mut sender = client.try_clone().unwrap();
    // The server may close before all is sent: a failed send is expected.
    let sending = thread::spawn(move || {
        let _ = sender.write_all(&vec![b'x'; 1024 * 1024 + 10]);
    });
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reply = Vec::new();
    match client.read_to_end(&mut reply) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("expected the end of the connection, got {e}"),
    }
    assert!(reply.is_empty(), "{} bytes of reply", reply.len());
    sending.join().unwrap();
    let mut next = TcpStream::connect(server.loopback()).unwrap();
    next.write_all(b"short\n").unwrap();
    next.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut next), b"SHORT\n");
    server.expect_line("short");
    // The error was printed before the close; its pipe may lag behind.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.stderr().contains("longer than 1048576 bytes") {
        assert!(Instant::now() < deadline, "{}", server.describe());
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn lines_server_documents_its_flags() {
    let run = run_example("tcp_lines_server", &["--help"], b"");
    run.assert_success();
    for needle in ["--port", "--bind", "[default: 12000]"] {
        assert!(run.stdout.contains(needle), "{needle}\n{}", run.describe());
    }
}
