//! Exercise 6, a minimal web server: the student's server serves a folder
//! the checker makes (an index.html, a text file, a binary file and more),
//! with a secret file just outside it, and the checker sends it raw
//! HTTP/1.1 requests on loopback, some of them malformed, slow or hostile.
//!
//! Requests go byte for byte as written here: unlike a browser or curl,
//! the checker does not tidy `/../` away before sending it.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use super::{Criterion, Failure, Student};

/// How long the server may take to print its ready line.
const START_LIMIT: Duration = Duration::from_secs(5);
/// How long one request may take, from connecting to the last byte.
const REQUEST_LIMIT: Duration = Duration::from_secs(5);
/// How long to wait, after the last byte of the body, for the server to
/// close the connection.
const CLOSE_LIMIT: Duration = Duration::from_secs(2);
/// The pause between the pieces of a slow request.
const PAUSE: Duration = Duration::from_millis(100);

const INDEX: &str = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n\
    <meta charset=\"utf-8\">\n<title>Checker's page</title>\n</head>\n\
    <body>\n<h1>It works</h1>\n<p>Served by your web server.</p>\n\
    </body>\n</html>\n";
/// More bytes than characters: a length counted in characters is wrong.
const NOTES: &str = "straße 안녕 — the length is counted in bytes\n";
const PICTURE: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" \
    width=\"8\" height=\"8\"><rect width=\"8\" height=\"8\"/></svg>\n";
/// The file whose name needs decoding: `my notes.txt` and `café.txt`.
const SPACED: &str = "found after decoding the name\n";
/// The words of the file outside the folder; no response may hold them.
const SECRET: &str = "SECRET-5e1f: this file is outside the served folder";

/// Every criterion, in the order they are reported.
const CRITERIA: [&str; 12] = [
    "prints-its-address",
    "serves-index",
    "correct-content-length",
    "sends-content-types",
    "serves-binary-files-exactly",
    "answers-404",
    "refuses-path-escape",
    "decodes-percent-escapes",
    "rejects-malformed-requests",
    "rejects-other-methods",
    "handles-a-slow-request",
    "serves-concurrent-requests",
];

pub fn check(student: &Student) -> Vec<Criterion> {
    let folder = match Folder::create() {
        Ok(folder) => folder,
        Err(error) => {
            let reason = format!("cannot make files: {error}");
            return Criterion::skip_all(&CRITERIA, &reason);
        }
    };
    let site = folder.site.display().to_string();
    let args = ["--port", "0", "--bind", "127.0.0.1", "--root", &site];
    let server = match student.start_server(&args, START_LIMIT) {
        Ok(server) => server,
        Err(mut failure) => {
            if failure.got.starts_with("the server exited") {
                failure.hint = "it stopped before its first line: it must \
                                accept --port, --bind and --root DIR (see \
                                its stderr)"
                    .to_string();
            }
            let mut criteria = vec![Criterion::from(CRITERIA[0], Err(failure))];
            criteria.extend(CRITERIA[1..].iter().map(|name| {
                Criterion::fail(
                    name,
                    "a running server",
                    "it did not start (see prints-its-address)",
                    "start with --port 0 --bind 127.0.0.1 --root DIR",
                )
            }));
            return criteria;
        }
    };
    let address = server.loopback();
    let mut criteria = vec![Criterion::pass(CRITERIA[0])];
    criteria.push(serves_index(address));
    criteria.push(correct_content_length(address));
    criteria.push(sends_content_types(address));
    criteria.push(serves_binary_files_exactly(address, &folder));
    criteria.push(answers_404(address));
    criteria.push(refuses_path_escape(address, &folder));
    criteria.push(decodes_percent_escapes(address));
    criteria.push(rejects_malformed_requests(address));
    criteria.push(rejects_other_methods(address));
    criteria.push(handles_a_slow_request(address));
    criteria.push(serves_concurrent_requests(address));
    drop(server);
    criteria
}

/// `GET /` gives index.html, says `Connection: close`, and closes the
/// connection after it.
fn serves_index(address: SocketAddr) -> Criterion {
    let result = get(address, "/").and_then(|response| {
        response.expect_file(INDEX.as_bytes(), "GET /", "index.html")?;
        let connection = response.header("connection").unwrap_or_default();
        if !connection.eq_ignore_ascii_case("close") {
            return Err(Failure::new(
                "a `Connection: close` header",
                format!("{:?}", response.head.trim_end()),
                "say that the server closes the connection after this \
                 response (RFC 9112 asks it of a server that does)",
            ));
        }
        if !response.closed {
            return Err(Failure::new(
                format!(
                    "the connection closed within {CLOSE_LIMIT:?} after the \
                     body"
                ),
                "it stayed open",
                "send `Connection: close` and close (drop) the connection \
                 after the response",
            ));
        }
        Ok(())
    });
    Criterion::from("serves-index", result)
}

