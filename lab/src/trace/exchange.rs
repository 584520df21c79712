//! `trace udp|tcp|…`: run one exchange of the real example programs while
//! capturing loopback, then print every packet of it, explained.

use std::env;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use socket_walkthrough::{printable, say};
use wait_timeout::ChildExt;

use super::Exchange;
use super::capture::{self, Capture, PcapFile, Refused};
use super::explain::{self, Client, Conversation, Explained, Summary};
use super::packet::{self, Packet, Protocol};
use super::svg;

/// What to write besides the printed trace.
pub struct Options {
    pub pcap: Option<PathBuf>,
    pub svg: Option<PathBuf>,
    pub sequence: Option<PathBuf>,
    pub sentence: String,
}

/// How long a program may take to start or to finish its exchange.
const PROGRAM_LIMIT: Duration = Duration::from_secs(10);
/// How long, after the client ended, the last packets may take to
/// arrive (the teardown is over in well under a millisecond).
const SETTLE_LIMIT: Duration = Duration::from_secs(3);
/// How many bytes the unread-data client sends after its line.
const UNREAD_BYTES: usize = 4000;

pub fn run(exchange: Exchange, options: &Options) -> Result<(), String> {
    let (client_name, server_name, protocol) = match exchange {
        Exchange::Udp | Exchange::UdpAbsent => {
            ("udp_client", "udp_server", Protocol::Udp)
        }
        Exchange::Tcp | Exchange::TcpUnread => {
            ("tcp_client", "tcp_server", Protocol::Tcp)
        }
    };
    let capture = Capture::start().map_err(|refused| match refused {
        Refused::NotPermitted => super::not_permitted(false),
        Refused::Failed(error) => error,
    })?;
    // A pcap file that cannot be written fails now, not after the run.
    let pcap = options.pcap.as_deref().map(PcapFile::create).transpose()?;
    let programs = programs(&[client_name, server_name])?;
    // In a new network namespace lo starts down.
    if capture::bring_loopback_up()? {
        say("(lo was down in this network namespace: brought it up)");
    }
    let server = match exchange {
        Exchange::UdpAbsent => None,
        _ => Some(Server::start(&programs.join(server_name))?),
    };
    let server_port = match &server {
        Some(server) => server.port,
        None => closed_udp_port()?,
    };
    let client = match exchange {
        Exchange::TcpUnread => Client::Lab,
        _ => Client::Example,
    };
    let heading = match exchange {
        Exchange::Udp | Exchange::Tcp => format!(
            "{client_name} sends {:?} to {server_name} on 127.0.0.1:\
             {server_port}",
            options.sentence
        ),
        Exchange::TcpUnread => format!(
            "the lab sends {:?}, a newline and {UNREAD_BYTES} bytes more \
             to {server_name} on 127.0.0.1:{server_port}, which reads one \
             line",
            options.sentence
        ),
        Exchange::UdpAbsent => format!(
            "{client_name} sends {:?} to 127.0.0.1:{server_port}, where no \
             server is",
            options.sentence
        ),
    };
    let mut trace = Trace::new(server_port, protocol, client);
    // Everything sent before the capture thread read it waits in the
    // channel; the capture started before the first program did.
    let said = match exchange {
        Exchange::TcpUnread => unread_client(server_port, &options.sentence)?,
        Exchange::UdpAbsent => run_client(
            &programs.join(client_name),
            server_port,
            &options.sentence,
            &["--timeout", "0.5"],
        )?,
        _ => run_client(
            &programs.join(client_name),
            server_port,
            &options.sentence,
            &[],
        )?,
    };
    let expected = match exchange {
        Exchange::Udp => Done::Datagrams(2),
        Exchange::UdpAbsent => Done::Unreachable,
        Exchange::Tcp | Exchange::TcpUnread => Done::Closed,
    };
    trace.collect(&capture.frames, expected);
    drop(capture);
    drop(server);

    say(format_args!("trace {}: {heading}", exchange_name(exchange)));
    say("  # time (s)   packet");
    say(trace.print().trim_end());
    let speaker = match client {
        Client::Lab => "the lab's client",
        _ => client_name,
    };
    for line in said.lines().filter(|line| !line.is_empty()) {
        say(format_args!("{speaker}: {}", printable(line)));
    }
    let tcp = protocol == Protocol::Tcp;
    say(trace.summary.text(Some(&trace.conversation), tcp));
    if !trace.done {
        return Err(format!(
            "the exchange did not finish within {SETTLE_LIMIT:?}: the \
             capture may have missed packets"
        ));
    }
    let names = [
        match client {
            Client::Lab => "the lab's client",
            _ => client_name,
        },
        match exchange {
            Exchange::UdpAbsent => "no socket on the port",
            _ => server_name,
        },
    ];
    let title = format!(
        "The packets of `lab trace {}`, captured on lo",
        exchange_name(exchange)
    );
    trace.write_files(options, pcap, &title, names)
}

