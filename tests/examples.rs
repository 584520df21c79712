//! End-to-end tests: the four examples as real processes on loopback.
//!
//! Each test starts its own server on port 0 and runs the clients against
//! it with piped standard input, the way a student runs them in two
//! terminals.

mod support;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use socket2::{Domain, SockRef, Socket, Type};
use support::{Server, client, expected_stdout, run_example};

const PROTOCOLS: [(&str, &str); 2] =
    [("udp_server", "udp_client"), ("tcp_server", "tcp_client")];

#[test]
fn round_trip_uppercases_the_sentence() {
    for (server_name, client_name) in PROTOCOLS {
        let mut server = Server::start(server_name);
        let run = client(client_name, &server, "hello, world 123");
        run.assert_success();
        assert_eq!(
            run.stdout,
            expected_stdout("HELLO, WORLD 123"),
            "{}",
            run.describe()
        );
        server.expect_line("hello, world 123");
    }
}

#[test]
fn uppercase_is_unicode_aware_and_may_grow() {
    for (server_name, client_name) in PROTOCOLS {
        let mut server = Server::start(server_name);
        let run = client(client_name, &server, "straße 안녕");
        run.assert_success();
        assert_eq!(
            run.stdout,
            expected_stdout("STRASSE 안녕"),
            "{}",
            run.describe()
        );
        server.expect_line("straße 안녕");
    }
}

#[test]
fn empty_line_gets_an_empty_reply() {
    for (server_name, client_name) in PROTOCOLS {
        let mut server = Server::start(server_name);
        let run = client(client_name, &server, "");
        run.assert_success();
        assert_eq!(run.stdout, expected_stdout(""), "{}", run.describe());
        server.expect_line("");
        // The server is still there for the next client.
        client(client_name, &server, "next").assert_success();
        server.expect_line("next");
    }
}

#[test]
fn udp_truncates_a_3000_byte_line_to_the_2048_byte_buffer() {
    let mut server = Server::start("udp_server");
    let run = client("udp_client", &server, &"x".repeat(3000));
    run.assert_success();
    assert_eq!(
        run.stdout,
        expected_stdout(&"X".repeat(2048)),
        "{}",
        run.describe()
    );
    server.expect_line(&"x".repeat(2048));
}

#[test]
fn udp_client_cuts_a_reply_longer_than_its_2048_byte_buffer() {
    // 1024 × ɐ is 2048 bytes; its uppercase Ɐ takes 3 bytes, so the reply
    // is 3072 bytes. The client keeps 2048 of them: 682 whole Ɐ and the
    // first two bytes of the next one, which print as U+FFFD.
    let mut server = Server::start("udp_server");
    let run = client("udp_client", &server, &"ɐ".repeat(1024));
    run.assert_success();
    let kept = format!("{}\u{FFFD}", "Ɐ".repeat(682));
    assert_eq!(run.stdout, expected_stdout(&kept), "{}", run.describe());
    server.expect_line(&"ɐ".repeat(1024));
}

#[test]
fn tcp_returns_a_3000_byte_line_whole() {
    let mut server = Server::start("tcp_server");
    let run = client("tcp_client", &server, &"x".repeat(3000));
    run.assert_success();
    assert_eq!(
        run.stdout,
        expected_stdout(&"X".repeat(3000)),
        "{}",
        run.describe()
    );
    server.expect_line(&"x".repeat(3000));
}

#[test]
fn udp_server_replaces_invalid_utf8_and_keeps_serving() {
    let mut server = Server::start("udp_server");
    let raw = UdpSocket::bind("127.0.0.1:0").unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    raw.send_to(b"caf\xc3 \xff ok", server.loopback()).unwrap();
    let mut reply = [0; 2048];
    let (length, _) = raw.recv_from(&mut reply).unwrap();
    assert_eq!(&reply[..length], "CAF\u{FFFD} \u{FFFD} OK".as_bytes());
    server.expect_line("caf\u{FFFD} \u{FFFD} ok");
    let run = client("udp_client", &server, "still here?");
    assert_eq!(
        run.stdout,
        expected_stdout("STILL HERE?"),
        "{}",
        run.describe()
    );
    server.assert_alive();
}

