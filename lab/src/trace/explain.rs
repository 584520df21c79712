//! What each packet is, which line of which example caused it, and how a
//! trace prints it.
//!
//! Lines are found by their statement text in the examples as compiled
//! into the lab (`include_str!`), never by a number, so the trace names
//! the right line after the examples change; a unit test fails when a
//! statement it looks for is gone.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Instant;

use super::packet::{Packet, Protocol, Tcp};

/// A statement of an example, found by a piece of its text.
#[derive(Clone, Copy)]
pub struct Site {
    pub file: &'static str,
    source: &'static str,
    pub needle: &'static str,
}

impl Site {
    /// The 1-based number of the first line that contains the needle.
    pub fn line(&self) -> Option<usize> {
        self.source
            .lines()
            .position(|line| line.contains(self.needle))
            .map(|index| index + 1)
    }

    /// The statement as a trace names it: `TcpStream::connect(…)`,
    /// `drop(client_socket)`.
    fn call(&self) -> String {
        let call = self.needle.trim_start_matches('.');
        if call.ends_with('(') {
            format!("{call}…)")
        } else {
            call.to_string()
        }
    }

    /// `connect (tcp_client.rs:32)`: a short name and where it is.
    pub fn short(&self, name: &str) -> String {
        match self.line() {
            Some(line) => format!("{name} ({}:{line})", self.file),
            None => format!("{name} ({})", self.file),
        }
    }

    /// `tcp_client.rs:32 TcpStream::connect(`, or the file alone when the
    /// statement is gone.
    pub fn label(&self) -> String {
        match self.line() {
            Some(line) => format!("{}:{line} {}", self.file, self.call()),
            None => self.file.to_string(),
        }
    }
}

const UDP_CLIENT: &str = include_str!("../../../examples/udp_client.rs");
const UDP_SERVER: &str = include_str!("../../../examples/udp_server.rs");
const TCP_CLIENT: &str = include_str!("../../../examples/tcp_client.rs");
const TCP_SERVER: &str = include_str!("../../../examples/tcp_server.rs");

const fn site(
    file: &'static str,
    source: &'static str,
    needle: &'static str,
) -> Site {
    Site {
        file,
        source,
        needle,
    }
}

pub const UDP_CLIENT_SEND: Site = site("udp_client.rs", UDP_CLIENT, "send_to(");
pub const UDP_SERVER_SEND: Site = site("udp_server.rs", UDP_SERVER, "send_to(");
pub const CONNECT: Site =
    site("tcp_client.rs", TCP_CLIENT, "TcpStream::connect(");
pub const CLIENT_WRITE: Site = site("tcp_client.rs", TCP_CLIENT, "write_all(");
pub const CLIENT_DROP: Site =
    site("tcp_client.rs", TCP_CLIENT, "drop(client_socket)");
pub const LISTEN: Site = site("tcp_server.rs", TCP_SERVER, ".listen(");
pub const SERVER_WRITE: Site =
    site("tcp_server.rs", TCP_SERVER, "connection_socket.write_all(");
pub const SERVER_DROP: Site =
    site("tcp_server.rs", TCP_SERVER, "drop(connection_socket)");

/// Every site a trace names (the unit test checks that each is found).
#[cfg(test)]
pub const ALL_SITES: [Site; 8] = [
    UDP_CLIENT_SEND,
    UDP_SERVER_SEND,
    CONNECT,
    CLIENT_WRITE,
    CLIENT_DROP,
    LISTEN,
    SERVER_WRITE,
    SERVER_DROP,
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Side {
    Client,
    Server,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
        }
    }

    fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Phase {
    Handshake,
    Data,
    Teardown,
}

/// Who the client is: the book's client example, or the lab itself
/// (sending what no example sends).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Client {
    Example,
    Lab,
    /// Both ends are sockets of a `compare` experiment.
    Experiment,
}

/// A packet with what it means.
pub struct Explained {
    pub side: Side,
    pub phase: Phase,
    /// Sequence and acknowledgement numbers relative to each side's
    /// first one.
    pub seq: u32,
    pub ack: u32,
    /// The receive window in bytes, scaled as the handshake agreed.
    pub window: u32,
    /// Who put it on the wire and why, e.g. `tcp_client.rs:32
    /// TcpStream::connect(: asks for a connection`.
    pub cause: String,
    /// The short cause a diagram shows beside the sender, e.g.
    /// `connect (tcp_client.rs:32)` or `kernel`.
    pub short: String,
}

