//! Experiment 2: the time of one request/reply exchange.

use super::*;

const SENTENCE: &str = "the quick brown fox jumps over the lazy dog";
const WARM_UP: u32 = 100;

/// Time of each exchange, `None` for one that failed.
type Times = Vec<Option<Duration>>;

pub(super) fn cost(requests: u32) -> (Side, Side, String) {
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
    summarize(&mut udp, None, &udp_times, None);
    let mut tcp = Side::default();
    tcp.say("new connection per request (connect,");
    tcp.say("  send, recv, close):");
    let new_median = summarize(
        &mut tcp,
        Some("new_connection"),
        &new_connection_times,
        None,
    );
    tcp.say("one connection, newline-framed:");
    let kept =
        summarize(&mut tcp, Some("persistent"), &persistent_times, new_median);

    // Only the ratio of the two TCP series holds run after run. UDP against
    // TCP on loopback measures thread wake-ups more than either protocol
    // (0.5x to 12x across runs on a small VM), so no such ratio is shown.
    let conclusion = match kept {
        Some(kept) => format!(
            "a kept TCP connection is {kept:.1}x cheaper per exchange than \
             a new one"
        ),
        _ => "some exchanges failed: see the figures".to_owned(),
    };
    (udp, tcp, conclusion)
}

/// Adds the figures of one series of exchanges to `side` (under `key`, or
/// at the top). Returns its median in microseconds or, given the median of
/// a new connection per exchange, how many times cheaper this series is.
fn summarize(
    side: &mut Side,
    key: Option<&str>,
    times: &Times,
    new_median: Option<f64>,
) -> Option<f64> {
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
    let ratio = match (median, new_median) {
        (Some(median), Some(new_median)) if median > 0.0 => {
            Some(round1(new_median / median))
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
            if new_median.is_some() {
                figures.insert("cheaper_than_new".into(), ratio.into());
                side.say(format!(
                    "  median {} µs ({}x cheaper)",
                    show(median),
                    show(ratio)
                ));
            } else {
                side.say(format!("  median {} µs", show(median)));
            }
            side.set(key, figures);
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
    if new_median.is_some() { ratio } else { median }
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