#[test]
fn tcp_server_replaces_invalid_utf8_and_keeps_serving() {
    let mut server = Server::start("tcp_server");
    let mut raw = TcpStream::connect(server.loopback()).unwrap();
    raw.write_all(b"caf\xc3 \xff ok\n").unwrap();
    let mut reply = Vec::new();
    raw.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, "CAF\u{FFFD} \u{FFFD} OK\n".as_bytes());
    server.expect_line("caf\u{FFFD} \u{FFFD} ok");
    let run = client("tcp_client", &server, "still here?");
    assert_eq!(
        run.stdout,
        expected_stdout("STILL HERE?"),
        "{}",
        run.describe()
    );
    server.assert_alive();
}

#[test]
fn fifty_clients_in_a_row_are_all_served() {
    for (server_name, client_name) in PROTOCOLS {
        let mut server = Server::start(server_name);
        for number in 0..50 {
            let sentence = format!("client number {number}");
            let run = client(client_name, &server, &sentence);
            run.assert_success();
            let reply = sentence.to_uppercase();
            assert_eq!(
                run.stdout,
                expected_stdout(&reply),
                "{}",
                run.describe()
            );
            server.expect_line(&sentence);
        }
    }
}

#[test]
fn udp_client_without_server_times_out_with_a_clear_error() {
    // A bound socket that never answers: nothing else can take its port
    // while the client waits, and no reply ever comes.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port().to_string();
    let run = run_example(
        "udp_client",
        &[
            "--server-name",
            "127.0.0.1",
            "--server-port",
            &port,
            "--timeout",
            "1",
        ],
        b"is anybody there?\n",
    );
    run.assert_error("no reply from 127.0.0.1:");
    assert!(
        run.stderr.contains("UDP does not retransmit"),
        "{}",
        run.describe()
    );
    assert!(
        run.elapsed >= Duration::from_secs(1)
            && run.elapsed < Duration::from_secs(2),
        "gave up after {:?}, not after the 1 s timeout\n{}",
        run.elapsed,
        run.describe()
    );
}

#[test]
fn udp_client_also_times_out_on_a_closed_port() {
    // Linux answers with ICMP port unreachable, but the client's socket is
    // not connected, so the error never reaches it: it waits and times out.
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let run = run_example(
        "udp_client",
        &[
            "--server-name",
            "127.0.0.1",
            "--server-port",
            &port.to_string(),
            "--timeout",
            "1",
        ],
        b"hello?\n",
    );
    run.assert_error("no reply from 127.0.0.1:");
}

#[test]
fn icmp_port_unreachable_reaches_only_a_connected_udp_socket() {
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let connected = UdpSocket::bind("127.0.0.1:0").unwrap();
    connected
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    connected.connect(("127.0.0.1", port)).unwrap();
    // The kernel rate-limits ICMP errors (icmp(7), icmp_msgs_per_sec), so
    // when other tests send many at once one may not come: try again.
    let mut errors = Vec::new();
    for _ in 0..5 {
        connected.send(b"hello?").unwrap();
        match connected.recv(&mut [0; 64]) {
            Err(error) if error.kind() == ErrorKind::ConnectionRefused => {
                return;
            }
            other => errors.push(format!("{other:?}")),
        }
    }
    panic!("no ConnectionRefused in 5 tries: {errors:?}");
}

#[test]
fn udp_and_tcp_servers_share_a_port_number() {
    let mut udp = Server::start("udp_server");
    assert_eq!(udp.address.ip().to_string(), "127.0.0.1");
    let port = udp.port().to_string();
    let mut tcp = Server::start_with(
        "tcp_server",
        &["--bind", "127.0.0.1", "--port", &port],
    );
    assert_eq!(tcp.address, udp.address);
    let run = client("udp_client", &udp, "to udp");
    assert_eq!(run.stdout, expected_stdout("TO UDP"), "{}", run.describe());
    let run = client("tcp_client", &tcp, "to tcp");
    assert_eq!(run.stdout, expected_stdout("TO TCP"), "{}", run.describe());
    udp.expect_line("to udp");
    tcp.expect_line("to tcp");
}

#[test]
fn tcp_client_without_server_is_refused_at_once() {
    let port = free_tcp_port().to_string();
    let run = run_example(
        "tcp_client",
        &["--server-name", "127.0.0.1", "--server-port", &port],
        b"hello\n",
    );
    run.assert_error("Connection refused");
    assert!(run.stdout.is_empty(), "{}", run.describe());
    assert!(run.elapsed < Duration::from_secs(5), "{}", run.describe());
}

