//! `compare`: eight experiments that run UDP and TCP side by side on this
//! machine and print what differs, measured rather than told.
//!
//!     cargo lab compare              # all eight, a few seconds
//!     cargo lab compare loss --json  # one, as a JSON document
//!
//! Every server, receiver and forwarder is a thread of this process on
//! 127.0.0.1, on a port the system chooses; every wait has a time limit,
//! so the command always stops by itself.

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::{Arc, OnceLock, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use clap::ValueEnum;
use serde_json::{Map, Value, json};
use socket_walkthrough::{OrExit, fail};
use socket2::{Domain, SockRef, Socket, Type};

/// Arguments of `compare`.
#[derive(clap::Args)]
pub struct Args {
    /// Run only this experiment (all eight, in this order, when omitted)
    #[arg(value_enum)]
    experiment: Option<Experiment>,
    /// Print one JSON document (an array of experiments) instead of text
    #[arg(long)]
    json: bool,
    /// Timed request/reply exchanges per transport in `cost`, after 100
    /// untimed warm-up ones
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    requests: u32,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Experiment {
    /// Three sends: how many reads?
    Boundaries,
    /// Time of one request/reply exchange
    Cost,
    /// What a client learns when no server is there
    Absent,
    /// A 5000-byte message and a 2048-byte buffer
    Oversize,
    /// 100 messages over a path that drops 30% of datagrams
    Loss,
    /// Connections to a server that never calls accept
    Backlog,
    /// Binding the port of a server that just stopped
    Rebind,
    /// A fast sender and a receiver that does not read yet
    Flow,
}

impl Experiment {
    fn name(self) -> String {
        self.to_possible_value()
            .map(|value| value.get_name().to_owned())
            .unwrap_or_default()
    }

    /// Position in the full run, so a block keeps its number when run
    /// alone.
    fn number(self) -> usize {
        Self::value_variants()
            .iter()
            .position(|&experiment| experiment == self)
            .map_or(0, |index| index + 1)
    }

    fn title(self) -> &'static str {
        match self {
            Self::Boundaries => "three sends, how many reads?",
            Self::Cost => "time of one request/reply exchange",
            Self::Absent => "no server at the address",
            Self::Oversize => "a 5000-byte message, a 2048-byte buffer",
            Self::Loss => "a path that drops 30% of datagrams",
            Self::Backlog => "a server that never calls accept",
            Self::Rebind => "restarting a server on the same port",
            Self::Flow => "a fast sender, a receiver not reading yet",
        }
    }

    fn run(self, args: &Args) -> Report {
        let (udp, tcp, conclusion) = match self {
            Self::Boundaries => boundaries(),
            Self::Cost => cost(args.requests),
            Self::Absent => absent(),
            Self::Oversize => oversize(),
            Self::Loss => loss(),
            Self::Backlog => backlog(),
            Self::Rebind => rebind(),
            Self::Flow => flow(),
        };
        Report {
            experiment: self,
            udp,
            tcp,
            conclusion,
        }
    }
}

/// Runs the chosen experiments one after the other (never in parallel:
/// they would disturb each other's timings) and prints them.
pub fn run(args: Args) {
    let chosen = match args.experiment {
        Some(experiment) => vec![experiment],
        None => Experiment::value_variants().to_vec(),
    };
    let mut documents = Vec::new();
    for (index, experiment) in chosen.into_iter().enumerate() {
        let report = experiment.run(&args);
        if args.json {
            documents.push(report.json());
        } else {
            // Each block as soon as it is measured: the run takes seconds.
            let gap = if index == 0 { "" } else { "\n" };
            write_out(&format!("{gap}{}", report.text()));
        }
    }
    if args.json {
        let document = serde_json::to_string_pretty(&Value::Array(documents))
            .or_exit("cannot encode the results as JSON");
        write_out(&format!("{document}\n"));
    }
}

/// `print!` panics when standard output is closed (`compare | head`);
/// this ends with one error line instead.
fn write_out(text: &str) {
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .or_exit("cannot write to standard output");
}

/// What one experiment measured.
struct Report {
    experiment: Experiment,
    udp: Side,
    tcp: Side,
    conclusion: String,
}

/// One transport's results: figures for `--json`, sentences for the text.
#[derive(Default)]
struct Side {
    figures: Map<String, Value>,
    lines: Vec<String>,
}

impl Side {
    fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.figures.insert(key.to_owned(), value.into());
    }

    fn say(&mut self, line: impl Into<String>) {
        self.lines.push(line.into());
    }
}

/// Width of the UDP column; with " | " and the TCP column, 80 in all.
const LEFT: usize = 38;
const RIGHT: usize = 39;
const WIDTH: usize = LEFT + 3 + RIGHT;

impl Report {
    fn json(self) -> Value {
        json!({
            "name": self.experiment.name(),
            "title": self.experiment.title(),
            "udp": self.udp.figures,
            "tcp": self.tcp.figures,
            "conclusion": self.conclusion,
        })
    }

    fn text(&self) -> String {
        let experiment = self.experiment;
        let mut text = format!(
            "{}. {}: {}\n",
            experiment.number(),
            experiment.name(),
            experiment.title()
        );
        text += &row("UDP", "TCP");
        text +=
            &format!("{}+{}\n", "-".repeat(LEFT + 1), "-".repeat(RIGHT + 1));
        let left = wrap_lines(&self.udp.lines, LEFT);
        let right = wrap_lines(&self.tcp.lines, RIGHT);
        for index in 0..left.len().max(right.len()) {
            let cell = |lines: &[String]| {
                lines.get(index).cloned().unwrap_or_default()
            };
            text += &row(&cell(&left), &cell(&right));
        }
        for line in wrap(&format!("=> {}", self.conclusion), WIDTH, "   ") {
            text += &line;
            text.push('\n');
        }
        text
    }
}

fn row(left: &str, right: &str) -> String {
    let line = format!("{left:<LEFT$} | {right}");
    format!("{}\n", line.trim_end())
}

fn wrap_lines(lines: &[String], width: usize) -> Vec<String> {
    lines
        .iter()
        .flat_map(|line| wrap(line, width, "  "))
        .collect()
}

