//! Exercise 5 (any address family): the checker passes the reference
//! solution and fails the deliberately wrong clients on the right
//! criterion; the book's transcripts of the solution are real runs.
//!
//! What `localhost` resolves to comes from /etc/hosts, which differs from
//! machine to machine. To run every criterion anyway, and to record
//! transcripts that do not depend on the machine, some tests run inside a
//! private mount namespace (`unshare -m`, needs root) whose /etc/hosts is
//! a file of the test's; the machine's own /etc/hosts is not touched.
//! Where that is not possible those tests say so and do nothing.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::fs;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::{Run, Server, Session, check_text, run_program};

const CRITERIA: [&str; 7] = [
    "reaches-ipv4-by-name",
    "reaches-ipv6-literal",
    "reaches-ipv6-by-name",
    "tries-the-next-address",
    "names-the-answering-address",
    "gives-up-when-nobody-answers",
    "reports-unknown-names",
];

/// Debian's default: `localhost` has an IPv4 and an IPv6 address.
const DUAL_STACK_HOSTS: &str = "127.0.0.1 localhost\n::1 localhost\n";
/// Like the machine this book is built on: IPv4 only.
const IPV4_ONLY_HOSTS: &str = "127.0.0.1 localhost\n";

fn solution() -> PathBuf {
    support::example("udp_any_family_client")
}

fn lab() -> String {
    env!("CARGO_BIN_EXE_lab").to_string()
}

fn ipv6_works() -> bool {
    UdpSocket::bind("[::1]:0").is_ok()
}

/// Asserts that the checker's run lists every criterion, fails none, and
/// exits with 0.
fn assert_all_pass(run: &Run, skipped_allowed: bool) {
    assert_eq!(run.status.code(), Some(0), "{}", run.describe());
    for name in CRITERIA {
        let pass = format!("PASS {name}");
        let skip = format!("SKIP {name}:");
        assert!(
            run.stdout.lines().any(|line| line == pass
                || (skipped_allowed && line.starts_with(&skip))),
            "{name} is not listed as passed\n{}",
            run.describe()
        );
    }
    assert!(!run.stdout.contains("FAIL"), "{}", run.describe());
}

#[test]
fn solution_passes_every_criterion() {
    let run = support::check("family", &solution(), &[]);
    assert_all_pass(&run, true);
}

/// The notes' client binds an IPv4 socket and hands the name to send_to:
/// it cannot send to ::1, and without a timeout it waits forever, so the
/// checker must kill it (within its 5 s limit) and say so.
#[test]
fn naive_client_fails_on_ipv6_and_is_killed_when_nobody_answers() {
    if !ipv6_works() {
        eprintln!("skipped: ::1 cannot be bound here");
        return;
    }
    let naive = support::fixture("naive_family_client");
    let run = support::check("family", &naive, &[]);
    run.assert_checker_failed(
        "reaches-ipv6-literal",
        "Address family not supported by protocol",
    );
    run.assert_checker_failed("gives-up-when-nobody-answers", "killed");
    assert!(run.stdout.contains("PASS reaches-ipv4-by-name"));
}

/// The plain udp_client reaches both families but does not say which
/// address answered.
#[test]
fn udp_client_does_not_name_the_address() {
    let udp_client = support::example("udp_client");
    let run = support::check("family", &udp_client, &[]);
    run.assert_checker_failed("names-the-answering-address", "(answered by ");
}

/// A silent address costs the timeout, and the client says so on stderr
/// before its final error.
#[test]
fn solution_notes_each_silent_address() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port().to_string();
    let args = [
        "--server-name",
        "127.0.0.1",
        "--server-port",
        &port,
        "--timeout",
        "0.5",
    ];
    let run = support::run_example("udp_any_family_client", &args, b"hi\n");
    assert_eq!(run.status.code(), Some(1), "{}", run.describe());
    let expected = format!(
        "127.0.0.1:{port} did not answer within 500ms\n\
         error: no address of `127.0.0.1` answered (tried 127.0.0.1:{port}); \
         is a udp_server running on port {port}?\n"
    );
    assert_eq!(run.stderr, expected, "{}", run.describe());
}

/// A private /etc/hosts for the programs the tests start, through
/// `unshare -m` (a mount namespace of their own).
struct Hosts {
    file: PathBuf,
}

impl Hosts {
    /// `None`, with a note on stderr, where namespaces are not allowed.
    fn new(name: &str, contents: &str) -> Option<Hosts> {
        let file = std::env::temp_dir()
            .join(format!("family-hosts-{name}-{}", std::process::id()));
        fs::write(&file, contents).unwrap();
        let hosts = Hosts { file };
        let probe = Command::new("unshare")
            .args(["-m", "sh", "-c", "mount --bind \"$0\" /etc/hosts"])
            .arg(&hosts.file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !probe.is_ok_and(|status| status.success()) {
            eprintln!(
                "skipped: `unshare -m` with a bind mount is not allowed \
                 here (it needs root)"
            );
            return None;
        }
        Some(hosts)
    }

    /// Runs `program args` with this /etc/hosts.
    fn run(&self, program: &str, args: &[&str], stdin: &[u8]) -> Run {
        let file = self.file.display().to_string();
        let mut all = vec![
            "-m",
            "sh",
            "-c",
            "mount --bind \"$0\" /etc/hosts && exec \"$@\"",
            file.as_str(),
            program,
        ];
        all.extend(args);
        run_program(Path::new("unshare"), "unshare", &all, stdin)
    }

    fn check(&self, program: &Path) -> Run {
        let program = program.display().to_string();
        self.run(&lab(), &["check", "family", "--", &program], b"")
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.file);
    }
}