#[test]
fn server_reports_a_port_already_in_use() {
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = udp.local_addr().unwrap().port().to_string();
    let run = run_example(
        "udp_server",
        &["--bind", "127.0.0.1", "--port", &port],
        b"",
    );
    run.assert_error("Address already in use");
    assert!(run.stdout.is_empty(), "{}", run.describe());

    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = tcp.local_addr().unwrap().port().to_string();
    let run = run_example(
        "tcp_server",
        &["--bind", "127.0.0.1", "--port", &port],
        b"",
    );
    run.assert_error("Address already in use");
}

#[test]
fn clients_report_an_unknown_host() {
    for client_name in ["udp_client", "tcp_client"] {
        let run = run_example(
            client_name,
            &["--server-name", "nosuch.invalid"],
            b"hi\n",
        );
        run.assert_error("nosuch.invalid");
        assert!(run.stderr.contains("lookup"), "{}", run.describe());
    }
}

#[test]
fn clients_report_closed_standard_input() {
    for (server_name, client_name) in PROTOCOLS {
        let server = Server::start(server_name);
        let port = server.port().to_string();
        let run = run_example(client_name, &["--server-port", &port], b"");
        run.assert_error("standard input was closed");
    }
}

#[test]
fn help_documents_every_flag() {
    let cases: [(&str, &[&str]); 4] = [
        (
            "udp_client",
            &[
                "--server-name",
                "--server-port",
                "--timeout",
                "[default: 5]",
            ],
        ),
        (
            "tcp_client",
            &["--server-name", "--server-port", "[default: localhost]"],
        ),
        (
            "udp_server",
            &["--port", "--bind", "[default: 12000]", "[default: 0.0.0.0]"],
        ),
        (
            "tcp_server",
            &["--port", "--bind", "[default: 12000]", "[default: 0.0.0.0]"],
        ),
    ];
    for (name, needles) in cases {
        let run = run_example(name, &["--help"], b"");
        run.assert_success();
        for needle in needles {
            assert!(
                run.stdout.contains(needle),
                "no {needle:?}\n{}",
                run.describe()
            );
        }
    }
}

#[test]
fn bad_flags_are_rejected_with_a_usage_error() {
    let run = run_example("udp_server", &["--port", "70000"], b"");
    assert_eq!(run.status.code(), Some(2), "{}", run.describe());
    assert!(
        run.stderr.starts_with("error: invalid value '70000'"),
        "{}",
        run.describe()
    );
    let run = run_example("udp_client", &["--timeout=-1"], b"");
    assert_eq!(run.status.code(), Some(2), "{}", run.describe());
    assert!(run.stderr.contains("out of range"), "{}", run.describe());
    let run = run_example("tcp_client", &["--server-port", "65536"], b"");
    assert_eq!(run.status.code(), Some(2), "{}", run.describe());
    assert!(
        run.stderr.starts_with("error: invalid value '65536'"),
        "{}",
        run.describe()
    );
}

#[test]
fn tcp_server_accepts_crlf_line_endings() {
    let mut server = Server::start("tcp_server");
    let mut raw = TcpStream::connect(server.loopback()).unwrap();
    raw.write_all(b"from telnet\r\n").unwrap();
    let mut reply = String::new();
    raw.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "FROM TELNET\n");
    server.expect_line("from telnet");
}

#[test]
fn tcp_server_stops_reading_a_line_at_64_kib() {
    let mut server = Server::start("tcp_server");
    let mut raw = TcpStream::connect(server.loopback()).unwrap();
    // 70,000 bytes and no newline: the server must not wait for more.
    raw.write_all(&[b'y'; 70_000]).unwrap();
    server.expect_line(&"y".repeat(64 * 1024));
    drop(raw);
    let run = client("tcp_client", &server, "after the flood");
    assert_eq!(
        run.stdout,
        expected_stdout("AFTER THE FLOOD"),
        "{}",
        run.describe()
    );
}

#[test]
fn tcp_client_reports_a_reply_cut_short() {
    // A fake server that answers without the final newline and hangs up.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let fake = std::thread::spawn(move || {
        let (mut connection, _) = listener.accept().unwrap();
        let mut request = [0; 64];
        let _ = connection.read(&mut request).unwrap();
        connection.write_all(b"HALF A REP").unwrap();
    });
    let run = run_example(
        "tcp_client",
        &["--server-name", "127.0.0.1", "--server-port", &port],
        b"half a reply\n",
    );
    fake.join().unwrap();
    run.assert_error(
        "the server closed the connection before the end of its reply",
    );
}

