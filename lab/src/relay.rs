//! `relay`: a UDP relay to put between udp_client and udp_server that
//! loses, delays, duplicates and reorders datagrams on purpose, so that
//! what UDP allows on a real network can be watched on one machine.
//!
//!     cargo run --example udp_server                          # terminal 1
//!     cargo lab relay --drop 0.3 --seed 7                  # terminal 2
//!     cargo run --example udp_client -- --server-port 12001   # terminal 3
//!
//! Every datagram, in each direction, gets one fate from a seeded random
//! number generator and one line of log on standard output. The relay runs
//! until it is stopped (Ctrl-C).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::{self, ErrorKind, Write};
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use socket_walkthrough::{OrExit, fail};

/// How long a reordered datagram waits for the next one in its direction
/// before it goes out anyway: nothing is held forever.
const HOLD: Duration = Duration::from_millis(200);
/// Longest `--delay`: a longer one only makes every client give up, and
/// the delayed datagrams would pile up in memory.
const MAX_DELAY: Duration = Duration::from_secs(10);
/// Largest UDP payload is 65,507 bytes; a bigger buffer never truncates.
const BUFFER_SIZE: usize = 65_536;
/// Each client costs a socket and a thread; a flood of new source ports
/// must not exhaust the machine. A new client beyond this takes the place
/// of the one heard from least recently.
const MAX_CLIENTS: usize = 256;
/// Reply threads alive at once, counting those of clients that lost their
/// place and have not noticed yet: churn cannot pile up threads.
const MAX_THREADS: usize = 2 * MAX_CLIENTS;
/// A client silent this long (both ways) loses its upstream socket; a
/// later datagram from it opens a new one, as a NAT router would.
const IDLE_LIMIT: Duration = Duration::from_secs(60);
/// How often a reply thread wakes to see whether its client is gone.
const POLL: Duration = Duration::from_secs(1);
/// Datagrams waiting for their delay, per direction.
const MAX_WAITING: usize = 10_000;
/// Errors in a row after which a socket is deemed broken: a socket that
/// fails at once every time would otherwise spin forever.
const MAX_ERRORS_IN_A_ROW: u32 = 100;

/// Relay UDP datagrams between clients and one server, losing, delaying,
/// duplicating and reordering some on purpose.
#[derive(clap::Args)]
pub struct Args {
    /// Address to receive the clients' datagrams on; port 0 lets the
    /// system choose (the first line of output names it)
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1:12001")]
    listen: SocketAddr,
    /// Address of the server to forward the datagrams to (host:port)
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1:12000",
          value_parser = parse_server)]
    server: SocketAddr,
    /// Probability (0 to 1) that a datagram is lost
    #[arg(long, value_name = "RATE", default_value_t = 0.0,
          value_parser = parse_rate)]
    drop: f64,
    /// Time every forwarded datagram waits before it goes out, like a slow
    /// link (e.g. 50ms; at most 10s)
    #[arg(long, value_name = "DURATION", default_value = "0s",
          value_parser = parse_delay)]
    delay: Duration,
    /// Probability (0 to 1) that a datagram is sent twice
    #[arg(long, value_name = "RATE", default_value_t = 0.0,
          value_parser = parse_rate)]
    duplicate: f64,
    /// Probability (0 to 1) that a datagram is held back and sent after
    /// the next one in the same direction (or after 200ms if none comes)
    #[arg(long, value_name = "RATE", default_value_t = 0.0,
          value_parser = parse_rate)]
    reorder: f64,
    /// Seed of the random fates. The default is fixed, so that the same
    /// datagrams get the same fates run after run; another seed gives
    /// another sequence
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Parses a probability from 0 to 1, for clap's `value_parser`.
fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err("give a probability from 0 to 1, such as 0.3".to_string()),
    }
}