/// Breaks `text` between words so that no line is wider than `width`;
/// lines after the first start with `indent` after the text's own.
fn wrap(text: &str, width: usize, indent: &str) -> Vec<String> {
    let own_indent = &text[..text.len() - text.trim_start().len()];
    let indent = format!("{own_indent}{indent}");
    let mut lines = Vec::new();
    let mut line = own_indent.to_owned();
    for word in text.split_whitespace() {
        let used = line.chars().count();
        let fresh = line.trim().is_empty();
        if !fresh && used + 1 + word.chars().count() > width {
            lines.push(std::mem::replace(&mut line, indent.clone()));
            line.push_str(word);
        } else {
            if !fresh {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines.push(line);
    lines
}

/// How long a step that takes microseconds on an idle loopback may take
/// on a loaded machine before the experiment gives up on it.
const WAIT: Duration = Duration::from_secs(2);

/// The most reads or writes one loop may make: far more than any
/// experiment needs, so only a broken peer reaches it.
const MAX_CALLS: usize = 1_000_000;

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn udp_socket() -> UdpSocket {
    UdpSocket::bind(loopback()).or_exit("cannot bind a UDP socket")
}

fn tcp_listener() -> TcpListener {
    TcpListener::bind(loopback()).or_exit("cannot listen on a TCP port")
}

fn udp_address(socket: &UdpSocket) -> SocketAddr {
    socket
        .local_addr()
        .or_exit("cannot read a UDP socket's address")
}

fn tcp_address(listener: &TcpListener) -> SocketAddr {
    listener
        .local_addr()
        .or_exit("cannot read a TCP listener's address")
}

fn connect(address: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&address, WAIT)
        .or_exit(format_args!("cannot connect to {address}"));
    stream
        .set_read_timeout(Some(WAIT))
        .and_then(|()| stream.set_write_timeout(Some(WAIT)))
        .or_exit("cannot set a socket timeout");
    stream
}

fn accept(listener: &TcpListener) -> TcpStream {
    let (stream, _) = listener.accept().or_exit("cannot accept");
    stream
        .set_read_timeout(Some(WAIT))
        .and_then(|()| stream.set_write_timeout(Some(WAIT)))
        .or_exit("cannot set a socket timeout");
    stream
}

/// A TCP listener made with socket2, for the options std does not offer:
/// the backlog, SO_REUSEADDR and the receive buffer, all set before
/// `listen` so that accepted connections inherit them.
fn tcp_listener_with(
    address: SocketAddr,
    reuse_address: bool,
    backlog: i32,
    receive_buffer: Option<usize>,
) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, None)?;
    socket.set_reuse_address(reuse_address)?;
    if let Some(size) = receive_buffer {
        socket.set_recv_buffer_size(size)?;
    }
    socket.bind(&address.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}

fn join<T>(thread: JoinHandle<T>, name: &str) -> T {
    thread
        .join()
        .unwrap_or_else(|_| fail(format_args!("the {name} thread failed")))
}

/// The name of an outcome in the results: "ok" or the error's kind as
/// Rust names it. A read timeout is `WouldBlock` on Unix and `TimedOut` on
/// Windows: both are shown as `TimedOut`.
fn outcome<T>(result: &io::Result<T>) -> String {
    match result {
        Ok(_) => "ok".to_owned(),
        Err(error) => match error.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => {
                "TimedOut".to_owned()
            }
            kind => format!("{kind:?}"),
        },
    }
}

/// Milliseconds, to the microsecond.
fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1e3
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

fn list(sizes: &[usize]) -> String {
    let sizes: Vec<String> = sizes.iter().map(usize::to_string).collect();
    sizes.join(", ")
}

fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// Reads `stream` to its end with reads of at most `buffer_size` bytes;
/// returns the size of each read and the bytes. Stops at an error too.
fn read_sizes(
    mut stream: &TcpStream,
    buffer_size: usize,
) -> (Vec<usize>, Vec<u8>) {
    let mut buffer = vec![0; buffer_size];
    let mut sizes = Vec::new();
    let mut bytes = Vec::new();
    for _ in 0..MAX_CALLS {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(length) => {
                sizes.push(length);
                bytes.extend_from_slice(&buffer[..length]);
            }
        }
    }
    (sizes, bytes)
}

fn boundaries() -> (Side, Side, String) {
    const MESSAGES: [&str; 3] = ["one", "two", "three"];
    let quoted: Vec<String> = MESSAGES
        .iter()
        .map(|message| format!("{message:?}"))
        .collect();
    let quoted = quoted.join(", ");

    let mut udp = Side::default();
    let receiver = udp_socket();
    receiver
        .set_read_timeout(Some(WAIT))
        .or_exit("cannot set a timeout");
    let sender = udp_socket();
    for message in MESSAGES {
        sender
            .send_to(message.as_bytes(), udp_address(&receiver))
            .or_exit("cannot send a datagram");
    }
    let mut udp_sizes = Vec::new();
    let mut received = Vec::new();
    let mut buffer = [0; 2048];
    // As many reads as sends, no more: a fourth would wait for a fourth
    // datagram.
    for _ in MESSAGES {
        let Ok(length) = receiver.recv(&mut buffer) else {
            break;
        };
        udp_sizes.push(length);
        received.push(String::from_utf8_lossy(&buffer[..length]).into_owned());
    }
    udp.set("sent", MESSAGES.len());
    udp.set("reads", udp_sizes.len());
    udp.set("sizes", udp_sizes.clone());
    udp.set("received", received.clone());
    udp.say(format!("sent {quoted}, then read"));
    udp.say(format!(
        "{}: {} bytes",
        plural(udp_sizes.len(), "read", "reads"),
        list(&udp_sizes)
    ));
    let received: Vec<String> =
        received.iter().map(|text| format!("{text:?}")).collect();
    udp.say(format!("got {}", received.join(", ")));

    let mut tcp = Side::default();
    let listener = tcp_listener();
    let mut client = connect(tcp_address(&listener));
    // Without Nagle's algorithm each write leaves at once in a segment of
    // its own: whatever merging shows below, the receiver did it.
    client.set_nodelay(true).or_exit("cannot set TCP_NODELAY");
    for message in MESSAGES {
        client
            .write_all(message.as_bytes())
            .or_exit("cannot write to the TCP connection");
    }
    client
        .shutdown(Shutdown::Write)
        .or_exit("cannot shut down the TCP connection");
    let connection = accept(&listener);
    let total = MESSAGES.iter().map(|message| message.len()).sum();
    wait_until_queued(&connection, total);
    let (sizes, bytes) = read_sizes(&connection, 2048);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    tcp.set("sent", MESSAGES.len());
    tcp.set("reads", sizes.len());
    tcp.set("sizes", sizes.clone());
    tcp.set("received", text.clone());
    tcp.say(format!("wrote {quoted}, shut down, then read"));
    tcp.say(format!(
        "{}: {} bytes",
        plural(sizes.len(), "read", "reads"),
        list(&sizes)
    ));
    tcp.say(format!("got {text:?}"));

    let conclusion = format!(
        "UDP: {} sends, {} (messages); TCP: {} writes, {} (a byte stream)",
        MESSAGES.len(),
        plural(udp_sizes.len(), "read", "reads"),
        MESSAGES.len(),
        plural(sizes.len(), "read", "reads"),
    );
    (udp, tcp, conclusion)
}

