//! UDP pinger: sends ten pings to the pinger server, one after the other,
//! and prints each reply with its round-trip time, or `Request timed out`
//! when no reply comes within the timeout; then the statistics. The
//! solution of exercise 1, the Kurose & Ross UDP Pinger lab.
//!
//! Start the pinger server first, in another terminal:
//!
//!     cargo lab pinger-server
//!     cargo run --example udp_pinger
//!
//! `--help` lists the flags (server name and port, reply timeout).

use std::io::ErrorKind;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use socket_walkthrough::{OrExit, fail, parse_seconds};

/// How many pings the lab asks for.
const PINGS: u32 = 10;

/// Ping a UDP server ten times and report the round-trip times.
#[derive(Parser)]
struct Args {
    /// Host name or IP address of the server
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// UDP port the server listens on
    #[arg(long, default_value_t = 12000)]
    server_port: u16,
    /// Seconds to wait for each reply before counting the ping as lost
    #[arg(long, value_name = "SECONDS", default_value = "1",
          value_parser = parse_seconds)]
    timeout: Duration,
}

fn main() {
    let args = Args::parse();
    let server_name = args.server_name;
    let server_port = args.server_port;
    let server_addresses: Vec<SocketAddr> = (server_name.as_str(), server_port)
        .to_socket_addrs()
        .or_exit(format_args!("cannot resolve server name `{server_name}`"))
        .collect();
    // send_to would use only the first address; prefer IPv4, where the
    // server listens by default, and fall back to whatever was found.
    let server_address = server_addresses
        .iter()
        .find(|address| address.is_ipv4())
        .or(server_addresses.first())
        .copied()
        .unwrap_or_else(|| {
            fail(format_args!("`{server_name}` has no address"))
        });
    let client_address = match server_address {
        SocketAddr::V4(_) => "0.0.0.0:0",
        SocketAddr::V6(_) => "[::]:0",
    };
    let client_socket =
        UdpSocket::bind(client_address).or_exit("cannot create a UDP socket");
    let mut round_trips: Vec<Duration> = Vec::new();
    for sequence_number in 1..=PINGS {
        // The time stamp is for whoever reads the message; the round trip
        // is measured with Instant, which never goes backwards.
        let time_stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .or_exit("the system clock is set before 1970")
            .as_secs_f64();
        let message = format!("Ping {sequence_number} {time_stamp:.6}");
        let sent = Instant::now();
        client_socket
            .send_to(message.as_bytes(), server_address)
            .or_exit(format_args!("cannot send to {server_address}"));
        // The lab's server drops pings on purpose: without a deadline the
        // first lost one would stop the pinger for good.
        let deadline = sent + args.timeout;
        let mut modified_message = [0; 2048];
        let received = loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            // A zero timeout is an error for set_read_timeout.
            if remaining.is_zero() {
                break Err(ErrorKind::TimedOut.into());
            }
            client_socket
                .set_read_timeout(Some(remaining))
                .or_exit("cannot set the reply timeout");
            match client_socket.recv_from(&mut modified_message) {
                // Any host can send to this port; only the server's
                // datagram is the reply, and waiting on does not restart
                // the deadline.
                Ok((_, reply_address)) if reply_address != server_address => {
                    eprintln!(
                        "note: ignored a datagram from {reply_address}, \
                         which is not the server"
                    );
                }
                result => break result,
            }
        };
        match received {
            Ok((length, reply_address)) => {
                let round_trip = sent.elapsed();
                let modified_message =
                    String::from_utf8_lossy(&modified_message[..length]);
                println!(
                    "Reply from {reply_address}: {modified_message} \
                     RTT {:.3} ms",
                    milliseconds(round_trip)
                );
                round_trips.push(round_trip);
            }
            Err(error)
                if matches!(
                    error.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut
                ) =>
            {
                println!("Request timed out");
            }
            Err(error) => fail(format_args!(
                "cannot receive from {server_address}: {error}"
            )),
        }
    }
    drop(client_socket);
    let received = round_trips.len() as u32;
    let lost = PINGS - received;
    let loss_percent = f64::from(lost) * 100.0 / f64::from(PINGS);
    print!("{PINGS} sent, {received} received, {loss_percent:.0}% loss");
    match (round_trips.iter().min(), round_trips.iter().max()) {
        (Some(&min), Some(&max)) => {
            let average = round_trips.iter().sum::<Duration>() / received;
            println!(
                "; RTT min/avg/max = {:.3}/{:.3}/{:.3} ms",
                milliseconds(min),
                milliseconds(average),
                milliseconds(max)
            );
        }
        // No reply, no round trip to report.
        _ => println!(),
    }
}

fn milliseconds(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[test]
fn flags_are_well_formed() {
    use clap::CommandFactory;
    Args::command().debug_assert();
}
