//! Experiment 4: a 5000-byte message and a 2048-byte buffer.

use super::*;

pub(super) fn oversize() -> (Side, Side, String) {
    const SIZE: usize = 5000;
    const BUFFER: usize = 2048;
    const REPLY: &[u8] = b"GOT 2048 BYTES\n";
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

    // Errata row 11: a server that replies, then closes with unread bytes,
    // resets the connection. On Linux the reply that already arrived
    // stays readable; the reset shows on the read after it.
    let listener = tcp_listener();
    let server_address = tcp_address(&listener);
    let server = thread::spawn(move || {
        let mut connection = accept(&listener);
        let mut part = [0; BUFFER];
        let read = connection.read_exact(&mut part).is_ok();
        let replied = connection.write_all(REPLY).is_ok();
        drop(connection);
        read && replied
    });
    let mut client = connect(server_address);
    client
        .write_all(&message)
        .or_exit("cannot write to the TCP connection");
    let server_done = join(server, "TCP server");
    let mut reply = [0; BUFFER];
    let first = client.read(&mut reply);
    let second = client.read(&mut reply);
    let first_shown = match &first {
        Ok(count) if reply[..*count] == *REPLY => {
            format!("the {count}-byte reply")
        }
        Ok(count) => format!("{count} bytes, not the reply"),
        Err(_) => outcome(&first),
    };
    let reset = outcome(&second);
    tcp.set(
        "reset",
        json!({
            "server_read": if server_done { BUFFER } else { 0 },
            "first_read": first.as_ref().ok(),
            "first_read_is_reply": first_shown.starts_with("the "),
            "next_read": reset,
        }),
    );
    tcp.say(format!("a server reads {BUFFER} of {SIZE}, replies,"));
    tcp.say("  closes (RST): the client's reads:");
    tcp.say(format!("  1: {first_shown}"));
    tcp.say(format!("  2: {reset}"));
    udp.say("(no connection, nothing to reset)");

    let conclusion = format!(
        "too big: UDP cut {lost} bytes silently; TCP gave all {} in {}",
        bytes.len(),
        plural(sizes.len(), "read", "reads")
    );
    (udp, tcp, conclusion)
}