/// Waits until `count` bytes (or the end of the stream) have arrived on
/// `stream`, without reading them, so that the first read comes after all
/// the writes have landed, as in the experiment's story.
fn wait_until_queued(stream: &TcpStream, count: usize) {
    let started = Instant::now();
    let mut buffer = vec![0; count];
    while started.elapsed() < WAIT {
        match stream.peek(&mut buffer) {
            Ok(length) if length > 0 && length < count => {
                thread::sleep(Duration::from_millis(1));
            }
            _ => return,
        }
    }
}

const SENTENCE: &str = "the quick brown fox jumps over the lazy dog";
const WARM_UP: u32 = 100;

/// Time of each exchange, `None` for one that failed.
type Times = Vec<Option<Duration>>;

fn cost(requests: u32) -> (Side, Side, String) {
    let total = WARM_UP + requests;
    let mut udp_client = UdpExchanges::start(total);
    let mut new_connection = NewConnectionExchanges::start(total);
    let mut persistent = PersistentExchanges::start(total);
    let mut times: [Times; 3] = Default::default();
    for round in 0..total as usize {
        // Taking turns spreads the noise of a shared machine over the
        // three alike, instead of on whichever ran during a busy second.
        for turn in 0..3 {
            let transport = (round + turn) % 3;
            times[transport].push(match transport {
                0 => udp_client.exchange(),
                1 => new_connection.exchange(),
                _ => persistent.exchange(),
            });
        }
    }
    udp_client.finish();
    new_connection.finish();
    persistent.finish();
    let [udp_times, new_connection_times, persistent_times] = times;

    let mut udp = Side::default();
    udp.say(format!(
        "send_to, recv_from, {requests} times (after {WARM_UP} warm-up):"
    ));
    let (udp_median, _) = summarize(&mut udp, None, &udp_times, None);
    let mut tcp = Side::default();
    tcp.say("new connection per request (connect,");
    tcp.say("  send, recv, close):");
    let (_, per_connection) = summarize(
        &mut tcp,
        Some("new_connection"),
        &new_connection_times,
        udp_median,
    );
    tcp.say("one connection, newline-framed:");
    let (_, kept) =
        summarize(&mut tcp, Some("persistent"), &persistent_times, udp_median);

    let conclusion = match (per_connection, kept) {
        (Some(per_connection), Some(kept)) => format!(
            "per exchange, a new TCP connection costs {per_connection:.1}x \
             UDP; a kept one {kept:.1}x"
        ),
        _ => "some exchanges failed: see the figures".to_owned(),
    };
    (udp, tcp, conclusion)
}

/// Adds the figures of one series of exchanges to `side` (under `key`, or
/// at the top); returns its median in microseconds and, given the UDP
/// median, the ratio of the two.
fn summarize(
    side: &mut Side,
    key: Option<&str>,
    times: &Times,
    udp_median: Option<f64>,
) -> (Option<f64>, Option<f64>) {
    let timed = times.get(WARM_UP as usize..).unwrap_or_default();
    let mut micros: Vec<f64> = timed
        .iter()
        .flatten()
        .map(|time| time.as_secs_f64() * 1e6)
        .collect();
    micros.sort_by(f64::total_cmp);
    let failed = timed.len() - micros.len();
    let rank = |fraction: f64| {
        let index = (fraction * micros.len() as f64).ceil() as usize;
        micros.get(index.saturating_sub(1)).copied().map(round1)
    };
    let (median, p99) = (rank(0.5), rank(0.99));
    let ratio = match (median, udp_median) {
        (Some(median), Some(udp_median)) if udp_median > 0.0 => {
            Some(round1(median / udp_median))
        }
        _ => None,
    };
    let mut figures = Map::new();
    figures.insert("exchanges".into(), micros.len().into());
    figures.insert("failed".into(), failed.into());
    figures.insert("median_us".into(), median.into());
    figures.insert("p99_us".into(), p99.into());
    let show = |value: Option<f64>| {
        value.map_or("-".to_owned(), |value| format!("{value:.1}"))
    };
    match key {
        Some(key) => {
            figures.insert("vs_udp".into(), ratio.into());
            side.set(key, figures);
            side.say(format!(
                "  median {} µs ({}x UDP)",
                show(median),
                show(ratio)
            ));
            side.say(format!("  p99 {} µs", show(p99)));
        }
        None => {
            side.figures.extend(figures);
            side.say(format!("median {} µs", show(median)));
            side.say(format!("p99 {} µs", show(p99)));
        }
    }
    if failed > 0 {
        side.say(format!("  {failed} failed (no reply in time)"));
    }
    (median, ratio)
}

