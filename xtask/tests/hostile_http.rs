//! A classroom of hostile clients against the project's two HTTP servers:
//! `cargo xtask serve` (the book server, here on a folder of its own with
//! `--dir`) and the `web_server` example. Each attack runs against the
//! real program on loopback, bounded in connections and in time; after
//! it, a normal request must still be served and no thread may have
//! panicked.
//!
//! Run alone: `cargo test -p xtask --test hostile_http`. The figures
//! (seconds a slow connection was held, CPU while out of descriptors,
//! bytes of standard error) are printed with `--nocapture`. Linux only:
//! the figures come from /proc.
#![cfg(target_os = "linux")]

use std::fs;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::thread;
use std::time::{Duration, Instant};

/// Both servers' deadline for a request head and timeout for a write.
const DEADLINE: Duration = Duration::from_secs(10);

/// How long a server may take to print its ready line.
const START_LIMIT: Duration = Duration::from_secs(30);

/// How long one normal exchange may take.
const EXCHANGE_LIMIT: Duration = Duration::from_secs(10);

const INDEX: &str = "<!DOCTYPE html>\n<title>Home</title>\n<h1>Home</h1>\n";
const SECRET: &str = "outside the served folder\n";

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    /// `xtask serve --dir`
    Book,
    /// `web_server --root`
    Web,
}

/// A folder to serve, with a secret file beside it; removed when dropped.
struct Site {
    top: tempfile::TempDir,
}

impl Site {
    fn new() -> Site {
        let top = tempfile::tempdir().unwrap();
        // Readable by everyone: the thread-limit test serves it as
        // another user.
        fs::set_permissions(top.path(), fs::Permissions::from_mode(0o755))
            .unwrap();
        let root = top.path().join("site");
        fs::create_dir_all(root.join("sub")).unwrap();
        let files: [(&str, &str); 9] = [
            ("index.html", INDEX),
            ("404.html", "<title>Lost</title>\n"),
            ("sub/index.html", "<title>Sub</title>\n"),
            ("a.css", "h1 { color: red }\n"),
            ("a.js", "let a = 1;\n"),
            ("a.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n"),
            ("a.woff2", "wOF2"),
            ("a.json", "{}\n"),
            ("../secret.txt", SECRET),
        ];
        for (name, text) in files {
            fs::write(root.join(name), text).unwrap();
        }
        symlink("../secret.txt", root.join("escape.txt")).unwrap();
        symlink("index.html", root.join("link.html")).unwrap();
        Site { top }
    }

    fn root(&self) -> PathBuf {
        self.top.path().join("site")
    }

    /// Adds a file of `size` bytes to the site.
    fn big_file(&self, name: &str, size: usize) -> PathBuf {
        let path = self.root().join(name);
        fs::write(&path, vec![b'x'; size]).unwrap();
        path
    }
}

/// The web_server example, built once for this test binary.
fn web_server() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "socket-walkthrough"])
            .args(["--example", "web_server"])
            .current_dir(root)
            .status()
            .expect("cannot run cargo");
        assert!(status.success(), "cargo build --example web_server failed");
        // Beside this test's target/<profile>/deps/ folder.
        let mut dir = std::env::current_exe().unwrap();
        dir.pop();
        if dir.ends_with("deps") {
            dir.pop();
        }
        let path = dir.join("examples/web_server");
        assert!(path.exists(), "{} was not built", path.display());
        path
    })
}