/// The state of one conversation (one UDP client or one TCP connection)
/// with the server port.
pub struct Conversation {
    pub server_port: u16,
    pub client: Client,
    base_seq: [Option<u32>; 2],
    window_scale: [Option<u8>; 2],
    payload_seen: bool,
    fin_seq: [Option<u32>; 2],
    pub first_closer: Option<Side>,
    pub reset_by: Option<Side>,
    /// Set once the other side acknowledged the second FIN.
    pub closed: bool,
}

impl Conversation {
    pub fn new(server_port: u16, client: Client) -> Conversation {
        Conversation {
            server_port,
            client,
            base_seq: [None; 2],
            window_scale: [None; 2],
            payload_seen: false,
            fin_seq: [None; 2],
            first_closer: None,
            reset_by: None,
            closed: false,
        }
    }

    pub fn side_of(&self, packet: &Packet) -> Side {
        if packet.from.port() == self.server_port {
            Side::Server
        } else {
            Side::Client
        }
    }

    pub fn explain(&mut self, packet: &Packet) -> Explained {
        let side = self.side_of(packet);
        match (packet.protocol, packet.tcp) {
            (Protocol::Tcp, Some(tcp)) => self.explain_tcp(side, packet, tcp),
            (Protocol::Udp, _) => {
                let (site, what) = match side {
                    Side::Client => {
                        (UDP_CLIENT_SEND, "the sentence, in one datagram")
                    }
                    Side::Server => {
                        (UDP_SERVER_SEND, "the uppercase copy, in one datagram")
                    }
                };
                self.payload_seen = true;
                let (cause, short) = if self.client == Client::Experiment {
                    (
                        format!(
                            "the {} sends {} bytes in one datagram",
                            side.name(),
                            packet.payload.len()
                        ),
                        "send".to_string(),
                    )
                } else {
                    (format!("{}: {what}", site.label()), site.short("send_to"))
                };
                Explained {
                    side,
                    phase: Phase::Data,
                    seq: 0,
                    ack: 0,
                    window: 0,
                    cause,
                    short,
                }
            }
            _ => Explained {
                side,
                phase: Phase::Data,
                seq: 0,
                ack: 0,
                window: 0,
                cause: format!(
                    "the kernel: no socket is bound to UDP port {}, so it \
                     answers with ICMP port unreachable",
                    packet.from.port()
                ),
                short: "kernel".to_string(),
            },
        }
    }

    fn explain_tcp(
        &mut self,
        side: Side,
        packet: &Packet,
        tcp: Tcp,
    ) -> Explained {
        let me = side.index();
        let them = side.other().index();
        let base = *self.base_seq[me].get_or_insert(tcp.seq);
        let seq = tcp.seq.wrapping_sub(base);
        let ack = match (tcp.ack, self.base_seq[them]) {
            (true, Some(theirs)) => tcp.ack_number.wrapping_sub(theirs),
            _ => 0,
        };
        if tcp.syn {
            self.window_scale[me] = tcp.window_scale;
        }
        // Windows are scaled only once both SYNs offered a scale, and
        // never in a SYN itself.
        let window = match self.window_scale {
            [Some(client), Some(server)] if !tcp.syn => {
                let scale = if side == Side::Client { client } else { server };
                u32::from(tcp.window) << scale
            }
            _ => u32::from(tcp.window),
        };
        let kind = if tcp.rst {
            self.reset_by.get_or_insert(side);
            if side == Side::Server && !self.payload_seen {
                Kind::Refused
            } else {
                Kind::Reset
            }
        } else if tcp.syn && !tcp.ack {
            Kind::Syn
        } else if tcp.syn {
            Kind::SynAck
        } else if tcp.fin {
            let fin = tcp.seq.wrapping_add(packet.payload.len() as u32);
            self.fin_seq[me] = Some(fin);
            self.first_closer.get_or_insert(side);
            Kind::Fin
        } else if !packet.payload.is_empty() {
            self.payload_seen = true;
            Kind::Data
        } else if let Some(fin) = self.fin_seq[them] {
            if tcp.ack_number == fin.wrapping_add(1)
                && self.fin_seq[me].is_some()
            {
                self.closed = true;
            }
            Kind::AckOfFin
        } else if !self.payload_seen && self.first_closer.is_none() {
            Kind::HandshakeAck
        } else {
            Kind::DataAck
        };
        let phase = if self.first_closer.is_some() || self.reset_by.is_some() {
            Phase::Teardown
        } else {
            match kind {
                Kind::Syn | Kind::SynAck | Kind::HandshakeAck => {
                    Phase::Handshake
                }
                _ => Phase::Data,
            }
        };
        let (cause, short) = self.cause(kind, side, packet.payload.len());
        Explained {
            side,
            phase,
            seq,
            ack,
            window,
            cause,
            short,
        }
    }