#[test]
fn tcp_server_restarts_on_its_port_at_once() {
    let first = Server::start("tcp_server");
    let port = first.port().to_string();
    // The server closes first after replying, so its side of this
    // connection is now in TIME_WAIT on the server's port.
    client("tcp_client", &first, "leave a time-wait behind").assert_success();
    drop(first);
    let second = Server::start_with(
        "tcp_server",
        &["--bind", "127.0.0.1", "--port", &port],
    );
    assert_eq!(second.port().to_string(), port);
    let run = client("tcp_client", &second, "back again");
    assert_eq!(
        run.stdout,
        expected_stdout("BACK AGAIN"),
        "{}",
        run.describe()
    );
}

#[test]
fn servers_and_clients_work_over_ipv6_loopback() {
    if UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("skipped: this machine has no IPv6 loopback (::1)");
        return;
    }
    for (server_name, client_name) in PROTOCOLS {
        let mut server =
            Server::start_with(server_name, &["--bind", "::1", "--port", "0"]);
        assert!(server.address.is_ipv6(), "{}", server.describe());
        let port = server.port().to_string();
        let run = run_example(
            client_name,
            &["--server-name", "::1", "--server-port", &port],
            b"over ipv6\n",
        );
        assert_eq!(
            run.stdout,
            expected_stdout("OVER IPV6"),
            "{}",
            run.describe()
        );
        server.expect_line("over ipv6");
    }
}

#[test]
fn tcp_server_reads_until_the_newline_however_the_bytes_arrive() {
    let mut server = Server::start("tcp_server");
    let mut raw = TcpStream::connect(server.loopback()).unwrap();
    raw.set_nodelay(true).unwrap();
    // Also splits the two-byte ß and the three-byte 안 and 녕 across writes.
    for byte in "straße 안녕, one byte at a time\n".as_bytes() {
        raw.write_all(&[*byte]).unwrap();
        raw.flush().unwrap();
    }
    let mut reply = String::new();
    raw.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "STRASSE 안녕, ONE BYTE AT A TIME\n");
    server.expect_line("straße 안녕, one byte at a time");
}

#[test]
fn tcp_connect_succeeds_while_the_server_is_busy_with_another_client() {
    let mut server = Server::start("tcp_server");
    // The first client connects and says nothing: the one-at-a-time server
    // is now stuck reading from it.
    let mut first = TcpStream::connect(server.loopback()).unwrap();
    // The kernel still completes the second handshake: connect returns
    // although the server has not called accept for it.
    let mut second = TcpStream::connect(server.loopback()).unwrap();
    second.write_all(b"second\n").unwrap();
    first.write_all(b"first\n").unwrap();
    let mut reply = String::new();
    first.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "FIRST\n");
    let mut reply = String::new();
    second.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "SECOND\n");
    server.expect_line("first");
    server.expect_line("second");
}

#[test]
fn tcp_server_survives_clients_that_leave_or_reset() {
    let mut server = Server::start("tcp_server");
    // Connects and closes without sending: the server reads end of stream.
    drop(TcpStream::connect(server.loopback()).unwrap());
    server.expect_line("");
    // Sends half a line, then resets the connection (SO_LINGER 0).
    let reset = TcpStream::connect(server.loopback()).unwrap();
    (&reset).write_all(b"half a li").unwrap();
    SockRef::from(&reset)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(reset);
    // Writes a line and shuts down before the reply arrives.
    let mut gone = TcpStream::connect(server.loopback()).unwrap();
    gone.write_all(b"bye\n").unwrap();
    gone.shutdown(Shutdown::Both).unwrap();
    drop(gone);
    let run = client("tcp_client", &server, "anyone else");
    assert_eq!(
        run.stdout,
        expected_stdout("ANYONE ELSE"),
        "{}",
        run.describe()
    );
    server.assert_alive();
}

