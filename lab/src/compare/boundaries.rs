//! Experiment 1: three sends, how many reads? Message boundaries.

use super::*;

pub(super) fn boundaries() -> (Side, Side, String) {
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