    /// Who sent a TCP segment of this kind, and why; the short form for
    /// a diagram.
    fn cause(&self, kind: Kind, side: Side, length: usize) -> (String, String) {
        let other = side.other().name();
        let kernel = |what: String| {
            (
                format!("the {}'s kernel {what}", side.name()),
                "kernel".to_string(),
            )
        };
        // What the program itself did, in words, when no example line
        // applies (the lab's own sockets).
        let generic = |what: &str, call: &str, who: &str| {
            (format!("{who} {what}"), format!("{call} ({who})"))
        };
        let from_example = matches!(
            (self.client, side),
            (Client::Example, _) | (Client::Lab, Side::Server)
        );
        let who = match self.client {
            Client::Lab => "the lab's client".to_string(),
            _ => format!("the {}", side.name()),
        };
        let who = who.as_str();
        let site = |site: Site, name: &str, what: &str| {
            (format!("{}: {what}", site.label()), site.short(name))
        };
        match kind {
            Kind::Refused => (
                format!(
                    "the kernel: no socket listens on TCP port {}, so it \
                     refuses the connection",
                    self.server_port
                ),
                "kernel".to_string(),
            ),
            Kind::Reset if side == Side::Server && from_example => site(
                SERVER_DROP,
                "drop",
                "the server closes with unread bytes in its receive buffer, \
                 so its kernel resets the connection instead of closing it \
                 with FIN",
            ),
            Kind::Reset => kernel(
                "resets the connection: it closed with unread bytes, or \
                 the segment belongs to no open socket"
                    .to_string(),
            ),
            Kind::Syn if from_example => {
                site(CONNECT, "connect", "asks the server for a connection")
            }
            Kind::Syn => generic("asks for a connection", "connect", who),
            Kind::SynAck if from_example => site(
                LISTEN,
                "kernel",
                "the server's kernel answers for the listening socket",
            ),
            Kind::SynAck => {
                kernel("answers for the listening socket".to_string())
            }
            Kind::HandshakeAck => kernel(
                "completes the handshake: the connection is established"
                    .to_string(),
            ),
            Kind::Data if from_example => match side {
                Side::Client => site(
                    CLIENT_WRITE,
                    "write_all",
                    "the sentence and its newline",
                ),
                Side::Server => site(
                    SERVER_WRITE,
                    "write_all",
                    "the uppercase reply and its newline",
                ),
            },
            Kind::Data if self.client == Client::Lab => generic(
                "sends a line and 4000 bytes more, in one write",
                "write_all",
                who,
            ),
            Kind::Data => {
                generic(&format!("sends {length} bytes"), "write", who)
            }
            Kind::DataAck => {
                kernel(format!("acknowledges the {other}'s bytes"))
            }
            Kind::Fin if from_example => match side {
                Side::Client => site(
                    CLIENT_DROP,
                    "drop",
                    "the client closes its side of the connection",
                ),
                Side::Server => site(
                    SERVER_DROP,
                    "drop",
                    "the server closes its side of the connection",
                ),
            },
            Kind::Fin => generic("closes its side", "drop", who),
            Kind::AckOfFin => kernel(format!("acknowledges the {other}'s FIN")),
        }
    }
}

/// What a TCP segment is, by its flags and its place in the connection.
#[derive(Clone, Copy)]
enum Kind {
    Syn,
    SynAck,
    HandshakeAck,
    Data,
    DataAck,
    Fin,
    AckOfFin,
    /// A RST answering a SYN: no socket listens.
    Refused,
    Reset,
}

/// `"hello, packets\n"`: at most 24 characters, control characters
/// escaped.
pub fn preview(payload: &[u8]) -> String {
    let text = String::from_utf8_lossy(payload);
    let mut shown = String::new();
    for (count, character) in text.chars().enumerate() {
        if count == 24 {
            shown.push('…');
            break;
        }
        shown.extend(character.escape_debug());
    }
    format!("\"{shown}\"")
}

