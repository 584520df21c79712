//! Exercise 4: whole lines over one TCP connection.
//!
//! The student's server keeps each connection open and answers every line
//! with its uppercase and a newline, whatever the sizes of the client's
//! writes, until the client shuts down its sending side; then it closes.
//! Each criterion starts a fresh server, so that one failure does not
//! hide the others.

use std::io::Write;
use std::net::SocketAddr;
use std::thread;
use std::time::Duration;

use super::concurrent::{
    Client, Ended, LIMIT, exited, not_started, shown, soon, start,
    still_running,
};
use super::{Criterion, Failure, Student};

type Scenario = fn(SocketAddr) -> Result<(), Failure>;

const SCENARIOS: [(&str, Scenario); 8] = [
    ("answers-each-line", answers_each_line),
    ("byte-by-byte-writes", byte_by_byte_writes),
    ("two-lines-in-one-write", two_lines_in_one_write),
    ("a-100-kb-line", a_100_kb_line),
    (
        "splits-multibyte-characters-safely",
        splits_multibyte_characters,
    ),
    ("closes-on-eof", closes_on_eof),
    ("answers-a-last-line-without-newline", answers_a_last_line),
    ("keeps-serving", keeps_serving),
];

/// The pause between two writes of a line sent in pieces: long enough
/// for the server to read each piece alone, short enough to stay quick.
const PAUSE: Duration = Duration::from_millis(20);
/// The pause between the pieces of a multibyte character.
const LONG_PAUSE: Duration = Duration::from_millis(50);

pub fn check(student: &Student) -> Vec<Criterion> {
    let names: Vec<&'static str> =
        SCENARIOS.iter().map(|(name, _)| *name).collect();
    let mut criteria = Vec::new();
    for (index, (name, scenario)) in SCENARIOS.into_iter().enumerate() {
        let mut server = match start(student) {
            Ok(server) => server,
            Err(failure) if index == 0 => {
                return not_started(&names, failure);
            }
            Err(failure) => {
                criteria.push(Criterion::from(name, Err(failure)));
                continue;
            }
        };
        let result = scenario(server.loopback());
        if still_running(&mut server, &result) {
            criteria.push(Criterion::from(name, result));
        } else {
            criteria.push(Criterion::from(name, Err(exited(server))));
        }
    }
    criteria
}

/// Fails unless `client` received exactly `expected`.
fn expect(
    client: &Client,
    ended: &Ended,
    expected: &str,
    after: &str,
    hint: &str,
) -> Result<(), Failure> {
    if client.received == expected.as_bytes() {
        return Ok(());
    }
    Err(Failure::new(
        format!("{} {after}", shown(expected.as_bytes())),
        client.got(ended),
        hint,
    ))
}

fn answers_each_line(address: SocketAddr) -> Result<(), Failure> {
    let mut client = Client::connect(address, soon())?;
    let mut expected = String::new();
    for (number, line) in ["line one", "line two", "line three"]
        .into_iter()
        .enumerate()
    {
        client.send(format!("{line}\n").as_bytes())?;
        expected += &format!("{}\n", line.to_uppercase());
        let ended = client.receive_lines(number + 1, soon());
        expect(
            &client,
            &ended,
            &expected,
            &format!(
                "after {} on one connection, each sent after the previous \
                 reply",
                ["one line", "two lines", "three lines"][number]
            ),
            "keep the connection open: after each reply read the next \
             line; close only when a read returns 0 bytes",
        )?;
    }
    Ok(())
}

fn byte_by_byte_writes(address: SocketAddr) -> Result<(), Failure> {
    let mut client = Client::connect(address, soon())?;
    let line = b"sent one byte at a time\n";
    let bytes: Vec<&[u8]> = line.chunks(1).collect();
    client.send_in_pieces(&bytes, PAUSE)?;
    let ended = client.receive_lines(1, soon());
    expect(
        &client,
        &ended,
        "SENT ONE BYTE AT A TIME\n",
        "after a line written one byte per write",
        "a read returns what has arrived, here often one byte: read until \
         the newline, however many reads it takes (Python: \
         connection_socket.makefile('rb').readline(); Rust: \
         BufRead::read_until)",
    )
}