/// A server process, with its standard output and error collected;
/// killed when dropped.
struct Server {
    child: Child,
    kind: Kind,
    port: u16,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Server {
    /// Starts `kind` on `site`, on a free port of `bind`, its command line
    /// after `wrapper` (e.g. a shell that lowers a limit, then `exec`s).
    fn start(kind: Kind, site: &Site, bind: &str, wrapper: &[&str]) -> Self {
        let root = site.root().display().to_string();
        let (program, args): (&Path, Vec<&str>) = match kind {
            Kind::Book => (
                Path::new(env!("CARGO_BIN_EXE_xtask")),
                vec!["serve", "--dir", &root, "--bind", bind, "--port", "0"],
            ),
            Kind::Web => (
                web_server(),
                vec!["--root", &root, "--bind", bind, "--port", "0"],
            ),
        };
        let mut command = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut command = Command::new(first);
                command.args(rest).arg(program);
                command
            }
            None => Command::new(program),
        };
        let mut child = command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {kind:?}: {error}"));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (ready, first_line) = mpsc::channel();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let sink = Arc::clone(&stdout);
        thread::spawn(move || {
            let mut line = Vec::new();
            while let Ok(1..) = out.read_until(b'\n', &mut line) {
                let _ = ready.send(String::from_utf8_lossy(&line).into_owned());
                sink.lock().unwrap().append(&mut line);
            }
        });
        let mut err = child.stderr.take().unwrap();
        let sink = Arc::clone(&stderr);
        thread::spawn(move || {
            let mut chunk = [0; 4096];
            while let Ok(n @ 1..) = err.read(&mut chunk) {
                sink.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        let mut server = Server {
            child,
            kind,
            port: 0,
            stdout,
            stderr,
        };
        let line = first_line.recv_timeout(START_LIMIT).unwrap_or_else(|_| {
            panic!("{kind:?} printed no ready line: {}", server.stderr())
        });
        // "…at http://127.0.0.1:PORT/ (…" or "…receive on 127.0.0.1:PORT".
        let address = line
            .split_whitespace()
            .find(|word| word.contains(':') && !word.ends_with(':'))
            .unwrap_or_else(|| panic!("unexpected ready line {line:?}"));
        let port = address.trim_end_matches('/').rsplit(':').next().unwrap();
        server.port = port
            .parse()
            .unwrap_or_else(|_| panic!("no port in ready line {line:?}"));
        server
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    fn stdout(&self) -> Vec<u8> {
        self.stdout.lock().unwrap().clone()
    }

    fn connect(&self) -> TcpStream {
        TcpStream::connect(("127.0.0.1", self.port)).unwrap()
    }

    /// Sends `request` as it is, then everything the server sends until it
    /// closes the connection (a reset ends it too, even while sending: a
    /// refused connection gets an empty response).
    fn exchange(&self, request: &[u8]) -> Vec<u8> {
        let mut stream = self.connect();
        stream.set_read_timeout(Some(EXCHANGE_LIMIT)).unwrap();
        if stream.write_all(request).is_err()
            || stream.shutdown(Shutdown::Write).is_err()
        {
            return Vec::new();
        }
        let mut response = Vec::new();
        if let Err(error) = stream.read_to_end(&mut response) {
            assert!(
                !matches!(
                    error.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut
                ),
                "{:?}: no close within {EXCHANGE_LIMIT:?}",
                String::from_utf8_lossy(request)
            );
        }
        response
    }

    fn get(&self, path: &str) -> String {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        String::from_utf8_lossy(&self.exchange(request.as_bytes())).into_owned()
    }

    /// A normal client is served, and nothing has panicked.
    fn assert_healthy(&mut self) {
        let response = self.get("/");
        assert!(
            response.starts_with("HTTP/1.1 200 OK\r\n")
                && response.ends_with(INDEX),
            "{:?}: GET / after the attack: {response:?}\nstderr: {}",
            self.kind,
            self.stderr()
        );
        assert!(!self.stderr().contains("panicked"), "{}", self.stderr());
        assert!(self.child.try_wait().unwrap().is_none(), "server exited");
    }

    /// User and system CPU time the server has used so far.
    fn cpu_time(&self) -> Duration {
        let stat =
            fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
                .unwrap();
        // The fields after the command name, which is in parentheses:
        // utime and stime are the 14th and 15th fields of the line.
        let fields: Vec<&str> =
            stat.rsplit_once(") ").unwrap().1.split(' ').collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap()
            + fields[12].parse::<u64>().unwrap();
        Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Clock ticks per second, the unit of /proc/PID/stat's times.
fn clock_ticks() -> u64 {
    let output = Command::new("getconf").arg("CLK_TCK").output().unwrap();
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap()
}

fn status_line(response: &str) -> &str {
    response.lines().next().unwrap_or_default()
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next().unwrap_or_default();
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// The state of TCP connections in /proc/net/tcp.
const ESTABLISHED: u8 = 1;

/// The state of the loopback connection from `local_port` to
/// `remote_port`, as /proc/net/tcp shows it; `None` once it is gone.
fn tcp_state(local_port: u16, remote_port: u16) -> Option<u8> {
    let table = fs::read_to_string("/proc/net/tcp").unwrap();
    let port = |address: &str| {
        let hex = address.rsplit(':').next()?;
        u16::from_str_radix(hex, 16).ok()
    };
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (port(fields[1])? == local_port && port(fields[2])? == remote_port)
            .then(|| u8::from_str_radix(fields[3], 16).ok())
            .flatten()
    })
}

/// Seconds from `start` until the server closes `stream`, reading one
/// second at a time and, if `trickle`, sending one byte after each.
fn seconds_until_closed(
    mut stream: TcpStream,
    start: Instant,
    trickle: bool,
) -> f64 {
    stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let limit = DEADLINE + Duration::from_secs(10);
    let mut byte = [0; 1];
    while start.elapsed() < limit {
        match stream.read(&mut byte) {
            Ok(0) => break,
            Err(error)
                if matches!(
                    error.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut
                ) =>
            {
                if trickle && stream.write_all(b"X").is_err() {
                    break;
                }
            }
            // A response (the book server may send 408) or a reset: the
            // server has given up on the request either way.
            Ok(_) | Err(_) => break,
        }
    }
    start.elapsed().as_secs_f64()
}

/// Slow-loris, a silent connection, and a response nobody reads: each
/// is closed by the server's deadline, not held.
fn slow_clients(kind: Kind) {
    let site = Site::new();
    let big = 32 << 20;
    site.big_file("big.bin", big);
    let mut server = Server::start(kind, &site, "127.0.0.1", &[]);
    let start = Instant::now();
    let mut loris = server.connect();
    loris.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    let loris = thread::spawn(move || seconds_until_closed(loris, start, true));
    let silent = server.connect();
    let silent =
        thread::spawn(move || seconds_until_closed(silent, start, false));
    let mut reader = server.connect();
    reader
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let asked = Instant::now();
    // The attack: read nothing until the server has closed its end (a
    // closed socket with unsent data leaves ESTABLISHED for FIN_WAIT1).
    let client_port = reader.local_addr().unwrap().port();
    let limit = 3 * DEADLINE;
    while tcp_state(server.port, client_port) == Some(ESTABLISHED) {
        assert!(asked.elapsed() < limit, "{kind:?}: unread response held");
        thread::sleep(Duration::from_millis(100));
    }
    let unread = asked.elapsed().as_secs_f64();
    reader.set_read_timeout(Some(EXCHANGE_LIMIT)).unwrap();
    let mut received = Vec::new();
    let _ = reader.read_to_end(&mut received);
    let loris = loris.join().unwrap();
    let silent = silent.join().unwrap();
    eprintln!(
        "{kind:?}: slow loris held {loris:.1} s, silent connection \
         {silent:.1} s, unread response {unread:.1} s ({} of {big} bytes \
         sent)",
        received.len()
    );
    // A write that times out after sending part of its bytes returns
    // that part first (web_server's SO_SNDTIMEO): up to two timeouts.
    assert!(
        (DEADLINE.as_secs_f64() - 0.5..2.0 * DEADLINE.as_secs_f64() + 3.0)
            .contains(&unread),
        "{kind:?}: unread response closed after {unread:.1} s"
    );
    for (what, held) in [("slow loris", loris), ("silent", silent)] {
        assert!(
            (DEADLINE.as_secs_f64() - 0.5..DEADLINE.as_secs_f64() + 3.0)
                .contains(&held),
            "{kind:?}: {what} connection held {held:.1} s"
        );
    }
    assert!(received.len() < big, "{kind:?}: the whole file was sent");
    server.assert_healthy();
}

#[test]
fn book_server_cuts_slow_clients_off() {
    slow_clients(Kind::Book);
}

#[test]
fn web_server_cuts_slow_clients_off() {
    slow_clients(Kind::Web);
}

/// With few file descriptors, a class holds them all with idle
/// connections: the server must neither spin nor flood its stderr, and
/// must recover when they are released.
fn out_of_descriptors(kind: Kind) {
    let site = Site::new();
    let limit = r#"ulimit -n 64 && exec "$0" "$@""#;
    let mut server =
        Server::start(kind, &site, "127.0.0.1", &["sh", "-c", limit]);
    let held: Vec<TcpStream> = (0..100).map(|_| server.connect()).collect();
    let wait = Instant::now();
    while !server.stderr().contains("accept") {
        assert!(
            wait.elapsed() < Duration::from_secs(5),
            "{kind:?}: no accept error with 100 connections and 64 \
             descriptors; stderr: {}",
            server.stderr()
        );
        thread::sleep(Duration::from_millis(20));
    }
    let before = server.cpu_time();
    // The measurement: two seconds of being out of descriptors.
    let window = Duration::from_secs(2);
    thread::sleep(window);
    let cpu = (server.cpu_time() - before).as_secs_f64() / window.as_secs_f64();
    let stderr = server.stderr();
    eprintln!(
        "{kind:?}: out of descriptors: {:.1} % CPU, {} bytes of stderr",
        cpu * 100.0,
        stderr.len()
    );
    assert!(cpu < 0.1, "{kind:?}: {:.0} % CPU", cpu * 100.0);
    assert_eq!(
        stderr.matches("accept").count(),
        1,
        "{kind:?}: stderr {stderr}"
    );
    assert!(stderr.len() < 300, "{kind:?}: stderr {stderr}");
    drop(held);
    server.assert_healthy();
}

#[test]
fn book_server_backs_off_when_out_of_descriptors() {
    out_of_descriptors(Kind::Book);
}

#[test]
fn web_server_backs_off_when_out_of_descriptors() {
    out_of_descriptors(Kind::Web);
}

/// web_server under a user allowed only a few threads: the connections
/// it cannot start a thread for are refused, the rest served.
#[test]
fn web_server_refuses_connections_when_out_of_threads() {
    let uid = Command::new("id").arg("-u").output().unwrap().stdout;
    let tools = ["setpriv", "prlimit"]
        .iter()
        .all(|tool| Command::new(tool).arg("--version").output().is_ok());
    if uid.trim_ascii() != b"0" || !tools {
        eprintln!("skipped: needs root, setpriv and prlimit");
        return;
    }
    let site = Site::new();
    // RLIMIT_NPROC counts the threads of every process of the user:
    // `nobody` runs nothing else here; the server's main thread is one.
    let wrapper = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "prlimit",
        "--nproc=6",
        "--",
    ];
    let mut server = Server::start(Kind::Web, &site, "127.0.0.1", &wrapper);
    let held: Vec<TcpStream> = (0..12).map(|_| server.connect()).collect();
    let wait = Instant::now();
    let refusals =
        |server: &Server| server.stderr().matches("no thread").count();
    while refusals(&server) < 12 - 5 {
        assert!(
            wait.elapsed() < Duration::from_secs(5),
            "fewer refusals than expected; stderr: {}",
            server.stderr()
        );
        thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "Web: out of threads: {} of 12 connections refused, {} bytes of \
         stderr",
        refusals(&server),
        server.stderr().len()
    );
    assert!(refusals(&server) <= 12, "{}", server.stderr());
    drop(held);
    // The held threads end as their clients close; a normal request may
    // meet the last of them still running.
    let wait = Instant::now();
    while !server.get("/").starts_with("HTTP/1.1 200 OK") {
        assert!(wait.elapsed() < EXCHANGE_LIMIT, "{}", server.stderr());
        thread::sleep(Duration::from_millis(50));
    }
    server.assert_healthy();
}

/// Requests that are not HTTP/1.1 as it should be, each with the status
/// it must get (`None`: closed with no response).
fn malformed(kind: Kind) {
    let site = Site::new();
    let mut server = Server::start(kind, &site, "127.0.0.1", &[]);
    let (unknown_method, empty_lines) = match kind {
        Kind::Book => (Some("400 Bad Request"), None),
        Kind::Web => (Some("405 Method Not Allowed"), Some("400 Bad Request")),
    };
    let big_head: String = (0..64)
        .map(|i| format!("X-Filler-{i}: {}\r\n", "a".repeat(1000)))
        .collect();
    let big_head = format!("GET / HTTP/1.1\r\nHost: x\r\n{big_head}\r\n");
    let cases: [(&[u8], Option<&str>); 6] = [
        (
            b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
            Some("400 Bad Request"),
        ),
        (b"\xff\xfe / HTTP/1.1\r\nHost: x\r\n\r\n", unknown_method),
        (b"\r\n\r\n", empty_lines),
        (b"GET\r\n\r\n", Some("400 Bad Request")),
        (
            b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
            Some("400 Bad Request"),
        ),
        (big_head.as_bytes(), Some("200 OK")),
    ];
    for (request, expected) in cases {
        let response =
            String::from_utf8_lossy(&server.exchange(request)).into_owned();
        let shown = String::from_utf8_lossy(&request[..request.len().min(30)]);
        match expected {
            Some(status) => assert_eq!(
                status_line(&response),
                format!("HTTP/1.1 {status}"),
                "{kind:?}: {shown:?}"
            ),
            None => assert_eq!(response, "", "{kind:?}: {shown:?}"),
        }
        if let Some(length) = header(&response, "content-length") {
            let body = response.split_once("\r\n\r\n").unwrap().1;
            assert_eq!(body.len().to_string(), length, "{kind:?}: {shown:?}");
        }
    }
    if kind == Kind::Web {
        // The request line goes to the log with its control characters
        // escaped: the terminal that shows it must not obey them.
        server.exchange(b"GET /\x1b]0;owned\x07\x1b[2J HTTP/1.1\r\n\r\n");
        let wait = Instant::now();
        while !String::from_utf8_lossy(&server.stdout()).contains("owned") {
            assert!(wait.elapsed() < EXCHANGE_LIMIT, "not logged");
            thread::sleep(Duration::from_millis(20));
        }
        let log = String::from_utf8_lossy(&server.stdout()).into_owned();
        assert!(
            log.contains("\\u{1b}]0;owned\\u{7}\\u{1b}[2J"),
            "log: {log:?}"
        );
        assert!(!log.contains(['\x1b', '\x07']), "log: {log:?}");
    }
    server.assert_healthy();
}

#[test]
fn book_server_answers_malformed_requests() {
    malformed(Kind::Book);
}

#[test]
fn web_server_answers_malformed_requests() {
    malformed(Kind::Web);
}

/// A file that grows while it is sent: no more bytes than the
/// Content-Length the head announced.
fn growing_file(kind: Kind) {
    let site = Site::new();
    let size = 16 << 20;
    let path = site.big_file("growing.log", size);
    let mut server = Server::start(kind, &site, "127.0.0.1", &[]);
    let mut stream = server.connect();
    stream.set_read_timeout(Some(EXCHANGE_LIMIT)).unwrap();
    stream
        .write_all(
            b"GET /growing.log HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        assert!(reader.read_line(&mut head).unwrap() > 0, "{head}");
    }
    let length: usize =
        header(&head, "content-length").unwrap().parse().unwrap();
    assert_eq!(length, size);
    // The server is now blocked on a full socket, in the middle of the
    // file: make it longer.
    let mut file = fs::OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(&vec![b'y'; 4 << 20]).unwrap();
    let mut body = Vec::new();
    reader.read_to_end(&mut body).unwrap();
    assert_eq!(body.len(), length, "{kind:?}: body longer than announced");
    server.assert_healthy();
}

#[test]
fn book_server_sends_no_more_than_content_length() {
    growing_file(Kind::Book);
}

#[test]
fn web_server_sends_no_more_than_content_length() {
    growing_file(Kind::Web);
}

/// The book server, bound to every interface: the types a book needs, a
/// folder's index.html, no way out of the folder (`..` raw or escaped, a
/// symbolic link), a dozen parallel requests, and Ctrl-C.
#[test]
fn book_server_serves_the_folder_and_nothing_else() {
    let site = Site::new();
    let mut server = Server::start(Kind::Book, &site, "0.0.0.0", &[]);
    let types = [
        ("/", "text/html"),
        ("/a.css", "text/css"),
        ("/a.js", "text/javascript"),
        ("/a.svg", "image/svg+xml"),
        ("/a.woff2", "font/woff2"),
        ("/a.json", "application/json"),
        ("/link.html", "text/html"),
    ];
    for (path, mime) in types {
        let response = server.get(path);
        assert_eq!(status_line(&response), "HTTP/1.1 200 OK", "{path}");
        assert_eq!(header(&response, "content-type"), Some(mime), "{path}");
    }
    assert!(server.get("/sub/").ends_with("<title>Sub</title>\n"));
    let response = server.get("/sub");
    assert_eq!(header(&response, "location"), Some("/sub/"), "{response}");
    let escapes = [
        "/../secret.txt",
        "/sub/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/..%2fsecret.txt",
        "/sub/%2e%2e/%2e%2e/secret.txt",
        "/escape.txt",
    ];
    for path in escapes {
        let response = server.get(path);
        assert!(!response.contains(SECRET), "{path}: {response}");
        assert!(
            ["HTTP/1.1 404 Not Found", "HTTP/1.1 400 Bad Request"]
                .contains(&status_line(&response)),
            "{path}: {response}"
        );
    }
    assert!(server.get("/nothing").ends_with("<title>Lost</title>\n"));

    // A browser may send on all of its connections before reading any.
    let mut parallel: Vec<TcpStream> =
        (0..12).map(|_| server.connect()).collect();
    for stream in &mut parallel {
        stream
            .write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
            .unwrap();
    }
    for mut stream in parallel {
        stream.set_read_timeout(Some(EXCHANGE_LIMIT)).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(response.ends_with(INDEX), "{response}");
    }
    server.assert_healthy();

    let interrupt = Command::new("kill")
        .args(["-INT", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupt.success());
    let wait = Instant::now();
    while server.child.try_wait().unwrap().is_none() {
        assert!(wait.elapsed() < EXCHANGE_LIMIT, "Ctrl-C did not stop it");
        thread::sleep(Duration::from_millis(20));
    }
}
