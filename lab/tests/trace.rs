//! End-to-end tests of `lab trace`: real captures of the real examples on
//! loopback. Capture needs CAP_NET_RAW, which CI has (it runs as root);
//! elsewhere the capturing tests print "skipped: …" and pass, and the
//! user-namespace test runs wherever the machine allows user namespaces.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use support::{Run, Server};

/// Whether this process may open a packet socket (CAP_NET_RAW); prints
/// why a test is skipped when it may not.
fn can_capture(test: &str) -> bool {
    let protocol = i32::from((libc::ETH_P_ALL as u16).to_be());
    let allowed =
        Socket::new(Domain::PACKET, Type::RAW, Some(Protocol::from(protocol)))
            .is_ok();
    if !allowed {
        println!("skipped: {test}: no CAP_NET_RAW here (CI runs as root)");
    }
    allowed
}

/// A file in the temporary folder, unique to this test process.
fn temp_file(name: &str) -> PathBuf {
    std::env::temp_dir()
        .join(format!("trace-test-{}-{name}", std::process::id()))
}

/// Runs `lab trace <args> --sequence FILE` and returns the run and the
/// recorded sequence, one packet a line.
fn trace(args: &[&str]) -> (Run, Vec<String>) {
    let sequence = temp_file(&format!("{}.seq", args[0]));
    let sequence_arg = sequence.display().to_string();
    let mut all = vec!["trace"];
    all.extend(args);
    all.extend(["--sequence", &sequence_arg]);
    let run = support::run_lab(&all, b"");
    run.assert_success();
    let lines = fs::read_to_string(&sequence)
        .unwrap_or_else(|e| panic!("no sequence file: {e}\n{}", run.describe()))
        .lines()
        .map(str::to_string)
        .collect();
    let _ = fs::remove_file(&sequence);
    (run, lines)
}

/// The packet lines of a trace's output (the numbered ones).
fn packet_lines(run: &Run) -> Vec<&str> {
    run.stdout
        .lines()
        .filter(|line| {
            line.contains(" > ")
                && line
                    .split_whitespace()
                    .next()
                    .is_some_and(|word| word.parse::<usize>().is_ok())
        })
        .collect()
}

#[test]
fn the_udp_exchange_is_two_datagrams_and_its_pcap_reads_back() {
    if !can_capture("udp") {
        return;
    }
    let pcap = temp_file("udp.pcap");
    let pcap_arg = pcap.display().to_string();
    let (run, sequence) =
        trace(&["udp", "--sentence", "two datagrams", "--pcap", &pcap_arg]);
    assert_eq!(
        sequence,
        ["client>server UDP len=13", "server>client UDP len=13"],
        "{}",
        run.describe()
    );
    let lines = packet_lines(&run);
    assert!(
        lines[0].contains("\"two datagrams\"")
            && lines[1].contains("\"TWO DATAGRAMS\""),
        "{}",
        run.describe()
    );
    // The cause names the statement that sent each datagram.
    assert!(
        run.stdout.contains("udp_client.rs:")
            && run.stdout.contains("udp_server.rs:"),
        "{}",
        run.describe()
    );
    if let Some(count) = tcpdump_count(&pcap) {
        assert_eq!(count, 2, "{}", run.describe());
    }
    let _ = fs::remove_file(&pcap);
}

#[test]
fn the_tcp_exchange_is_handshake_request_reply_teardown() {
    if !can_capture("tcp") {
        return;
    }
    let (run, sequence) = trace(&["tcp", "--sentence", "in order"]);
    let why = run.describe();
    assert_eq!(
        sequence[..3],
        [
            "client>server TCP SYN len=0",
            "server>client TCP SYN,ACK len=0",
            "client>server TCP ACK len=0",
        ],
        "{why}"
    );
    let position = |wanted: &str| {
        sequence
            .iter()
            .position(|line| line == wanted)
            .unwrap_or_else(|| panic!("no `{wanted}`\n{why}"))
    };
    // "in order" and its newline, then the uppercase copy.
    let request = position("client>server TCP PSH,ACK len=9");
    let reply = position("server>client TCP PSH,ACK len=9");
    let client_fin = position("client>server TCP FIN,ACK len=0");
    let server_fin = position("server>client TCP FIN,ACK len=0");
    assert!(
        request < reply && reply < client_fin.min(server_fin),
        "{why}"
    );
    // The last FIN is acknowledged, and nothing is reset.
    let last = sequence.last().unwrap();
    let second_fin_by_client = client_fin > server_fin;
    let expected_last = if second_fin_by_client {
        "server>client TCP ACK len=0"
    } else {
        "client>server TCP ACK len=0"
    };
    assert_eq!(last, expected_last, "{why}");
    assert!(!sequence.iter().any(|line| line.contains("RST")), "{why}");
    assert!(run.stdout.contains("TcpStream::connect(…)"), "{why}");
    assert!(run.stdout.contains("drop(connection_socket)"), "{why}");
    assert!(run.stdout.contains("segments: handshake 3,"), "{why}");
}