fn exchange_name(exchange: Exchange) -> &'static str {
    match exchange {
        Exchange::Udp => "udp",
        Exchange::Tcp => "tcp",
        Exchange::TcpUnread => "tcp-unread",
        Exchange::UdpAbsent => "udp-absent",
    }
}

/// When an exchange is over.
#[derive(Clone, Copy)]
enum Done {
    Datagrams(usize),
    Unreachable,
    /// Both FINs acknowledged, or a RST.
    Closed,
}

/// The packets of one conversation with the server port, explained.
pub struct Trace {
    protocol: Protocol,
    client_address: Option<SocketAddr>,
    pub conversation: Conversation,
    pub packets: Vec<(Packet, Explained)>,
    pub summary: Summary,
    pub done: bool,
}

impl Trace {
    pub fn new(server_port: u16, protocol: Protocol, client: Client) -> Trace {
        Trace {
            protocol,
            client_address: None,
            conversation: Conversation::new(server_port, client),
            packets: Vec::new(),
            summary: Summary::default(),
            done: false,
        }
    }

    /// Keeps the packet if it belongs to the conversation: the server
    /// port, and the client of the first packet seen.
    pub fn offer(&mut self, packet: Packet) -> bool {
        let port = self.conversation.server_port;
        let wanted = match packet.protocol {
            Protocol::Icmp => self.protocol == Protocol::Udp,
            protocol => protocol == self.protocol,
        };
        if !wanted
            || !packet.from.ip().is_loopback()
            || (packet.from.port() != port && packet.to.port() != port)
        {
            return false;
        }
        let client = explain::client_of(&packet, port);
        if *self.client_address.get_or_insert(client) != client {
            return false;
        }
        let explained = self.conversation.explain(&packet);
        self.summary.add(&packet, &explained);
        self.packets.push((packet, explained));
        true
    }

    fn is_done(&self, done: Done) -> bool {
        let count = |protocol| {
            self.packets
                .iter()
                .filter(|(packet, _)| packet.protocol == protocol)
                .count()
        };
        match done {
            Done::Datagrams(n) => count(Protocol::Udp) >= n,
            Done::Unreachable => count(Protocol::Icmp) >= 1,
            Done::Closed => {
                self.conversation.closed || self.conversation.reset_by.is_some()
            }
        }
    }

    fn collect(&mut self, frames: &Receiver<capture::Frame>, done: Done) {
        let deadline = Instant::now() + SETTLE_LIMIT;
        while !self.is_done(done) {
            let left = deadline.saturating_duration_since(Instant::now());
            match frames.recv_timeout(left) {
                Ok(frame) => {
                    if let Some(packet) = packet::parse(frame) {
                        self.offer(packet);
                    }
                }
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        self.done = self.is_done(done);
        // After a RST the other side may still answer a segment that
        // crossed it; take what comes within a short quiet time.
        if self.conversation.reset_by.is_some() {
            while let Ok(frame) =
                frames.recv_timeout(Duration::from_millis(100))
            {
                if let Some(packet) = packet::parse(frame) {
                    self.offer(packet);
                }
            }
        }
    }

    /// Two lines per packet, numbered, times from the first packet.
    pub fn print(&self) -> String {
        let Some((first, _)) = self.packets.first() else {
            return String::new();
        };
        let start = first.frame.at;
        self.packets
            .iter()
            .enumerate()
            .map(|(index, (packet, explained))| {
                explain::packet_lines(index + 1, start, packet, explained)
                    + "\n"
            })
            .collect()
    }

    pub fn sequence(&self) -> String {
        self.packets
            .iter()
            .map(|(packet, explained)| {
                explain::sequence_line(packet, explained) + "\n"
            })
            .collect()
    }

    fn write_files(
        &self,
        options: &Options,
        pcap: Option<PcapFile>,
        title: &str,
        names: [&str; 2],
    ) -> Result<(), String> {
        if let Some(mut file) = pcap {
            for (packet, _) in &self.packets {
                file.write(&packet.frame)?;
            }
        }
        if let Some(path) = &options.sequence {
            write(path, &self.sequence())?;
        }
        if let Some(path) = &options.svg {
            write(path, &svg::draw(title, names, &self.packets))?;
        }
        Ok(())
    }
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text)
        .map_err(|error| format!("cannot write {}: {error}", path.display()))
}

/// The folder of the compiled examples, beside this program's own
/// folder. Run through cargo (`cargo lab trace`), it first builds the
/// ones needed, so the trace shows the examples as they are now.
fn programs(names: &[&str]) -> Result<PathBuf, String> {
    let exe = env::current_exe()
        .map_err(|error| format!("cannot find this program: {error}"))?;
    let profile_dir = exe.parent().unwrap_or(Path::new("."));
    let dir = profile_dir.join("examples");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if let Some(cargo) = env::var_os("CARGO")
        && workspace.join("Cargo.toml").is_file()
    {
        let mut command = Command::new(cargo);
        command
            .args(["build", "--quiet", "--package", "socket-walkthrough"])
            .current_dir(&workspace);
        match profile_dir.file_name().and_then(|name| name.to_str()) {
            Some("debug") | None => {}
            Some(profile) => {
                command.args(["--profile", profile]);
            }
        }
        for name in names {
            command.args(["--example", name]);
        }
        let status = command
            .status()
            .map_err(|error| format!("cannot run cargo: {error}"))?;
        if !status.success() {
            return Err(format!(
                "cannot build {} ({status})",
                names.join(", ")
            ));
        }
    }
    for name in names {
        let path = dir.join(format!("{name}{}", env::consts::EXE_SUFFIX));
        if !path.is_file() {
            return Err(format!(
                "{} is missing: build the examples first with `cargo build \
                 --examples`",
                path.display()
            ));
        }
    }
    Ok(dir)
}

/// A server example on 127.0.0.1, port 0; killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(program: &Path) -> Result<Server, String> {
        let mut child = Command::new(program)
            .args(["--bind", "127.0.0.1", "--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| {
                format!("cannot start {}: {error}", program.display())
            })?;
        let lines = lines_of(child.stdout.take().expect("piped"));
        let mut server = Server { child, port: 0 };
        let ready = lines.recv_timeout(PROGRAM_LIMIT).map_err(|_| {
            format!("{} did not say it was ready", program.display())
        })?;
        server.port = ready
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse().ok())
            .ok_or_else(|| {
                format!(
                    "{} printed {ready:?}, not its address",
                    program.display()
                )
            })?;
        Ok(server)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads a child's output line by line in a thread, so that it never
