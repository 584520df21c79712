//! `trace`: capture what the example programs put on the loopback wire,
//! and print one explained line per packet.
//!
//!     cargo lab trace udp              # run one UDP exchange and trace it
//!     cargo lab trace tcp --pcap tcp.pcap
//!     cargo lab trace --port 12000     # watch live until Ctrl-C

use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;

#[cfg(target_os = "linux")]
mod capture;
#[cfg(target_os = "linux")]
mod exchange;
#[cfg(target_os = "linux")]
mod explain;
#[cfg(target_os = "linux")]
mod packet;
#[cfg(target_os = "linux")]
mod svg;
#[cfg(target_os = "linux")]
mod watch;

/// Capture the packets of the example programs on loopback and explain
/// each one
#[derive(clap::Args)]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub struct Args {
    /// The exchange to run and trace; without it, --port watches live
    #[arg(value_enum, required_unless_present = "port")]
    exchange: Option<Exchange>,
    /// Watch this port instead: explain every packet to or from it while
    /// you run the programs in other terminals, until Ctrl-C
    #[arg(long, conflicts_with = "exchange",
          value_parser = clap::value_parser!(u16).range(1..))]
    port: Option<u16>,
    /// Stop watching after this many packets
    #[arg(long, value_name = "N", requires = "port",
          value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// Stop watching after this long, e.g. 30s
    #[arg(long = "for", value_name = "DURATION", requires = "port",
          value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Also write the packets to this pcap file (Wireshark, tcpdump -r)
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// Also draw the exchange as an SVG sequence diagram
    #[arg(long, value_name = "FILE", conflicts_with = "port")]
    svg: Option<PathBuf>,
    /// Also write the packet sequence (direction, protocol, flags,
    /// payload length; one packet a line) to this file
    #[arg(long, value_name = "FILE", conflicts_with = "port")]
    sequence: Option<PathBuf>,
    /// The sentence the client sends
    #[arg(long, default_value = "hello, packets")]
    sentence: String,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Exchange {
    /// udp_client sends one sentence to udp_server
    Udp,
    /// tcp_client sends one sentence to tcp_server
    Tcp,
    /// A client sends tcp_server more than it reads: the close is a RST
    TcpUnread,
    /// udp_client sends to a port where no server is: ICMP answers
    UdpAbsent,
}

#[cfg(target_os = "linux")]
pub fn run(args: Args) {
    let options = exchange::Options {
        pcap: args.pcap,
        svg: args.svg,
        sequence: args.sequence,
        sentence: args.sentence,
    };
    let result = match (args.exchange, args.port) {
        (Some(exchange), _) => exchange::run(exchange, &options),
        (None, Some(port)) => watch::run(watch::Limits {
            port,
            count: args.count.map(|count| count as usize),
            duration: args.duration,
            pcap: options.pcap,
        }),
        (None, None) => unreachable!("clap requires one of them"),
    };
    if let Err(error) = result {
        socket_walkthrough::fail(error);
    }
}

#[cfg(not(target_os = "linux"))]
pub fn run(_: Args) {
    socket_walkthrough::fail(
        "capturing packets is Linux-only; to see the same packets here, \
         capture the loopback interface in Wireshark (lo0 on macOS, \
         Npcap's loopback adapter on Windows) with the filter `port 12000`",
    );
}

/// The one line for a process without CAP_NET_RAW.
#[cfg(target_os = "linux")]
fn not_permitted(watching: bool) -> String {
    let command: Vec<String> = std::env::args().collect();
    let command = command.join(" ");
    if watching {
        format!(
            "capturing packets needs CAP_NET_RAW: run `sudo {command}` \
             (a private network namespace would not see the programs in \
             your other terminals)"
        )
    } else {
        format!(
            "capturing packets needs CAP_NET_RAW: run `sudo {command}`, or \
             in a private network namespace, where the trace runs the \
             programs itself: `unshare --user --map-root-user --net \
             {command}`"
        )
    }
}

/// The local ports of the sockets `compare` opened, noted as they are
/// bound, so that `compare --trace` can tell its packets from anything
/// else on loopback.
static PORTS: std::sync::Mutex<std::collections::BTreeSet<u16>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// Notes a port of one of this process's sockets (see [`PORTS`]).
pub fn note_port(port: u16) {
    if let Ok(mut ports) = PORTS.lock() {
        ports.insert(port);
    }
}

#[cfg(target_os = "linux")]
pub use experiment::Recorder;

#[cfg(target_os = "linux")]
mod experiment;
