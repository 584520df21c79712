//! `compare`: eight experiments that run UDP and TCP side by side on this
//! machine and print what differs, measured rather than told.
//!
//!     cargo lab compare              # all eight, a few seconds
//!     cargo lab compare loss --json  # one, as a JSON document
//!
//! Every server, receiver and forwarder is a thread of this process on
//! 127.0.0.1, on a port the system chooses; every wait has a time limit,
//! so the command always stops by itself.

mod absent;
mod backlog;
mod boundaries;
mod cost;
mod flow;
mod loss;
mod oversize;
mod rebind;

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
    /// Also capture the experiment's packets on loopback and explain
    /// each (boundaries, absent, oversize, loss, rebind; needs
    /// CAP_NET_RAW, like `trace`)
    #[arg(long, requires = "experiment", conflicts_with = "json")]
    trace: bool,
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
            Self::Boundaries => boundaries::boundaries(),
            Self::Cost => cost::cost(args.requests),
            Self::Absent => absent::absent(),
            Self::Oversize => oversize::oversize(),
            Self::Loss => loss::loss(),
            Self::Backlog => backlog::backlog(),
            Self::Rebind => rebind::rebind(),
            Self::Flow => flow::flow(),
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
    if args.trace {
        trace(&args, chosen[0]);
        return;
    }
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

/// `compare <experiment> --trace`: the report, then its packets.
#[cfg(target_os = "linux")]
fn trace(args: &Args, experiment: Experiment) {
    use Experiment::*;
    if !matches!(experiment, Boundaries | Absent | Oversize | Loss | Rebind) {
        fail(
            "--trace is for boundaries, absent, oversize, loss and rebind, \
             whose packets tell their story; cost, backlog and flow send \
             too many to read",
        );
    }
    let recorder = crate::trace::Recorder::start().unwrap_or_else(|e| fail(e));
    write_out(&experiment.run(args).text());
    write_out(&format!("\nthe packets of `{}`:\n", experiment.name()));
    write_out(&recorder.finish());
}

#[cfg(not(target_os = "linux"))]
fn trace(_: &Args, _: Experiment) {
    fail(
        "capturing packets is Linux-only; on this system capture the \
          loopback interface in Wireshark while `compare` runs",
    );
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
    let socket =
        UdpSocket::bind(loopback()).or_exit("cannot bind a UDP socket");
    crate::trace::note_port(udp_address(&socket).port());
    socket
}

fn tcp_listener() -> TcpListener {
    let listener =
        TcpListener::bind(loopback()).or_exit("cannot listen on a TCP port");
    crate::trace::note_port(tcp_address(&listener).port());
    listener
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
    if let Some(address) = socket.local_addr()?.as_socket() {
        crate::trace::note_port(address.port());
    }
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
