//! Exercise 6 (a minimal web server): the checker passes the reference
//! solution and fails the deliberately wrong servers on the right
//! criterion; the solution does what its page says; the page's
//! transcripts are real runs.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use support::{Run, Server, check_text, run_example};

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

fn failed(run: &Run) -> Vec<&str> {
    run.stdout
        .lines()
        .filter_map(|line| line.strip_prefix("FAIL "))
        .filter_map(|rest| rest.split(':').next())
        .collect()
}

#[test]
fn solution_passes_every_criterion() {
    let run = support::check("web", &support::example("web_server"), &[]);
    assert_eq!(run.status.code(), Some(0), "{}", run.describe());
    for name in CRITERIA {
        assert!(
            run.stdout
                .lines()
                .any(|line| line == format!("PASS {name}")),
            "{name} did not pass\n{}",
            run.describe()
        );
    }
}

#[test]
fn server_without_escape_check_fails_refuses_path_escape_only() {
    let fixture = support::fixture("web_server_no_escape_check");
    let run = support::check("web", &fixture, &[]);
    assert_eq!(run.status.code(), Some(1), "{}", run.describe());
    assert_eq!(failed(&run), ["refuses-path-escape"], "{}", run.describe());
    assert!(
        run.stdout.contains("with the secret file"),
        "{}",
        run.describe()
    );
}

/// The uppercase server knows no `--root`: it does not start, and the
/// checker shows why.
#[test]
fn tcp_server_fails_serves_index() {
    let run = support::check("web", &support::example("tcp_server"), &[]);
    assert_eq!(run.status.code(), Some(1), "{}", run.describe());
    let failed = failed(&run);
    assert!(failed.contains(&"serves-index"), "{}", run.describe());
    assert!(
        run.stdout.contains("unexpected argument '--root'"),
        "{}",
        run.describe()
    );
}

/// A folder for the solution to serve, in the system's temporary folder;
/// removed when dropped.
struct Site {
    top: PathBuf,
    root: PathBuf,
}

impl Site {
    fn new(name: &str) -> Site {
        let top = std::env::temp_dir()
            .join(format!("web-test-{name}-{}", std::process::id()));
        let root = top.join("site");
        fs::create_dir_all(root.join("docs")).unwrap();
        let files: [(&str, &[u8]); 6] = [
            ("index.html", INDEX.as_bytes()),
            ("notes.txt", "straße 안녕\n".as_bytes()),
            ("my notes.txt", b"spaces in a name\n"),
            ("docs/index.html", b"<!DOCTYPE html>\n<title>Docs</title>\n"),
            ("dot.svg", DOT.as_bytes()),
            ("DOT.SVG", DOT.as_bytes()),
        ];
        for (name, bytes) in files {
            fs::write(root.join(name), bytes).unwrap();
        }
        fs::write(top.join("secret.txt"), "outside the folder\n").unwrap();
        Site { top, root }
    }

    fn serve(&self) -> Server {
        let root = self.root.display().to_string();
        Server::start_with("web_server", &["--root", &root, "--port", "0"])
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.top);
    }
}

const INDEX: &str = "<!DOCTYPE html>\n<title>It works</title>\n\
                     <h1>It works</h1>\n<img src=\"dot.svg\" alt=\"a dot\">\n";
const DOT: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"16\" \
                   height=\"16\"><circle cx=\"8\" cy=\"8\" r=\"8\"/></svg>\n";

/// Sends `request` as it is and returns everything the server sent until
/// it closed the connection.
fn exchange(address: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap_or_else(|error| {
        panic!("{request:?}: no close within 10 s: {error}");
    });
    String::from_utf8(response).unwrap()
}

fn get(address: SocketAddr, path: &str) -> String {
    exchange(address, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"))
}

fn status_line(response: &str) -> &str {
    response.lines().next().unwrap_or_default()
}

fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, body)| body)
}