/// An uppercase UDP server for at most `count` requests. It stops early
/// on an empty datagram, or when no request came for WAIT.
fn udp_server(server_socket: UdpSocket, count: u32) -> JoinHandle<()> {
    server_socket
        .set_read_timeout(Some(WAIT))
        .or_exit("cannot set a timeout");
    thread::spawn(move || {
        let mut message = [0; 2048];
        for _ in 0..count {
            let Ok((length @ 1.., client_address)) =
                server_socket.recv_from(&mut message)
            else {
                break;
            };
            let modified_message =
                String::from_utf8_lossy(&message[..length]).to_uppercase();
            let _ = server_socket
                .send_to(modified_message.as_bytes(), client_address);
        }
    })
}

/// Answers up to `count` newline-ended lines on `connection` with the same
/// lines in uppercase, until the client closes.
fn serve_lines(connection: TcpStream, count: u32) {
    // A reply written while the previous one is still unacknowledged
    // would wait for the delayed ACK (40 ms on Linux) under Nagle's
    // algorithm: that is not the cost being measured.
    let _ = connection.set_nodelay(true);
    let mut reader = BufReader::new(&connection);
    let mut writer = &connection;
    let mut line = Vec::new();
    for _ in 0..count {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let modified_line = String::from_utf8_lossy(&line).to_uppercase();
        if writer.write_all(modified_line.as_bytes()).is_err() {
            break;
        }
    }
}

/// The notes' UDP client, sending request after request to an uppercase
/// server.
struct UdpExchanges {
    client_socket: UdpSocket,
    server_address: SocketAddr,
    server: JoinHandle<()>,
    expected: Vec<u8>,
}

impl UdpExchanges {
    fn start(total: u32) -> UdpExchanges {
        let server_socket = udp_socket();
        let server_address = udp_address(&server_socket);
        let server = udp_server(server_socket, total);
        let client_socket = udp_socket();
        client_socket
            .set_read_timeout(Some(WAIT))
            .or_exit("cannot set a timeout");
        UdpExchanges {
            client_socket,
            server_address,
            server,
            expected: SENTENCE.to_uppercase().into_bytes(),
        }
    }

    fn exchange(&mut self) -> Option<Duration> {
        let mut reply = [0; 2048];
        let started = Instant::now();
        self.client_socket
            .send_to(SENTENCE.as_bytes(), self.server_address)
            .or_exit("cannot send a datagram");
        let answered = matches!(
            self.client_socket.recv_from(&mut reply),
            Ok((length, _)) if reply[..length] == self.expected
        );
        answered.then(|| started.elapsed())
    }

    fn finish(self) {
        join(self.server, "UDP server");
    }
}

/// The notes' TCP client, once per request: connect, send, receive until
/// the server closes, close.
struct NewConnectionExchanges {
    server_address: SocketAddr,
    server: JoinHandle<()>,
    request: Vec<u8>,
    expected: Vec<u8>,
}

impl NewConnectionExchanges {
    fn start(total: u32) -> NewConnectionExchanges {
        let listener = tcp_listener();
        let server_address = tcp_address(&listener);
        // The client makes exactly `total` connections (or the process
        // exits), so this loop ends.
        let server = thread::spawn(move || {
            for _ in 0..total {
                serve_lines(accept(&listener), 1);
            }
        });
        NewConnectionExchanges {
            server_address,
            server,
            request: format!("{SENTENCE}\n").into_bytes(),
            expected: format!("{}\n", SENTENCE.to_uppercase()).into_bytes(),
        }
    }

    fn exchange(&mut self) -> Option<Duration> {
        let started = Instant::now();
        let mut client_socket = connect(self.server_address);
        let mut reply = Vec::new();
        let answered = client_socket.write_all(&self.request).is_ok()
            && client_socket.read_to_end(&mut reply).is_ok()
            && reply == self.expected;
        drop(client_socket);
        answered.then(|| started.elapsed())
    }

    fn finish(self) {
        join(self.server, "TCP server");
    }
}

/// One TCP connection for every request, a line each way.
struct PersistentExchanges {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    server: JoinHandle<()>,
    request: Vec<u8>,
    expected: Vec<u8>,
}

impl PersistentExchanges {
    fn start(total: u32) -> PersistentExchanges {
        let listener = tcp_listener();
        let server_address = tcp_address(&listener);
        let server =
            thread::spawn(move || serve_lines(accept(&listener), total));
        let client_socket = connect(server_address);
        client_socket
            .set_nodelay(true)
            .or_exit("cannot set TCP_NODELAY");
        let writer = client_socket.try_clone().or_exit("cannot clone a socket");
        PersistentExchanges {
            reader: BufReader::new(client_socket),
            writer,
            server,
            request: format!("{SENTENCE}\n").into_bytes(),
            expected: format!("{}\n", SENTENCE.to_uppercase()).into_bytes(),
        }
    }

    fn exchange(&mut self) -> Option<Duration> {
        let mut reply = Vec::new();
        let started = Instant::now();
        let answered = self.writer.write_all(&self.request).is_ok()
            && self.reader.read_until(b'\n', &mut reply).is_ok()
            && reply == self.expected;
        answered.then(|| started.elapsed())
    }

    /// Closing the connection ends the server's loop.
    fn finish(self) {
        drop(self.reader);
        drop(self.writer);
        join(self.server, "TCP server");
    }
}

/// A port that had a socket a moment ago and has none now: the address of
/// a server that is not running.
fn closed_udp_port() -> SocketAddr {
    udp_address(&udp_socket())
}

fn closed_tcp_port() -> SocketAddr {
    tcp_address(&tcp_listener())
}

