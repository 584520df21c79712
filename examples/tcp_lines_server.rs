//! Line server: keeps each TCP connection open and answers every line the
//! client sends with the same line in uppercase, however the bytes are
//! split on the way, until the client shuts down its side. Then it closes
//! the connection and serves the next client: one client at a time.
//!
//! Run it in one terminal, then a client in another:
//!
//!     cargo run --example tcp_lines_server
//!     cargo run --example tcp_client
//!
//! tcp_client sends one line per connection; the book's exercise 4, whose
//! solution this is, shows a session with many. Stop it with Ctrl-C.
//! `--help` lists the flags (port, bind address).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};

use clap::Parser;
use socket_walkthrough::{OrExit, printable, say};
use socket2::{Domain, Socket, Type};

/// Answer every line of a connection with the same text in uppercase,
/// until the client shuts down its side.
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

/// The longest line the server reads, in bytes: a client that sends a
/// longer one has its connection closed.
const MAX_LINE: u64 = 1024 * 1024;

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
    println!("The server is ready to receive on {server_address}");
    loop {
        // Errors below concern one client only: report them and go on
        // with the next connection.
        let (connection_socket, addr) = match server_socket.accept() {
            Ok(accepted) => accepted,
            Err(error) => {
                eprintln!("error: cannot accept a connection: {error}");
                continue;
            }
        };
        // One reader for the whole connection: what a read brings after a
        // newline is the start of the next line, kept in its buffer.
        let mut reader = BufReader::with_capacity(2048, &connection_socket);
        let mut writer = &connection_socket;
        loop {
            let mut line = Vec::new();
            // Reads until the newline however many reads it takes; at the
            // end of the stream, returns the last bytes without one.
            match (&mut reader).take(MAX_LINE).read_until(b'\n', &mut line) {
                // The client shut down its side: no more lines will come.
                Ok(0) => break,
                Ok(_) => {}
                Err(error) => {
                    eprintln!("error: cannot receive from {addr}: {error}");
                    break;
                }
            }
            if line.len() as u64 == MAX_LINE && !line.ends_with(b"\n") {
                eprintln!(
                    "error: {addr} sent a line longer than {MAX_LINE} \
                     bytes; closing the connection"
                );
                break;
            }
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            // Control characters are shown escaped: a client's bytes
            // must not drive the operator's terminal.
            say(printable(line));
            let capitalized_line = line.to_uppercase() + "\n";
            if let Err(error) = writer.write_all(capitalized_line.as_bytes()) {
                eprintln!("error: cannot reply to {addr}: {error}");
                break;
            }
        }
        drop(connection_socket);
    }
}

#[test]
fn flags_are_well_formed() {
    use clap::CommandFactory;
    Args::command().debug_assert();
}