/// The two lines a trace prints for one packet.
pub fn packet_lines(
    number: usize,
    start: Instant,
    packet: &Packet,
    explained: &Explained,
) -> String {
    let time = packet.frame.at.saturating_duration_since(start);
    let (from, to) = match explained.side {
        Side::Client => ("client", "server"),
        Side::Server => ("server", "client"),
    };
    let mut line = format!(
        "{number:>3} {:>9.6}  {from}:{} > {to}:{}  {}",
        time.as_secs_f64(),
        packet.from.port(),
        packet.to.port(),
        packet.protocol,
    );
    if let Some(tcp) = packet.tcp {
        let _ = write!(line, " {:<7} seq={}", tcp.flags(), explained.seq);
        if tcp.ack {
            let _ = write!(line, " ack={}", explained.ack);
        }
        let _ = write!(line, " win={}", explained.window);
    }
    if packet.protocol == Protocol::Icmp {
        line.push_str(" port unreachable");
    } else {
        let _ = write!(line, " len={}", packet.payload.len());
    }
    if !packet.payload.is_empty() {
        let _ = write!(line, " {}", preview(&packet.payload));
    }
    // The cause below, indented, in lines of at most 80 columns.
    let indent = " ".repeat(14);
    let mut cause = indent.clone();
    for word in explained.cause.split_whitespace() {
        if cause.len() > indent.len() && cause.len() + 1 + word.len() > 80 {
            let _ = write!(line, "\n{cause}");
            cause = indent.clone();
        }
        if cause.len() > indent.len() {
            cause.push(' ');
        }
        cause.push_str(word);
    }
    let _ = write!(line, "\n{cause}");
    line
}

/// One line of the packet sequence that the book's drift check compares:
/// direction, protocol, flags and payload length, nothing that changes
/// from run to run.
pub fn sequence_line(packet: &Packet, explained: &Explained) -> String {
    let direction = match explained.side {
        Side::Client => "client>server",
        Side::Server => "server>client",
    };
    let flags = packet
        .tcp
        .map(|tcp| format!(" {}", tcp.flags()))
        .unwrap_or_default();
    format!(
        "{direction} {}{flags} len={}",
        packet.protocol,
        packet.payload.len()
    )
}

/// Counts and sizes of a whole trace.
#[derive(Default)]
pub struct Summary {
    pub packets: usize,
    pub bytes: usize,
    pub payload: usize,
    pub phases: [usize; 3],
}

impl Summary {
    pub fn add(&mut self, packet: &Packet, explained: &Explained) {
        self.packets += 1;
        self.bytes += packet.frame.bytes.len();
        self.payload += packet.payload.len();
        self.phases[explained.phase as usize] += 1;
    }

    pub fn text(
        &self,
        conversation: Option<&Conversation>,
        tcp: bool,
    ) -> String {
        let mut text = format!(
            "{} packets, {} bytes on the wire (Ethernet frames on lo), {} \
             bytes of payload",
            self.packets, self.bytes, self.payload
        );
        if tcp {
            let [handshake, data, teardown] = self.phases;
            let _ = write!(
                text,
                "\nsegments: handshake {handshake}, data {data}, teardown \
                 {teardown}"
            );
            if let Some(conversation) = conversation {
                if let Some(side) = conversation.reset_by {
                    let _ = write!(
                        text,
                        "; the {} reset the connection",
                        side.name()
                    );
                } else if let Some(side) = conversation.first_closer {
                    let _ = write!(text, "; the {} closed first", side.name());
                }
            }
        }
        text
    }
}

/// The other end of a conversation with `server_port`.
pub fn client_of(packet: &Packet, server_port: u16) -> SocketAddr {
    if packet.from.port() == server_port {
        packet.to
    } else {
        packet.from
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_a_trace_names_is_in_its_example() {
        for site in ALL_SITES {
            assert!(
                site.line().is_some(),
                "examples/{} has no line containing `{}`: update \
                 lab/src/trace/explain.rs",
                site.file,
                site.needle
            );
        }
    }

    #[test]
    fn a_preview_escapes_the_newline_and_stops_at_24_characters() {
        assert_eq!(preview(b"hi\n"), "\"hi\\n\"");
        assert_eq!(preview(&[b'a'; 30]), format!("\"{}…\"", "a".repeat(24)));
    }
}