/// Parses a duration such as `50ms` or `1s`, for clap's `value_parser`.
fn parse_delay(text: &str) -> Result<Duration, String> {
    let delay =
        humantime::parse_duration(text).map_err(|error| error.to_string())?;
    if delay > MAX_DELAY {
        return Err(format!(
            "at most {}",
            humantime::format_duration(MAX_DELAY)
        ));
    }
    Ok(delay)
}

/// Resolves `host:port`, preferring IPv4 as udp_client does.
fn parse_server(text: &str) -> Result<SocketAddr, String> {
    let addresses: Vec<SocketAddr> = text
        .to_socket_addrs()
        .map_err(|error| format!("{error}; give host:port"))?
        .collect();
    addresses
        .iter()
        .find(|address| address.is_ipv4())
        .or(addresses.first())
        .copied()
        .ok_or_else(|| "the name has no address".to_string())
}

pub fn run(args: Args) {
    let total = args.drop + args.duplicate + args.reorder;
    // The margin lets 0.1 + 0.2 + 0.7 pass despite binary rounding.
    if total > 1.0 + 1e-9 {
        let total = (total * 1e6).round() / 1e6;
        // A usage error, like the per-flag ones: exit status 2.
        clap::Error::raw(
            clap::error::ErrorKind::ArgumentConflict,
            format!(
                "--drop, --duplicate and --reorder add up to {total}; each \
                 datagram gets one fate, so the sum must be at most 1\n"
            ),
        )
        .exit();
    }
    let fates = Fates {
        drop: args.drop,
        duplicate: args.duplicate,
        reorder: args.reorder,
        delay: args.delay,
    };
    let server_address = args.server;
    let listen_socket = UdpSocket::bind(args.listen).or_exit(format_args!(
        "cannot bind UDP {} for the clients",
        args.listen
    ));
    let listen_address = listen_socket
        .local_addr()
        .or_exit("cannot read the bound address");
    let listen_socket = Arc::new(listen_socket);
    println!(
        "Relay listening on {listen_address}, forwarding to {server_address}"
    );
    println!("Seed {}: {fates}", args.seed);
    // One generator per direction, each consumed in arrival order: the
    // fates of one direction do not depend on how the threads interleave.
    let mut seeds = fastrand::Rng::with_seed(args.seed);
    let to_server = Lane::start(Direction::ToServer, seeds.u64(..), fates);
    let to_client =
        Arc::new(Lane::start(Direction::ToClient, seeds.u64(..), fates));
    let relay = Relay {
        server_address,
        listen_socket: Arc::clone(&listen_socket),
        to_client,
        sessions: Mutex::new(HashMap::new()),
        threads: AtomicUsize::new(0),
    };
    let relay = Arc::new(relay);
    let mut buffer = vec![0; BUFFER_SIZE];
    let mut errors_in_a_row = 0;
    loop {
        // No client can stop the relay: a failed receive is reported and
        // the loop goes on (Windows reports an earlier ICMP error here).
        let (length, client_address) =
            match listen_socket.recv_from(&mut buffer) {
                Ok(received) => {
                    errors_in_a_row = 0;
                    received
                }
                Err(error) => {
                    // An ICMP error is about one datagram sent earlier, so
                    // only the other errors suggest a broken socket.
                    if !is_icmp_error(&error) {
                        errors_in_a_row += 1;
                    }
                    if errors_in_a_row >= MAX_ERRORS_IN_A_ROW {
                        fail(format_args!(
                            "cannot receive from the clients, \
                             {MAX_ERRORS_IN_A_ROW} times in a row: {error}"
                        ));
                    }
                    eprintln!("error: cannot receive from a client: {error}");
                    continue;
                }
            };
        let Some(upstream) = Relay::upstream_for(&relay, client_address) else {
            continue;
        };
        to_server.pass(
            &buffer[..length],
            client_address,
            Target::Server(upstream),
        );
    }
}

/// The probabilities of the fates and the delay, from the flags.
#[derive(Clone, Copy)]
struct Fates {
    drop: f64,
    duplicate: f64,
    reorder: f64,
    delay: Duration,
}