/// A text file whose length in bytes differs from its length in
/// characters: Content-Length counts bytes, and nothing follows the body.
fn correct_content_length(address: SocketAddr) -> Criterion {
    let result = get(address, "/notes.txt").and_then(|response| {
        response.expect_file(
            NOTES.as_bytes(),
            "GET /notes.txt",
            "notes.txt",
        )?;
        let length = NOTES.len().to_string();
        match response.header("content-length") {
            Some(value) if value == length => Ok(()),
            value => Err(Failure::new(
                format!("`Content-Length: {length}` (bytes, not characters)"),
                match value {
                    Some(value) => format!("`Content-Length: {value}`"),
                    None => "no Content-Length header".to_string(),
                },
                "use the file's size in bytes (metadata().len())",
            )),
        }
    });
    Criterion::from("correct-content-length", result)
}

/// The Content-Type comes from the extension.
fn sends_content_types(address: SocketAddr) -> Criterion {
    let cases = [
        ("/index.html", "text/html"),
        ("/notes.txt", "text/plain"),
        ("/image.png", "image/png"),
        ("/picture.svg", "image/svg+xml"),
        ("/data.bin", "application/octet-stream"),
    ];
    let result = cases.iter().try_for_each(|(path, expected)| {
        let response = get(address, path)?;
        let got = response.header("content-type").unwrap_or_default();
        let media_type = got.split(';').next().unwrap_or("").trim();
        if response.status == 200 && media_type.eq_ignore_ascii_case(expected) {
            return Ok(());
        }
        Err(Failure::new(
            format!("GET {path}: 200 with `Content-Type: {expected}`"),
            format!("{}, Content-Type {got:?}", response.status_line()),
            "choose the type from the extension: html text/html, txt \
             text/plain, png image/png, svg image/svg+xml, any other \
             application/octet-stream",
        ))
    });
    Criterion::from("sends-content-types", result)
}

/// Every byte value, CR LF and NUL included, comes back unchanged.
fn serves_binary_files_exactly(
    address: SocketAddr,
    folder: &Folder,
) -> Criterion {
    let result = get(address, "/image.png").and_then(|response| {
        response.expect_file(&folder.binary, "GET /image.png", "image.png")
    });
    Criterion::from("serves-binary-files-exactly", result)
}

fn answers_404(address: SocketAddr) -> Criterion {
    let result = get(address, "/no-such-page.html").and_then(|response| {
        let html = response
            .header("content-type")
            .is_some_and(|kind| kind.starts_with("text/html"));
        if response.status == 404 && html && !response.body.is_empty() {
            return Ok(());
        }
        Err(Failure::new(
            "GET /no-such-page.html: status 404, with a small HTML page \
             (Content-Type text/html) as its body",
            format!(
                "{}, Content-Type {:?}, a body of {} bytes",
                response.status_line(),
                response.header("content-type").unwrap_or_default(),
                response.body.len()
            ),
            "when the file cannot be opened, answer `HTTP/1.1 404 Not \
             Found` with a small HTML body",
        ))
    });
    Criterion::from("answers-404", result)
}

/// None of the ways out of the folder returns the secret file.
/// `GET /my%20notes.txt` and `GET /caf%C3%A9.txt` give the files
/// `my notes.txt` and `café.txt`: escapes are decoded, as UTF-8 bytes.
fn decodes_percent_escapes(address: SocketAddr) -> Criterion {
    let result = [
        ("/my%20notes.txt", "my notes.txt"),
        ("/caf%C3%A9.txt", "café.txt"),
    ]
    .iter()
    .try_for_each(|(target, file)| {
        let response = get(address, target)?;
        response.expect_file(SPACED.as_bytes(), &format!("GET {target}"), file)
    });
    Criterion::from(
        "decodes-percent-escapes",
        result.map_err(|mut failure| {
            failure.hint =
                "decode each %XX into its byte before looking for the \
                        file, then read the bytes as UTF-8 (Python: \
                        urllib.parse.unquote; Rust: a small loop over the \
                        bytes, or the percent-encoding crate)"
                    .to_string();
            failure
        }),
    )
}

