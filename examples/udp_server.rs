//! UDP server: receives sentences as datagrams and sends each one back in
//! uppercase, forever.
//!
//! Run it in one terminal, then the client in another:
//!
//!     cargo run --example udp_server
//!     cargo run --example udp_client
//!
//! Stop it with Ctrl-C. `--help` lists the flags (port, bind address).

use std::net::{IpAddr, Ipv4Addr, UdpSocket};

use clap::Parser;
use socket_walkthrough::{OrExit, PerSourceLimit, printable, say};

/// Answer every datagram with the same text in uppercase.
#[derive(Parser)]
struct Args {
    /// UDP port to receive on (0 lets the system choose a free one)
    #[arg(long, default_value_t = 12000)]
    port: u16,
    /// Local address to bind: 0.0.0.0 is every IPv4 interface (reachable
    /// from other hosts), 127.0.0.1 this machine only
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
    bind: IpAddr,
}

fn main() {
    let args = Args::parse();
    let server_port = args.port;
    let server_socket = UdpSocket::bind((args.bind, server_port)).or_exit(
        format_args!("cannot bind UDP port {server_port} on {}", args.bind),
    );
    let server_address = server_socket
        .local_addr()
        .or_exit("cannot read the bound address");
    say(format_args!(
        "The server is ready to receive on {server_address}"
    ));
    let mut buffer = [0; 2048];
    // Each sender may send 20 datagrams at once and 10 a second after.
    let mut limit = PerSourceLimit::new(20, 10);
    loop {
        // One failed datagram must not stop the server: report it and
        // wait for the next one.
        let (length, client_address) =
            match server_socket.recv_from(&mut buffer) {
                Ok(received) => received,
                Err(error) => {
                    eprintln!("error: cannot receive a datagram: {error}");
                    continue;
                }
            };
        // A datagram from our own port comes from us or from another
        // uppercase server, one from below 1024 from a system service
        // (echo, DNS...): answering may start an endless exchange if its
        // source was forged. Clients never send from there; no answer.
        let from_port = client_address.port();
        if from_port == server_address.port() || from_port < 1024 {
            continue;
        }
        // Any other loop, or flood, dies when its sender's budget is spent.
        if !limit.allows(client_address) {
            continue;
        }
        // Invalid UTF-8 becomes U+FFFD instead of an error, so no client can
        // crash the server with bytes that are not text.
        let message = String::from_utf8_lossy(&buffer[..length]);
        // Control characters are shown escaped: the terminal must not
        // obey a stranger's escape sequences.
        say(printable(&message));
        let modified_message = message.to_uppercase();
        if let Err(error) =
            server_socket.send_to(modified_message.as_bytes(), client_address)
        {
            eprintln!("error: cannot reply to {client_address}: {error}");
        }
    }
}

#[test]
fn flags_are_well_formed() {
    use clap::CommandFactory;
    Args::command().debug_assert();
}
