//! `pinger-server`: the server of the Kurose & Ross UDP Pinger lab, for
//! exercise 1. It answers every datagram with the same text in uppercase,
//! like udp_server, but drops a share of them on purpose, as if the
//! network had lost them.
//!
//!     cargo lab pinger-server                  # terminal 1
//!     cargo run --example udp_pinger              # terminal 2
//!
//! Which datagrams are dropped comes from a seeded random number
//! generator: the same seed drops the same datagrams, run after run. One
//! line of log per datagram says what became of it. Stop it with Ctrl-C.
//! The checker (`check pinger`) runs the same [`PingerServer`] in a thread.
//!
//! A datagram that is already its own uppercase gets no answer: such a
//! datagram may itself be an uppercase server's reply, and answering it
//! is how a single datagram with a forged source address starts an
//! endless exchange between two such servers, or a server and itself.

use std::fmt;
use std::io::{self, ErrorKind, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

use socket_walkthrough::{OrExit, fail};

/// What the lab's server really drops: it draws `randint(0, 10)`, which
/// includes both ends, and drops on `< 4`: 4 of the 11 values.
pub const LAB_DROP: f64 = 4.0 / 11.0;
/// Pings are short; the same buffer as udp_server.
const BUFFER_SIZE: usize = 2048;
/// Errors in a row after which the socket is deemed broken: a socket that
/// fails at once every time would otherwise spin forever.
const MAX_ERRORS_IN_A_ROW: u32 = 100;

/// Answer pings with their uppercase, dropping a share of them.
#[derive(clap::Args)]
pub struct Args {
    /// UDP port to receive on (0 lets the system choose a free one)
    #[arg(long, default_value_t = 12000)]
    port: u16,
    /// Local address to bind: 0.0.0.0 is every IPv4 interface (reachable
    /// from other hosts), 127.0.0.1 this machine only
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
    bind: IpAddr,
    /// Probability that a datagram is dropped, from 0 to 1, as a decimal
    /// (0.3) or a fraction (1/3). The default 4/11 (about 0.364) is what
    /// the lab's server really drops: `randint(0, 10) < 4` holds for 4 of
    /// the 11 values from 0 to 10, not for 30% as the lab's text says
    #[arg(long, value_name = "RATE", default_value = "4/11",
          value_parser = parse_rate)]
    drop: f64,
    /// Seed of the random drops. The default is fixed, so that the same
    /// datagrams are dropped run after run; another seed drops others
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Parses a probability from 0 to 1, written `0.364` or `4/11`, for
/// clap's `value_parser`.
fn parse_rate(text: &str) -> Result<f64, String> {
    let rate = match text.split_once('/') {
        Some((top, bottom)) => {
            match (top.parse::<u32>(), bottom.parse::<u32>()) {
                (Ok(top), Ok(bottom @ 1..)) => {
                    Some(f64::from(top) / f64::from(bottom))
                }
                _ => None,
            }
        }
        None => text.parse::<f64>().ok(),
    };
    match rate {
        Some(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => {
            Err("give a probability from 0 to 1, such as 0.3 or 4/11"
                .to_string())
        }
    }
}

pub fn run(args: Args) {
    let server_port = args.port;
    let socket = UdpSocket::bind((args.bind, server_port)).or_exit(
        format_args!("cannot bind UDP port {server_port} on {}", args.bind),
    );
    let server_address =
        socket.local_addr().or_exit("cannot read the bound address");
    println!("The pinger server is ready to receive on {server_address}");
    println!(
        "Dropping each datagram with probability {:.3} (seed {})",
        args.drop, args.seed
    );
    let mut server = PingerServer::new(socket, args.drop, args.seed);
    let mut errors_in_a_row = 0;
    loop {
        match server.serve_one() {
            Ok(served) => {
                errors_in_a_row = 0;
                // Nobody reading standard output is no reason to stop.
                let _ = writeln!(io::stdout(), "{served}");
            }
            Err(error) => {
                // Windows reports an ICMP error about an earlier reply
                // here; that says nothing about this socket.
                if error.kind() != ErrorKind::ConnectionReset {
                    errors_in_a_row += 1;
                }
                if errors_in_a_row >= MAX_ERRORS_IN_A_ROW {
                    fail(format_args!(
                        "cannot receive a datagram, {MAX_ERRORS_IN_A_ROW} \
                         times in a row: {error}"
                    ));
                }
                eprintln!("error: cannot receive a datagram: {error}");
            }
        }
    }
}

/// The lab's server: answers each datagram with its uppercase, unless a
/// seeded draw drops it.
pub struct PingerServer {
    socket: UdpSocket,
    drop: f64,
    rng: fastrand::Rng,
    count: u64,
    buffer: Vec<u8>,
}

/// What the server did with one datagram.
pub struct Served {
    /// 1 for the first datagram the server received, and so on.
    pub number: u64,
    pub from: SocketAddr,
    /// The datagram as text (invalid UTF-8 becomes U+FFFD).
    pub message: String,
    pub fate: Fate,
}

pub enum Fate {
    Replied,
    Dropped,
    /// Not answered: the datagram is its own uppercase, as every reply of
    /// an uppercase server is.
    NotAnswered,
    /// The reply could not be sent.
    Failed(io::Error),
}

impl PingerServer {
    pub fn new(socket: UdpSocket, drop: f64, seed: u64) -> PingerServer {
        PingerServer {
            socket,
            drop,
            rng: fastrand::Rng::with_seed(seed),
            count: 0,
            buffer: vec![0; BUFFER_SIZE],
        }
    }

    /// Waits for the next datagram (as long as the socket's read timeout
    /// allows) and answers or drops it.
    pub fn serve_one(&mut self) -> io::Result<Served> {
        let (length, from) = self.socket.recv_from(&mut self.buffer)?;
        self.count += 1;
        // Exactly one draw per datagram, as the lab's server makes one
        // per loop: the n-th datagram always gets the n-th draw.
        let dropped = self.rng.f64() < self.drop;
        let message = String::from_utf8_lossy(&self.buffer[..length]);
        let reply = message.to_uppercase();
        // A ping has lowercase letters ("Ping 1 ..."); a reply of this
        // server, udp_server or any uppercase server has none. Answering
        // one would answer a reply: with a forged source address, one
        // datagram would then bounce between two servers for ever.
        let fate = if reply == message {
            Fate::NotAnswered
        } else if dropped {
            Fate::Dropped
        } else {
            match self.socket.send_to(reply.as_bytes(), from) {
                Ok(_) => Fate::Replied,
                Err(error) => Fate::Failed(error),
            }
        };
        Ok(Served {
            number: self.count,
            from,
            message: message.into_owned(),
            fate,
        })
    }
}

impl fmt::Display for Served {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        // Debug quotes show where the text ends and escape line breaks.
        write!(
            f,
            "#{} from {}: {:?} ",
            self.number, self.from, self.message
        )?;
        match &self.fate {
            Fate::Replied => write!(f, "replied"),
            Fate::Dropped => write!(f, "dropped"),
            Fate::NotAnswered => {
                write!(f, "not answered: no lowercase, so it may be a reply")
            }
            Fate::Failed(error) => write!(f, "cannot reply: {error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_decimals_or_fractions_from_0_to_1() {
        assert_eq!(parse_rate("0.3"), Ok(0.3));
        assert_eq!(parse_rate("4/11"), Ok(LAB_DROP));
        assert_eq!(parse_rate("0"), Ok(0.0));
        assert_eq!(parse_rate("1/1"), Ok(1.0));
        for bad in ["1.5", "-0.1", "nan", "3/2", "1/0", "a/b", "30%", ""] {
            assert!(parse_rate(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn drops_about_four_in_eleven_and_answers_the_rest_in_uppercase() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let address = socket.local_addr().unwrap();
        let mut server = PingerServer::new(socket, LAB_DROP, 1);
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut dropped = 0;
        let mut reply = [0; 64];
        for seq in 1..=2200 {
            let ping = format!("Ping {seq} x");
            client.send_to(ping.as_bytes(), address).unwrap();
            let served = server.serve_one().unwrap();
            assert_eq!(served.number, seq);
            assert_eq!(served.message, ping);
            match served.fate {
                Fate::Dropped => dropped += 1,
                Fate::Replied => {
                    let (length, _) = client.recv_from(&mut reply).unwrap();
                    assert_eq!(
                        &reply[..length],
                        ping.to_uppercase().as_bytes()
                    );
                }
                Fate::NotAnswered => panic!("{ping:?} was not answered"),
                Fate::Failed(error) => panic!("{error}"),
            }
        }
        // 4/11 of 2200 is 800.
        assert!((720..880).contains(&dropped), "{dropped} dropped");
    }

    #[test]
    fn a_reply_is_never_answered() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let address = socket.local_addr().unwrap();
        let mut server = PingerServer::new(socket, 0.0, 1);
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        for reply in ["PING 1 1795291506.543597", "STRASSE", "", "12 \u{fffd}"]
        {
            client.send_to(reply.as_bytes(), address).unwrap();
            let served = server.serve_one().unwrap();
            assert!(matches!(served.fate, Fate::NotAnswered), "{served}");
        }
        // What makes it hold for every reply: uppercase twice is
        // uppercase once, for every character.
        for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
            let upper = c.to_uppercase().collect::<String>();
            assert_eq!(upper.to_uppercase(), upper, "{c:?}");
        }
    }

    #[test]
    fn the_lab_drops_four_of_eleven() {
        // randint(0, 10) < 4, value by value.
        let dropped = (0..=10).filter(|value| *value < 4).count();
        assert_eq!(dropped as f64 / 11.0, LAB_DROP);
    }
}
