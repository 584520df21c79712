//! `compare <experiment> --trace`: every packet a `compare` experiment
//! sends on loopback, explained by what it is.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::capture::{Capture, Refused};
use super::explain::{self, Client, Conversation, Summary};
use super::packet::{self, Protocol};

/// At most this many packets are printed; the summary counts them all.
const SHOWN: usize = 60;
/// The experiment is over when loopback has been quiet this long (its
/// last FINs follow its last call by microseconds) ...
const QUIET: Duration = Duration::from_millis(200);
/// ... or after this long in any case.
const LIMIT: Duration = Duration::from_secs(3);

/// A capture running while an experiment does.
pub struct Recorder {
    capture: Capture,
}

impl Recorder {
    pub fn start() -> Result<Recorder, String> {
        let capture = Capture::start().map_err(|refused| match refused {
            Refused::NotPermitted => super::not_permitted(false),
            Refused::Failed(error) => error,
        })?;
        Ok(Recorder { capture })
    }

    /// Stops once loopback is quiet and explains the experiment's
    /// packets: those to or from a port its sockets had.
    pub fn finish(self) -> String {
        let ports = super::PORTS
            .lock()
            .map(|ports| ports.clone())
            .unwrap_or_default();
        let deadline = Instant::now() + LIMIT;
        let mut flows: HashMap<(Protocol, [SocketAddr; 2]), Conversation> =
            HashMap::new();
        let mut summary = Summary::default();
        let mut text = String::new();
        let mut start = None;
        let mut tcp_flows = Vec::new();
        while let Ok(frame) = self.capture.frames.recv_timeout(
            QUIET.min(deadline.saturating_duration_since(Instant::now())),
        ) {
            let Some(packet) = packet::parse(frame) else {
                continue;
            };
            if !packet.from.ip().is_loopback()
                || !(ports.contains(&packet.from.port())
                    || ports.contains(&packet.to.port()))
            {
                continue;
            }
            // ICMP belongs to the UDP flow it reports on.
            let protocol = match packet.protocol {
                Protocol::Icmp => Protocol::Udp,
                protocol => protocol,
            };
            let mut ends = [packet.from, packet.to];
            ends.sort();
            let conversation =
                flows.entry((protocol, ends)).or_insert_with(|| {
                    if protocol == Protocol::Tcp {
                        tcp_flows.push((protocol, ends));
                    }
                    // Whoever sends first is the client.
                    Conversation::new(packet.to.port(), Client::Experiment)
                });
            let explained = conversation.explain(&packet);
            summary.add(&packet, &explained);
            let start = *start.get_or_insert(packet.frame.at);
            if summary.packets <= SHOWN {
                text += &explain::packet_lines(
                    summary.packets,
                    start,
                    &packet,
                    &explained,
                );
                text.push('\n');
            }
        }
        if summary.packets > SHOWN {
            let _ = writeln!(
                text,
                "… and {} more packets",
                summary.packets - SHOWN
            );
        }
        let _ = writeln!(
            text,
            "{} in {} conversation(s)",
            summary.text(None, false),
            flows.len()
        );
        for key in tcp_flows {
            let conversation = &flows[&key];
            let ends = format!("{} and {}", key.1[0].port(), key.1[1].port());
            let end = match (conversation.reset_by, conversation.first_closer) {
                (Some(side), _) => format!("the {} reset it", side.name()),
                (None, Some(side)) => format!(
                    "the {} closed first, so its end waits in TIME_WAIT",
                    side.name()
                ),
                (None, None) => "still open when the capture ended".to_string(),
            };
            let _ = writeln!(text, "TCP between ports {ends}: {end}");
        }
        text
    }
}
