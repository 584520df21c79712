//! UDP client: sends one lowercase sentence to the UDP server and prints
//! the uppercase reply.
//!
//! Start the server first, in another terminal:
//!
//!     cargo run --example udp_server
//!     cargo run --example udp_client
//!
//! `--help` lists the flags (server name and port, reply timeout).

use std::io::ErrorKind;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::Duration;

use clap::Parser;
use socket_walkthrough::{OrExit, fail, input, parse_seconds};

/// Send one line to the UDP uppercase server and print its reply.
#[derive(Parser)]
struct Args {
    /// Host name or IP address of the server
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// UDP port the server listens on
    #[arg(long, default_value_t = 12000)]
    server_port: u16,
    /// Seconds to wait for the reply before giving up
    #[arg(long, value_name = "SECONDS", default_value = "5",
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
    // UDP never retransmits: without a deadline a lost datagram would
    // leave this client waiting forever.
    client_socket
        .set_read_timeout(Some(args.timeout))
        .or_exit("cannot set the reply timeout");
    let message = input("Input lowercase sentence: ");
    client_socket
        .send_to(message.as_bytes(), server_address)
        .or_exit(format_args!("cannot send to {server_address}"));
    let mut modified_message = [0; 2048];
    let (length, _server_address) =
        match client_socket.recv_from(&mut modified_message) {
            Ok(received) => received,
            Err(error)
                if matches!(
                    error.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut
                ) =>
            {
                fail(format_args!(
                    "no reply from {server_address} within {:?}; UDP does \
                     not retransmit, so the request or the reply was lost \
                     or no udp_server is running there",
                    args.timeout
                ))
            }
            Err(error) => fail(format_args!(
                "cannot receive from {server_address}: {error}"
            )),
        };
    let modified_message = String::from_utf8_lossy(&modified_message[..length]);
    println!("From Server: {modified_message}");
    drop(client_socket);
}

#[test]
fn flags_are_well_formed() {
    use clap::CommandFactory;
    Args::command().debug_assert();
}
