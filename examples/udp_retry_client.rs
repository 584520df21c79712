//! UDP client with timeouts and retries: reads sentences from standard
//! input, one per line, until the input ends. It sends each one to the
//! UDP server, sends it again when no reply comes in time (waiting twice
//! as long each time), and prints the uppercase reply, never a late reply
//! to an earlier sentence. The solution of exercise 2.
//!
//! Start the server first, and a lossy relay to see the retries:
//!
//!     cargo run --example udp_server
//!     cargo lab relay --drop 0.3
//!     cargo run --example udp_retry_client -- --server-port 12001
//!
//! `--help` lists the flags (server name and port, timeout, retries).

use std::io::{self, BufRead, ErrorKind};
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use clap::Parser;
use socket_walkthrough::{OrExit, fail, parse_seconds};

/// Send each line of standard input to the UDP uppercase server, with
/// retries, and print the replies.
#[derive(Parser)]
struct Args {
    /// Host name or IP address of the server
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// UDP port the server listens on
    #[arg(long, default_value_t = 12000)]
    server_port: u16,
    /// Seconds to wait for the first reply; each retry waits twice as
    /// long as the attempt before it
    #[arg(long, value_name = "SECONDS", default_value = "0.5",
          value_parser = parse_seconds)]
    timeout: Duration,
    /// How many times to send a sentence again before giving up on it
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(0..=10))]
    retries: u32,
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
    let attempts = args.retries + 1;
    let mut failed = 0;
    let mut modified_message = [0; 2048];
    for (line, request_id) in io::stdin().lock().lines().zip(1u64..) {
        let message = line.or_exit("cannot read a line from standard input");
        // Digits survive the server's uppercase: its reply starts with
        // the same tag, which tells this reply from a late one.
        let tag = format!("{request_id} ");
        let request = format!("{tag}{message}");
        let mut timeout = args.timeout;
        let mut answer = None;
        'attempts: for attempt in 1..=attempts {
            client_socket
                .send_to(request.as_bytes(), server_address)
                .or_exit(format_args!("cannot send to {server_address}"));
            // A discarded datagram must not restart the wait: the
            // deadline is fixed when the request goes out.
            let deadline = Instant::now() + timeout;
            loop {
                let remaining =
                    deadline.saturating_duration_since(Instant::now());
                // A zero timeout is an error for set_read_timeout.
                if remaining.is_zero() {
                    break;
                }
                client_socket
                    .set_read_timeout(Some(remaining))
                    .or_exit("cannot set the reply timeout");
                match client_socket.recv_from(&mut modified_message) {
                    // Any host can send to this port: a datagram from
                    // elsewhere is no reply, whatever its tag.
                    Ok((_, reply_address))
                        if reply_address != server_address =>
                    {
                        eprintln!(
                            "note: ignored a datagram from {reply_address}, \
                             which is not the server"
                        );
                    }
                    Ok((length, _)) => {
                        let reply = String::from_utf8_lossy(
                            &modified_message[..length],
                        );
                        if let Some(text) = reply.strip_prefix(&tag) {
                            answer = Some(text.to_string());
                            break 'attempts;
                        }
                        eprintln!(
                            "note: ignored a reply that is not for line \
                             {request_id}: {reply}"
                        );
                    }
                    Err(error)
                        if matches!(
                            error.kind(),
                            ErrorKind::WouldBlock | ErrorKind::TimedOut
                        ) =>
                    {
                        break;
                    }
                    Err(error) => fail(format_args!(
                        "cannot receive from {server_address}: {error}"
                    )),
                }
            }
            if attempt < attempts {
                eprintln!(
                    "note: no reply to line {request_id} within {timeout:?}; \
                     sending it again"
                );
            }
            timeout *= 2;
        }
        match answer {
            Some(answer) => println!("From Server: {answer}"),
            None => {
                failed += 1;
                println!(
                    "No reply to line {request_id} after {attempts} attempts"
                );
            }
        }
    }
    drop(client_socket);
    if failed > 0 {
        fail(format_args!(
            "{failed} line(s) got no reply from {server_address}"
        ));
    }
}

#[test]
fn flags_are_well_formed() {
    use clap::CommandFactory;
    Args::command().debug_assert();
}
