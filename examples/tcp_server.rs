//! TCP server: accepts one connection at a time, reads one sentence from
//! it, sends it back in uppercase and closes the connection.
//!
//! Run it in one terminal, then the client in another:
//!
//!     cargo run --example tcp_server
//!     cargo run --example tcp_client
//!
//! Stop it with Ctrl-C. `--help` lists the flags (port, bind address).

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::time::Duration;

use clap::Parser;
use socket_walkthrough::{OrExit, printable, say};
use socket2::{Domain, Socket, Type};

/// Answer every connection's line with the same text in uppercase.
#[derive(Parser)]
struct Args {
    /// TCP port to listen on (0 lets the system choose a free one)
    #[arg(long, default_value_t = 12000)]
    port: u16,
    /// Local address to bind: 0.0.0.0 is every IPv4 interface (reachable
    /// from other hosts), 127.0.0.1 this machine only
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
    bind: IpAddr,
}

/// The longest sentence the server reads from one client, in bytes.
const MAX_SENTENCE: u64 = 64 * 1024;

/// How long the server waits for more bytes of a sentence that has begun
/// before it takes what has arrived as the whole sentence.
const PAUSE: Duration = Duration::from_millis(500);

fn main() {
    let args = Args::parse();
    let server_port = args.port;
    let server_address = SocketAddr::new(args.bind, server_port);
    let server_socket =
        Socket::new(Domain::for_address(server_address), Type::STREAM, None)
            .or_exit("cannot create a TCP socket");
    // Lets a restarted server bind at once although connections it closed
    // are still in TIME_WAIT; std's TcpListener::bind does the same on Unix.
    if cfg!(unix) {
        server_socket
            .set_reuse_address(true)
            .or_exit("cannot set SO_REUSEADDR");
    }
    server_socket
        .bind(&server_address.into())
        .or_exit(format_args!(
            "cannot bind TCP port {server_port} on {}",
            args.bind
        ));
    server_socket.listen(1).or_exit("cannot listen");
    let server_socket = TcpListener::from(server_socket);
    let server_address = server_socket
        .local_addr()
        .or_exit("cannot read the bound address");
    say(format_args!(
        "The server is ready to receive on {server_address}"
    ));
    loop {
        // Errors below concern one client only: report them and go on
        // with the next connection.
        let (mut connection_socket, addr) = match server_socket.accept() {
            Ok(accepted) => accepted,
            Err(error) => {
                eprintln!("error: cannot accept a connection: {error}");
                continue;
            }
        };
        let mut sentence = Vec::new();
        // Reads of at most 2048 bytes, as many as it takes; `take` bounds
        // what one client can make us store.
        let mut reader = BufReader::with_capacity(
            2048,
            (&connection_socket).take(MAX_SENTENCE),
        );
        // The first bytes may take as long as the user takes to type.
        if let Err(error) = reader.fill_buf() {
            eprintln!("error: cannot receive from {addr}: {error}");
            continue;
        }
        // Then the sentence ends at the newline, at the end of the stream
        // or at a pause: the notes' client sends no newline and waits.
        let received = connection_socket
            .set_read_timeout(Some(PAUSE))
            .and_then(|()| reader.read_until(b'\n', &mut sentence));
        match received {
            Ok(_) => {}
            // A read that timed out: WouldBlock on Unix, TimedOut on Windows.
            Err(error)
                if matches!(
                    error.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut
                ) => {}
            Err(error) => {
                eprintln!("error: cannot receive from {addr}: {error}");
                continue;
            }
        }
        let sentence = String::from_utf8_lossy(&sentence);
        let sentence = sentence.trim_end_matches(['\n', '\r']);
        say(printable(sentence));
        let capitalized_sentence = sentence.to_uppercase() + "\n";
        if let Err(error) =
            connection_socket.write_all(capitalized_sentence.as_bytes())
        {
            eprintln!("error: cannot reply to {addr}: {error}");
        }
        drop(connection_socket);
    }
}

#[test]
fn flags_are_well_formed() {
    use clap::CommandFactory;
    Args::command().debug_assert();
}
