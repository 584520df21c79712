//! Threaded TCP server: like tcp_server, it reads one sentence from each
//! connection, sends it back in uppercase and closes the connection, but
//! it serves each connection on a thread of its own, so that a client that
//! connects and says nothing holds up nobody else.
//!
//! Run it in one terminal, then clients in others:
//!
//!     cargo run --example tcp_threaded_server
//!     cargo run --example tcp_client
//!
//! Stop it with Ctrl-C. `--help` lists the flags (port, bind address, how
//! many clients it serves at once). Solution of the book's exercise 3.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, Sender};
use std::thread;

use clap::Parser;
use socket_walkthrough::OrExit;
use socket2::{Domain, Socket, Type};

/// Answer every connection's line with the same text in uppercase,
/// serving many connections at once.
#[derive(Parser)]
struct Args {
    /// TCP port to listen on (0 lets the system choose a free one)
    #[arg(long, default_value_t = 12000)]
    port: u16,
    /// Local address to bind: 0.0.0.0 is every IPv4 interface (reachable
    /// from other hosts), 127.0.0.1 this machine only
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
    bind: IpAddr,
    /// Most clients served at once; more wait in the accept queue until
    /// one of them leaves
    #[arg(long, default_value_t = 100,
          value_parser = clap::value_parser!(u16).range(1..))]
    max_clients: u16,
}

/// The longest sentence the server reads from one client, in bytes.
const MAX_SENTENCE: u64 = 64 * 1024;

/// One of the `--max-clients` places. Dropping it frees the place: when
/// the thread that owns it ends, even by a panic, or when it is never
/// handed to a thread.
struct Place(Sender<()>);

impl Drop for Place {
    fn drop(&mut self) {
        // Fails only if the accept loop is gone, and then nobody needs it.
        let _ = self.0.send(());
    }
}

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
    // Many clients may connect at the same moment, and those beyond
    // --max-clients wait in this queue: 128 is what std's
    // TcpListener::bind asks for.
    server_socket.listen(128).or_exit("cannot listen");
    let server_socket = TcpListener::from(server_socket);
    let server_address = server_socket
        .local_addr()
        .or_exit("cannot read the bound address");
    println!("The server is ready to receive on {server_address}");
    // A channel as a counting semaphore: it holds one message per free
    // place. The loop takes one before each accept; a Place gives it back.
    let (free_place, free_places) = mpsc::channel();
    for _ in 0..args.max_clients {
        free_place.send(()).or_exit("cannot count the places");
    }
    loop {
        // While every place is taken, new clients wait in the accept queue.
        free_places.recv().or_exit("cannot wait for a free place");
        let place = Place(free_place.clone());
        let (connection_socket, addr) = match server_socket.accept() {
            Ok(accepted) => accepted,
            Err(error) => {
                eprintln!("error: cannot accept a connection: {error}");
                continue;
            }
        };
        // Builder::spawn reports a thread the system cannot create;
        // thread::spawn would panic and end the whole server.
        let spawned = thread::Builder::new().spawn(move || {
            serve(connection_socket, addr);
            drop(place);
        });
        if let Err(error) = spawned {
            eprintln!("error: cannot start a thread for {addr}: {error}");
        }
    }
}

/// Serves one client on its own thread: what tcp_server's loop does once.
fn serve(mut connection_socket: TcpStream, addr: SocketAddr) {
    let mut sentence = Vec::new();
    // Read until the newline, in reads of at most 2048 bytes, however
    // many it takes; `take` bounds what one client can make us store.
    let reader = (&connection_socket).take(MAX_SENTENCE);
    if let Err(error) =
        BufReader::with_capacity(2048, reader).read_until(b'\n', &mut sentence)
    {
        eprintln!("error: cannot receive from {addr}: {error}");
        return;
    }
    let sentence = String::from_utf8_lossy(&sentence);
    let sentence = sentence.trim_end_matches(['\n', '\r']);
    // println! locks stdout for the whole line: threads never mix lines.
    println!("{sentence}");
    let capitalized_sentence = sentence.to_uppercase() + "\n";
    if let Err(error) =
        connection_socket.write_all(capitalized_sentence.as_bytes())
    {
        eprintln!("error: cannot reply to {addr}: {error}");
    }
}

#[test]
fn flags_are_well_formed() {
    use clap::CommandFactory;
    Args::command().debug_assert();
}