fn absent() -> (Side, Side, String) {
    // Long enough to tell silence from an answer, short enough to wait.
    const SILENCE: Duration = Duration::from_millis(500);
    let mut buffer = [0; 2048];

    let mut udp = Side::default();
    let client_socket = udp_socket();
    client_socket
        .set_read_timeout(Some(SILENCE))
        .or_exit("cannot set a timeout");
    let server_address = closed_udp_port();
    let started = Instant::now();
    let result = client_socket
        .send_to(b"anybody there?", server_address)
        .and_then(|_| client_socket.recv_from(&mut buffer));
    let (unconnected, unconnected_time) = (outcome(&result), started.elapsed());

    let client_socket = udp_socket();
    client_socket
        .set_read_timeout(Some(SILENCE))
        .or_exit("cannot set a timeout");
    let server_address = closed_udp_port();
    client_socket
        .connect(server_address)
        .or_exit("cannot connect a UDP socket");
    let started = Instant::now();
    let result = client_socket
        .send(b"anybody there?")
        .and_then(|_| client_socket.recv(&mut buffer));
    let (connected, connected_time) = (outcome(&result), started.elapsed());

    udp.set(
        "unconnected",
        json!({"outcome": unconnected, "ms": millis(unconnected_time)}),
    );
    udp.set(
        "connected",
        json!({"outcome": connected, "ms": millis(connected_time)}),
    );
    udp.say(format!(
        "send_to, recv_from ({} ms timeout):",
        SILENCE.as_millis()
    ));
    udp.say(format!(
        "  {unconnected} after {:.2} ms",
        millis(unconnected_time)
    ));
    if unconnected == "TimedOut" {
        udp.say(
            "  silence: the ICMP error never reaches an unconnected socket",
        );
    }
    udp.say("connect, send, recv:");
    udp.say(format!(
        "  {connected} after {:.2} ms",
        millis(connected_time)
    ));
    if connected == "ConnectionRefused" {
        udp.say("  (ICMP port unreachable)");
    }

    let mut tcp = Side::default();
    let server_address = closed_tcp_port();
    let started = Instant::now();
    let result = TcpStream::connect_timeout(&server_address, SILENCE);
    let (refused, refused_time) = (outcome(&result), started.elapsed());
    tcp.set("outcome", refused.clone());
    tcp.set("ms", millis(refused_time));
    tcp.say("connect:");
    tcp.say(format!("  {refused} after {:.2} ms", millis(refused_time)));
    if refused == "ConnectionRefused" {
        tcp.say("  (a RST answers the SYN)");
    }

    let expected = unconnected == "TimedOut"
        && connected == "ConnectionRefused"
        && refused == "ConnectionRefused";
    let conclusion = if expected {
        "no server: UDP hears nothing unless connected; TCP is refused at once"
            .to_owned()
    } else {
        format!(
            "no server: unconnected UDP {unconnected}, connected UDP \
             {connected}, TCP {refused}"
        )
    };
    (udp, tcp, conclusion)
}

fn oversize() -> (Side, Side, String) {
    const SIZE: usize = 5000;
    const BUFFER: usize = 2048;
    let message: Vec<u8> =
        (0..SIZE).map(|index| b'a' + (index % 26) as u8).collect();

    let mut udp = Side::default();
    let receiver = udp_socket();
    receiver
        .set_read_timeout(Some(WAIT))
        .or_exit("cannot set a timeout");
    let sender = udp_socket();
    let sent = sender
        .send_to(&message, udp_address(&receiver))
        .or_exit("cannot send a datagram");
    // Peeking with room for the largest datagram shows what arrived
    // before the 2048-byte read cuts it.
    let mut whole = vec![0; 65_536];
    let (queued, _) = receiver
        .peek_from(&mut whole)
        .or_exit("no datagram arrived");
    let mut buffer = [0; BUFFER];
    let (received, _) = receiver
        .recv_from(&mut buffer)
        .or_exit("cannot receive the datagram");
    receiver
        .set_nonblocking(true)
        .or_exit("cannot make a socket non-blocking");
    let next = outcome(&receiver.recv_from(&mut buffer));
    let next = if next == "TimedOut" {
        "nothing".to_owned()
    } else {
        next
    };
    let lost = queued.saturating_sub(received);
    udp.set("sent", sent);
    udp.set("arrived", queued);
    udp.set("buffer", BUFFER);
    udp.set("received", received);
    udp.set("lost", lost);
    udp.set("next_read", next.clone());
    udp.say(format!("sent one datagram of {sent} bytes"));
    udp.say(format!("{queued} arrived (seen by a peek)"));
    udp.say(format!("recv_from into {BUFFER} bytes: {received}"));
    udp.say(format!("{lost} bytes lost, no error"));
    udp.say(format!("the next read finds {next}"));

    let mut tcp = Side::default();
    let listener = tcp_listener();
    let mut client = connect(tcp_address(&listener));
    client
        .write_all(&message)
        .and_then(|()| client.shutdown(Shutdown::Write))
        .or_exit("cannot write to the TCP connection");
    let connection = accept(&listener);
    let (sizes, bytes) = read_sizes(&connection, BUFFER);
    let whole = bytes == message;
    tcp.set("sent", SIZE);
    tcp.set("buffer", BUFFER);
    tcp.set("received", bytes.len());
    tcp.set("reads", sizes.len());
    tcp.set("sizes", sizes.clone());
    tcp.set("intact", whole);
    tcp.say(format!("wrote {SIZE} bytes, shut down"));
    tcp.say(format!("reads into {BUFFER} bytes: {}", list(&sizes)));
    tcp.say(format!(
        "got {} of {SIZE} bytes{}",
        bytes.len(),
        if whole { ", intact" } else { "" }
    ));

    // Errata row 11: a server that closes with unread bytes resets.
    let listener = tcp_listener();
    let server_address = tcp_address(&listener);
    let server = thread::spawn(move || {
        let mut connection = accept(&listener);
        let mut part = [0; BUFFER];
        let read = connection.read_exact(&mut part).is_ok();
        drop(connection);
        read
    });
    let mut client = connect(server_address);
    let result = client
        .write_all(&message)
        .and_then(|()| client.read(&mut [0; BUFFER]));
    let server_read = join(server, "TCP server");
    let reset = outcome(&result);
    tcp.set(
        "reset",
        json!({
            "server_read": if server_read { BUFFER } else { 0 },
            "client_read": reset,
        }),
    );
    tcp.say(format!("a server reads {BUFFER} of {SIZE}, closes:"));
    tcp.say(format!("  the client's read: {reset}"));
    udp.say("(no connection, nothing to reset)");

    let conclusion = format!(
        "too big: UDP cut {lost} bytes silently; TCP gave all {} in {}",
        bytes.len(),
        plural(sizes.len(), "read", "reads")
    );
    (udp, tcp, conclusion)
}

