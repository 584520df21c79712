//! Exercise 2 (timeouts and retries): the checker passes the reference
//! solution and fails the deliberately wrong clients on the right
//! criterion; the solution does what the book's pages say, and the pages'
//! transcripts are real runs.
//!
//! To rewrite the transcripts after an intended change:
//! `BLESS=1 cargo test --test check_retry`.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use support::{Server, check_text, example, fixture, run_example};
use wait_timeout::ChildExt;

const CRITERIA: [&str; 8] = [
    "answers-every-line",
    "retries-lost-requests",
    "grows-the-timeout",
    "ignores-stale-replies",
    "gives-up-after-retries",
    "keeps-going-after-a-failure",
    "prints-exactly-the-result-lines",
    "exits-0-when-all-answered",
];

#[test]
fn solution_passes_every_criterion_as_the_page_shows() {
    let run = support::check("retry", &example("udp_retry_client"), &[]);
    run.assert_checker_passed(&CRITERIA);
    let shown = "$ cargo lab check retry -- \
                 target/debug/examples/udp_retry_client\n";
    support::assert_transcripts([check_text(
        "exercises/retry-check.txt",
        format!("{shown}{}", run.stdout),
    )]);
}

#[test]
fn a_client_that_takes_any_reply_fails_ignores_stale_replies() {
    let run = support::check("retry", &fixture("retry_accepts_any_reply"), &[]);
    run.assert_checker_failed(
        "ignores-stale-replies",
        "`From Server: BRAVO` for line 3",
    );
    // It does retry, with a growing timeout: only the stale reply fails.
    for name in ["retries-lost-requests", "grows-the-timeout"] {
        let pass = format!("PASS {name}");
        assert!(run.stdout.contains(&pass), "{name}\n{}", run.describe());
    }
}

#[test]
fn udp_client_fails_answers_every_line_and_retries_lost_requests() {
    let run = support::check("retry", &example("udp_client"), &[]);
    run.assert_checker_failed("answers-every-line", "got no line");
    run.assert_checker_failed("retries-lost-requests", "it was sent once");
}

/// Runs `program` with standard output and standard error in one pipe,
/// as a terminal shows them, and returns its status and that output.
fn run_merged(
    program: &Path,
    args: &[&str],
    stdin: &[u8],
) -> (ExitStatus, String) {
    let (mut reader, writer) = std::io::pipe().unwrap();
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(writer.try_clone().unwrap())
        .stderr(writer);
    let mut child = command.spawn().unwrap();
    // The command holds the pipe's writing end until it is dropped; the
    // output would never end.
    drop(command);
    let output = thread::spawn(move || {
        let mut text = String::new();
        reader.read_to_string(&mut text).unwrap();
        text
    });
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let status = match child.wait_timeout(support::RUN_LIMIT).unwrap() {
        Some(status) => status,
        None => {
            let _ = child.kill();
            panic!(
                "{} killed after {:?}",
                program.display(),
                support::RUN_LIMIT
            );
        }
    };
    (status, output.join().unwrap())
}

