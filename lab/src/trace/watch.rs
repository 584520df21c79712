//! `trace --port N`: explain every packet to or from a port as it
//! happens, while the programs run in other terminals, until Ctrl-C (or
//! `--count`, `--for`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use socket_walkthrough::say;

use super::capture::{Capture, PcapFile, Refused};
use super::exchange::Trace;
use super::explain::{self, Client, Summary};
use super::packet::{self, Protocol};

pub struct Limits {
    pub port: u16,
    pub count: Option<usize>,
    pub duration: Option<Duration>,
    pub pcap: Option<PathBuf>,
}

pub fn run(limits: Limits) -> Result<(), String> {
    let capture = Capture::start().map_err(|refused| match refused {
        Refused::NotPermitted => super::not_permitted(true),
        Refused::Failed(error) => error,
    })?;
    let interrupted = Arc::new(AtomicBool::new(false));
    let sigint = signal_hook::consts::SIGINT;
    // The first Ctrl-C sets the flag; a second one ends the program at
    // once (the conditional shutdown runs first and sees the flag set).
    signal_hook::flag::register_conditional_shutdown(
        sigint,
        1,
        Arc::clone(&interrupted),
    )
    .and_then(|_| signal_hook::flag::register(sigint, Arc::clone(&interrupted)))
    .map_err(|error| format!("cannot handle Ctrl-C: {error}"))?;
    let mut pcap = limits.pcap.as_deref().map(PcapFile::create).transpose()?;
    let port = limits.port;
    say(format_args!(
        "watching TCP and UDP port {port} on lo; run the server and the \
         client in two other terminals; Ctrl-C stops"
    ));
    let deadline = limits.duration.map(|duration| Instant::now() + duration);
    let mut conversations: HashMap<(bool, SocketAddr), Trace> = HashMap::new();
    let mut summary = Summary::default();
    let mut start = None;
    let mut tcp_seen = false;
    while !interrupted.load(Ordering::Relaxed)
        && limits.count.is_none_or(|count| summary.packets < count)
        && deadline.is_none_or(|deadline| Instant::now() < deadline)
    {
        let frame = match capture.frames.recv_timeout(Duration::from_millis(50))
        {
            Ok(frame) => frame,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let Some(packet) = packet::parse(frame) else {
            continue;
        };
        if packet.from.port() != port && packet.to.port() != port {
            continue;
        }
        let tcp = packet.protocol == Protocol::Tcp;
        let key = (tcp, explain::client_of(&packet, port));
        // A new SYN from the same address and port is a new connection.
        let opens = packet.tcp.is_some_and(|tcp| tcp.syn && !tcp.ack);
        if opens {
            conversations.remove(&key);
        }
        let trace = conversations.entry(key).or_insert_with(|| {
            let protocol = if tcp { Protocol::Tcp } else { Protocol::Udp };
            Trace::new(port, protocol, Client::Example)
        });
        if !trace.offer(packet) {
            continue;
        }
        tcp_seen |= tcp;
        let (packet, explained) = trace.packets.last().expect("just added");
        summary.add(packet, explained);
        let start = *start.get_or_insert(packet.frame.at);
        say(explain::packet_lines(
            summary.packets,
            start,
            packet,
            explained,
        ));
        if let Some(file) = pcap.as_mut() {
            file.write(&packet.frame)?;
        }
        // A finished connection's packets need not stay in memory.
        let over =
            trace.conversation.closed || trace.conversation.reset_by.is_some();
        if over {
            conversations.remove(&key);
        }
    }
    say(summary.text(None, tcp_seen));
    Ok(())
}
