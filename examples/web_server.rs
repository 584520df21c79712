//! Web server: serves the files of one folder over HTTP/1.1, one thread
//! per connection, like the Kurose & Ross Web Server lab.
//!
//! Run it, then open http://localhost:6789/ in a browser:
//!
//!     cargo xtask book        # makes a folder worth serving: book/book
//!     cargo run --example web_server -- --root book/book
//!
//! Stop it with Ctrl-C. `--help` lists the flags (folder, port, bind
//! address).

use std::fs::File;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use socket_walkthrough::{OrExit, fail, printable, say};

/// Serve the files of a folder to web browsers over HTTP/1.1.
#[derive(Parser)]
struct Args {
    /// Folder whose files are served; `/` is its index.html
    #[arg(long, value_name = "DIR", default_value = ".")]
    root: PathBuf,
    /// TCP port to listen on, 6789 as in the lab (0 lets the system choose
    /// a free one)
    #[arg(long, default_value_t = 6789)]
    port: u16,
    /// Local address to bind: 0.0.0.0 is every IPv4 interface (reachable
    /// from other hosts), 127.0.0.1 this machine only
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
    bind: IpAddr,
}

/// The longest request line or header line we read, in bytes.
const MAX_LINE: u64 = 8 * 1024;
/// The most header lines we read from one request.
const MAX_HEADERS: usize = 100;
/// How long a client may take to send its whole request head.
const HEAD_LIMIT: Duration = Duration::from_secs(10);
/// How long one write may wait for a client that reads nothing.
const WRITE_LIMIT: Duration = Duration::from_secs(10);
/// How long to pause after a failed accept.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// An HTTP status: its code and reason phrase.
type Status = (u16, &'static str);
const OK: Status = (200, "OK");
const BAD_REQUEST: Status = (400, "Bad Request");
const FORBIDDEN: Status = (403, "Forbidden");
const NOT_FOUND: Status = (404, "Not Found");
const METHOD_NOT_ALLOWED: Status = (405, "Method Not Allowed");

fn main() {
    let args = Args::parse();
    let root = args.root;
    if !root.is_dir() {
        fail(format_args!("`{}` is not a folder", root.display()));
    }
    let server_port = args.port;
    let server_socket = TcpListener::bind((args.bind, server_port)).or_exit(
        format_args!("cannot bind TCP port {server_port} on {}", args.bind),
    );
    let server_address = server_socket
        .local_addr()
        .or_exit("cannot read the bound address");
    say(format_args!(
        "The server is ready to receive on {server_address}"
    ));
    // Out of file descriptors, every accept fails at once until one is
    // freed: report the first failure of a run, and pause, not spin.
    let mut failing = false;
    loop {
        let (connection_socket, addr) = match server_socket.accept() {
            Ok(accepted) => accepted,
            Err(error) => {
                if !failing {
                    eprintln!("error: cannot accept a connection: {error}");
                }
                failing = true;
                thread::sleep(ACCEPT_PAUSE);
                continue;
            }
        };
        failing = false;
        let root = root.clone();
        // A slow or silent client must not hold up the others: each
        // connection gets a thread of its own, if the system has one.
        let started = thread::Builder::new().spawn(move || {
            match serve(&connection_socket, &root) {
                Ok((request_line, (code, _))) => {
                    say(format_args!(
                        "{addr} \"{}\" {code}",
                        printable(&request_line)
                    ));
                }
                Err(error) => eprintln!("error: {addr}: {error}"),
            }
        });
        if let Err(error) = started {
            eprintln!("error: {addr}: refused, no thread for it: {error}");
        }
    }
}

/// Reads one request from the connection and answers it; returns the
/// request line and the status sent. The connection closes when the
/// caller drops it.
fn serve(
    mut connection_socket: &TcpStream,
    root: &Path,
) -> io::Result<(String, Status)> {
    // Without these limits a client that sends its request a byte at a
    // time, or never reads the answer, would keep this thread forever.
    let deadline = Instant::now() + HEAD_LIMIT;
    connection_socket.set_write_timeout(Some(WRITE_LIMIT))?;
    let mut reader = BufReader::new(Deadline {
        socket: connection_socket,
        deadline,
    });
    let request_line = read_line(&mut reader)?;
    // The headers end at the first empty line; this server needs none.
    let mut headers = 0;
    while !read_line(&mut reader)?.is_empty() {
        headers += 1;
        if headers > MAX_HEADERS {
            let why = format!("more than {MAX_HEADERS} header lines");
            return Err(io::Error::new(ErrorKind::InvalidData, why));
        }
    }
    let words: Vec<&str> = request_line.split(' ').collect();
    let (status, file) = match words[..] {
        [method, target, version] if version.starts_with("HTTP/1.") => {
            if method != "GET" && method != "HEAD" {
                (METHOD_NOT_ALLOWED, None)
            } else {
                match file_path(root, target).map(open_file) {
                    Ok(Some(file)) => (OK, Some(file)),
                    Ok(None) => (NOT_FOUND, None),
                    Err(status) => (status, None),
                }
            }
        }
        _ => (BAD_REQUEST, None),
    };
    let send_body = words[0] != "HEAD";
    match file {
        Some((file, length, content_type)) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\n\
                 Content-Type: {content_type}\r\n\
                 Content-Length: {length}\r\n\
                 Connection: close\r\n\r\n"
            );
            connection_socket.write_all(head.as_bytes())?;
            if send_body {
                // Bytes as they are on disk (a PNG is not text), and no
                // more than announced, even if the file grows meanwhile.
                io::copy(&mut file.take(length), &mut connection_socket)?;
            }
        }
        None => {
            let (code, reason) = status;
            let body = format!(
                "<!DOCTYPE html>\n<title>{code} {reason}</title>\n\
                 <h1>{code} {reason}</h1>\n"
            );
            let allow = if status == METHOD_NOT_ALLOWED {
                "Allow: GET, HEAD\r\n"
            } else {
                ""
            };
            let head = format!(
                "HTTP/1.1 {code} {reason}\r\n\
                 Content-Type: text/html; charset=utf-8\r\n\
                 Content-Length: {}\r\n\
                 {allow}Connection: close\r\n\r\n",
                body.len()
            );
            connection_socket.write_all(head.as_bytes())?;
            if send_body {
                connection_socket.write_all(body.as_bytes())?;
            }
        }
    }
    Ok((request_line, status))
}

