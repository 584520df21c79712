//! The console sessions the book shows (book/src/output/*.txt) are real:
//! this test runs every one of them and compares the output with the file.
//!
//! The book shows the default port 12000; the test runs each server on a
//! free port instead and writes 12000 wherever that port appears. To
//! rewrite the files after an intended change in the programs' output:
//! `cargo xtask bless` (which sets `BLESS=1` for the tests).

mod support;

use std::net::{TcpListener, UdpSocket};

use support::{Server, Session, assert_transcripts, check_text, run_example};

/// Compares `session` (with `port` written as 12000) with the book's file.
fn check(file: &str, session: Session, port: u16) -> Option<String> {
    check_text(file, session.text.replace(&port.to_string(), "12000"))
}

/// Server on every interface (as by default) and two clients.
fn two_clients(protocol: &str, first: &str) -> [Option<String>; 2] {
    let server_name = format!("{protocol}_server");
    let client_name = format!("{protocol}_client");
    let mut server = Server::start_with(&server_name, &["--port", "0"]);
    let port = server.port();
    let mut server_session = Session::default();
    server_session.line(&format!("$ cargo run --example {server_name}"));
    server_session.line(&format!(
        "The server is ready to receive on {}",
        server.address
    ));
    let mut client_session = Session::default();
    for sentence in [first, "straße 안녕"] {
        let args = ["--server-port", &port.to_string()];
        let run = run_example(
            &client_name,
            &args,
            format!("{sentence}\n").as_bytes(),
        );
        run.assert_success();
        let shown = format!("cargo run --example {client_name}");
        client_session.record(&shown, &run, Some(sentence));
        let line = server.next_line();
        server_session.line(&line);
    }
    [
        check(&format!("{server_name}.txt"), server_session, port),
        check(&format!("{client_name}.txt"), client_session, port),
    ]
}

#[test]
fn udp_sessions() {
    assert_transcripts(two_clients("udp", "hello over udp"));
}

#[test]
fn tcp_sessions() {
    assert_transcripts(two_clients("tcp", "hello over tcp"));
}

#[test]
fn error_sessions() {
    let mut mismatches = Vec::new();

    // Nobody answers on the port (a bound socket that never replies).
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let run = run_example(
        "udp_client",
        &["--server-port", &port.to_string(), "--timeout", "1"],
        b"is anybody there?\n",
    );
    let mut session = Session::default();
    let shown = "cargo run --example udp_client -- --timeout 1";
    session.record(shown, &run, Some("is anybody there?"));
    mismatches.push(check("udp_client_no_server.txt", session, port));

    // Nothing listens on the port.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let run = run_example(
        "tcp_client",
        &["--server-port", &port.to_string()],
        b"hello\n",
    );
    let mut session = Session::default();
    session.record("cargo run --example tcp_client", &run, None);
    mismatches.push(check("tcp_client_no_server.txt", session, port));

    // A second server on the port of a running one.
    for protocol in ["udp", "tcp"] {
        let name = format!("{protocol}_server");
        let server = Server::start_with(&name, &["--port", "0"]);
        let port = server.port();
        let run = run_example(&name, &["--port", &port.to_string()], b"");
        let mut session = Session::default();
        session.record(&format!("cargo run --example {name}"), &run, None);
        let file = format!("{name}_port_in_use.txt");
        mismatches.push(check(&file, session, port));
    }

    // A server name that does not resolve.
    for protocol in ["udp", "tcp"] {
        let name = format!("{protocol}_client");
        let run =
            run_example(&name, &["--server-name", "nosuch.invalid"], b"hi\n");
        let mut session = Session::default();
        let shown = format!(
            "cargo run --example {name} -- --server-name nosuch.invalid"
        );
        session.record(&shown, &run, None);
        let file = format!("{name}_unknown_host.txt");
        mismatches.push(check(&file, session, 12000));
    }

    // Standard input closed before a line was typed.
    let run = run_example("udp_client", &[], b"");
    let mut session = Session::default();
    session.record("cargo run --example udp_client < /dev/null", &run, None);
    // The prompt has no newline; the error follows it on the same line.
    mismatches.push(check("closed_stdin.txt", session, 12000));

    assert_transcripts(mismatches);
}
