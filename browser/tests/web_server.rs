//! Exercise 6's web server in a real browser: headless Chromium loads a
//! page with a title and an SVG image from examples/web_server.rs and
//! shows both.
//!
//!     cargo test -p browser-tests --test web_server

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use headless_chrome::util::Wait;
use headless_chrome::{Browser, LaunchOptions};
use serde_json::Value;

const TITLE: &str = "Served by web_server";
const INDEX: &str = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n\
    <meta charset=\"utf-8\">\n<title>Served by web_server</title>\n\
    </head>\n<body>\n<h1>It works</h1>\n\
    <img id=\"dot\" src=\"dot.svg\" alt=\"a red dot\">\n</body>\n</html>\n";
const DOT: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"40\" \
    height=\"30\"><circle cx=\"20\" cy=\"15\" r=\"12\" fill=\"red\"/></svg>\n";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// The web_server example, built for this test.
fn web_server() -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "-p", "socket-walkthrough"])
        .args(["--example", "web_server"])
        .current_dir(root())
        .status()
        .expect("cannot run cargo");
    assert!(status.success(), "cargo build --example web_server failed");
    // This test runs from target/<profile>/deps/; examples/ is beside it.
    let mut dir = std::env::current_exe().unwrap();
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir
        .join("examples")
        .join(format!("web_server{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// The server on a free port, serving `folder`; killed when dropped.
struct Server {
    child: Child,
    address: String,
}

impl Server {
    fn start(folder: &Path) -> Server {
        let mut child = Command::new(web_server())
            .arg("--root")
            .arg(folder)
            .args(["--port", "0", "--bind", "127.0.0.1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start web_server");
        // A thread reads stdout (the request log) so the server never
        // blocks on a full pipe.
        let (lines, ready) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let mut server = Server {
            child,
            address: String::new(),
        };
        let line = ready
            .recv_timeout(Duration::from_secs(30))
            .expect("web_server printed no ready line");
        server.address = line
            .rsplit(' ')
            .next()
            .expect("the ready line ends with the address")
            .to_string();
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The folder served, in the system's temporary folder; removed when
/// dropped.
struct Folder(PathBuf);

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// As in book.rs: the system's Chromium, with the background services
/// that wait for a network switched off.
fn launch_chromium() -> Browser {
    let flags = [
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ];
    let path = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|file| file.is_file())
        .expect("no Chromium in /usr/bin (apt-get install chromium)");
    let options = LaunchOptions::default_builder()
        .path(Some(path))
        .headless(true)
        .sandbox(false)
        .enable_gpu(false)
        .window_size(Some((800, 600)))
        .args(flags.iter().map(OsStr::new).collect())
        .build()
        .expect("valid launch options");
    Browser::new(options).expect("cannot launch Chromium")
}

#[test]
fn a_browser_shows_the_page_and_its_image() {
    let folder = Folder(
        std::env::temp_dir()
            .join(format!("web-server-browser-{}", std::process::id())),
    );
    std::fs::create_dir_all(&folder.0).unwrap();
    std::fs::write(folder.0.join("index.html"), INDEX).unwrap();
    std::fs::write(folder.0.join("dot.svg"), DOT).unwrap();
    let server = Server::start(&folder.0);
    let url = format!("http://{}/", server.address);

    let browser = launch_chromium();
    let tab = browser.new_tab().expect("cannot open a tab");
    tab.set_default_timeout(Duration::from_secs(30));
    tab.navigate_to(&url)
        .and_then(|tab| tab.wait_until_navigated())
        .unwrap_or_else(|error| panic!("cannot load {url}: {error}"));
    let eval = |expression: &str| -> Value {
        let wrapped = format!("JSON.stringify({expression})");
        let result = tab
            .evaluate(&wrapped, false)
            .unwrap_or_else(|error| panic!("cannot run {expression}: {error}"));
        match result.value {
            Some(Value::String(json)) => serde_json::from_str(&json).unwrap(),
            other => panic!("{expression} gave {other:?}"),
        }
    };
    assert_eq!(eval("document.title"), TITLE);
    // The image loads after the page: wait until it is complete.
    let size = Wait::with_timeout(Duration::from_secs(30))
        .until(|| {
            let image = eval(
                "(i => i.complete && [i.naturalWidth, i.naturalHeight])\
                 (document.getElementById('dot'))",
            );
            image.is_array().then_some(image)
        })
        .unwrap_or_else(|_| panic!("dot.svg did not finish loading"));
    assert_eq!(size, serde_json::json!([40, 30]), "natural size of dot.svg");
}
