//! Serves the built book over HTTP, for a browser on this machine (or, with
//! `--bind 0.0.0.0`, on the classroom network).

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};

use tiny_http::{Header, Response, Server};

pub fn serve(
    html_dir: &Path,
    address: SocketAddr,
    open: bool,
) -> Result<(), String> {
    let server = Server::http(address)
        .map_err(|error| format!("cannot serve on {address}: {error}"))?;
    let url = match server.server_addr().to_ip() {
        Some(bound) if bound.ip().is_unspecified() => {
            format!("http://127.0.0.1:{}/", bound.port())
        }
        Some(bound) => format!("http://{bound}/"),
        None => return Err("the server has no IP address".into()),
    };
    println!("serving the book at {url} (Ctrl-C to stop)");
    if open && let Err(error) = opener::open_browser(&url) {
        eprintln!("cannot open a browser ({error}); open {url} yourself");
    }
    for request in server.incoming_requests() {
        let response = match file_for(html_dir, request.url()) {
            Some(path) => match File::open(&path) {
                Ok(file) => {
                    let mime =
                        mime_guess::from_path(&path).first_or_octet_stream();
                    let header =
                        Header::from_bytes("Content-Type", mime.essence_str())
                            .expect("a MIME type is a valid header value");
                    Response::from_file(file).with_header(header).boxed()
                }
                Err(_) => not_found(html_dir),
            },
            None => not_found(html_dir),
        };
        if let Err(error) = request.respond(response) {
            eprintln!("cannot answer a request: {error}");
        }
    }
    Ok(())
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

fn not_found(root: &Path) -> tiny_http::ResponseBox {
    let body = std::fs::read(root.join("404.html")).unwrap_or_default();
    let header = Header::from_bytes("Content-Type", "text/html; charset=utf-8")
        .expect("valid header");
    Response::from_data(body)
        .with_status_code(404)
        .with_header(header)
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
