//! Exercise 5, any address family: a UDP client that tries every address
//! of the server's name, IPv4 or IPv6, and prints which one answered.
//!
//! The checker runs its own uppercase servers (threads) on 127.0.0.1 or
//! ::1 and the student's client against them, by name and by literal
//! address. What `localhost` resolves to depends on the machine
//! (/etc/hosts): criteria that need `localhost` to resolve to ::1, or to
//! both families, are skipped where it does not, and say so.

use std::net::{
    IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::{Criterion, Failure, Finished, Student};

/// The timeout per address the checker gives the client (`--timeout`).
const TIMEOUT: &str = "1";
/// The shorter timeout for the scenario where nobody answers.
const GIVE_UP_TIMEOUT: &str = "0.5";
/// How long one run of the client may take: two addresses at `TIMEOUT`
/// each, plus the time to start.
const RUN_LIMIT: Duration = Duration::from_secs(10);
/// How long the client may take to give up with `GIVE_UP_TIMEOUT`.
const GIVE_UP_LIMIT: Duration = Duration::from_secs(5);

const IPV4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const IPV6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

pub fn check(student: &Student) -> Vec<Criterion> {
    let localhost: Vec<IpAddr> = ("localhost", 0)
        .to_socket_addrs()
        .map(|addresses| addresses.map(|a| a.ip()).collect())
        .unwrap_or_default();
    let ipv6 = UdpSocket::bind((IPV6, 0)).map(drop);
    let mut criteria = Vec::new();
    // Runs that got a reply, with the address that sent it.
    let mut answered: Vec<(Finished, SocketAddr)> = Vec::new();

    let hint = format!(
        "localhost resolves to {} here and the server listens on 127.0.0.1 \
         only: try every address in turn, each from a socket of its own \
         family (Python: every entry of socket.getaddrinfo; Rust: every \
         address of to_socket_addrs, an IPv4 one from a socket on \
         0.0.0.0:0)",
        shown(&localhost)
    );
    let (criterion, run) = reaches(
        student,
        ("reaches-ipv4-by-name", IPV4, "localhost"),
        "hello over ipv4",
        &hint,
    );
    criteria.push(criterion);
    answered.extend(run);

    let name = "reaches-ipv6-literal";
    criteria.push(match &ipv6 {
        Ok(()) => {
            let (criterion, run) = reaches(
                student,
                (name, IPV6, "::1"),
                "hello over ipv6",
                "an IPv6 address needs a socket of the IPv6 family (an \
                 IPv4 socket fails with \"address family not supported\"). \
                 Python: socket.socket(family, ...) with the family \
                 getaddrinfo gives; Rust: bind [::]:0",
            );
            answered.extend(run);
            criterion
        }
        Err(error) => Criterion::skip(
            name,
            format!("cannot bind ::1 on this machine (IPv6 is off?): {error}"),
        ),
    });

    let name = "reaches-ipv6-by-name";
    criteria.push(if ipv6.is_err() {
        Criterion::skip(name, "cannot bind ::1 on this machine")
    } else if !localhost.contains(&IPV6) {
        Criterion::skip(
            name,
            format!(
                "localhost does not resolve to ::1 here (it resolves to {}; \
                 see /etc/hosts)",
                shown(&localhost)
            ),
        )
    } else {
        let hint = format!(
            "localhost resolves to {} here and the server listens on ::1 \
             only: try every address, each from a socket of its family",
            shown(&localhost)
        );
        reaches(
            student,
            (name, IPV6, "localhost"),
            "hello over ipv6 by name",
            &hint,
        )
        .0
    });

    criteria.push(tries_the_next_address(student, &localhost));
    criteria.push(names_the_answering_address(&answered));
    criteria.push(gives_up_when_nobody_answers(student));
    criteria.push(reports_unknown_names(student));
    criteria
}

/// Criterion `name`: the client, given `--server-name server_name`,
/// reaches a server that listens on `ip` only. Returns the run too when
/// the reply came, with the server's address.
fn reaches(
    student: &Student,
    (name, ip, server_name): (&'static str, IpAddr, &str),
    sentence: &str,
    hint: &str,
) -> (Criterion, Option<(Finished, SocketAddr)>) {
    let server = match UppercaseServer::start(SocketAddr::new(ip, 0)) {
        Ok(server) => server,
        Err(error) => {
            let reason = format!("cannot bind a UDP server on {ip}: {error}");
            return (Criterion::skip(name, reason), None);
        }
    };
    let run = run_client(student, server_name, server.address.port(), sentence);
    match got_reply(&run, sentence, hint) {
        Ok(()) => (Criterion::pass(name), Some((run, server.address))),
        Err(failure) => (Criterion::from(name, Err(failure)), None),
    }
}

/// `localhost` resolves to both families: the server listens on the
/// family that comes last, and a socket that never answers holds the port
/// on the first, so the client must give up on it and try the next.
fn tries_the_next_address(
    student: &Student,
    localhost: &[IpAddr],
) -> Criterion {
    let name = "tries-the-next-address";
    let (Some(&first), Some(&other)) = (
        localhost.first(),
        localhost
            .iter()
            .find(|ip| ip.is_ipv4() != localhost[0].is_ipv4()),
    ) else {
        return Criterion::skip(
            name,
            format!(
                "localhost resolves to one address family only here ({}); \
                 this needs a name with both an IPv4 and an IPv6 address \
                 (see /etc/hosts)",
                shown(localhost)
            ),
        );
    };
    let (server, _silent) = match server_beside_silent(other, first) {
        Ok(pair) => pair,
        Err(error) => {
            return Criterion::skip(
                name,
                format!("cannot bind UDP on {other} and {first}: {error}"),
            );
        }
    };
    let sentence = "hello over the next address";
    let run = run_client(student, "localhost", server.address.port(), sentence);
    Criterion::from(
        name,
        got_reply(
            &run,
            sentence,
            &format!(
                "localhost resolves to {} here and {first} never answers: \
                 after --timeout seconds, try the next address",
                shown(localhost)
            ),
        ),
    )
}

/// Every run that got a reply printed `(answered by ADDRESS)`.
fn names_the_answering_address(
    answered: &[(Finished, SocketAddr)],
) -> Criterion {
    let name = "names-the-answering-address";
    if answered.is_empty() {
        return Criterion::fail(
            name,
            "a line `(answered by ADDRESS)` after the reply",
            "no run got a reply (see the criteria above)",
            "reach the server first",
        );
    }
    for (run, address) in answered {
        let line = format!("(answered by {address})");
        if !run.stdout.lines().any(|l| l.trim() == line) {
            return Criterion::fail(
                name,
                format!("a line `{line}` on stdout"),
                format!("stdout {:?}", run.stdout),
                "print the address the reply came from on a line of its \
                 own, IPv6 in brackets: `[::1]:12000` (Python: format \
                 recvfrom's (host, port) so; Rust: a SocketAddr displays \
                 that way)",
            );
        }
    }
    Criterion::pass(name)
}

/// A socket that never answers: the client must stop after its timeout,
/// with an error and a non-zero exit.
fn gives_up_when_nobody_answers(student: &Student) -> Criterion {
    let name = "gives-up-when-nobody-answers";
    let silent = match UdpSocket::bind((IPV4, 0)) {
        Ok(socket) => socket,
        Err(error) => {
            return Criterion::skip(name, format!("cannot bind UDP: {error}"));
        }
    };
    let port = silent.local_addr().map_or(0, |a| a.port()).to_string();
    let args = [
        "--server-name",
        "127.0.0.1",
        "--server-port",
        &port,
        "--timeout",
        GIVE_UP_TIMEOUT,
    ];
    let run = student.run(&args, b"anybody there\n", GIVE_UP_LIMIT);
    let ok = !run.killed()
        && run.status.is_some_and(|s| !s.success())
        && run.stderr.lines().any(|line| line.starts_with("error: "))
        && !run.stderr.contains("panicked");
    Criterion::from(
        name,
        ok.then_some(()).ok_or_else(|| {
            Failure::new(
                format!(
                    "a non-zero exit and a line `error: ...` on stderr \
                     within {GIVE_UP_LIMIT:?} (--timeout \
                     {GIVE_UP_TIMEOUT}, one address, nobody answers)"
                ),
                outcome(&run),
                "set a read timeout of --timeout seconds on each socket \
                 and treat its expiry as \"no answer from this address\"; \
                 after the last address, print one line `error: ...` and \
                 exit with a non-zero status (Python: catch socket.timeout, \
                 then sys.exit(\"error: ...\"); Rust: match the WouldBlock \
                 or TimedOut error, then eprintln! and exit(1))",
            )
        }),
    )
}

/// A name that does not resolve: one error line and a non-zero exit.
fn reports_unknown_names(student: &Student) -> Criterion {
    let args = ["--server-name", "nosuch.invalid", "--timeout", TIMEOUT];
    let run = student.run(&args, b"hello\n", RUN_LIMIT);
    let lines = run.stderr.lines().filter(|l| !l.trim().is_empty()).count();
    let ok = run.status.is_some_and(|s| !s.success())
        && lines == 1
        && !run.stderr.contains("panicked");
    Criterion::from(
        "reports-unknown-names",
        ok.then_some(()).ok_or_else(|| {
            Failure::new(
                "a non-zero exit and one error line on stderr for \
                 --server-name nosuch.invalid",
                outcome(&run),
                "when the name does not resolve, print one line such as \
                 `error: cannot resolve server name ...` and exit with 1 \
                 (Python: catch socket.gaierror, then sys.exit(\"error: \
                 ...\"); Rust: to_socket_addrs fails, and OrExit does \
                 both)",
            )
        }),
    )
}

/// Runs the client with `--server-name server_name`, typing `sentence`.
fn run_client(
    student: &Student,
    server_name: &str,
    port: u16,
    sentence: &str,
) -> Finished {
    let port = port.to_string();
    let args = [
        "--server-name",
        server_name,
        "--server-port",
        &port,
        "--timeout",
        TIMEOUT,
    ];
    student.run(&args, format!("{sentence}\n").as_bytes(), RUN_LIMIT)
}

/// The client exited with 0 and printed the reply to `sentence`.
fn got_reply(
    run: &Finished,
    sentence: &str,
    hint: &str,
) -> Result<(), Failure> {
    let expected = format!("From Server: {}", sentence.to_uppercase());
    if run.status.is_some_and(|s| s.success())
        && run.stdout.lines().any(|line| line.ends_with(&expected))
    {
        return Ok(());
    }
    Err(Failure::new(
        format!("`{expected}` on stdout and exit status 0"),
        outcome(run),
        hint,
    ))
}

/// How a run ended, stderr first: it says why there was no reply. (The
/// command line, with its random port, would take the room.)
fn outcome(run: &Finished) -> String {
    let mut text = match run.status {
        Some(status) => status.to_string(),
        None if run.limit.is_zero() => "it did not start".to_string(),
        None => format!("still running after {:?}, killed", run.limit),
    };
    for (name, output) in [("stderr", &run.stderr), ("stdout", &run.stdout)] {
        if !output.trim().is_empty() {
            text += &format!(", {name} {:?}", output.trim_end());
        }
    }
    text
}

fn shown(ips: &[IpAddr]) -> String {
    if ips.is_empty() {
        return "nothing".into();
    }
    let shown: Vec<String> = ips.iter().map(IpAddr::to_string).collect();
    shown.join(", ")
}

/// The checker's uppercase server: a thread that answers every datagram
/// on `address` until dropped.
struct UppercaseServer {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl UppercaseServer {
    fn start(address: SocketAddr) -> std::io::Result<UppercaseServer> {
        UppercaseServer::serve(UdpSocket::bind(address)?)
    }

    fn serve(socket: UdpSocket) -> std::io::Result<UppercaseServer> {
        let address = socket.local_addr()?;
        // The thread looks at the stop flag between short waits.
        socket.set_read_timeout(Some(Duration::from_millis(50)))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let mut buffer = [0; 2048];
            while !stopped.load(Ordering::Relaxed) {
                let Ok((length, client)) = socket.recv_from(&mut buffer) else {
                    continue;
                };
                let text = String::from_utf8_lossy(&buffer[..length]);
                let _ = socket.send_to(text.to_uppercase().as_bytes(), client);
            }
        });
        Ok(UppercaseServer {
            address,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for UppercaseServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// An uppercase server on `server_ip` and a socket that never answers on
/// `silent_ip`, both on the same port (found by trying a few).
fn server_beside_silent(
    server_ip: IpAddr,
    silent_ip: IpAddr,
) -> std::io::Result<(UppercaseServer, UdpSocket)> {
    let mut last_error = None;
    for _ in 0..20 {
        let socket = UdpSocket::bind((server_ip, 0))?;
        let port = socket.local_addr()?.port();
        match UdpSocket::bind((silent_ip, port)) {
            Ok(silent) => return Ok((UppercaseServer::serve(socket)?, silent)),
            // Someone else has that port on the other address: another.
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.expect("at least one attempt"))
}
