//! Exercise 1 (UDP pinger): the checker passes the reference solution and
//! fails the deliberately wrong pingers on the right criterion, kills one
//! that hangs; `pinger-server` and the solution do what the book's pages
//! say, and the pages' transcripts are real runs.
//!
//! To rewrite the transcripts after an intended change:
//! `BLESS=1 cargo test --test check_pinger`.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::Duration;

use support::{check_text, example, fixture, run_example, run_lab};

const CRITERIA: [&str; 9] = [
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

#[test]
fn solution_passes_every_criterion_as_the_page_shows() {
    let run = support::check("pinger", &example("udp_pinger"), &[]);
    run.assert_checker_passed(&CRITERIA);
    let shown = "$ cargo lab check pinger -- \
                 target/debug/examples/udp_pinger\n";
    support::assert_transcripts([check_text(
        "exercises/pinger-check.txt",
        format!("{shown}{}", run.stdout),
    )]);
}

#[test]
fn udp_client_fails_sends_ten_pings() {
    let run = support::check("pinger", &example("udp_client"), &[]);
    run.assert_checker_failed("sends-ten-pings", "got no datagram");
}

#[test]
fn a_pinger_that_stops_at_the_first_loss_fails_reports_timeouts() {
    let run = support::check("pinger", &fixture("pinger_stops_at_loss"), &[]);
    run.assert_checker_failed("reports-timeouts", "no `Request timed out`");
    run.assert_checker_failed("sends-ten-pings", "4, then nothing");
}

#[test]
fn a_pinger_without_a_timeout_is_killed_and_fails_reports_timeouts() {
    let program = fixture("pinger_no_timeout");
    let run = support::check("pinger", &program, &[]);
    run.assert_checker_failed("reports-timeouts", "no `Request timed out`");
    run.assert_checker_failed("waits-about-one-second", "it was killed");
    run.assert_checker_failed("exits-cleanly", "and was killed");
    assert!(!running(&program), "{} still runs", program.display());
}

/// Whether a process of `program` is running (Linux: from /proc).
fn running(program: &Path) -> bool {
    let Ok(entries) = fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        fs::read_link(entry.path().join("exe")).is_ok_and(|exe| exe == program)
    })
}

/// Replaces the figures that change from run to run (numbers with a
/// decimal point: time stamps and RTTs) by `#`; whole numbers stay.
fn mask_fractions(text: &str) -> String {
    let mut masked = String::new();
    let mut number = String::new();
    for c in text.chars().chain(['\n']) {
        if c.is_ascii_digit() || (c == '.' && !number.is_empty()) {
            number.push(c);
            continue;
        }
        if number.trim_end_matches('.').contains('.') {
            masked.push('#');
            if number.ends_with('.') {
                masked.push('.');
            }
        } else {
            masked.push_str(&number);
        }
        number.clear();
        masked.push(c);
    }
    masked.pop();
    masked
}

#[test]
fn masking_keeps_whole_numbers() {
    assert_eq!(
        mask_fractions("PING 3 1795291205.594428 RTT 0.092 ms. 10 sent"),
        "PING 3 # RTT # ms. 10 sent"
    );
    assert_eq!(mask_fractions("= 0.014/0.057/0.128 ms"), "= #/#/# ms");
}

/// Compares `actual` with the book's file, figures masked (or writes it,
/// with `BLESS`).
fn check_figures(file: &str, actual: String) -> Option<String> {
    let path = support::workspace_root().join("book/src/output").join(file);
    if std::env::var_os("BLESS").is_some() {
        fs::write(&path, &actual).unwrap();
        return None;
    }
    let recorded = fs::read_to_string(&path).unwrap_or_default();
    (mask_fractions(&recorded) != mask_fractions(&actual)).then(|| {
        format!(
            "{} differs from a real run beyond its figures (intended? \
             `BLESS=1 cargo test --test check_pinger`)\n--- book\n\
             {recorded}--- real run\n{actual}",
            path.display()
        )
    })
}

/// The exercise page's two terminals: `pinger-server` with its defaults
/// (seed 1 drops pings 3, 5 and 10) and the solution.
#[test]
fn pinger_sessions() {
    let mut server = Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(["pinger-server", "--port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = lines_of(server.stdout.take().unwrap());
    let next_line = || {
        log.recv_timeout(Duration::from_secs(10))
            .expect("no line from pinger-server within 10 s")
    };
    let ready = next_line();
    let port = ready
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("unexpected ready line {ready:?}"));
    let run =
        run_example("udp_pinger", &["--server-port", &port.to_string()], b"");
    // The rate line and one line per ping, all written by now or soon.
    let rest: Vec<String> = (0..11).map(|_| next_line()).collect();
    let _ = server.kill();
    let _ = server.wait();
    run.assert_success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 11, "{}", run.describe());
    for (index, line) in lines[..10].iter().enumerate() {
        let seq = index + 1;
        if [3, 5, 10].contains(&seq) {
            assert_eq!(*line, "Request timed out", "{}", run.describe());
        } else {
            assert!(
                line.starts_with(&format!(
                    "Reply from 127.0.0.1:{port}: PING {seq} "
                )) && line.contains(" RTT ")
                    && line.ends_with(" ms"),
                "{}",
                run.describe()
            );
        }
    }
    assert!(
        lines[10].starts_with("10 sent, 7 received, 30% loss; RTT min/avg/max"),
        "{}",
        run.describe()
    );
    let server_text =
        format!("$ cargo lab pinger-server\n{ready}\n{}\n", rest.join("\n"));
    let client_text =
        format!("$ cargo run --example udp_pinger\n{}", run.stdout);
    support::assert_transcripts([
        check_figures(
            "exercises/pinger-server.txt",
            renumber(&server_text, port),
        ),
        check_figures(
            "exercises/pinger-client.txt",
            renumber(&client_text, port),
        ),
    ]);
}

