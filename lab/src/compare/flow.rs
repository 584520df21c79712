//! Experiment 8: a fast sender and a receiver that does not read yet.

use super::*;

pub(super) fn flow() -> (Side, Side, String) {
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
    udp.say("  before any read: nothing made the");
    udp.say("    sender wait for the receiver");
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
