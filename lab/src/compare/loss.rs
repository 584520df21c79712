//! Experiment 5: 100 messages over a path that drops 30% of datagrams.

use super::*;

const DROP_RATE: f64 = 0.3;
const SEED: u64 = 7;
const LOSS_MESSAGES: u32 = 100;

pub(super) fn loss() -> (Side, Side, String) {
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