fn two_lines_in_one_write(address: SocketAddr) -> Result<(), Failure> {
    let mut client = Client::connect(address, soon())?;
    client.send_in_pieces(&[b"first line\nsecond line\n"], PAUSE)?;
    let ended = client.receive_lines(2, soon());
    expect(
        &client,
        &ended,
        "FIRST LINE\nSECOND LINE\n",
        "after two lines sent in one write",
        "one read can bring two lines: keep the bytes after a newline for \
         the next line (Python: one makefile('rb') for the whole \
         connection; Rust: one BufReader for the whole connection)",
    )
}

fn a_100_kb_line(address: SocketAddr) -> Result<(), Failure> {
    let mut client = Client::connect(address, soon())?;
    let letters = b"abcdefghijklmnopqrstuvwxyz";
    let mut line: Vec<u8> =
        letters.iter().copied().cycle().take(100_000).collect();
    line.push(b'\n');
    let expected = String::from_utf8_lossy(&line).to_uppercase();
    // The server may start its reply before the whole line is sent; a
    // thread sends while this one receives, so neither side can block the
    // other.
    let mut sender = client.try_clone().map_err(|error| {
        Failure::new("a second handle on the socket", error.to_string(), "")
    })?;
    let sending = thread::spawn(move || sender.write_all(&line));
    let ended = client.receive_lines(1, soon());
    client.hang_up();
    let _ = sending.join();
    expect(
        &client,
        &ended,
        &expected,
        "after 100,000 lowercase letters and a newline",
        "read until the newline however long the line is: not one read, \
         nor a fixed-size buffer",
    )
}

fn splits_multibyte_characters(address: SocketAddr) -> Result<(), Failure> {
    let mut client = Client::connect(address, soon())?;
    // "straße 안녕\n" cut inside ß (2 bytes), 안 and 녕 (3 bytes each).
    let pieces: [&[u8]; 4] =
        [b"stra\xc3", b"\x9fe \xec", b"\x95\x88\xeb\x85", b"\x95\n"];
    client.send_in_pieces(&pieces, LONG_PAUSE)?;
    let ended = client.receive_lines(1, soon());
    expect(
        &client,
        &ended,
        "STRASSE 안녕\n",
        "after \"straße 안녕\\n\" written in four pieces, each cut inside a \
         character",
        "a read can end inside a character: collect the bytes up to the \
         newline, then decode the whole line",
    )
}

fn closes_on_eof(address: SocketAddr) -> Result<(), Failure> {
    let mut client = Client::connect(address, soon())?;
    client.send(b"one more line\n")?;
    client.shut_down_sending()?;
    let ended = client.receive_to_end(soon());
    expect(
        &client,
        &ended,
        "ONE MORE LINE\n",
        "after a line and the client's shutdown of its sending side",
        "answer each line before looking for the end of the stream",
    )?;
    match ended {
        Ended::Closed => Ok(()),
        Ended::Reset => Err(Failure::new(
            format!("the end of the connection within {LIMIT:?}"),
            client.got(&ended),
            "close the connection (drop it) once the read has returned 0: \
             closing with unread bytes sends a reset",
        )),
        _ => Err(Failure::new(
            format!(
                "the end of the connection within {LIMIT:?} of the client's \
                 shutdown"
            ),
            client.got(&ended),
            "a read that returns 0 bytes means no more lines will come: \
             close the connection then (Python: recv returns b'' and \
             readline returns b''; close the socket. Rust: read returns \
             Ok(0); drop the TcpStream)",
        )),
    }
}

fn answers_a_last_line(address: SocketAddr) -> Result<(), Failure> {
    let mut client = Client::connect(address, soon())?;
    client.send(b"first\nand a last line without newline")?;
    client.shut_down_sending()?;
    let ended = client.receive_lines(2, soon());
    expect(
        &client,
        &ended,
        "FIRST\nAND A LAST LINE WITHOUT NEWLINE\n",
        "after \"first\\n\", a last line without newline and the client's \
         shutdown",
        "at the end of the stream the bytes after the last newline are a \
         last line: answer it too, with a newline",
    )
}

fn keeps_serving(address: SocketAddr) -> Result<(), Failure> {
    for (line, reply) in [
        ("first connection", "FIRST CONNECTION\n"),
        ("second connection", "SECOND CONNECTION\n"),
    ] {
        let mut client = Client::connect(address, soon())?;
        client.send(format!("{line}\n").as_bytes())?;
        let ended = client.receive_lines(1, soon());
        expect(
            &client,
            &ended,
            reply,
            "on a new connection after the previous client left",
            "when a client leaves, close its connection and accept the \
             next one",
        )?;
        // Dropping the client closes its connection both ways.
    }
    Ok(())
}
