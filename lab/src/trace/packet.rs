//! What a captured frame is: the fields of its IP, TCP, UDP or ICMP
//! headers that a trace shows, parsed by etherparse.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use etherparse::{
    Icmpv4Type, Icmpv6Type, LaxSlicedPacket, NetSlice, SlicedPacket,
    TcpOptionElement, TransportSlice, icmpv4, icmpv6,
};

use super::capture::Frame;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    /// An ICMP (or ICMPv6) "port unreachable" about a UDP datagram.
    Icmp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Icmp => "ICMP",
        })
    }
}

/// The TCP header fields a trace shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tcp {
    pub syn: bool,
    pub fin: bool,
    pub rst: bool,
    pub psh: bool,
    pub ack: bool,
    pub seq: u32,
    pub ack_number: u32,
    /// The window field as sent; see `window_scale`.
    pub window: u16,
    /// The window scale option (RFC 7323), which only a SYN carries:
    /// later windows of that side count in units of 2^scale bytes.
    pub window_scale: Option<u8>,
}

impl Tcp {
    /// The flags in tcpdump's order, e.g. `SYN`, `SYN,ACK`, `FIN,ACK`.
    pub fn flags(&self) -> String {
        let names = [
            (self.syn, "SYN"),
            (self.fin, "FIN"),
            (self.rst, "RST"),
            (self.psh, "PSH"),
            (self.ack, "ACK"),
        ];
        let set: Vec<&str> = names
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, name)| *name)
            .collect();
        set.join(",")
    }
}

/// One packet of interest, parsed.
pub struct Packet {
    pub frame: Frame,
    pub protocol: Protocol,
    /// For ICMP: the sender of the ICMP message, with the port the
    /// datagram it reports on was sent to; `to` gets that datagram's
    /// source port. So an ICMP error travels "server → client" like a
    /// reply would.
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub tcp: Option<Tcp>,
    pub payload: Vec<u8>,
}

/// Parses a frame; None for anything but TCP, UDP and ICMP port
/// unreachable over IPv4 or IPv6.
pub fn parse(frame: Frame) -> Option<Packet> {
    let (protocol, from, to, tcp, payload) = fields(&frame.bytes)?;
    Some(Packet {
        frame,
        protocol,
        from,
        to,
        tcp,
        payload,
    })
}

type Fields = (Protocol, SocketAddr, SocketAddr, Option<Tcp>, Vec<u8>);

fn fields(bytes: &[u8]) -> Option<Fields> {
    let sliced = SlicedPacket::from_ethernet(bytes).ok()?;
    let (source, destination) = match sliced.net? {
        NetSlice::Ipv4(ip) => (
            IpAddr::V4(ip.header().source_addr()),
            IpAddr::V4(ip.header().destination_addr()),
        ),
        NetSlice::Ipv6(ip) => (
            IpAddr::V6(ip.header().source_addr()),
            IpAddr::V6(ip.header().destination_addr()),
        ),
        NetSlice::Arp(_) => return None,
    };
    let (protocol, from_port, to_port, tcp, payload) = match sliced.transport? {
        TransportSlice::Tcp(tcp) => (
            Protocol::Tcp,
            tcp.source_port(),
            tcp.destination_port(),
            Some(Tcp {
                syn: tcp.syn(),
                fin: tcp.fin(),
                rst: tcp.rst(),
                psh: tcp.psh(),
                ack: tcp.ack(),
                seq: tcp.sequence_number(),
                ack_number: tcp.acknowledgment_number(),
                window: tcp.window_size(),
                window_scale: tcp.options_iterator().find_map(|option| {
                    match option {
                        Ok(TcpOptionElement::WindowScale(scale)) => Some(scale),
                        _ => None,
                    }
                }),
            }),
            tcp.payload().to_vec(),
        ),
        TransportSlice::Udp(udp) => (
            Protocol::Udp,
            udp.source_port(),
            udp.destination_port(),
            None,
            udp.payload().to_vec(),
        ),
        TransportSlice::Icmpv4(icmp) => match icmp.icmp_type() {
            Icmpv4Type::DestinationUnreachable(
                icmpv4::DestUnreachableHeader::Port,
            ) => {
                let (sent_from, sent_to) = reported_ports(icmp.payload())?;
                (Protocol::Icmp, sent_to, sent_from, None, Vec::new())
            }
            _ => return None,
        },
        TransportSlice::Icmpv6(icmp) => match icmp.icmp_type() {
            Icmpv6Type::DestinationUnreachable(
                icmpv6::DestUnreachableCode::Port,
            ) => {
                let (sent_from, sent_to) = reported_ports(icmp.payload())?;
                (Protocol::Icmp, sent_to, sent_from, None, Vec::new())
            }
            _ => return None,
        },
        _ => return None,
    };
    Some((
        protocol,
        SocketAddr::new(source, from_port),
        SocketAddr::new(destination, to_port),
        tcp,
        payload,
    ))
}

/// The UDP ports of the datagram an ICMP error quotes (its IP header and
/// at least the first 8 bytes after it).
fn reported_ports(quoted: &[u8]) -> Option<(u16, u16)> {
    let quoted = LaxSlicedPacket::from_ip(quoted).ok()?;
    match quoted.transport? {
        TransportSlice::Udp(udp) => {
            Some((udp.source_port(), udp.destination_port()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;
    use std::time::{Duration, Instant};

    fn frame(bytes: Vec<u8>) -> Frame {
        Frame {
            at: Instant::now(),
            wall: Duration::ZERO,
            bytes,
        }
    }

    #[test]
    fn a_tcp_syn_is_read_with_its_ports_and_flags() {
        let builder = PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
            .tcp(40000, 12000, 7, 65495)
            .syn();
        let mut bytes = Vec::new();
        builder.write(&mut bytes, &[]).unwrap();
        let packet = parse(frame(bytes)).unwrap();
        assert_eq!(packet.protocol, Protocol::Tcp);
        assert_eq!(packet.from, "127.0.0.1:40000".parse().unwrap());
        assert_eq!(packet.to, "127.0.0.1:12000".parse().unwrap());
        let tcp = packet.tcp.unwrap();
        assert_eq!((tcp.flags().as_str(), tcp.seq), ("SYN", 7));
    }

    #[test]
    fn a_port_unreachable_travels_back_to_the_datagrams_sender() {
        let mut datagram = Vec::new();
        PacketBuilder::ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
            .udp(40000, 12000)
            .write(&mut datagram, b"hi")
            .unwrap();
        let mut bytes = Vec::new();
        PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
            .icmpv4(Icmpv4Type::DestinationUnreachable(
                icmpv4::DestUnreachableHeader::Port,
            ))
            .write(&mut bytes, &datagram)
            .unwrap();
        let packet = parse(frame(bytes)).unwrap();
        assert_eq!(packet.protocol, Protocol::Icmp);
        assert_eq!(packet.from.port(), 12000);
        assert_eq!(packet.to.port(), 40000);
    }
}