#[test]
fn a_server_closing_with_unread_bytes_resets_the_connection() {
    if !can_capture("tcp-unread") {
        return;
    }
    let (run, sequence) = trace(&["tcp-unread"]);
    let why = run.describe();
    let reset = sequence
        .iter()
        .position(|line| line.starts_with("server>client TCP RST"))
        .unwrap_or_else(|| panic!("no RST from the server\n{why}"));
    assert!(
        !sequence[..reset].iter().any(|line| line.contains("FIN")),
        "{why}"
    );
    assert!(
        run.stdout.contains("the server reset the connection"),
        "{why}"
    );
}

#[test]
fn a_datagram_to_a_closed_port_is_answered_by_icmp() {
    if !can_capture("udp-absent") {
        return;
    }
    let (run, sequence) = trace(&["udp-absent"]);
    assert_eq!(
        sequence,
        ["client>server UDP len=14", "server>client ICMP len=0"],
        "{}",
        run.describe()
    );
    assert!(
        run.stdout.contains("port unreachable"),
        "{}",
        run.describe()
    );
}

#[test]
fn without_cap_net_raw_one_line_names_both_ways_out() {
    // As root (CI), run as nobody, who has no CAP_NET_RAW, a copy of the
    // lab in the temporary folder: nobody may not reach the build folder.
    let copy = temp_file("lab");
    let mut command = if is_root() {
        fs::copy(support::lab_binary(), &copy).expect("cannot copy the lab");
        let mut command = Command::new(&copy);
        command.uid(65534).gid(65534);
        command
    } else {
        Command::new(support::lab_binary())
    };
    command.args(["trace", "udp"]);
    let run = run_command(command, "lab trace udp (without CAP_NET_RAW)");
    let _ = fs::remove_file(&copy);
    if can_capture_unprivileged(&run) {
        println!("skipped: this machine lets anyone capture");
        return;
    }
    run.assert_error("needs CAP_NET_RAW");
    assert!(
        run.stderr.contains("sudo ")
            && run.stderr.contains("unshare --user --map-root-user --net"),
        "{}",
        run.describe()
    );
    assert!(run.stdout.is_empty(), "{}", run.describe());
}

/// A machine where even nobody may capture gives no error to test.
fn can_capture_unprivileged(run: &Run) -> bool {
    run.status.success()
}

#[test]
fn in_a_private_network_namespace_the_trace_runs_the_exchange_itself() {
    let namespaces = Command::new("unshare")
        .args(["--user", "--map-root-user", "--net", "true"])
        .stderr(Stdio::null())
        .status();
    if !namespaces.is_ok_and(|status| status.success()) {
        println!("skipped: this machine forbids user namespaces");
        return;
    }
    let mut command = Command::new("unshare");
    command
        .args(["--user", "--map-root-user", "--net"])
        .arg(support::lab_binary())
        .args(["trace", "udp"]);
    let run = run_command(command, "unshare … lab trace udp");
    run.assert_success();
    // lo starts down in a new namespace: the trace brought it up.
    assert!(run.stdout.contains("lo was down"), "{}", run.describe());
    assert_eq!(packet_lines(&run).len(), 2, "{}", run.describe());
    assert!(
        run.stdout
            .contains("udp_client: From Server: HELLO, PACKETS"),
        "{}",
        run.describe()
    );
}

#[test]
fn watch_mode_explains_packets_as_they_come_until_ctrl_c() {
    if !can_capture("watch") {
        return;
    }
    let server = Server::start("tcp_server");
    let pcap = temp_file("watch.pcap");
    let mut watch = Command::new(support::lab_binary())
        .args(["trace", "--port", &server.port().to_string(), "--pcap"])
        .arg(&pcap)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cannot start lab trace --port");
    let lines = lines_of(&mut watch);
    let ready = next_line(&lines, &mut watch);
    assert!(ready.starts_with("watching TCP and UDP port"), "{ready}");
    let client = support::client("tcp_client", &server, "live");
    client.assert_success();
    // The last packet of the exchange acknowledges the second FIN.
    let mut seen = Vec::new();
    while !seen.iter().any(|line: &String| {
        line.contains("kernel acknowledges the") && line.contains("FIN")
    }) {
        seen.push(next_line(&lines, &mut watch));
    }
    let printed = seen
        .iter()
        .filter(|line| line.trim_start().starts_with(char::is_numeric))
        .count();
    assert!(printed >= 8, "{seen:#?}");
    assert!(seen[0].contains("TCP SYN "), "{seen:#?}");
    // SAFETY: kill sends a signal to our own child.
    unsafe { libc::kill(watch.id() as i32, libc::SIGINT) };
    let status = support::wait_with_limit(&mut watch, support::RUN_LIMIT)
        .unwrap_or_else(|| {
            let _ = watch.kill();
            panic!("lab trace --port did not stop on SIGINT")
        });
    assert!(status.success(), "{status}");
    let rest: Vec<String> = lines.try_iter().collect();
    assert!(
        rest.iter()
            .any(|line| line.starts_with(&format!("{printed} packets, "))),
        "no summary after Ctrl-C: {rest:#?}"
    );
    if let Some(count) = tcpdump_count(&pcap) {
        assert_eq!(count, printed, "the pcap file after Ctrl-C");
    }
    let _ = fs::remove_file(&pcap);
}

