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
//! many clients it serves at once, how long each may take). Solution of
//! the book's exercise 3.

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, Sender};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use socket_walkthrough::{OrExit, parse_seconds, printable, say};
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
    /// Seconds a client has to send its whole sentence (and to take the
    /// reply); then its connection is closed and its place freed
    #[arg(long, value_name = "SECONDS", default_value = "10",
          value_parser = parse_seconds)]
    timeout: Duration,
}

/// The longest sentence the server reads from one client, in bytes.
const MAX_SENTENCE: u64 = 64 * 1024;
/// The first wait after a failed accept, and the longest.
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const LONGEST_PAUSE: Duration = Duration::from_secs(1);

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
    let timeout = args.timeout;
    let mut failed_accepts: u32 = 0;
    loop {
        // While every place is taken, new clients wait in the accept queue.
        free_places.recv().or_exit("cannot wait for a free place");
        let place = Place(free_place.clone());
        let (connection_socket, addr) = match server_socket.accept() {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, accept fails at once, every
                // time, until a connection closes: retrying at once would
                // spin and flood stderr. Report the first failure, wait
                // twice as long after each one, up to a second.
                if failed_accepts == 0 {
                    eprintln!(
                        "error: cannot accept a connection: {error}; \
                         retrying, less and less often"
                    );
                }
                let doublings = failed_accepts.min(4);
                failed_accepts += 1;
                thread::sleep(
                    (FIRST_PAUSE * (1 << doublings)).min(LONGEST_PAUSE),
                );
                continue;
            }
        };
        if failed_accepts > 0 {
            eprintln!("note: accepting again after {failed_accepts} failures");
            failed_accepts = 0;
        }
        // Builder::spawn reports a thread the system cannot create;
        // thread::spawn would panic and end the whole server.
        let spawned = thread::Builder::new().spawn(move || {
            serve(connection_socket, addr, timeout);
            drop(place);
        });
        if let Err(error) = spawned {
            eprintln!("error: cannot start a thread for {addr}: {error}");
        }
    }
}

/// Serves one client on its own thread: what tcp_server's loop does once.
fn serve(
    mut connection_socket: TcpStream,
    addr: SocketAddr,
    timeout: Duration,
) {
    let mut sentence = Vec::new();
    // Read until the newline, in reads of at most 2048 bytes, however
    // many it takes; `take` bounds what one client can make us store.
    let reader = Deadline {
        socket: &connection_socket,
        deadline: Instant::now() + timeout,
    }
    .take(MAX_SENTENCE);
    if let Err(error) =
        BufReader::with_capacity(2048, reader).read_until(b'\n', &mut sentence)
    {
        if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
            eprintln!("error: no sentence from {addr} in {timeout:?}; closing");
        } else {
            eprintln!("error: cannot receive from {addr}: {error}");
        }
        return;
    }
    let sentence = String::from_utf8_lossy(&sentence);
    let sentence = sentence.trim_end_matches(['\n', '\r']);
    // One whole line per call, threads never mix lines; control
    // characters are shown escaped, never sent to the terminal.
    say(printable(sentence));
    let capitalized_sentence = sentence.to_uppercase() + "\n";
    // A client that never reads must not hold its thread either.
    let reply = capitalized_sentence.as_bytes();
    if let Err(error) = connection_socket
        .set_write_timeout(Some(timeout))
        .and_then(|()| connection_socket.write_all(reply))
    {
        eprintln!("error: cannot reply to {addr}: {error}");
    }
}

/// Reads from a connection until a fixed time, however slowly the bytes
/// come: each read may wait only what is left until `deadline`.
struct Deadline<'a> {
    socket: &'a TcpStream,
    deadline: Instant,
}

impl Read for Deadline<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        // A zero timeout is an error for set_read_timeout, not "at once".
        if remaining.is_zero() {
            return Err(ErrorKind::TimedOut.into());
        }
        self.socket.set_read_timeout(Some(remaining))?;
        self.socket.read(buffer)
    }
}

#[test]
fn flags_are_well_formed() {
    use clap::CommandFactory;
    Args::command().debug_assert();
}
