//! udp_server against a hostile classroom, as real processes on loopback:
//! a forged datagram that would start an endless loop between two servers
//! (or a server and itself), text that would drive the operator's
//! terminal, and a log (standard output) that goes away.

mod support;

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use support::{Server, example, wait_with_limit};

/// How long the test counts the datagrams the servers print.
const WINDOW: Duration = Duration::from_secs(2);

/// The text of the datagram forged "from" a server to itself.
const SELF_FORGED: &[u8] = b"echo chamber";

/// A udp_server on 127.0.0.1 whose printed lines are only counted.
struct Counted {
    child: Child,
    address: SocketAddrV4,
    lines: Arc<AtomicUsize>,
    /// Lines that show the datagram forged "from" the server itself.
    echoes: Arc<AtomicUsize>,
    stderr_bytes: Arc<AtomicUsize>,
    readers: Vec<JoinHandle<()>>,
}

impl Counted {
    fn start() -> Counted {
        let mut child = Command::new(example("udp_server"))
            .args(["--bind", "127.0.0.1", "--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start udp_server");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut ready = String::new();
        stdout.read_line(&mut ready).unwrap();
        let address = ready
            .trim_end()
            .strip_prefix("The server is ready to receive on ")
            .and_then(|address| address.parse().ok())
            .unwrap_or_else(|| panic!("unexpected ready line {ready:?}"));
        let lines = Arc::new(AtomicUsize::new(0));
        let stderr_bytes = Arc::new(AtomicUsize::new(0));
        let echoes = Arc::new(AtomicUsize::new(0));
        let (counter, echo_counter) = (Arc::clone(&lines), Arc::clone(&echoes));
        let out = thread::spawn(move || {
            let mut line = Vec::new();
            while let Ok(1..) = stdout.read_until(b'\n', &mut line) {
                counter.fetch_add(1, Ordering::Relaxed);
                if line.starts_with(SELF_FORGED) || line.starts_with(b"ECHO") {
                    echo_counter.fetch_add(1, Ordering::Relaxed);
                }
                line.clear();
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        let counter = Arc::clone(&stderr_bytes);
        let err = thread::spawn(move || {
            let mut chunk = [0; 4096];
            while let Ok(n @ 1..) = stderr.read(&mut chunk) {
                counter.fetch_add(n, Ordering::Relaxed);
            }
        });
        Counted {
            child,
            address,
            lines,
            echoes,
            stderr_bytes,
            readers: vec![out, err],
        }
    }

    fn printed(&self) -> usize {
        self.lines.load(Ordering::Relaxed)
    }

    /// CPU time (user + system) the server has used, in clock ticks.
    fn cpu_ticks(&self) -> u64 {
        let stat =
            fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
                .expect("cannot read /proc/PID/stat");
        // The command name, field 2, is in parentheses and may hold
        // spaces; utime and stime are fields 14 and 15.
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after_name.split(' ').collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}

/// Sends one UDP datagram to `to` whose header claims it comes from port
/// `from_port` of 127.0.0.1, through a raw socket (the kernel writes the
/// IP header with the source 127.0.0.1; this writes the UDP header).
/// `None` when the process may not open raw sockets.
fn forge(from_port: u16, to: SocketAddrV4, payload: &[u8]) -> Option<()> {
    let socket = match Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::UDP))
    {
        Ok(socket) => socket,
        Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied => {
            return None;
        }
        Err(error) => panic!("cannot open a raw socket: {error}"),
    };
    let length = u16::try_from(8 + payload.len()).unwrap();
    let mut datagram = Vec::new();
    datagram.extend(from_port.to_be_bytes());
    datagram.extend(to.port().to_be_bytes());
    datagram.extend(length.to_be_bytes());
    // Checksum 0: "no checksum", which IPv4 allows (RFC 768).
    datagram.extend([0, 0]);
    datagram.extend(payload);
    let sent = socket
        .send_to(&datagram, &SockAddr::from(SocketAddr::V4(to)))
        .expect("cannot send the forged datagram");
    assert_eq!(sent, datagram.len());
    Some(())
}

/// The uppercase reply a normal client gets from `server`.
fn ask(server: SocketAddrV4, sentence: &str) -> String {
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    client.send_to(sentence.as_bytes(), server).unwrap();
    let mut reply = [0; 2048];
    let (length, _) = client
        .recv_from(&mut reply)
        .unwrap_or_else(|e| panic!("no reply from {server}: {e}"));
    String::from_utf8_lossy(&reply[..length]).into_owned()
}

/// Before the fix, one forged datagram made two servers (or one server
/// and itself) answer each other for ever: about 400,000 printed lines in
/// 2 s. Now the exchange dies out after a handful of datagrams, a normal
/// client is still served, and the servers go back to idle.
#[test]
fn a_forged_datagram_starts_no_endless_loop() {
    let a = Counted::start();
    let b = Counted::start();
    let loopback = Ipv4Addr::LOCALHOST;
    let b_address = SocketAddrV4::new(loopback, b.address.port());
    // "From" A to B, and "from" B to B itself.
    if forge(a.address.port(), b_address, b"ping pong").is_none() {
        println!("skipped: needs CAP_NET_RAW (run as root)");
        return;
    }
    forge(b.address.port(), b_address, SELF_FORGED).unwrap();
    let started = Instant::now();
    let cpu_before = (a.cpu_ticks(), b.cpu_ticks());
    thread::sleep(WINDOW);
    let printed = a.printed() + b.printed();
    println!(
        "forged loop: {printed} datagrams printed by the two servers in \
         {:?}",
        started.elapsed()
    );
    assert!(
        printed < 100,
        "{printed} datagrams in {WINDOW:?}: the servers still answer each \
         other"
    );
    assert!(b.printed() >= 1, "B never received the forged datagrams");
    // A datagram from its own port is never answered, not even once.
    assert_eq!(
        b.echoes.load(Ordering::Relaxed),
        0,
        "B answered a datagram that came \"from\" itself"
    );
    // The loop is over: the next second costs (almost) no CPU.
    let cpu_during = (a.cpu_ticks(), b.cpu_ticks());
    let quiet_from = Instant::now();
    thread::sleep(Duration::from_secs(1));
    let ticks = (a.cpu_ticks() - cpu_during.0) + (b.cpu_ticks() - cpu_during.1);
    let ticks_per_second = 100; // USER_HZ on Linux
    assert!(
        ticks * 10 < ticks_per_second * quiet_from.elapsed().as_secs(),
        "the servers used {ticks} ticks in the second after the attack \
         (more than 10% of a core); during it: {} ticks",
        (cpu_during.0 - cpu_before.0) + (cpu_during.1 - cpu_before.1)
    );
    // Nobody else is locked out.
    assert_eq!(ask(a.address, "still there, a?"), "STILL THERE, A?");
    assert_eq!(ask(b_address, "still there, b?"), "STILL THERE, B?");
    let stderr = a.stderr_bytes.load(Ordering::Relaxed)
        + b.stderr_bytes.load(Ordering::Relaxed);
    assert!(stderr < 4096, "{stderr} bytes on the servers' stderr");
}

/// A flood from one client is cut to the limiter's budget; the server
/// stays responsive to everybody else meanwhile.
#[test]
fn a_flood_from_one_source_is_limited_and_others_are_served() {
    let mut server = Server::start("udp_server");
    let flooder = UdpSocket::bind("127.0.0.1:0").unwrap();
    for number in 0..200 {
        let _ =
            flooder.send_to(format!("{number}").as_bytes(), server.loopback());
    }
    assert_eq!(
        ask(
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, server.port()),
            "me too"
        ),
        "ME TOO"
    );
    // The first datagrams pass, the rest of the burst is dropped.
    let mut seen = Vec::new();
    loop {
        let line = server.next_line();
        if line == "me too" {
            break;
        }
        seen.push(line);
    }
    assert!(
        !seen.is_empty() && seen.len() < 100,
        "{} of 200 flooded datagrams were answered\n{}",
        seen.len(),
        server.describe()
    );
    assert_eq!(seen[0], "0");
    server.assert_alive();
}

#[test]
fn control_characters_reach_the_terminal_escaped() {
    let mut server = Server::start("udp_server");
    let sentence = "\x1b]0;owned\x07\x1b[2J\rbell\u{9b}";
    assert_eq!(
        ask(
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, server.port()),
            sentence
        ),
        sentence.to_uppercase()
    );
    server.expect_line("\\u{1b}]0;owned\\u{7}\\u{1b}[2J\\rbell\\u{9b}");
}

#[test]
fn a_closed_standard_output_stops_the_server_with_one_line() {
    let mut child = Command::new(example("udp_server"))
        .args(["--bind", "127.0.0.1", "--port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut ready = String::new();
    stdout.read_line(&mut ready).unwrap();
    let port: u16 = ready
        .trim_end()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    drop(stdout); // like `udp_server | head -1`
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.send_to(b"anyone?", ("127.0.0.1", port)).unwrap();
    let Some(status) = wait_with_limit(&mut child, Duration::from_secs(10))
    else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("udp_server kept running with its standard output closed");
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(1), "stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines.len() == 1
            && lines[0].starts_with("error: cannot write to standard output")
            && !stderr.contains("panicked"),
        "stderr: {stderr}"
    );
}