/// blocks on a full pipe.
fn lines_of(output: impl Read + Send + 'static) -> Receiver<String> {
    let (sender, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(output).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// Runs a client example with the sentence on its standard input and
/// returns what it printed, without its prompt.
fn run_client(
    program: &Path,
    server_port: u16,
    sentence: &str,
    extra: &[&str],
) -> Result<String, String> {
    let port = server_port.to_string();
    let mut child = Command::new(program)
        .args(["--server-name", "127.0.0.1", "--server-port", &port])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| {
            format!("cannot start {}: {error}", program.display())
        })?;
    let mut stdin = child.stdin.take().expect("piped");
    let _ = stdin.write_all(format!("{sentence}\n").as_bytes());
    drop(stdin);
    let stdout = lines_of(child.stdout.take().expect("piped"));
    let stderr = lines_of(child.stderr.take().expect("piped"));
    match child.wait_timeout(PROGRAM_LIMIT) {
        Ok(Some(_)) => {}
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{} did not finish within {PROGRAM_LIMIT:?}",
                program.display()
            ));
        }
    }
    let mut said = String::new();
    for line in stdout.iter().chain(stderr.iter()) {
        let line = line
            .strip_prefix("Input lowercase sentence: ")
            .unwrap_or(&line);
        said.push_str(line);
        said.push('\n');
    }
    Ok(said)
}

/// A client that sends a line and more bytes in one write, so that the
/// server, which reads one line, closes with bytes still unread.
fn unread_client(server_port: u16, sentence: &str) -> Result<String, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", server_port))
        .map_err(|error| format!("cannot connect to the server: {error}"))?;
    let mut bytes = format!("{sentence}\n").into_bytes();
    bytes.extend(std::iter::repeat_n(b'x', UNREAD_BYTES));
    stream
        .write_all(&bytes)
        .map_err(|error| format!("cannot send: {error}"))?;
    stream
        .set_read_timeout(Some(PROGRAM_LIMIT))
        .map_err(|error| format!("cannot set a timeout: {error}"))?;
    let mut reply = Vec::new();
    let outcome = match stream.read_to_end(&mut reply) {
        Ok(_) => "then the end of the stream".to_string(),
        Err(error) => format!("then: {error}"),
    };
    Ok(format!(
        "read {:?}, {outcome}\n",
        String::from_utf8_lossy(&reply)
    ))
}

/// A UDP port on 127.0.0.1 that no socket holds: bound, then released.
fn closed_udp_port() -> Result<u16, String> {
    let socket = UdpSocket::bind("127.0.0.1:0")
        .map_err(|error| format!("cannot bind a UDP socket: {error}"))?;
    socket
        .local_addr()
        .map(|address| address.port())
        .map_err(|error| format!("cannot read a socket's address: {error}"))
}