#[test]
fn tcp_server_closing_with_unread_data_resets_the_connection() {
    let mut server = Server::start("tcp_server");
    let mut raw = TcpStream::connect(server.loopback()).unwrap();
    // A line and 4000 more bytes in one write: the server's first read
    // takes at most 2048 bytes, so at least 1958 of them are still unread
    // in its receive buffer when it closes after replying.
    let mut request = b"first\n".to_vec();
    request.extend_from_slice(&[b'x'; 4000]);
    raw.write_all(&request).unwrap();
    server.expect_line("first");
    let started = Instant::now();
    let mut received = Vec::new();
    let mut chunk = [0; 64];
    let error = loop {
        match raw.read(&mut chunk) {
            Ok(0) => panic!(
                "orderly end of stream (FIN), expected a reset; got {received:?}"
            ),
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(error) => break error,
        }
        assert!(started.elapsed() < Duration::from_secs(10));
    };
    assert_eq!(error.kind(), ErrorKind::ConnectionReset, "{error}");
    // On Linux the reply that had arrived before the reset is still read.
    assert_eq!(received, b"FIRST\n");
}

#[test]
fn largest_udp_payload_over_ipv4_is_65507_bytes() {
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = receiver.local_addr().unwrap();
    assert_eq!(sender.send_to(&vec![0; 65_507], target).unwrap(), 65_507);
    let error = sender.send_to(&vec![0; 65_508], target).unwrap_err();
    // EMSGSIZE, "Message too long" (90 on Linux).
    assert_eq!(error.raw_os_error(), Some(90), "{error}");
}

/// A TCP port on which nothing listens: bound, then closed again.
fn free_tcp_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn tcp_server_prints_a_clients_control_characters_escaped() {
    let mut server = Server::start("tcp_server");
    let mut raw = TcpStream::connect(server.loopback()).unwrap();
    // Would retitle the window and clear the screen of a terminal.
    raw.write_all(b"\x1b]0;owned\x07\x1b[2J plain text\n")
        .unwrap();
    let mut reply = Vec::new();
    raw.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"\x1b]0;OWNED\x07\x1b[2J PLAIN TEXT\n");
    server.expect_line("\\u{1b}]0;owned\\u{7}\\u{1b}[2J plain text");
}

#[test]
fn tcp_server_stops_with_one_line_when_its_stdout_closes() {
    let mut child = Command::new(support::example("tcp_server"))
        .args(["--bind", "127.0.0.1", "--port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut ready = String::new();
    stdout.read_line(&mut ready).unwrap();
    let port = ready.trim_end().rsplit(':').next().unwrap().to_string();
    // As `tcp_server | head -1` does after the first line.
    drop(stdout);
    let run = run_example(
        "tcp_client",
        &["--server-name", "127.0.0.1", "--server-port", &port],
        b"nobody reads the log\n",
    );
    run.assert_error("the server closed the connection");
    let status =
        match support::wait_with_limit(&mut child, Duration::from_secs(10)) {
            Some(status) => status,
            None => {
                child.kill().unwrap();
                panic!("tcp_server still runs with its stdout closed");
            }
        };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(1), "{status}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: cannot write to standard output"),
        "{stderr}"
    );
}

/// Once the server has closed the connection with bytes unread, its
/// reset destroys what had not yet reached the client; what had is still
/// read. A small receive buffer keeps most of the reply in the server's
/// send queue.
#[test]
fn tcp_reset_loses_only_what_had_not_reached_the_client() {
    let mut server = Server::start("tcp_server");
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    // Before connect, so that the window announced in the SYN is small.
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&server.loopback().into()).unwrap();
    let mut raw = TcpStream::from(socket);
    let line = "r".repeat(12_000);
    raw.write_all(format!("{line}\n").as_bytes()).unwrap();
    // Bytes after the newline that the server never reads.
    raw.write_all(&[b'x'; 4000]).unwrap();
    server.expect_line(&line);
    // The server serves one client at a time: once the next client has
    // its reply, the server has closed our connection.
    client("tcp_client", &server, "next").assert_success();
    let mut received = Vec::new();
    let mut chunk = [0; 4096];
    let error = loop {
        match raw.read(&mut chunk) {
            Ok(0) => panic!("end of stream (FIN) after {}", received.len()),
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(error) => break error,
        }
    };
    assert_eq!(error.kind(), ErrorKind::ConnectionReset, "{error}");
    assert!(received.iter().all(|&byte| byte == b'R'));
    assert!(
        !received.is_empty() && received.len() < line.len(),
        "{} of {} bytes",
        received.len(),
        line.len() + 1
    );
    eprintln!(
        "read {} bytes of the {}-byte reply, then: {error}",
        received.len(),
        line.len() + 1
    );
}