impl Fates {
    /// Draws exactly one number per datagram, so the n-th datagram of a
    /// direction always gets the n-th draw.
    fn decide(&self, rng: &mut fastrand::Rng) -> Fate {
        let draw = rng.f64();
        if draw < self.drop {
            Fate::Dropped
        } else if draw < self.drop + self.duplicate {
            Fate::Duplicated
        } else if draw < self.drop + self.duplicate + self.reorder {
            Fate::Reordered
        } else {
            Fate::Forwarded
        }
    }
}

impl fmt::Display for Fates {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "drop {}, duplicate {}, reorder {} (held at most {}), delay {}",
            self.drop,
            self.duplicate,
            self.reorder,
            humantime::format_duration(HOLD),
            humantime::format_duration(self.delay)
        )
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Fate {
    Dropped,
    Forwarded,
    Duplicated,
    Reordered,
}

#[derive(Clone, Copy)]
enum Direction {
    ToServer,
    ToClient,
}

/// Where a datagram goes: to the server from the client's own upstream
/// socket, or to a client from the socket the clients talk to.
enum Target {
    Server(Arc<UdpSocket>),
    Client(Arc<UdpSocket>, SocketAddr),
}

impl Target {
    fn send(&self, payload: &[u8]) -> io::Result<usize> {
        match self {
            Target::Server(upstream) => upstream.send(payload),
            Target::Client(socket, address) => socket.send_to(payload, address),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Target::Server(upstream) => match upstream.peer_addr() {
                Ok(address) => write!(f, "the server at {address}"),
                Err(_) => write!(f, "the server"),
            },
            Target::Client(_, address) => write!(f, "client {address}"),
        }
    }
}

/// A datagram on its way out, with the time it may leave.
struct Outgoing {
    number: u64,
    direction: Direction,
    fate: Fate,
    payload: Vec<u8>,
    target: Target,
    due: Instant,
}

impl Outgoing {
    fn send(&self) {
        let copies = if self.fate == Fate::Duplicated { 2 } else { 1 };
        for _ in 0..copies {
            if let Err(error) = self.target.send(&self.payload) {
                let arrow = match self.direction {
                    Direction::ToServer => "client->server",
                    Direction::ToClient => "server->client",
                };
                eprintln!(
                    "error: cannot send {arrow} #{} to {}: {error}",
                    self.number, self.target
                );
            }
        }
    }
}

/// One direction: its own generator and numbering, and a thread that
/// sends its datagrams when they are due.
struct Lane {
    direction: Direction,
    fates: Fates,
    state: Mutex<LaneState>,
}

struct LaneState {
    rng: fastrand::Rng,
    count: u64,
    outbox: Sender<Outgoing>,
}

impl Lane {
    fn start(direction: Direction, seed: u64, fates: Fates) -> Lane {
        let (outbox, inbox) = mpsc::channel();
        thread::Builder::new()
            .name("relay sender".to_string())
            .spawn(move || deliver(inbox))
            .or_exit("cannot start a thread");
        Lane {
            direction,
            fates,
            state: Mutex::new(LaneState {
                rng: fastrand::Rng::with_seed(seed),
                count: 0,
                outbox,
            }),
        }
    }

    /// Numbers the datagram, decides its fate, logs it and hands it to
    /// the sending thread. `client` is the peer named in the log.
    fn pass(&self, payload: &[u8], client: SocketAddr, target: Target) {
        let arrived = Instant::now();
        // Number, draw, log line and hand-over all happen under one lock,
        // so they follow the same order.
        let mut lane = lock(&self.state);
        lane.count += 1;
        let number = lane.count;
        let fate = self.fates.decide(&mut lane.rng);
        let route = match self.direction {
            Direction::ToServer => format!("client {client} -> server"),
            Direction::ToClient => format!("server -> client {client}"),
        };
        let length = payload.len();
        let unit = if length == 1 { "byte" } else { "bytes" };
        let fate_text = match fate {
            Fate::Dropped => "dropped".to_string(),
            Fate::Forwarded if self.fates.delay.is_zero() => {
                "forwarded".to_string()
            }
            Fate::Forwarded => format!(
                "delayed {}",
                humantime::format_duration(self.fates.delay)
            ),
            Fate::Duplicated => "duplicated".to_string(),
            Fate::Reordered => "reordered".to_string(),
        };
        // Nobody reading standard output is no reason to stop relaying.
        let _ = writeln!(
            io::stdout(),
            "#{number} {route}: {length} {unit}, {fate_text}"
        );
        if fate == Fate::Dropped {
            return;
        }
        let outgoing = Outgoing {
            number,
            direction: self.direction,
            fate,
            payload: payload.to_vec(),
            target,
            due: arrived + self.fates.delay,
        };
        // The receiving thread lives as long as the lane: this cannot fail.
        let _ = lane.outbox.send(outgoing);
    }
}

