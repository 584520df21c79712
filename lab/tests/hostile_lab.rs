//! The lab's UDP servers in a hostile classroom (issue 8): the forged
//! source address that would start an endless exchange between
//! `pinger-server`s, and one host holding the relay's client table full.
//! Everything on loopback, bounded in count and time.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, ErrorKind};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use support::Server;

const BINARY: &str = env!("CARGO_BIN_EXE_lab");
/// Every wait of this file ends after this long.
const LIMIT: Duration = Duration::from_secs(10);

/// A lab command running in the background; killed when dropped.
struct Lab {
    command: String,
    child: Child,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Lab {
    fn start(args: &[&str]) -> Lab {
        let command = format!("lab {}", args.join(" "));
        let mut child = Command::new(BINARY)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command}: {e}"));
        let (sender, lines) = mpsc::channel();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = BufReader::new(child.stderr.take().unwrap());
        let collected = Arc::clone(&stderr);
        thread::spawn(move || {
            for line in pipe.lines() {
                let Ok(line) = line else { break };
                let mut stderr = collected.lock().unwrap();
                // Bounded: the tests only look at the first lines.
                if stderr.len() < 1 << 20 {
                    stderr.push_str(&line);
                    stderr.push('\n');
                }
            }
        });
        Lab {
            command,
            child,
            lines,
            stderr,
        }
    }

    /// `pinger-server` on 127.0.0.1 with `--drop 0`, and its address.
    fn pinger_server() -> (Lab, SocketAddr) {
        let mut lab = Lab::start(&[
            "pinger-server",
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--drop",
            "0",
        ]);
        let ready = lab.next_line();
        let address = ready
            .strip_prefix("The pinger server is ready to receive on ")
            .and_then(|address| address.parse().ok())
            .unwrap_or_else(|| panic!("unexpected line {ready:?}"));
        lab.next_line(); // the drop rate
        (lab, address)
    }

    fn next_line(&mut self) -> String {
        match self.lines.recv_timeout(LIMIT) {
            Ok(line) => line,
            Err(_) => panic!("no line within {LIMIT:?}\n{}", self.describe()),
        }
    }