/// Linux queues backlog + 1 established connections that nobody has
/// accepted yet: tcp_server's listen(1) lets two wait while it serves a
/// third, and listen(0) lets one wait. A connection beyond that stalls:
/// its SYN is dropped, and connect would retry for about two minutes.
#[cfg(target_os = "linux")]
#[test]
fn linux_lets_backlog_plus_one_connections_wait() {
    let stall = Duration::from_millis(300);
    let mut server = Server::start("tcp_server");
    let address = server.loopback();
    // Accepted, then silent: the server waits for its sentence.
    let mut first = TcpStream::connect(address).unwrap();
    wait_for_accept_queue(address.port(), 0);
    let mut waiting: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect_timeout(&address, stall).unwrap())
        .collect();
    wait_for_accept_queue(address.port(), 2);
    let error = TcpStream::connect_timeout(&address, stall).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TimedOut, "{error}");
    // All three are served in turn.
    first.write_all(b"first\n").unwrap();
    for (number, stream) in waiting.iter_mut().enumerate() {
        stream
            .write_all(format!("waiting {number}\n").as_bytes())
            .unwrap();
    }
    for (stream, expected) in std::iter::once(&mut first)
        .chain(waiting.iter_mut())
        .zip(["FIRST\n", "WAITING 0\n", "WAITING 1\n"])
    {
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        assert_eq!(reply, expected);
    }
    server.expect_line("first");

    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    listener.listen(0).unwrap();
    let address = listener.local_addr().unwrap().as_socket().unwrap();
    let _one = TcpStream::connect_timeout(&address, stall).unwrap();
    let error = TcpStream::connect_timeout(&address, stall).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TimedOut, "{error}");
}

/// Waits (at most 5 s) until the IPv4 listening socket on `port` has
/// `length` connections in its accept queue: /proc/net/tcp shows that
/// length as the rx_queue of a socket in state 0A (LISTEN).
#[cfg(target_os = "linux")]
fn wait_for_accept_queue(port: u16, length: u32) {
    let started = Instant::now();
    let mut seen = None;
    while started.elapsed() < Duration::from_secs(5) {
        let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
        seen = table.lines().skip(1).find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = fields[1].rsplit(':').next()?;
            let queues = fields[4].split_once(':')?;
            (fields[3] == "0A"
                && u16::from_str_radix(local_port, 16).ok() == Some(port))
            .then(|| u32::from_str_radix(queues.1, 16).ok())
            .flatten()
        });
        if seen == Some(length) {
            return;
        }
        std::thread::yield_now();
    }
    panic!("accept queue of port {port}: {seen:?}, expected {length}");
}

/// tcp_server closes each connection before it accepts the next, so it
/// needs one descriptor per client, whatever the number of clients: with
/// room for stdin, stdout, stderr, the listening socket and one
/// connection, it serves client after client.
#[cfg(target_os = "linux")]
#[test]
fn tcp_server_needs_one_descriptor_for_any_number_of_clients() {
    let server = Command::new("sh")
        .args(["-c", "ulimit -n 5 && exec \"$0\" --bind 127.0.0.1 --port 0"])
        .arg(support::example("tcp_server"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = ChildGuard(server);
    let stdout = server.0.stdout.take().unwrap();
    let (sender, ready) = std::sync::mpsc::channel();
    // Reads every line, so that the server never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let ready = ready.recv_timeout(Duration::from_secs(10)).unwrap();
    let address: SocketAddr = ready
        .rsplit(' ')
        .next()
        .and_then(|address| address.parse().ok())
        .unwrap_or_else(|| panic!("ready line {ready:?}"));
    for number in 0..20 {
        let mut stream = TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
            .write_all(format!("client {number}\n").as_bytes())
            .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        assert_eq!(reply, format!("CLIENT {number}\n"));
    }
    let mut stderr = String::new();
    assert!(server.0.try_wait().unwrap().is_none());
    server.0.kill().unwrap();
    server.0.wait().unwrap();
    server
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(stderr.is_empty(), "{stderr}");
}

/// Kills the child when the test ends, however it ends.
#[cfg(target_os = "linux")]
struct ChildGuard(std::process::Child);

#[cfg(target_os = "linux")]
impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