/// Where `localhost` is both 127.0.0.1 and ::1, no criterion is skipped;
/// a client that tries the first address only fails.
#[test]
fn where_localhost_has_both_families_every_criterion_runs() {
    let Some(hosts) = Hosts::new("dual", DUAL_STACK_HOSTS) else {
        return;
    };
    if !ipv6_works() {
        eprintln!("skipped: ::1 cannot be bound here");
        return;
    }
    assert_all_pass(&hosts.check(&solution()), false);
    let first_only = support::fixture("first_address_client");
    let run = hosts.check(&first_only);
    run.assert_checker_failed("tries-the-next-address", "no reply from [::1]");
    // udp_client prefers IPv4, so it misses a server on ::1 only.
    let run = hosts.check(&support::example("udp_client"));
    run.assert_checker_failed("reaches-ipv6-by-name", "");
}

/// Writes the port of a test run as the default 12000.
fn normalise(text: &str, port: u16) -> String {
    text.replace(&port.to_string(), "12000")
}

/// The page's expected output: a server on ::1 and the client given
/// `::1`, then a name that does not resolve.
#[test]
fn family_transcripts() {
    if !ipv6_works() {
        eprintln!("skipped: ::1 cannot be bound here");
        return;
    }
    let mut server =
        Server::start_with("udp_server", &["--bind", "::1", "--port", "0"]);
    let port = server.port();
    let mut server_session = Session::default();
    server_session.line("$ cargo run --example udp_server -- --bind ::1");
    server_session.line(&format!(
        "The server is ready to receive on {}",
        server.address
    ));
    let mut client_session = Session::default();
    let sentence = "hello over ipv6";
    let args = ["--server-name", "::1", "--server-port", &port.to_string()];
    let run = support::run_example(
        "udp_any_family_client",
        &args,
        format!("{sentence}\n").as_bytes(),
    );
    run.assert_success();
    client_session.record(
        "cargo run --example udp_any_family_client -- --server-name ::1",
        &run,
        Some(sentence),
    );
    server_session.line(&server.next_line());
    // The same, once the server has stopped: ::1 refuses the datagram.
    drop(server);
    let run = support::run_example(
        "udp_any_family_client",
        &args,
        format!("{sentence}\n").as_bytes(),
    );
    assert_eq!(run.status.code(), Some(1), "{}", run.describe());
    assert!(
        run.stderr.lines().last().is_some_and(|line| {
            line.starts_with("error: no address of `::1` answered")
        }),
        "{}",
        run.describe()
    );
    client_session.record(
        "cargo run --example udp_any_family_client -- --server-name ::1",
        &run,
        Some(sentence),
    );
    let run = support::run_example(
        "udp_any_family_client",
        &["--server-name", "nosuch.invalid"],
        b"hello\n",
    );
    run.assert_error("cannot resolve server name `nosuch.invalid`");
    client_session.record(
        "cargo run --example udp_any_family_client -- --server-name \
         nosuch.invalid",
        &run,
        None,
    );
    support::assert_transcripts([
        check_text(
            "exercises/family-server.txt",
            normalise(&server_session.text, port),
        ),
        check_text(
            "exercises/family-client.txt",
            normalise(&client_session.text, port),
        ),
    ]);
}

/// Where `localhost` resolves to ::1 first and the server listens on IPv4
/// only (udp_server's default, 0.0.0.0): ::1 refuses, 127.0.0.1 answers.
/// Also the checker's output for the solution, with both /etc/hosts.
#[test]
fn family_dual_stack_transcripts() {
    let Some(dual) = Hosts::new("dual-transcript", DUAL_STACK_HOSTS) else {
        return;
    };
    if !ipv6_works() {
        eprintln!("skipped: ::1 cannot be bound here");
        return;
    }
    let server = Server::start_with("udp_server", &["--port", "0"]);
    let port = server.port().to_string();
    let client = support::example("udp_any_family_client");
    let sentence = "hello from anywhere";
    let run = dual.run(
        &client.display().to_string(),
        &["--server-port", &port],
        format!("{sentence}\n").as_bytes(),
    );
    assert!(run.status.success(), "{}", run.describe());
    // What a terminal shows: the prompt and the typed line, then the note
    // on stderr (written before the reply came), then the reply.
    let prompt = "Input lowercase sentence: ";
    let reply = run.stdout.strip_prefix(prompt).unwrap_or_else(|| {
        panic!("no prompt first\n{}", run.describe());
    });
    let session = format!(
        "$ cargo run --example udp_any_family_client\n\
         {prompt}{sentence}\n{}{reply}",
        run.stderr
    );
    let mut mismatches = vec![check_text(
        "exercises/family-dual-stack.txt",
        normalise(&session, server.port()),
    )];

    let shown = "$ cargo lab check family -- \
                 target/debug/examples/udp_any_family_client\n";
    let run = dual.check(&client);
    assert_all_pass(&run, false);
    mismatches.push(check_text(
        "exercises/family-check.txt",
        format!("{shown}{}", run.stdout),
    ));
    drop(dual);
    let Some(ipv4_only) = Hosts::new("ipv4-transcript", IPV4_ONLY_HOSTS) else {
        return;
    };
    let run = ipv4_only.check(&client);
    assert_all_pass(&run, true);
    mismatches.push(check_text(
        "exercises/family-check-ipv4-only.txt",
        format!("{shown}{}", run.stdout),
    ));
    support::assert_transcripts(mismatches);
}