/// The sending thread of a lane: sends each datagram when its delay is
/// over, holds the reordered ones until the next datagram has gone out
/// (at most [`HOLD`]), and sends duplicated ones twice.
fn deliver(inbox: Receiver<Outgoing>) {
    let mut waiting: VecDeque<Outgoing> = VecDeque::new();
    // Reordered datagrams with the time they must leave at the latest.
    let mut held: VecDeque<(Instant, Outgoing)> = VecDeque::new();
    loop {
        let wake = [
            waiting.front().map(|outgoing| outgoing.due),
            held.front().map(|(deadline, _)| *deadline),
        ]
        .into_iter()
        .flatten()
        .min();
        let received = match wake {
            Some(wake) => inbox
                .recv_timeout(wake.saturating_duration_since(Instant::now())),
            None => inbox.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match received {
            Ok(outgoing) => wait(&mut waiting, held.len(), outgoing),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        // Take all that came meanwhile: if this thread runs late, a held
        // datagram must still go out after the one that arrived in time.
        while let Ok(outgoing) = inbox.try_recv() {
            wait(&mut waiting, held.len(), outgoing);
        }
        let now = Instant::now();
        while let Some(outgoing) =
            pop_front_if(&mut waiting, |outgoing| outgoing.due <= now)
        {
            // Held ones whose time ran out before this one was due.
            while let Some((_, expired)) =
                pop_front_if(&mut held, |(deadline, _)| {
                    *deadline < outgoing.due
                })
            {
                expired.send();
            }
            if outgoing.fate == Fate::Reordered {
                held.push_back((outgoing.due + HOLD, outgoing));
            } else {
                outgoing.send();
                for (_, released) in held.drain(..) {
                    released.send();
                }
            }
        }
        while let Some((_, expired)) =
            pop_front_if(&mut held, |(deadline, _)| *deadline <= now)
        {
            expired.send();
        }
    }
}

/// `VecDeque::pop_front_if` is newer than this crate's minimum Rust.
fn pop_front_if<T>(
    queue: &mut VecDeque<T>,
    ready: impl FnOnce(&T) -> bool,
) -> Option<T> {
    if queue.front().is_some_and(ready) {
        queue.pop_front()
    } else {
        None
    }
}

/// Queues a datagram for its due time, unless too many already wait.
fn wait(waiting: &mut VecDeque<Outgoing>, held: usize, outgoing: Outgoing) {
    if waiting.len() + held >= MAX_WAITING {
        eprintln!(
            "error: {MAX_WAITING} datagrams already wait to be sent; #{} to \
             {} is lost",
            outgoing.number, outgoing.target
        );
        return;
    }
    // The delay is the same for all, so the queue stays in due order.
    waiting.push_back(outgoing);
}

/// What the receiving side shares with the threads that read the
/// server's replies.
struct Relay {
    server_address: SocketAddr,
    listen_socket: Arc<UdpSocket>,
    to_client: Arc<Lane>,
    sessions: Mutex<HashMap<SocketAddr, Session>>,
    /// Reply threads running, at most [`MAX_THREADS`].
    threads: AtomicUsize,
}

/// A client's own socket towards the server: the server sees one peer per
/// client, and its replies on that socket belong to that client.
struct Session {
    upstream: Arc<UdpSocket>,
    last_heard: Instant,
}

impl Relay {
    /// The upstream socket of `client`, opened (with its reply thread) on
    /// the client's first datagram. `None` after reporting an error.
    fn upstream_for(
        relay: &Arc<Relay>,
        client: SocketAddr,
    ) -> Option<Arc<UdpSocket>> {
        let mut sessions = lock(&relay.sessions);
        if let Some(session) = sessions.get_mut(&client) {
            session.last_heard = Instant::now();
            return Some(Arc::clone(&session.upstream));
        }
        if relay.threads.load(Ordering::Relaxed) >= MAX_THREADS {
            eprintln!(
                "error: {MAX_THREADS} reply threads still running; ignored a \
                 datagram from {client}"
            );
            return None;
        }
        if sessions.len() >= MAX_CLIENTS {
            // Refusing newcomers would let one host that keeps its 256
            // entries fresh lock every other client out for good.
            let oldest = sessions
                .iter()
                .min_by_key(|(_, session)| session.last_heard)
                .map(|(address, _)| *address);
            if let Some(oldest) = oldest {
                sessions.remove(&oldest);
                eprintln!(
                    "note: already {MAX_CLIENTS} clients; {oldest}, heard \
                     from least recently, makes room for {client}"
                );
            }
        }
        let upstream = match relay.open_upstream() {
            Ok(upstream) => Arc::new(upstream),
            Err(error) => {
                eprintln!(
                    "error: cannot open a socket to the server for client \
                     {client}: {error}"
                );
                return None;
            }
        };
        let reader = {
            let relay = Arc::clone(relay);
            let upstream = Arc::clone(&upstream);
            relay.threads.fetch_add(1, Ordering::Relaxed);
            thread::Builder::new()
                .name(format!("replies to {client}"))
                .spawn(move || {
                    relay.pass_replies(client, upstream);
                    relay.threads.fetch_sub(1, Ordering::Relaxed);
                })
        };
        if let Err(error) = reader {
            relay.threads.fetch_sub(1, Ordering::Relaxed);
            eprintln!("error: cannot start a thread for {client}: {error}");
            return None;
        }
        sessions.insert(
            client,
            Session {
                upstream: Arc::clone(&upstream),
                last_heard: Instant::now(),
            },
        );
        Some(upstream)
    }

    fn open_upstream(&self) -> io::Result<UdpSocket> {
        let any_port = match self.server_address {
            SocketAddr::V4(_) => "0.0.0.0:0",
            SocketAddr::V6(_) => "[::]:0",
        };
        let upstream = UdpSocket::bind(any_port)?;
        // Connected: only the server's datagrams arrive here, and an ICMP
        // "port unreachable" comes back as an error instead of silence.
        upstream.connect(self.server_address)?;
        // Wakes the reply thread now and then to see if the client left.
        upstream.set_read_timeout(Some(POLL))?;
        Ok(upstream)
    }

    /// The thread of one client: passes the server's replies back to it,
    /// and ends when the client has been silent for [`IDLE_LIMIT`] or has
    /// lost its place to a new client.
    fn pass_replies(&self, client: SocketAddr, upstream: Arc<UdpSocket>) {
        let mut buffer = vec![0; BUFFER_SIZE];
        let mut errors_in_a_row = 0;
        loop {
            match upstream.recv(&mut buffer) {
                Ok(length) => {
                    errors_in_a_row = 0;
                    match lock(&self.sessions).get_mut(&client) {
                        Some(session)
                            if Arc::ptr_eq(&session.upstream, &upstream) =>
                        {
                            session.last_heard = Instant::now();
                        }
                        // The client lost its place: its late replies go
                        // with it.
                        _ => return,
                    }
                    let target =
                        Target::Client(Arc::clone(&self.listen_socket), client);
                    self.to_client.pass(&buffer[..length], client, target);
                }
                Err(error)
                    if matches!(
                        error.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut
                    ) =>
                {
                    if self.expire(client, &upstream) {
                        return;
                    }
                }
                Err(error) => {
                    if error.kind() == ErrorKind::ConnectionRefused {
                        eprintln!(
                            "error: nothing receives on {} (ICMP port \
                             unreachable): a datagram from client {client} \
                             was lost; is the server running?",
                            self.server_address
                        );
                    } else {
                        eprintln!(
                            "error: cannot receive from the server for \
                             client {client}: {error}"
                        );
                    }
                    if !is_icmp_error(&error) {
                        errors_in_a_row += 1;
                    }
                    if errors_in_a_row >= MAX_ERRORS_IN_A_ROW {
                        let mut sessions = lock(&self.sessions);
                        if sessions.get(&client).is_some_and(|session| {
                            Arc::ptr_eq(&session.upstream, &upstream)
                        }) {
                            sessions.remove(&client);
                        }
                        return;
                    }
                }
            }
        }
    }

    /// Forgets `client` if it has been silent too long; true when this
    /// thread's session is over.
    fn expire(&self, client: SocketAddr, upstream: &Arc<UdpSocket>) -> bool {
        let mut sessions = lock(&self.sessions);
        match sessions.get(&client) {
            Some(session) if Arc::ptr_eq(&session.upstream, upstream) => {
                if session.last_heard.elapsed() < IDLE_LIMIT {
                    return false;
                }
                sessions.remove(&client);
                true
            }
            // Already replaced or removed.
            _ => true,
        }
    }
}

/// Whether `error` reports an ICMP message about an earlier datagram
/// (Linux: refused, on a connected socket; Windows: reset, on any).
fn is_icmp_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset
    )
}