fn refuses_path_escape(address: SocketAddr, folder: &Folder) -> Criterion {
    // The secret's own absolute path, and with a second `/` in front: a
    // server that joins an absolute path to its folder gets the secret.
    let absolute = folder.secret.display().to_string();
    let doubled = format!("/{absolute}");
    let targets = [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/./../secret.txt",
        // A folder beside the served one whose name starts with the
        // same letters: a server that compares the normalised path with
        // the folder's as strings takes it for a part of its folder.
        "/../site-secret/secret.txt",
        "/%2e%2e/site-secret/secret.txt",
        &absolute,
        &doubled,
    ];
    let result = targets.iter().try_for_each(|target| {
        let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n");
        // No answer at all keeps the secret too.
        let Ok(response) = exchange(address, &[request.as_bytes()]) else {
            return Ok(());
        };
        let leaked = contains(&response.body, SECRET.as_bytes())
            || contains(&response.extra, SECRET.as_bytes());
        if !leaked && !(200..300).contains(&response.status) {
            return Ok(());
        }
        Err(Failure::new(
            format!(
                "GET {target}: 403 or 404, not the file outside the folder"
            ),
            format!(
                "{}{}",
                response.status_line(),
                if leaked { " with the secret file" } else { "" }
            ),
            "decode %XX first, then refuse any `..` segment; never join an \
             absolute path to the folder; and compare paths by components, \
             not as strings (/srv/site-secret starts with the string \
             /srv/site). Python: Path.is_relative_to; Rust: Path::starts_with",
        ))
    });
    Criterion::from("refuses-path-escape", result)
}

fn rejects_malformed_requests(address: SocketAddr) -> Criterion {
    let result = ["this is not http\r\n\r\n", "GET\r\n\r\n"]
        .iter()
        .try_for_each(|request| {
            expect_status(
                address,
                request,
                400,
                "a request line of three \
                words, METHOD TARGET HTTP/1.x, or else 400 Bad Request",
            )
        });
    Criterion::from("rejects-malformed-requests", result)
}

fn rejects_other_methods(address: SocketAddr) -> Criterion {
    let result = expect_status(
        address,
        "DELETE /index.html HTTP/1.1\r\nHost: x\r\n\r\n",
        405,
        "answer methods other than GET (and HEAD) with 405 Method Not \
         Allowed",
    );
    Criterion::from("rejects-other-methods", result)
}

/// The request arrives in pieces, as it may over a real network: a server
/// that parses what its first read returned sees half a request line.
fn handles_a_slow_request(address: SocketAddr) -> Criterion {
    let pieces: [&[u8]; 5] = [
        b"GE",
        b"T /index.ht",
        b"ml HTTP/1.1\r",
        b"\nHost: x\r\n",
        b"\r\n",
    ];
    let result = exchange(address, &pieces).and_then(|response| {
        response.expect_file(
            INDEX.as_bytes(),
            "GET /index.html sent in 5 pieces 100ms apart",
            "index.html",
        )
    });
    let result = result.map_err(|mut failure| {
        failure.hint = "read lines until the empty line that ends the \
                        headers, however many reads that takes (Python: \
                        recv in a loop until b'\\r\\n\\r\\n' has come; \
                        Rust: a BufReader and read_line)"
            .to_string();
        failure
    });
    Criterion::from("handles-a-slow-request", result)
}

/// A connection that has sent nothing yet (as a browser's spare
/// connection) must not hold up the next one.
fn serves_concurrent_requests(address: SocketAddr) -> Criterion {
    Criterion::from("serves-concurrent-requests", two_at_once(address))
}

fn two_at_once(address: SocketAddr) -> Result<(), Failure> {
    let mut first = connect(address)?;
    let second =
        exchange(address, &[b"GET / HTTP/1.1\r\n\r\n"]).map_err(|failure| {
            Failure::new(
                "a response to a second connection while the first one has \
                 sent nothing yet",
                failure.got,
                "accept in a loop and serve each connection on a thread of \
                 its own",
            )
        })?;
    second.expect_file(
        INDEX.as_bytes(),
        "GET / while another connection is open and silent",
        "index.html",
    )?;
    write(&mut first, b"GET /notes.txt HTTP/1.1\r\n\r\n")?;
    let deadline = Instant::now() + REQUEST_LIMIT;
    read_response(&mut first, deadline)?.expect_file(
        NOTES.as_bytes(),
        "the first connection's GET /notes.txt, sent after the other's",
        "notes.txt",
    )
}