/// The lines `pipe` carries, as they come.
fn lines_of(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// Writes the server's port as 12000 and the client's as 50001.
fn renumber(text: &str, server_port: u16) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(':') {
        let from = at + 1;
        out.push_str(&rest[..from]);
        let digits = rest[from..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len() - from);
        let port = &rest[from..from + digits];
        let before = &rest[..at];
        let is_address =
            before.ends_with("127.0.0.1") || before.ends_with("0.0.0.0");
        out.push_str(match port {
            _ if !is_address || port.is_empty() => port,
            _ if port == server_port.to_string() => "12000",
            _ => "50001",
        });
        rest = &rest[from + digits..];
    }
    out.push_str(rest);
    out
}

/// The page's claim: a reply that comes after its ping's timeout is taken
/// for the reply to the next ping (exercise 2 fixes that).
#[test]
fn a_late_reply_is_taken_for_the_next_ping() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    // A pinger that stops early must not leave this thread waiting.
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let port = socket.local_addr().unwrap().port().to_string();
    let server = thread::spawn(move || {
        let mut buffer = [0; 2048];
        let mut first = None;
        for seq in 1..=10 {
            let (length, from) = socket.recv_from(&mut buffer).unwrap();
            let reply =
                String::from_utf8_lossy(&buffer[..length]).to_uppercase();
            match seq {
                // Ping 1 gets no reply in time ...
                1 => first = Some(reply),
                // ... its reply comes once ping 2 is out; ping 2 gets none.
                2 => {
                    let late = first.take().unwrap();
                    socket.send_to(late.as_bytes(), from).unwrap();
                }
                _ => {
                    socket.send_to(reply.as_bytes(), from).unwrap();
                }
            }
        }
    });
    let run = run_example(
        "udp_pinger",
        &[
            "--server-name",
            "127.0.0.1",
            "--server-port",
            &port,
            "--timeout",
            "0.5",
        ],
        b"",
    );
    server.join().unwrap();
    run.assert_success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "Request timed out", "{}", run.describe());
    assert!(lines[1].contains(": PING 1 "), "{}", run.describe());
    assert!(
        lines[10].starts_with("10 sent, 9 received, 10% loss;"),
        "{}",
        run.describe()
    );
}

#[test]
fn with_no_server_the_statistics_stop_at_the_loss() {
    // A port that nothing listens on any more.
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let run = run_example(
        "udp_pinger",
        &[
            "--server-name",
            "127.0.0.1",
            "--server-port",
            &port,
            "--timeout",
            "0.05",
        ],
        b"",
    );
    run.assert_success();
    let expected = format!(
        "{}10 sent, 0 received, 100% loss\n",
        "Request timed out\n".repeat(10)
    );
    assert_eq!(run.stdout, expected, "{}", run.describe());
    let shown = "$ cargo run --example udp_pinger -- --timeout 0.05\n";
    support::assert_transcripts([check_text(
        "exercises/pinger-no-server.txt",
        format!("{shown}{}", run.stdout),
    )]);
}

#[test]
fn pinger_server_explains_its_default_drop_rate() {
    let run = run_lab(&["pinger-server", "--help"], b"");
    run.assert_success();
    for words in [
        "--drop <RATE>",
        "4/11",
        "randint(0, 10) < 4",
        "30%",
        "--seed",
    ] {
        let flat = run.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains(words), "{words:?}\n{}", run.describe());
    }
    let bad = run_lab(&["pinger-server", "--drop", "1.5"], b"");
    assert_eq!(bad.status.code(), Some(2), "{}", bad.describe());
    assert!(bad.stderr.contains("from 0 to 1"), "{}", bad.describe());
}

#[test]
fn pinger_help_lists_its_flags_and_defaults() {
    let run = run_example("udp_pinger", &["--help"], b"");
    run.assert_success();
    for words in [
        "--server-name <SERVER_NAME>",
        "[default: localhost]",
        "--server-port <SERVER_PORT>",
        "[default: 12000]",
        "--timeout <SECONDS>",
        "[default: 1]",
    ] {
        assert!(run.stdout.contains(words), "{words:?}\n{}", run.describe());
    }
}
