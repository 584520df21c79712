//! UDP client for any address family: sends one lowercase sentence to
//! every address the server's name resolves to, IPv4 or IPv6, one after
//! the other, and prints the first reply and which address sent it.
//!
//! Start the server first, in another terminal (on IPv6 here):
//!
//!     cargo run --example udp_server -- --bind ::1
//!     cargo run --example udp_any_family_client -- --server-name ::1
//!
//! `--help` lists the flags (server name and port, timeout per address).

use std::io::{self, ErrorKind};
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::Duration;

use clap::Parser;
use socket_walkthrough::{OrExit, fail, input, parse_seconds};

/// Send one line to the UDP uppercase server, trying each of its
/// addresses in turn, and print the first reply.
#[derive(Parser)]
struct Args {
    /// Host name or IP address of the server (IPv4 or IPv6)
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// UDP port the server listens on
    #[arg(long, default_value_t = 12000)]
    server_port: u16,
    /// Seconds to wait for a reply from each address before trying the
    /// next one
    #[arg(long, value_name = "SECONDS", default_value = "1",
          value_parser = parse_seconds)]
    timeout: Duration,
}

fn main() {
    let args = Args::parse();
    let server_name = args.server_name;
    let server_port = args.server_port;
    // All the addresses, in the order the resolver prefers them: send_to
    // with a name would use the first one only.
    let server_addresses: Vec<SocketAddr> = (server_name.as_str(), server_port)
        .to_socket_addrs()
        .or_exit(format_args!("cannot resolve server name `{server_name}`"))
        .collect();
    if server_addresses.is_empty() {
        fail(format_args!("`{server_name}` has no address"));
    }
    let message = input("Input lowercase sentence: ");
    for server_address in &server_addresses {
        // An IPv4 socket cannot send to an IPv6 address and vice versa:
        // each address gets a socket of its own family.
        let client_address = match server_address {
            SocketAddr::V4(_) => "0.0.0.0:0",
            SocketAddr::V6(_) => "[::]:0",
        };
        let client_socket = match UdpSocket::bind(client_address) {
            Ok(socket) => socket,
            Err(error) => {
                eprintln!(
                    "cannot create a socket for {server_address}: {error}"
                );
                continue;
            }
        };
        client_socket
            .set_read_timeout(Some(args.timeout))
            .or_exit("cannot set the reply timeout");
        // A connected UDP socket accepts datagrams from this address only,
        // and (on Linux) hears of an ICMP "port unreachable": recv then
        // fails with "connection refused" instead of waiting the timeout.
        let mut modified_message = [0; 2048];
        let received = client_socket
            .connect(server_address)
            .and_then(|()| client_socket.send(message.as_bytes()))
            .and_then(|_| client_socket.recv(&mut modified_message));
        let length = match received {
            Ok(length) => length,
            Err(error) if is_timeout(&error) => {
                eprintln!(
                    "{server_address} did not answer within {:?}",
                    args.timeout
                );
                continue;
            }
            Err(error) => {
                eprintln!("{server_address} did not answer: {error}");
                continue;
            }
        };
        let modified_message =
            String::from_utf8_lossy(&modified_message[..length]);
        println!("From Server: {modified_message}");
        println!("(answered by {server_address})");
        return;
    }
    let tried: Vec<String> =
        server_addresses.iter().map(SocketAddr::to_string).collect();
    fail(format_args!(
        "no address of `{server_name}` answered (tried {}); is a \
         udp_server running on port {server_port}?",
        tried.join(", ")
    ))
}

/// Whether a read failed because its timeout ran out (Unix says
/// WouldBlock, Windows TimedOut).
fn is_timeout(error: &io::Error) -> bool {
    matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

#[test]
fn flags_are_well_formed() {
    use clap::CommandFactory;
    Args::command().debug_assert();
}