/// The exercise page's terminals: udp_server, a relay that drops and
/// duplicates with seed 3, and the solution with two retries. The fates
/// depend only on the order of the datagrams, so the run is exact once
/// the ports are renumbered (server 12000, relay 12001, client 50001).
#[test]
fn retry_sessions() {
    let server = Server::start("udp_server");
    let server_address = server.loopback().to_string();
    let relay_args = [
        "relay",
        "--listen",
        "127.0.0.1:0",
        "--server",
        &server_address,
        "--drop",
        "0.3",
        "--duplicate",
        "0.1",
        "--seed",
        "3",
    ];
    let mut relay = Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(relay_args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut relay_log = BufReader::new(relay.stdout.take().unwrap());
    let mut first_line = String::new();
    relay_log.read_line(&mut first_line).unwrap();
    let relay_port: u16 = first_line
        .split_once(", forwarding")
        .and_then(|(head, _)| head.rsplit_once(':'))
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {first_line:?}"));
    let lines = "first\nsecond\nthird\nfourth\nfifth\n";
    let (status, output) = run_merged(
        &example("udp_retry_client"),
        &["--server-port", &relay_port.to_string(), "--retries", "2"],
        lines.as_bytes(),
    );
    let _ = relay.kill();
    let _ = relay.wait();
    let mut log = String::new();
    relay_log.read_to_string(&mut log).unwrap();
    assert_eq!(status.code(), Some(1), "{output}");
    assert!(
        output.contains("No reply to line 3 after 3 attempts"),
        "{output}"
    );
    assert!(
        output
            .contains("note: ignored a reply that is not for line 3: 2 SECOND"),
        "{output}"
    );
    let client_text = format!(
        "$ printf '{}' | cargo run --example udp_retry_client -- \
         --server-port 12001 --retries 2\n{output}",
        lines.replace('\n', "\\n")
    );
    let relay_text = format!(
        "$ cargo lab relay --drop 0.3 --duplicate 0.1 --seed 3\n\
         {first_line}{log}"
    );
    let renumber = |text: &str| {
        text.replace(&format!("127.0.0.1:{}", server.port()), "127.0.0.1:12000")
            .replace(&format!("127.0.0.1:{relay_port}"), "127.0.0.1:12001")
    };
    let client_port = log
        .split("client 127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .unwrap_or("none")
        .to_string();
    let relay_text = renumber(&relay_text)
        .replace(&format!("127.0.0.1:{client_port}"), "127.0.0.1:50001");
    support::assert_transcripts([
        check_text("exercises/retry-client.txt", renumber(&client_text)),
        check_text("exercises/retry-relay.txt", relay_text),
    ]);
}

/// The page's claim: a late reply does not restart the wait, so a stream
/// of them cannot keep the client waiting. A server sends a wrong-tag
/// datagram every 20 ms for 5 s; the client, with a 0.3 s timeout and no
/// retry, gives up long before the stream ends.
#[test]
fn late_replies_do_not_extend_the_wait() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let port = socket.local_addr().unwrap().port().to_string();
    let sent = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let flood = {
        let sent = Arc::clone(&sent);
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let mut buffer = [0; 2048];
            let (_, client) = socket.recv_from(&mut buffer).unwrap();
            while sent.load(Ordering::SeqCst) < 250
                && !stop.load(Ordering::SeqCst)
            {
                socket.send_to(b"0 STALE", client).unwrap();
                sent.fetch_add(1, Ordering::SeqCst);
                thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let run = run_example(
        "udp_retry_client",
        &[
            "--server-name",
            "127.0.0.1",
            "--server-port",
            &port,
            "--timeout",
            "0.3",
            "--retries",
            "0",
        ],
        b"anybody?\n",
    );
    let sent_while_waiting = sent.load(Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    flood.join().unwrap();
    assert!(sent_while_waiting < 250, "{}", run.describe());
    assert_eq!(
        run.stdout,
        "No reply to line 1 after 1 attempts\n",
        "{}",
        run.describe()
    );
    assert!(
        run.stderr
            .contains("note: ignored a reply that is not for line 1: 0 STALE"),
        "{}",
        run.describe()
    );
    assert_eq!(run.status.code(), Some(1), "{}", run.describe());
    assert!(
        run.stderr.ends_with(&format!(
            "error: 1 line(s) got no reply from 127.0.0.1:{port}\n"
        )),
        "{}",
        run.describe()
    );
}

#[test]
fn retry_client_help_lists_its_flags_and_defaults() {
    let run = run_example("udp_retry_client", &["--help"], b"");
    run.assert_success();
    for words in [
        "--server-name <SERVER_NAME>",
        "[default: localhost]",
        "--server-port <SERVER_PORT>",
        "[default: 12000]",
        "--timeout <SECONDS>",
        "[default: 0.5]",
        "--retries <N>",
        "[default: 3]",
    ] {
        assert!(run.stdout.contains(words), "{words:?}\n{}", run.describe());
    }
    let bad = run_example("udp_retry_client", &["--retries", "11"], b"");
    assert_eq!(bad.status.code(), Some(2), "{}", bad.describe());
}

#[test]
fn empty_input_sends_nothing_and_succeeds() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port().to_string();
    let run = run_example(
        "udp_retry_client",
        &["--server-name", "127.0.0.1", "--server-port", &port],
        b"",
    );
    run.assert_success();
    assert_eq!(run.stdout, "", "{}", run.describe());
    socket.set_nonblocking(true).unwrap();
    let mut buffer = [0; 16];
    assert!(socket.recv_from(&mut buffer).is_err(), "a datagram came");
}

#[test]
fn a_line_that_is_not_utf8_ends_the_client_with_one_error() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port().to_string();
    let run = run_example(
        "udp_retry_client",
        &["--server-name", "127.0.0.1", "--server-port", &port],
        b"\xff\n",
    );
    run.assert_error("cannot read a line from standard input");
}
