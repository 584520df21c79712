//! The textbook's Python programs (as the notes give them, in Python 3:
//! tests/python/) against the Rust examples: every client with every
//! server of its protocol, as real processes on loopback, each reply
//! byte for byte. The mixed runs are recorded for the book
//! (book/src/output/python_*.txt; `cargo xtask bless` rewrites them).
//!
//! Without python3 the tests say "skipped"; under CI (`CI` set) they fail
//! instead, because `cargo xtask ci` installs python3.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use support::{Run, Server, check_text, run_example};

/// The prompt of the notes' clients (no space after the colon) and of
/// ours.
const PYTHON_PROMPT: &str = "Input lowercase sentence:";
const RUST_PROMPT: &str = "Input lowercase sentence: ";

/// The notes' TCPClient.py must have its reply within this time of
/// sending its sentence (issue 7).
const PYTHON_TCP_LIMIT: Duration = Duration::from_secs(1);

/// The `python3` on PATH, or `None` (after saying "skipped") where there
/// is none and this is not CI.
fn python3() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("python3"))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 is not on PATH; `cargo xtask ci` installs it"
        );
        eprintln!("skipped: python3 is not on PATH");
    }
    found
}

fn script(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(name)
        .display()
        .to_string()
}

/// Either kind of server, started on a port the system chooses.
enum AnyServer {
    Rust(Server),
    Python(PythonServer),
}

impl AnyServer {
    fn start(python: &Path, protocol: &str, notes: bool) -> AnyServer {
        if notes {
            AnyServer::Python(PythonServer::start(python, protocol))
        } else {
            let name = format!("{protocol}_server");
            AnyServer::Rust(Server::start_with(&name, &["--port", "0"]))
        }
    }

    fn port(&self) -> u16 {
        match self {
            AnyServer::Rust(server) => server.port(),
            AnyServer::Python(server) => server.port,
        }
    }

    /// What the server's terminal shows, its command line first, as the
    /// book shows it (default port).
    fn terminal(&mut self, printed: usize) -> String {
        let (command, lines) = match self {
            AnyServer::Rust(server) => {
                let name = server.name.clone();
                let mut lines = vec![format!(
                    "The server is ready to receive on {}",
                    server.address
                )];
                lines.extend((0..printed).map(|_| server.next_line()));
                (format!("cargo run --example {name}"), lines)
            }
            AnyServer::Python(server) => {
                let mut lines = vec![server.ready.clone()];
                lines.extend((0..printed).map(|_| server.next_line()));
                (format!("python3 tests/python/{}", server.script), lines)
            }
        };
        format!("$ {command}\n{}\n", lines.join("\n"))
    }
}

/// One of the notes' servers, killed when dropped.
struct PythonServer {
    script: String,
    child: Child,
    port: u16,
    ready: String,
    lines: Receiver<String>,
}

impl PythonServer {
    fn start(python: &Path, protocol: &str) -> PythonServer {
        let script = format!("{}Server.py", protocol.to_uppercase());
        let mut child = Command::new(python)
            .args(["-u", &self::script(&script), "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {script}: {e}"));
        let lines = forward_lines(child.stdout.take().unwrap());
        // Given port 0, the script writes the port it got on stderr.
        let port_line = forward_lines(child.stderr.take().unwrap())
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{script} gave no port ({e})"));
        let port = port_line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{script}: no port in {port_line:?}"));
        let mut server = PythonServer {
            script,
            child,
            port,
            ready: String::new(),
            lines,
        };
        server.ready = server.next_line();
        assert_eq!(server.ready, "The server is ready to receive");
        server
    }

    fn next_line(&mut self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|e| {
                panic!("no line from {} within 10 s ({e})", self.script)
            })
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn forward_lines(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// A client run: what it printed, and how long it took from the moment
/// the sentence was typed (written to its standard input after the prompt
/// appeared) until it exited.
struct ClientRun {
    run: Run,
    after_typing: Duration,
}

/// Runs the notes' client (`notes`) or ours against `port`, types
/// `sentence` once the prompt is there, and waits (at most 10 s).
fn run_client(
    python: &Path,
    protocol: &str,
    notes: bool,
    port: u16,
    sentence: &str,
) -> ClientRun {
    let port = port.to_string();
    let (program, args, prompt) = if notes {
        let script = script(&format!("{}Client.py", protocol.to_uppercase()));
        (
            python.to_path_buf(),
            vec!["-u".into(), script, port],
            PYTHON_PROMPT,
        )
    } else {
        let program = support::example(&format!("{protocol}_client"));
        (program, vec!["--server-port".into(), port], RUST_PROMPT)
    };
    let command = format!("{} {}", program.display(), args.join(" "));
    let mut child = Command::new(&program)
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command}: {e}"));
    let (chunks, stdout) = {
        let (sender, receiver) = mpsc::channel();
        let mut pipe = child.stdout.take().unwrap();
        let reader = thread::spawn(move || {
            let mut chunk = [0; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut chunk) {
                let _ = sender.send(chunk[..n].to_vec());
            }
        });
        (receiver, reader)
    };
    let mut stderr = child.stderr.take().unwrap();
    let stderr = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut shown = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !shown.starts_with(prompt.as_bytes()) {
        let left = deadline.saturating_duration_since(Instant::now());
        match chunks.recv_timeout(left) {
            Ok(chunk) => shown.extend(chunk),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{command}: no prompt within 10 s");
            }
        }
    }
    let typed = Instant::now();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{sentence}\n").as_bytes()).unwrap();
    drop(stdin);
    let status =
        match support::wait_with_limit(&mut child, Duration::from_secs(10)) {
            Some(status) => status,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{command}: killed after 10 s without exiting");
            }
        };
    let after_typing = typed.elapsed();
    stdout.join().unwrap();
    shown.extend(chunks.try_iter().flatten());
    ClientRun {
        run: Run {
            command,
            status,
            stdout: String::from_utf8(shown).expect("stdout is UTF-8"),
            stderr: stderr.join().unwrap(),
            elapsed: after_typing,
        },
        after_typing,
    }
}