/// Sends `request` and expects the status `code`.
fn expect_status(
    address: SocketAddr,
    request: &str,
    code: u16,
    hint: &str,
) -> Result<(), Failure> {
    let response = exchange(address, &[request.as_bytes()])?;
    if response.status == code {
        return Ok(());
    }
    Err(Failure::new(
        format!("{request:?}: status {code}"),
        response.status_line(),
        hint,
    ))
}

fn get(address: SocketAddr, path: &str) -> Result<Response, Failure> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    exchange(address, &[request.as_bytes()])
}

/// Connects, sends `pieces` (with a pause between two) and reads the
/// response.
fn exchange(
    address: SocketAddr,
    pieces: &[&[u8]],
) -> Result<Response, Failure> {
    let deadline = Instant::now() + REQUEST_LIMIT;
    let mut stream = connect(address)?;
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            thread::sleep(PAUSE);
        }
        // The server may answer (and close) before the last piece: its
        // response is what counts, so a failed write is not the end.
        if stream.write_all(piece).is_err() {
            break;
        }
    }
    read_response(&mut stream, deadline)
}

fn connect(address: SocketAddr) -> Result<TcpStream, Failure> {
    TcpStream::connect_timeout(&address, REQUEST_LIMIT).map_err(|error| {
        Failure::new(
            format!("a connection to {address}"),
            error.to_string(),
            "keep accepting connections after each response",
        )
    })
}

fn write(stream: &mut TcpStream, bytes: &[u8]) -> Result<(), Failure> {
    stream.write_all(bytes).map_err(|error| {
        Failure::new(
            "to send the request",
            error.to_string(),
            "read the whole request before you answer",
        )
    })
}

/// A response as it came: the status, the head, the body (as long as
/// Content-Length says, or up to the close), and whatever followed.
struct Response {
    status: u16,
    head: String,
    body: Vec<u8>,
    /// Bytes after the Content-Length, before the close.
    extra: Vec<u8>,
    /// Whether the server closed the connection after the body.
    closed: bool,
}

impl Response {
    fn status_line(&self) -> String {
        let line = self.head.lines().next().unwrap_or_default();
        format!("`{line}`")
    }

    /// The value of the first header `name` (any case).
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    }

    /// Status 200 with exactly the bytes of the file, nothing more.
    fn expect_file(
        &self,
        file: &[u8],
        request: &str,
        name: &str,
    ) -> Result<(), Failure> {
        let expected =
            format!("{request}: 200 and the {} bytes of {name}", file.len());
        if self.status != 200 {
            return Err(Failure::new(
                expected,
                self.status_line(),
                format!("serve the file {name} from the --root folder"),
            ));
        }
        if self.body == file && self.extra.is_empty() {
            return Ok(());
        }
        let got = match self.header("content-length") {
            Some(length) => format!(
                "Content-Length {length}, {} bytes after the head, {}",
                self.body.len() + self.extra.len(),
                first_difference(&self.body, file)
            ),
            None => format!(
                "no Content-Length, {} bytes, {}",
                self.body.len(),
                first_difference(&self.body, file)
            ),
        };
        Err(Failure::new(
            expected,
            got,
            "send the file's bytes as they are (read it as bytes, not as \
             text) after a Content-Length of its size",
        ))
    }
}

/// Where `got` first differs from `expected`, for a failure message.
fn first_difference(got: &[u8], expected: &[u8]) -> String {
    match got.iter().zip(expected).position(|(a, b)| a != b) {
        Some(at) => {
            format!("byte {at} is {:#04x}, not {:#04x}", got[at], expected[at])
        }
        None if got.len() < expected.len() => {
            format!("only the first {} bytes", got.len())
        }
        None if got.len() > expected.len() => {
            format!("{} bytes too many", got.len() - expected.len())
        }
        None => "the same bytes".to_string(),
    }
}

