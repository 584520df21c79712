//! Serves the built book over HTTP, for a browser on this machine (or, with
//! `--bind 0.0.0.0`, on the classroom network).
//!
//! A thread per connection and one request per connection (`Connection:
//! close`): plain std, so that no connection ever waits for another. (The
//! tiny_http server used before handed connections to a small thread pool
//! that could leave some of a browser's parallel connections unread until
//! another one closed, and the page hung half-loaded; the browser tests
//! found it.)

use std::io::{self, BufRead, BufReader, ErrorKind, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest request line and headers read, in bytes.
const MAX_REQUEST: u64 = 64 * 1024;

pub fn serve(
    html_dir: &Path,
    address: SocketAddr,
    open: bool,
) -> Result<(), String> {
    let listener = TcpListener::bind(address)
        .map_err(|error| format!("cannot serve on {address}: {error}"))?;
    let bound = listener
        .local_addr()
        .map_err(|error| format!("cannot read the bound address: {error}"))?;
    let url = if bound.ip().is_unspecified() {
        format!("http://127.0.0.1:{}/", bound.port())
    } else {
        format!("http://{bound}/")
    };
    println!("serving the book at {url} (Ctrl-C to stop)");
    if open && let Err(error) = opener::open_browser(&url) {
        eprintln!("cannot open a browser ({error}); open {url} yourself");
    }
    answer_all(&listener, html_dir);
    Ok(())
}

/// Answers every connection to `listener`, each in a thread of its own.
fn answer_all(listener: &TcpListener, html_dir: &Path) {
    let root = Arc::new(html_dir.to_path_buf());
    for connection in listener.incoming() {
        let connection = match connection {
            Ok(connection) => connection,
            Err(error) => {
                eprintln!("cannot accept a connection: {error}");
                continue;
            }
        };
        let root = Arc::clone(&root);
        thread::spawn(move || {
            if let Err(error) = answer(&root, &connection)
                && !matches!(
                    error.kind(),
                    ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
                )
            {
                eprintln!("cannot answer a request: {error}");
            }
        });
    }
}

/// Reads one request from `connection` and answers it.
fn answer(root: &Path, connection: &TcpStream) -> io::Result<()> {
    connection.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    let mut reader = BufReader::new(io::Read::take(connection, MAX_REQUEST));
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // The headers change nothing here, but they must be read: closing a
    // socket with unread bytes resets the connection, reply and all.
    let mut header = String::new();
    while reader.read_line(&mut header)? > 0 && !header.trim().is_empty() {
        header.clear();
    }
    let mut words = request_line.split_whitespace();
    let (method, target) = (words.next(), words.next().unwrap_or("/"));
    let (status, content_type, body) = match method {
        Some("GET" | "HEAD") => match file_for(root, target) {
            Some(path) => match std::fs::read(&path) {
                Ok(body) => {
                    let mime = mime_guess::from_path(&path)
                        .first_or_octet_stream()
                        .essence_str()
                        .to_string();
                    ("200 OK", mime, body)
                }
                Err(_) => not_found(root),
            },
            None => not_found(root),
        },
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8".to_string(),
            b"only GET and HEAD\n".to_vec(),
        ),
    };
    let mut writer = connection;
    write!(
        writer,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if method != Some("HEAD") {
        writer.write_all(&body)?;
    }
    writer.flush()
}

/// Maps a request path to a file inside `root`; `None` for anything that
/// would leave it.
fn file_for(root: &Path, url: &str) -> Option<PathBuf> {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let mut file = root.to_path_buf();
    for component in Path::new(path.trim_start_matches('/')).components() {
        match component {
            Component::Normal(part) => file.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    if file.is_dir() {
        file.push("index.html");
    }
    file.is_file().then_some(file)
}

fn not_found(root: &Path) -> (&'static str, String, Vec<u8>) {
    let body = std::fs::read(root.join("404.html")).unwrap_or_default();
    (
        "404 Not Found",
        "text/html; charset=utf-8".to_string(),
        body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn requests_map_to_files_and_never_leave_the_root() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("index.html"), "home").unwrap();
        std::fs::create_dir(root.path().join("css")).unwrap();
        std::fs::write(root.path().join("css/a.css"), "x").unwrap();
        let file = |url| file_for(root.path(), url);
        assert_eq!(file("/"), Some(root.path().join("index.html")));
        assert_eq!(file("/css/a.css?v=1"), Some(root.path().join("css/a.css")));
        assert_eq!(file("/missing.html"), None);
        assert_eq!(file("/../etc/passwd"), None);
        assert_eq!(file("/css/../../x"), None);
    }

    /// A browser opens several connections at once and may send on all
    /// of them before reading any reply: every one must be answered.
    #[test]
    fn parallel_connections_are_all_answered() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("index.html"), "home").unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let html_dir = root.path().to_path_buf();
        // Never returns: the thread ends with the test process.
        thread::spawn(move || answer_all(&listener, &html_dir));
        let connections: Vec<TcpStream> = (0..12)
            .map(|_| TcpStream::connect(address).unwrap())
            .collect();
        for mut connection in &connections {
            connection
                .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
        }
        for mut connection in &connections {
            connection.set_read_timeout(Some(REQUEST_TIMEOUT)).unwrap();
            let mut reply = String::new();
            connection.read_to_string(&mut reply).unwrap();
            assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
            assert!(reply.ends_with("\r\n\r\nhome"), "{reply}");
        }
    }

    #[test]
    fn a_missing_page_gets_the_books_404_page() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("404.html"), "lost").unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let html_dir = root.path().to_path_buf();
        let server = thread::spawn(move || {
            let (connection, _) = listener.accept().unwrap();
            answer(&html_dir, &connection).unwrap();
        });
        let mut connection = TcpStream::connect(address).unwrap();
        connection
            .write_all(b"GET /nothing.html HTTP/1.1\r\n\r\n")
            .unwrap();
        let mut reply = String::new();
        connection.read_to_string(&mut reply).unwrap();
        server.join().unwrap();
        assert!(reply.starts_with("HTTP/1.1 404 Not Found\r\n"), "{reply}");
        assert!(reply.ends_with("lost"), "{reply}");
    }
}
