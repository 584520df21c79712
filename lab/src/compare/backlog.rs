//! Experiment 6: connections to a server that never calls accept.

use super::*;

/// How many connection attempts the backlog experiment makes per listener.
const ATTEMPTS: usize = 10;

pub(super) fn backlog() -> (Side, Side, String) {
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
        if name == "listen(1)" && completed == 2 {
            tcp.say("    (Linux queues backlog + 1)");
        }
    }

    let queued = if small_completed == 2 {
        " (backlog+1)"
    } else {
        ""
    };
    let conclusion = format!(
        "no accept needed: listen(1) let {small_completed} connects \
         complete{queued}, 128 let {std_completed}"
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
