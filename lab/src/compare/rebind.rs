//! Experiment 7: binding the port of a server that just stopped.

use super::*;

pub(super) fn rebind() -> (Side, Side, String) {
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
        "Linux: TIME_WAIT holds a TCP port unless both set SO_REUSEADDR; \
         UDP: none"
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