    /// The lines printed within the next `window`.
    fn lines_within(&mut self, window: Duration) -> Vec<String> {
        let end = Instant::now() + window;
        let mut lines = Vec::new();
        while let Ok(line) = self
            .lines
            .recv_timeout(end.saturating_duration_since(Instant::now()))
        {
            lines.push(line);
        }
        lines
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn describe(&mut self) -> String {
        let status = match self.child.try_wait() {
            Ok(Some(status)) => status.to_string(),
            _ => "still running".to_string(),
        };
        format!(
            "command: {}\nstatus: {status}\nstderr:\n{}",
            self.command,
            self.stderr()
        )
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends one UDP datagram to `to` that claims to come from `from`: the
/// UDP header is written by hand on a raw socket, and the kernel adds the
/// IPv4 header (source 127.0.0.1 on loopback). `None` without the right
/// to open a raw socket (CAP_NET_RAW).
fn send_forged(from: u16, to: SocketAddr, payload: &[u8]) -> Option<()> {
    let raw = match Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::UDP)) {
        Ok(raw) => raw,
        Err(error) if error.kind() == ErrorKind::PermissionDenied => {
            return None;
        }
        Err(error) => panic!("cannot open a raw socket: {error}"),
    };
    let length = u16::try_from(8 + payload.len()).unwrap();
    let mut datagram = Vec::new();
    datagram.extend(from.to_be_bytes());
    datagram.extend(to.port().to_be_bytes());
    datagram.extend(length.to_be_bytes());
    // Checksum 0: "none", which IPv4 allows.
    datagram.extend([0, 0]);
    datagram.extend(payload);
    let target = SocketAddrV4::new(Ipv4Addr::LOCALHOST, to.port());
    raw.send_to(&datagram, &SockAddr::from(target)).unwrap();
    Some(())
}

// Item 1: one forged datagram between two pinger-servers, or from a
// pinger-server to itself.

#[test]
fn a_forged_source_starts_no_endless_exchange_between_pinger_servers() {
    let (mut first, first_address) = Lab::pinger_server();
    let (mut second, second_address) = Lab::pinger_server();
    let (mut alone, alone_address) = Lab::pinger_server();
    let forged = [
        (first_address.port(), second_address),
        (alone_address.port(), alone_address),
    ];
    for (from, to) in forged {
        if send_forged(from, to, b"ping from a forger").is_none() {
            eprintln!("skipped: needs CAP_NET_RAW");
            return;
        }
    }
    // Both exchanges run at once; a loop would log hundreds of thousands
    // of datagrams in this window.
    let window = Duration::from_secs(2);
    let started = Instant::now();
    let lines = thread::scope(|scope| {
        let counts = [&mut first, &mut second, &mut alone]
            .map(|lab| scope.spawn(|| lab.lines_within(window)));
        counts.map(|count| count.join().unwrap())
    });
    assert!(started.elapsed() < window + Duration::from_secs(1));
    let [first_lines, second_lines, alone_lines] = &lines;
    eprintln!(
        "datagrams in 2 s: two servers {}, a server with itself {}",
        first_lines.len() + second_lines.len(),
        alone_lines.len()
    );
    let from =
        |address: SocketAddr| format!("#1 from 127.0.0.1:{}", address.port());
    // The forged ping is answered once; its reply is not.
    assert_eq!(second_lines.len(), 1, "{lines:?}");
    assert!(
        second_lines[0].starts_with(&from(first_address)),
        "{lines:?}"
    );
    assert!(second_lines[0].ends_with(" replied"), "{lines:?}");
    assert_eq!(first_lines.len(), 1, "{lines:?}");
    assert!(
        first_lines[0].starts_with(&from(second_address)),
        "{lines:?}"
    );
    assert!(first_lines[0].contains("not answered"), "{lines:?}");
    assert_eq!(alone_lines.len(), 2, "{lines:?}");
    assert!(alone_lines[0].ends_with(" replied"), "{lines:?}");
    assert!(alone_lines[1].contains("not answered"), "{lines:?}");
    // And a real ping is still answered.
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_read_timeout(Some(LIMIT)).unwrap();
    let mut reply = [0; 64];
    for address in [first_address, second_address, alone_address] {
        client.send_to(b"Ping 1 0.0", address).unwrap();
        let (length, _) = client.recv_from(&mut reply).unwrap();
        assert_eq!(&reply[..length], b"PING 1 0.0");
    }
}

// Item 8: one host keeps all 256 places of the relay's client table.

#[test]
fn one_host_refreshing_256_relay_clients_cannot_lock_out_a_new_one() {
    let mut server = Server::start("udp_server");
    let server_address = server.loopback().to_string();
    let mut relay = Lab::start(&[
        "relay",
        "--listen",
        "127.0.0.1:0",
        "--server",
        &server_address,
    ]);
    let ready = relay.next_line();
    let relay_address: SocketAddr = ready
        .strip_prefix("Relay listening on ")
        .and_then(|rest| rest.split_once(", forwarding to "))
        .and_then(|(address, _)| address.parse().ok())
        .unwrap_or_else(|| panic!("unexpected line {ready:?}"));
    let holders: Vec<UdpSocket> = (0..256)
        .map(|_| {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            socket.set_read_timeout(Some(LIMIT)).unwrap();
            socket
        })
        .collect();
    let mut reply = [0; 64];
    // Two rounds: the table fills, then every entry is refreshed.
    for round in ["take", "keep"] {
        for holder in &holders {
            holder.send_to(round.as_bytes(), relay_address).unwrap();
            let (length, _) = holder.recv_from(&mut reply).unwrap();
            assert_eq!(&reply[..length], round.to_uppercase().as_bytes());
        }
    }
    let newcomer = UdpSocket::bind("127.0.0.1:0").unwrap();
    newcomer
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    newcomer.send_to(b"let me in", relay_address).unwrap();
    let answered = newcomer.recv_from(&mut reply);
    assert!(
        matches!(answered, Ok((9, _))) && &reply[..9] == b"LET ME IN",
        "{answered:?}\n{}",
        relay.describe()
    );
    assert!(
        relay.stderr().contains("makes room for"),
        "{}",
        relay.describe()
    );
    server.assert_alive();
}