/// The connection, read with a deadline for all reads together: a socket's
/// read timeout bounds each read alone.
struct Deadline<'a> {
    socket: &'a TcpStream,
    deadline: Instant,
}

impl Read for Deadline<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let why = "the request head took longer than the time limit";
            return Err(io::Error::new(ErrorKind::TimedOut, why));
        }
        self.socket.set_read_timeout(Some(left))?;
        self.socket.read(buffer)
    }
}

/// Reads one line of the request, however many reads it takes, without
/// its line ending.
fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    reader.take(MAX_LINE).read_until(b'\n', &mut line)?;
    if !line.ends_with(b"\n") {
        let why = "the request ended before its empty line, or a line is \
                   too long";
        return Err(io::Error::new(ErrorKind::InvalidData, why));
    }
    line.pop();
    if line.ends_with(b"\r") {
        line.pop();
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// The file a request target names inside `root`, or the status that
/// refuses it.
fn file_path(root: &Path, target: &str) -> Result<PathBuf, Status> {
    let path = target.split(['?', '#']).next().unwrap_or_default();
    if !path.starts_with('/') || !path.is_ascii() {
        return Err(BAD_REQUEST);
    }
    // Decode first, check after: `%2e%2e` is `..` once decoded.
    let path = percent_decode(path)
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(BAD_REQUEST)?;
    let mut file = root.to_path_buf();
    for segment in path.split('/') {
        let mut components = Path::new(segment).components();
        match (components.next(), components.next()) {
            (None | Some(Component::CurDir), None) => {}
            (Some(Component::Normal(name)), None) => file.push(name),
            // `..`, and on Windows `C:` or `a\b`, could leave the folder.
            _ => return Err(FORBIDDEN),
        }
    }
    if path.ends_with('/') {
        file.push("index.html");
    }
    Ok(file)
}

/// Turns `%41` into `A`; `None` when a `%` is not followed by two hex
/// digits.
fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut rest = text.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let hex = tail
                .get(..2)
                .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))?;
            let hex = std::str::from_utf8(hex).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(byte);
            rest = tail;
        }
    }
    Some(bytes)
}

/// The file, its length and its Content-Type, if it is a file we can
/// read.
fn open_file(path: PathBuf) -> Option<(File, u64, &'static str)> {
    let file = File::open(&path).ok()?;
    let metadata = file.metadata().ok()?;
    if !metadata.is_file() {
        return None;
    }
    Some((file, metadata.len(), content_type(&path)))
}

/// The Content-Type for a file name's extension.
fn content_type(path: &Path) -> &'static str {
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match extension.to_ascii_lowercase().as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "svg" => "image/svg+xml",
        // RFC 2046's type for bytes of no known kind.
        _ => "application/octet-stream",
    }
}

#[test]
fn flags_are_well_formed() {
    use clap::CommandFactory;
    Args::command().debug_assert();
}