/// The client's terminal as the book shows it: the command with the
/// default port, the typed sentence echoed after the prompt.
fn client_terminal(
    protocol: &str,
    notes: bool,
    run: &Run,
    sentence: &str,
) -> String {
    let (command, prompt) = if notes {
        let script = format!("{}Client.py", protocol.to_uppercase());
        (format!("python3 tests/python/{script}"), PYTHON_PROMPT)
    } else {
        (
            format!("cargo run --example {protocol}_client"),
            RUST_PROMPT,
        )
    };
    let rest = run.stdout.strip_prefix(prompt).unwrap_or(&run.stdout);
    format!("$ {command}\n{prompt}{sentence}\n{rest}{}", run.stderr)
}

/// One exchange between a client and a server of `protocol`, each the
/// notes' (Python) or ours (Rust). Checks the reply byte for byte and
/// what the server printed; returns both terminals, server first.
fn exchange(
    python: &Path,
    protocol: &str,
    notes_client: bool,
    notes_server: bool,
) -> (String, ClientRun) {
    let sentence = match (notes_client, notes_server) {
        (true, true) => "hello between the notes' programs",
        (true, false) => "hello from python",
        (false, true) => "hello from rust",
        (false, false) => "hello from rust to rust",
    };
    let mut server = AnyServer::start(python, protocol, notes_server);
    let client =
        run_client(python, protocol, notes_client, server.port(), sentence);
    let run = &client.run;
    assert!(run.status.success(), "{}", run.describe());
    assert!(run.stderr.is_empty(), "{}", run.describe());
    // The notes' clients print the reply as it came; ours strips the
    // newline that frames it. Our servers add that newline, so the
    // notes' client prints an empty line after the reply.
    let reply = sentence.to_uppercase();
    let newline = if !notes_server && protocol == "tcp" {
        "\n"
    } else {
        ""
    };
    let expected = if notes_client {
        format!("{PYTHON_PROMPT}From Server: {reply}{newline}\n")
    } else {
        format!("{RUST_PROMPT}From Server: {reply}\n")
    };
    assert_eq!(run.stdout, expected, "{}", run.describe());
    // The notes' TCP server prints what came, our client's newline
    // included (one empty line more); ours print the sentence without
    // its line ending.
    let printed = if notes_server && !notes_client && protocol == "tcp" {
        2
    } else {
        1
    };
    let terminal = server.terminal(printed);
    let mut lines = terminal.lines().skip(2);
    assert_eq!(lines.next(), Some(sentence), "{terminal}");
    if printed == 2 {
        assert_eq!(lines.next(), Some(""), "{terminal}");
    }
    let port = server.port().to_string();
    let terminals = format!(
        "{}\n{}",
        terminal.replace(&port, "12000"),
        client_terminal(protocol, notes_client, run, sentence)
    );
    (terminals, client)
}

/// Every pairing of one protocol; records the three that involve the
/// notes' programs.
fn all_pairings(protocol: &str) -> Vec<Option<String>> {
    let Some(python) = python3() else {
        return Vec::new();
    };
    let mut mismatches = Vec::new();
    for (notes_client, notes_server, file) in [
        (true, false, "client"),
        (false, true, "server"),
        (true, true, "notes"),
        (false, false, ""),
    ] {
        let (terminals, client) =
            exchange(&python, protocol, notes_client, notes_server);
        if protocol == "tcp" && notes_client && !notes_server {
            // Our server takes a pause of 500 ms with no new byte as the
            // end of a sentence that came without a newline.
            eprintln!(
                "TCPClient.py got its reply from tcp_server {:?} after \
                 sending its sentence",
                client.after_typing
            );
            assert!(
                client.after_typing < PYTHON_TCP_LIMIT,
                "TCPClient.py waited {:?} for its reply\n{}",
                client.after_typing,
                client.run.describe()
            );
        }
        if !file.is_empty() {
            let name = format!("python_{protocol}_{file}.txt");
            mismatches.push(check_text(&name, terminals));
        }
    }
    mismatches
}

#[test]
fn udp_python_and_rust_programs_answer_each_other() {
    support::assert_transcripts(all_pairings("udp"));
}

#[test]
fn tcp_python_and_rust_programs_answer_each_other() {
    support::assert_transcripts(all_pairings("tcp"));
}

/// The notes' TCP server reads one `recv(2048)`: a sentence longer than
/// what one receive returns is cut, where ours is read whole.
#[test]
fn the_notes_tcp_server_answers_only_its_first_receive() {
    let Some(python) = python3() else { return };
    let mut server = PythonServer::start(&python, "tcp");
    let long = "x".repeat(3000);
    let run = run_example(
        "tcp_client",
        &["--server-port", &server.port.to_string()],
        format!("{long}\n").as_bytes(),
    );
    // recv(2048) returned at most 2048 bytes, and the server closed with
    // the rest unread: a reset (erratum 11). Our client reads the reply
    // that had arrived, finds no newline in it, and its next read fails.
    run.assert_error("cannot receive the reply: Connection reset");
    let printed = server.next_line();
    assert!(
        !printed.is_empty() && printed.len() <= 2048,
        "the server printed {} bytes",
        printed.len()
    );
}