#[test]
fn watch_mode_stops_by_itself_after_count_packets() {
    if !can_capture("watch --count") {
        return;
    }
    let server = Server::start("udp_server");
    let mut watch = Command::new(support::lab_binary())
        .args([
            "trace",
            "--port",
            &server.port().to_string(),
            "--count",
            "2",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cannot start lab trace --port");
    let lines = lines_of(&mut watch);
    next_line(&lines, &mut watch);
    support::client("udp_client", &server, "count me").assert_success();
    let status = support::wait_with_limit(&mut watch, support::RUN_LIMIT)
        .unwrap_or_else(|| {
            let _ = watch.kill();
            panic!("lab trace --count 2 did not stop")
        });
    assert!(status.success(), "{status}");
    let output: Vec<String> = lines.iter().collect();
    assert!(output[0].contains("\"count me\""), "{output:#?}");
    assert!(output[2].contains("\"COUNT ME\""), "{output:#?}");
    assert!(
        output.last().unwrap().starts_with("2 packets, "),
        "{output:#?}"
    );
}

#[test]
fn compare_oversize_with_trace_shows_the_servers_reset() {
    if !can_capture("compare --trace") {
        return;
    }
    let run = support::run_lab(&["compare", "oversize", "--trace"], b"");
    run.assert_success();
    let why = run.describe();
    let (report, packets) = run
        .stdout
        .split_once("the packets of `oversize`:")
        .unwrap_or_else(|| panic!("no packets after the report\n{why}"));
    assert!(report.contains("4. oversize"), "{why}");
    // A packet line reads `N TIME server:PORT > client:PORT TCP RST,ACK …`.
    let from_server_with_reset = |line: &&str| {
        line.split_once(" > ").is_some_and(|(from, rest)| {
            from.ends_with(char::is_numeric)
                && from.contains("server:")
                && rest.contains(" RST")
        })
    };
    assert!(
        packets.lines().any(|line| from_server_with_reset(&line)),
        "no RST from a server\n{why}"
    );
    assert!(packets.contains("UDP len=5000"), "{why}");
    assert!(packets.contains("the server reset it"), "{why}");
    // cost sends thousands of packets: --trace refuses it in one line.
    support::run_lab(&["compare", "cost", "--trace"], b"")
        .assert_error("--trace is for boundaries");
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs a prepared command to its end within the run limit.
fn run_command(mut command: Command, label: &str) -> Run {
    let started = std::time::Instant::now();
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {label}: {e}"));
    let mut child = child;
    let status = support::wait_with_limit(&mut child, support::RUN_LIMIT)
        .unwrap_or_else(|| {
            let _ = child.kill();
            panic!("{label} did not finish")
        });
    let output = child.wait_with_output().expect("the output");
    Run {
        command: label.to_string(),
        status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

fn lines_of(child: &mut Child) -> Receiver<String> {
    let stdout = child.stdout.take().expect("piped");
    let (sender, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// The next line, waiting at most 10 s; kills the child on a timeout.
fn next_line(lines: &Receiver<String>, child: &mut Child) -> String {
    lines
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no line from lab trace within 10 s")
        })
}

/// How many packets `tcpdump -r` reads from the file. None (and a
/// "skipped" line) where tcpdump is not installed, outside CI; in CI,
/// whose `cargo xtask ci` installs it, its absence fails.
fn tcpdump_count(pcap: &Path) -> Option<usize> {
    let output = match Command::new("tcpdump").arg("-nr").arg(pcap).output() {
        Ok(output) => output,
        Err(error) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "tcpdump cannot run in CI: {error}"
            );
            println!("skipped: reading the pcap back: no tcpdump here");
            return None;
        }
    };
    assert!(
        output.status.success(),
        "tcpdump -r failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8_lossy(&output.stdout).lines().count())
}