/// Locks `mutex` even if a thread panicked while holding it: the data is
/// still usable, and the relay must not stop for that.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_probabilities() {
        assert_eq!(parse_rate("0"), Ok(0.0));
        assert_eq!(parse_rate("0.3"), Ok(0.3));
        assert_eq!(parse_rate("1"), Ok(1.0));
        for bad in ["1.5", "-0.1", "nan", "inf", "30%", ""] {
            assert!(parse_rate(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn delays_are_durations_up_to_ten_seconds() {
        assert_eq!(parse_delay("50ms"), Ok(Duration::from_millis(50)));
        assert_eq!(parse_delay("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_delay("10s"), Ok(MAX_DELAY));
        for bad in ["11s", "50", "fast", ""] {
            assert!(parse_delay(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn fates_follow_the_rates() {
        let fates = Fates {
            drop: 0.5,
            duplicate: 0.2,
            reorder: 0.2,
            delay: Duration::ZERO,
        };
        let mut rng = fastrand::Rng::with_seed(7);
        let mut counts = [0; 4];
        for _ in 0..10_000 {
            counts[fates.decide(&mut rng) as usize] += 1;
        }
        // Dropped, forwarded, duplicated, reordered: 50%, 10%, 20%, 20%.
        let [dropped, forwarded, duplicated, reordered] = counts;
        assert!((4_700..5_300).contains(&dropped), "{counts:?}");
        assert!((800..1_200).contains(&forwarded), "{counts:?}");
        assert!((1_800..2_200).contains(&duplicated), "{counts:?}");
        assert!((1_800..2_200).contains(&reordered), "{counts:?}");
    }

    #[test]
    fn a_rate_of_one_is_certain() {
        let mut rng = fastrand::Rng::with_seed(1);
        let always = |drop, duplicate| Fates {
            drop,
            duplicate,
            reorder: 0.0,
            delay: Duration::ZERO,
        };
        for _ in 0..1_000 {
            assert!(always(1.0, 0.0).decide(&mut rng) == Fate::Dropped);
            assert!(always(0.0, 1.0).decide(&mut rng) == Fate::Duplicated);
            assert!(always(0.0, 0.0).decide(&mut rng) == Fate::Forwarded);
        }
    }
}
