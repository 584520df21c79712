//! Experiment 3: what a client learns when no server is there.

use super::*;

/// A port that had a socket a moment ago and has none now: the address of
/// a server that is not running.
fn closed_udp_port() -> SocketAddr {
    udp_address(&udp_socket())
}

fn closed_tcp_port() -> SocketAddr {
    tcp_address(&tcp_listener())
}

pub(super) fn absent() -> (Side, Side, String) {
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
    // "At once" is what Linux and macOS do; Windows retries the SYN and
    // reports the refusal after about 2 s, and then this says so.
    let conclusion = if expected && refused_time < Duration::from_millis(100) {
        "no server: UDP hears nothing unless connected; TCP is refused at once"
            .to_owned()
    } else if expected {
        format!(
            "no server: UDP hears nothing unless connected; TCP is refused \
             after {:.1} s",
            refused_time.as_secs_f64()
        )
    } else {
        format!(
            "no server: unconnected UDP {unconnected}, connected UDP \
             {connected}, TCP {refused}"
        )
    };
    (udp, tcp, conclusion)
}