/// What the solution page says beyond the checker's criteria.
#[test]
fn solution_does_what_its_page_says() {
    let site = Site::new("page");
    let server = site.serve();
    let address = server.loopback();

    // HEAD: the same head as GET, no body.
    let head = exchange(address, "HEAD /notes.txt HTTP/1.1\r\n\r\n");
    let full = get(address, "/notes.txt");
    assert_eq!(head, full.strip_suffix(body(&full)).unwrap());
    assert!(
        head.ends_with("\r\n\r\n") && body(&head).is_empty(),
        "{head}"
    );

    // %20 is a space once decoded.
    let response = get(address, "/my%20notes.txt");
    assert_eq!(body(&response), "spaces in a name\n", "{response}");

    // A folder's index.html, with the slash; without it, 404.
    let response = get(address, "/docs/");
    assert!(
        body(&response).contains("<title>Docs</title>"),
        "{response}"
    );
    assert_eq!(
        status_line(&get(address, "/docs")),
        "HTTP/1.1 404 Not Found"
    );

    // A query string is not part of the file name.
    let response = get(address, "/notes.txt?x=1");
    assert_eq!(status_line(&response), "HTTP/1.1 200 OK", "{response}");

    // `..` is refused with 403, before any file is looked at.
    let response = get(address, "/docs/../../secret.txt");
    assert_eq!(status_line(&response), "HTTP/1.1 403 Forbidden");
    let response = get(address, "/docs/../index.html");
    assert_eq!(status_line(&response), "HTTP/1.1 403 Forbidden");

    // 405 says which methods there are.
    let response = exchange(address, "POST / HTTP/1.1\r\n\r\n");
    assert!(response.contains("\r\nAllow: GET, HEAD\r\n"), "{response}");

    // Bad escapes, and escapes that decode to bytes that are not UTF-8.
    for target in ["/%zz", "/%ff", "/%2"] {
        let response = get(address, target);
        assert_eq!(status_line(&response), "HTTP/1.1 400 Bad Request");
    }

    // The extension's case does not matter.
    let response = get(address, "/DOT.SVG");
    assert!(response.contains("\r\nContent-Type: image/svg+xml\r\n"));

    // A client that closes before the end of its request gets nothing,
    // the server says so on stderr, and goes on.
    let mut stream = TcpStream::connect(address).unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    drop(stream);
    assert_eq!(status_line(&get(address, "/")), "HTTP/1.1 200 OK");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.stderr().contains("error: 127.0.0.1:") {
        assert!(Instant::now() < deadline, "no error line on stderr");
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(server.stderr().lines().count(), 1, "{}", server.stderr());
}

#[test]
fn a_root_that_is_not_a_folder_is_an_error() {
    let run = run_example("web_server", &["--root", "no/such/folder"], b"");
    run.assert_error("`no/such/folder` is not a folder");
}

/// Writes the server's port as 6789 and each client's port as 50001,
/// 50002, … in order of appearance.
fn renumber(text: &str, server_port: u16) -> String {
    let text = text.replace(&format!(":{server_port}"), ":6789");
    let mut clients: Vec<String> = Vec::new();
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("127.0.0.1:") {
        let from = at + "127.0.0.1:".len();
        out.push_str(&rest[..from]);
        let digits = rest[from..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len() - from);
        let port = rest[from..from + digits].to_string();
        let index =
            clients.iter().position(|p| *p == port).unwrap_or_else(|| {
                clients.push(port);
                clients.len() - 1
            });
        out.push_str(&(50001 + index).to_string());
        rest = &rest[from + digits..];
    }
    out.push_str(rest);
    out
}

/// The page's expected output: the server's log of a few requests, two
/// of the exchanges byte for byte, and the checker's verdict.
#[test]
fn web_transcripts() {
    let site = Site::new("transcript");
    let mut server = site.serve();
    let port = server.port();
    let address = server.loopback();
    let mut log = format!(
        "$ cargo run --example web_server -- --root site\n\
         The server is ready to receive on {}\n",
        server.address
    );
    let mut exchanges = String::new();
    let requests = [
        "GET /notes.txt HTTP/1.1\r\nHost: localhost:6789\r\n\r\n",
        "GET /../secret.txt HTTP/1.1\r\nHost: localhost:6789\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: localhost:6789\r\n\r\n",
        "GET /missing.html HTTP/1.1\r\nHost: localhost:6789\r\n\r\n",
        "DELETE /index.html HTTP/1.1\r\nHost: localhost:6789\r\n\r\n",
        "HELLO\r\n\r\n",
    ];
    for (i, request) in requests.iter().enumerate() {
        let response = exchange(address, request);
        log.push_str(&server.next_line());
        log.push('\n');
        // The first two, as curl -v shows an exchange.
        if i < 2 {
            if i > 0 {
                exchanges.push('\n');
            }
            let (head, body) = response.split_once("\r\n\r\n").unwrap();
            for line in request.trim_end().split("\r\n") {
                exchanges.push_str(&format!("> {line}\n"));
            }
            exchanges.push_str(">\n");
            for line in head.split("\r\n") {
                exchanges.push_str(&format!("< {line}\n"));
            }
            exchanges.push_str("<\n");
            exchanges.push_str(body);
        }
    }
    let shown = "$ cargo lab check web -- target/debug/examples/web_server\n";
    let run = support::check("web", &support::example("web_server"), &[]);
    assert_eq!(run.status.code(), Some(0), "{}", run.describe());
    support::assert_transcripts([
        check_text("exercises/web-server.txt", renumber(&log, port)),
        check_text("exercises/web-exchange.txt", exchanges),
        check_text("exercises/web-check.txt", format!("{shown}{}", run.stdout)),
    ]);
}