/// Reads a response: the head up to the empty line, then the body.
fn read_response(
    stream: &mut TcpStream,
    deadline: Instant,
) -> Result<Response, Failure> {
    let fail = |got: String| {
        Failure::new(
            format!("an HTTP response within {REQUEST_LIMIT:?}"),
            got,
            "answer with a status line, headers, an empty line (each line \
             ending in \\r\\n), then the body",
        )
    };
    let mut received = Vec::new();
    let head_end = loop {
        if let Some(at) = find(&received, b"\r\n\r\n") {
            break at + 4;
        }
        if received.len() > 64 * 1024 {
            return Err(fail("64 KiB without the end of the head".into()));
        }
        match read_some(stream, deadline, &mut received) {
            Ok(0) if received.is_empty() => {
                return Err(fail("the connection closed, no response".into()));
            }
            Ok(0) => {
                return Err(fail(format!(
                    "the connection closed after {:?}",
                    String::from_utf8_lossy(&received)
                )));
            }
            Ok(_) => {}
            Err(error) => {
                let why = match error.kind() {
                    ErrorKind::WouldBlock => "nothing more in time".into(),
                    _ => error.to_string(),
                };
                return Err(fail(if received.is_empty() {
                    format!("no response ({why})")
                } else {
                    format!(
                        "{:?}, then {why}",
                        String::from_utf8_lossy(&received)
                    )
                }));
            }
        }
    };
    let head = String::from_utf8_lossy(&received[..head_end]).into_owned();
    let status = head
        .lines()
        .next()
        .filter(|line| line.starts_with("HTTP/1."))
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| {
            fail(format!("{:?}", head.lines().next().unwrap_or_default()))
        })?;
    let mut response = Response {
        status,
        head,
        body: received.split_off(head_end),
        extra: Vec::new(),
        closed: false,
    };
    let length: Option<usize> = response
        .header("content-length")
        .and_then(|value| value.parse().ok());
    // Read up to the close; once Content-Length bytes are in, wait a
    // little only.
    let mut complete_at = None;
    loop {
        let until = match (length, complete_at) {
            (Some(length), None) if response.body.len() >= length => {
                let at = Instant::now().min(deadline) + CLOSE_LIMIT;
                complete_at = Some(at);
                at
            }
            (_, Some(at)) => at,
            _ => deadline,
        };
        match read_some(stream, until, &mut response.body) {
            Ok(0) => {
                response.closed = true;
                break;
            }
            Ok(_) if response.body.len() > 16 * 1024 * 1024 => break,
            Ok(_) => {}
            // A reset ends the response as a close does.
            Err(error) if error.kind() != ErrorKind::WouldBlock => {
                response.closed = true;
                break;
            }
            Err(_) => break,
        }
    }
    if let Some(length) = length.filter(|&l| l < response.body.len()) {
        response.extra = response.body.split_off(length);
    }
    Ok(response)
}

/// One read, waiting until `until` at most: Ok(0) at the close.
fn read_some(
    stream: &mut TcpStream,
    until: Instant,
    into: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let left = until.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(ErrorKind::WouldBlock.into());
    }
    stream.set_read_timeout(Some(left))?;
    let mut chunk = [0; 16 * 1024];
    match stream.read(&mut chunk) {
        Ok(n) => {
            into.extend_from_slice(&chunk[..n]);
            Ok(n)
        }
        // Unix says WouldBlock when the timeout runs out, Windows TimedOut.
        Err(error) if error.kind() == ErrorKind::TimedOut => {
            Err(ErrorKind::WouldBlock.into())
        }
        Err(error) => Err(error),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

/// The checker's folder in the system's temporary folder: `site/`, which
/// is served, and `secret.txt` beside it. Removed when dropped.
struct Folder {
    top: PathBuf,
    site: PathBuf,
    secret: PathBuf,
    binary: Vec<u8>,
}

impl Folder {
    fn create() -> std::io::Result<Folder> {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let top = std::env::temp_dir().join(format!(
            "socket-walkthrough-web-{}-{nanos}",
            std::process::id()
        ));
        let site = top.join("site");
        std::fs::create_dir_all(&site)?;
        let folder = Folder {
            secret: top.join("secret.txt"),
            site,
            top,
            binary: binary(),
        };
        std::fs::create_dir_all(folder.top.join("site-secret"))?;
        let files: [(&Path, &[u8]); 9] = [
            (&folder.secret, SECRET.as_bytes()),
            (
                &folder.top.join("site-secret/secret.txt"),
                SECRET.as_bytes(),
            ),
            (&folder.site.join("my notes.txt"), SPACED.as_bytes()),
            (&folder.site.join("café.txt"), SPACED.as_bytes()),
            (&folder.site.join("index.html"), INDEX.as_bytes()),
            (&folder.site.join("notes.txt"), NOTES.as_bytes()),
            (&folder.site.join("image.png"), &folder.binary),
            (&folder.site.join("picture.svg"), PICTURE.as_bytes()),
            (&folder.site.join("data.bin"), &folder.binary[..100]),
        ];
        for (path, bytes) in files {
            std::fs::write(path, bytes)?;
        }
        Ok(folder)
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.top);
    }
}

/// A PNG's signature, then every byte value forty times: NUL, CR LF and
/// bytes that are not UTF-8 included.
fn binary() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    for _ in 0..40 {
        bytes.extend(0..=255u8);
    }
    bytes
}