const DROP_RATE: f64 = 0.3;
const SEED: u64 = 7;
const LOSS_MESSAGES: u32 = 100;

fn loss() -> (Side, Side, String) {
    // How long the client listens after the last reply: UDP never says
    // that nothing more will come.
    const QUIET: Duration = Duration::from_millis(500);

    let mut udp = Side::default();
    let server_socket = udp_socket();
    let server_address = udp_address(&server_socket);
    let server = udp_server(server_socket, LOSS_MESSAGES);
    let forwarder = Forwarder::start(server_address);
    let client_socket = udp_socket();
    for number in 0..LOSS_MESSAGES {
        client_socket
            .send_to(format!("message {number}").as_bytes(), forwarder.address)
            .or_exit("cannot send a datagram");
    }
    client_socket
        .set_read_timeout(Some(QUIET))
        .or_exit("cannot set a timeout");
    let deadline = Instant::now() + 2 * WAIT;
    let mut received = 0;
    let mut reply = [0; 2048];
    for _ in 0..LOSS_MESSAGES {
        if Instant::now() > deadline {
            break;
        }
        match client_socket.recv_from(&mut reply) {
            Ok((length, _)) if reply[..length].starts_with(b"MESSAGE ") => {
                received += 1;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let (requests_dropped, replies_dropped) = forwarder.finish();
    // The server cannot know how many requests the forwarder let through.
    let _ = client_socket.send_to(&[], server_address);
    join(server, "UDP server");
    let lost = LOSS_MESSAGES - received;
    udp.set("drop_rate", DROP_RATE);
    udp.set("seed", SEED);
    udp.set("sent", LOSS_MESSAGES);
    udp.set("requests_dropped", requests_dropped);
    udp.set("replies_dropped", replies_dropped);
    udp.set("received", received);
    udp.set("lost", lost);
    udp.say(format!(
        "a forwarder drops {}% of datagrams each way (seed {SEED}), the \
         model of relay --drop {DROP_RATE} --seed {SEED}",
        DROP_RATE * 100.0
    ));
    udp.say(format!("sent {LOSS_MESSAGES} requests"));
    udp.say(format!(
        "dropped {requests_dropped} requests, {replies_dropped} replies"
    ));
    udp.say(format!("received {received} replies, lost {lost}"));
    udp.say("no error anywhere: only silence");

    let mut tcp = Side::default();
    let listener = tcp_listener();
    let server_address = tcp_address(&listener);
    let server =
        thread::spawn(move || serve_lines(accept(&listener), LOSS_MESSAGES));
    let client_socket = connect(server_address);
    let mut writer = &client_socket;
    for number in 0..LOSS_MESSAGES {
        writer
            .write_all(format!("message {number}\n").as_bytes())
            .or_exit("cannot write to the TCP connection");
    }
    let mut reader = BufReader::new(&client_socket);
    let mut line = Vec::new();
    let mut tcp_received = 0;
    for _ in 0..LOSS_MESSAGES {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line.starts_with(b"MESSAGE ") => tcp_received += 1,
            Ok(_) => {}
        }
    }
    drop(reader);
    drop(client_socket);
    join(server, "TCP server");
    tcp.set("sent", LOSS_MESSAGES);
    tcp.set("received", tcp_received);
    tcp.set("lost", LOSS_MESSAGES - tcp_received);
    tcp.say(format!(
        "{LOSS_MESSAGES} lines over one connection, straight to the server"
    ));
    tcp.say(format!(
        "received {tcp_received} replies, lost {}",
        LOSS_MESSAGES - tcp_received
    ));
    tcp.say("loopback loses nothing; on a lossy path");
    tcp.say("TCP would retransmit what is lost, late");
    tcp.say("but complete");

    let conclusion = format!(
        "UDP lost {lost} of {LOSS_MESSAGES} in silence; TCP delivered \
         {tcp_received}, resending what a path loses"
    );
    (udp, tcp, conclusion)
}

/// A UDP forwarder between one client and a server that drops datagrams
/// like `relay --drop 0.3 --seed 7`: one generator per direction, seeded
/// from `Rng::with_seed(7)`, one draw per datagram in arrival order. The
/// fates of a direction do not depend on how the threads interleave, so
/// the count of losses is the same run after run.
struct Forwarder {
    address: SocketAddr,
    requests: JoinHandle<u32>,
    replies: JoinHandle<u32>,
}

impl Forwarder {
    fn start(server_address: SocketAddr) -> Forwarder {
        let front = udp_socket();
        let back = udp_socket();
        let address = udp_address(&front);
        back.connect(server_address)
            .or_exit("cannot connect a UDP socket");
        for socket in [&front, &back] {
            socket
                .set_read_timeout(Some(WAIT))
                .or_exit("cannot set a timeout");
        }
        let (front_out, back_in) = (
            front.try_clone().or_exit("cannot clone a socket"),
            back.try_clone().or_exit("cannot clone a socket"),
        );
        let mut seeds = fastrand::Rng::with_seed(SEED);
        let mut to_server = fastrand::Rng::with_seed(seeds.u64(..));
        let mut to_client = fastrand::Rng::with_seed(seeds.u64(..));
        let client = Arc::new(OnceLock::new());
        // One message per forwarded request: the reply thread waits for
        // exactly as many replies, and ends when this channel closes.
        let (forwarded, pending) = mpsc::channel::<()>();
        let requests = {
            let client = Arc::clone(&client);
            thread::spawn(move || {
                let mut dropped = 0;
                let mut datagram = [0; 2048];
                for _ in 0..LOSS_MESSAGES {
                    let Ok((length, sender)) = front.recv_from(&mut datagram)
                    else {
                        break;
                    };
                    let _ = client.set(sender);
                    if to_server.f64() < DROP_RATE {
                        dropped += 1;
                        continue;
                    }
                    let _ = forwarded.send(());
                    let _ = back.send(&datagram[..length]);
                }
                dropped
            })
        };
        let replies = thread::spawn(move || {
            let mut dropped = 0;
            let mut datagram = [0; 2048];
            for () in pending {
                let Ok(length) = back_in.recv(&mut datagram) else {
                    break;
                };
                if to_client.f64() < DROP_RATE {
                    dropped += 1;
                } else if let Some(&client) = client.get() {
                    let _ = front_out.send_to(&datagram[..length], client);
                }
            }
            dropped
        });
        Forwarder {
            address,
            requests,
            replies,
        }
    }

    /// Waits for both directions to finish; returns how many requests and
    /// replies were dropped.
    fn finish(self) -> (u32, u32) {
        (
            join(self.requests, "forwarder"),
            join(self.replies, "forwarder"),
        )
    }
}

/// How many connection attempts the backlog experiment makes per listener.
const ATTEMPTS: usize = 10;

fn backlog() -> (Side, Side, String) {
    // A connect the kernel answers takes microseconds, even on a busy
    // machine; one whose SYN it ignores would wait a whole second for the
    // first retransmission, so half a second tells the two apart.
    const PATIENCE: Duration = Duration::from_millis(500);

    let mut udp = Side::default();
    let receiver = udp_socket();
    let receiver_address = udp_address(&receiver);
    let senders: Vec<UdpSocket> = (0..ATTEMPTS).map(|_| udp_socket()).collect();
    let sent = senders
        .iter()
        .filter(|sender| sender.send_to(b"hello", receiver_address).is_ok())
        .count();
    receiver
        .set_nonblocking(true)
        .or_exit("cannot make a socket non-blocking");
    let mut buffer = [0; 64];
    let queued = (0..ATTEMPTS)
        .take_while(|_| receiver.recv_from(&mut buffer).is_ok())
        .count();
    udp.set("senders", sent);
    udp.set("queued", queued);
    udp.say(format!("{sent} senders, a socket that never reads:"));
    udp.say(format!("  {queued} datagrams wait in its buffer"));
    udp.say("no connections, no accept queue");

    let mut tcp = Side::default();
    let small = tcp_listener_with(loopback(), false, 1, None)
        .or_exit("cannot listen on a TCP port");
    let (small_completed, small_failure) =
        connect_until_failure(tcp_address(&small), PATIENCE);
    let std = tcp_listener();
    let (std_completed, std_failure) =
        connect_until_failure(tcp_address(&std), PATIENCE);
    tcp.set(
        "backlog_1",
        json!({"completed": small_completed, "failure": small_failure}),
    );
    tcp.set(
        "backlog_128",
        json!({"completed": std_completed, "failure": std_failure}),
    );
    tcp.say(format!(
        "nobody accepts; connect ({} ms):",
        PATIENCE.as_millis()
    ));
    for (name, completed, failure) in [
        ("listen(1)", small_completed, &small_failure),
        ("std's bind (128)", std_completed, &std_failure),
    ] {
        let then = match failure {
            Some(failure) => format!(", then {failure}"),
            None => String::new(),
        };
        tcp.say(format!("  {name}: {completed} of {ATTEMPTS} done{then}"));
    }

    let conclusion = format!(
        "no accept needed: {small_completed} connects completed with \
         listen(1), {std_completed} with std's 128"
    );
    (udp, tcp, conclusion)
}

/// Connects to `address` up to ATTEMPTS times, keeping every connection
/// open, until one fails; returns how many completed and how the first
/// failure ended.
fn connect_until_failure(
    address: SocketAddr,
    patience: Duration,
) -> (usize, Option<String>) {
    let mut connections = Vec::new();
    for _ in 0..ATTEMPTS {
        match TcpStream::connect_timeout(&address, patience) {
            Ok(connection) => connections.push(connection),
            Err(error) => {
                return (connections.len(), Some(outcome::<()>(&Err(error))));
            }
        }
    }
    (connections.len(), None)
}

fn rebind() -> (Side, Side, String) {
    let mut udp = Side::default();
    let address = udp_address(&udp_socket());
    let again = outcome(&UdpSocket::bind(address));
    udp.set("rebind", again.clone());
    udp.say("bind, close, bind the same port:");
    udp.say(format!("  {again}: no connection, no TIME_WAIT"));

    let mut tcp = Side::default();
    let cases = [
        ("without_reuse", false, false, "neither"),
        ("only_new_reuse", false, true, "the new one only"),
        ("with_reuse", true, true, "both (like std, tcp_server)"),
    ];
    tcp.say("server closes first (TIME_WAIT), stops;");
    tcp.say("a new server binds its port, with");
    tcp.say("SO_REUSEADDR set on:");
    let mut outcomes = Vec::new();
    for (key, old_reuse, new_reuse, name) in cases {
        let again = restart_tcp_server(old_reuse, new_reuse);
        tcp.set(key, again.clone());
        tcp.say(format!("  {name}: {again}"));
        outcomes.push(again);
    }

    let conclusion = if outcomes == ["AddrInUse", "AddrInUse", "ok"] {
        "TIME_WAIT holds a TCP port unless both servers set SO_REUSEADDR; UDP \
         has none"
            .to_owned()
    } else {
        format!("TCP rebinds: {}; UDP rebinds: {again}", outcomes.join(", "))
    };
    (udp, tcp, conclusion)
}

/// Serves one connection on a fresh port, closes it from the server side
/// first, stops listening and binds the same port again; returns how that
/// bind ended.
fn restart_tcp_server(old_reuse: bool, new_reuse: bool) -> String {
    let listener = tcp_listener_with(loopback(), old_reuse, 1, None)
        .or_exit("cannot listen on a TCP port");
    let server_address = tcp_address(&listener);
    let mut client = connect(server_address);
    drop(accept(&listener));
    // The end of stream shows the server's FIN arrived; the client's
    // close then moves the server's side on to TIME_WAIT.
    let _ = client.read(&mut [0; 16]);
    drop(client);
    drop(listener);
    outcome(&tcp_listener_with(server_address, new_reuse, 1, None))
}

fn flow() -> (Side, Side, String) {
    // The same small buffers for both transports. Left alone, Linux grows
    // a TCP sender's buffer up to tcp_wmem's maximum (4 MiB by default):
    // most of the payload fit before a write would block, and on another
    // machine all of it might. Linux doubles what is asked for, for its
    // bookkeeping.
    const BUFFER: usize = 16 * 1024;
    const DATAGRAMS: usize = 1000;
    const DATAGRAM: usize = 1000;
    const PAYLOAD: usize = 4 * 1024 * 1024;

    let mut udp = Side::default();
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, None)
        .or_exit("cannot create a UDP socket");
    socket
        .set_recv_buffer_size(BUFFER)
        .or_exit("cannot set SO_RCVBUF");
    socket
        .bind(&loopback().into())
        .or_exit("cannot bind a UDP socket");
    let receiver = UdpSocket::from(socket);
    let udp_buffer = SockRef::from(&receiver)
        .recv_buffer_size()
        .or_exit("cannot read SO_RCVBUF");
    let sender = udp_socket();
    let receiver_address = udp_address(&receiver);
    let datagram = [b'x'; DATAGRAM];
    let sent = (0..DATAGRAMS)
        .filter(|_| sender.send_to(&datagram, receiver_address).is_ok())
        .count();
    receiver
        .set_nonblocking(true)
        .or_exit("cannot make a socket non-blocking");
    let mut buffer = [0; 2048];
    let received = (0..DATAGRAMS)
        .take_while(|_| receiver.recv_from(&mut buffer).is_ok())
        .count();
    let dropped = sent.saturating_sub(received);
    udp.set("buffer", udp_buffer);
    udp.set("sent", sent);
    udp.set("received", received);
    udp.set("dropped", dropped);
    udp.say(format!(
        "receive buffer {} KiB ({} asked)",
        udp_buffer / 1024,
        BUFFER / 1024
    ));
    udp.say(format!("sent {sent} datagrams of {DATAGRAM} bytes"));
    udp.say("  before any read: the sender never waits");
    udp.say(format!("then read {received}, dropped {dropped}, no error"));

    let mut tcp = Side::default();
    let listener = tcp_listener_with(loopback(), false, 1, Some(BUFFER))
        .or_exit("cannot listen on a TCP port");
    let sender = Socket::new(Domain::IPV4, Type::STREAM, None)
        .or_exit("cannot create a TCP socket");
    sender
        .set_send_buffer_size(BUFFER)
        .or_exit("cannot set SO_SNDBUF");
    sender
        .connect_timeout(&tcp_address(&listener).into(), WAIT)
        .or_exit("cannot connect to the TCP receiver");
    let mut sender = TcpStream::from(sender);
    sender
        .set_write_timeout(Some(WAIT))
        .or_exit("cannot set a timeout");
    let receiver = accept(&listener);
    let tcp_buffer = SockRef::from(&receiver)
        .recv_buffer_size()
        .or_exit("cannot read SO_RCVBUF");
    let send_buffer = SockRef::from(&sender)
        .send_buffer_size()
        .or_exit("cannot read SO_SNDBUF");
    let payload: Vec<u8> =
        (0..PAYLOAD).map(|index| (index % 251) as u8).collect();
    sender
        .set_nonblocking(true)
        .or_exit("cannot make a socket non-blocking");
    let mut written = 0;
    let mut blocked = false;
    for _ in 0..MAX_CALLS {
        if written == PAYLOAD {
            break;
        }
        match sender.write(&payload[written..]) {
            Ok(length) => written += length,
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                blocked = true;
                break;
            }
            Err(error) => fail(format_args!("cannot write: {error}")),
        }
    }
    let drain = thread::spawn(move || read_sizes(&receiver, 64 * 1024).1);
    sender
        .set_nonblocking(false)
        .and_then(|()| sender.write_all(&payload[written..]))
        .and_then(|()| sender.shutdown(Shutdown::Write))
        .or_exit("cannot write the rest of the payload");
    let bytes = join(drain, "TCP receiver");
    let intact = bytes == payload;
    tcp.set("buffer", tcp_buffer);
    tcp.set("send_buffer", send_buffer);
    tcp.set("sent", PAYLOAD);
    tcp.set("written_before_block", written);
    tcp.set("blocked", blocked);
    tcp.set("received", bytes.len());
    tcp.set("intact", intact);
    tcp.say(format!(
        "buffers: receive {} KiB, send {} KiB",
        tcp_buffer / 1024,
        send_buffer / 1024
    ));
    tcp.say(format!("  ({} asked for each)", BUFFER / 1024));
    tcp.say(format!("non-blocking write of {} MiB:", PAYLOAD >> 20));
    if blocked {
        tcp.say(format!("  WouldBlock after {written} bytes"));
        tcp.say("  (flow control: the sender waits)");
    } else {
        tcp.say("  all written without blocking");
    }
    tcp.say("the receiver reads, the sender goes on:");
    tcp.say(format!(
        "  got {} of {PAYLOAD} bytes{}",
        bytes.len(),
        if intact { ", intact" } else { "" }
    ));

    let conclusion = format!(
        "slow reader: UDP dropped {dropped} of {sent}; TCP made the sender \
         wait, lost {} bytes",
        PAYLOAD - bytes.len().min(PAYLOAD)
    );
    (udp, tcp, conclusion)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_cells_fit_their_column_and_show_they_continue() {
        let lines = wrap("  median 59.3 µs (5.3x UDP), p99 136.1 µs", 18, "  ");
        assert_eq!(
            lines,
            ["  median 59.3 µs", "    (5.3x UDP),", "    p99 136.1 µs"]
        );
        let text = row("UDP", "TCP");
        assert_eq!(text, format!("UDP{} | TCP\n", " ".repeat(LEFT - 3)));
        // The bar stays, to keep the column; trailing spaces do not.
        assert_eq!(
            row("left only", ""),
            format!("left only{} |\n", " ".repeat(LEFT - 9))
        );
    }
}
