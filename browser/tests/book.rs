//! The built book in a real browser: every page loads without errors, the
//! example chapters show their code, the UDP-vs-TCP chapter puts its
//! listings side by side (stacked on a narrow screen) with the differing
//! lines marked, its diagrams render, and the search finds code.
//!
//! The tests serve the book with `cargo xtask serve --port 0`, which builds
//! and checks it first, and drive the system's Chromium through the
//! DevTools protocol. Screenshots of the comparison chapter land in
//! target/screenshots/ for a human to look at.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError, Weak, mpsc};
use std::thread;
use std::time::Duration;

use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use headless_chrome::protocol::cdp::types::Event;
use headless_chrome::protocol::cdp::{
    Emulation, Log, Network, Page, Runtime, Target,
};
use headless_chrome::util::Wait;
use headless_chrome::{Browser, LaunchOptions, Tab};
use serde_json::Value;

// The Korean edition's tests, in this binary to share its book and browser.
#[path = "book/korean.rs"]
mod korean;

/// How long the book may take to build and serve: the first run compiles
/// the xtask (mdBook and all) from scratch.
const SERVE_LIMIT: Duration = Duration::from_secs(15 * 60);

/// How long one page may take to load, or a condition to come true.
const PAGE_LIMIT: Duration = Duration::from_secs(30);

const COMPARISON: &str = "udp-vs-tcp.html";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// `cargo xtask serve --port 0`, running; killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(env!("CARGO"))
            .args(["xtask", "serve", "--port", "0"])
            .current_dir(root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run `cargo xtask serve`");
        // Both pipes are drained by threads, so a chatty build can never
        // block on a full pipe while we wait for the ready line.
        let (lines, ready) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = Arc::clone(&stderr);
        thread::spawn(move || {
            let mut chunk = [0; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut chunk) {
                let text = String::from_utf8_lossy(&chunk[..n]);
                sink.lock().unwrap().push_str(&text);
            }
        });
        let mut server = Server {
            child,
            url: String::new(),
        };
        let prefix = "serving the book at ";
        let line = ready.recv_timeout(SERVE_LIMIT).unwrap_or_else(|error| {
            let status = server.child.try_wait().ok().flatten();
            panic!(
                "`cargo xtask serve --port 0` printed no ready line \
                 ({error}); status: {status:?}; stderr:\n{}",
                stderr.lock().unwrap()
            )
        });
        server.url = line
            .strip_prefix(prefix)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected ready line {line:?}"))
            .to_string();
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // `cargo run` replaces itself with the xtask on Unix, so this is
        // the server process itself.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The served book and a browser; shared by the tests that run at the same
/// time, and shut down (server killed, browser closed) after the last.
struct Book {
    // Declared first, so dropped first: close the browser, then the server.
    browser: Browser,
    server: Server,
}

fn book() -> Arc<Book> {
    static SHARED: Mutex<Weak<Book>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(book) = shared.upgrade() {
        return book;
    }
    let server = Server::start();
    let book = Arc::new(Book {
        browser: launch_chromium(),
        server,
    });
    *shared = Arc::downgrade(&book);
    book
}

/// The system's Chromium: `/usr/bin/chromium`, else `chromium` on PATH.
fn chromium() -> PathBuf {
    let system = PathBuf::from("/usr/bin/chromium");
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("chromium"))
            .find(|file| file.is_file())
    });
    [Some(system), on_path]
        .into_iter()
        .flatten()
        .find(|file| file.is_file())
        .unwrap_or_else(|| {
            panic!(
                "no Chromium found (/usr/bin/chromium or `chromium` on \
                 PATH); install it, e.g. `apt-get install chromium`"
            )
        })
}

fn launch_chromium() -> Browser {
    // Without a network, Chromium waits on its background services (QUIC
    // probes, component updates, sync): these flags switch them off. The
    // library adds --headless, --no-sandbox, --disable-gpu from the
    // options below and a fresh temporary --user-data-dir of its own.
    let flags = [
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ];
    let options = LaunchOptions::default_builder()
        .path(Some(chromium()))
        .headless(true)
        .sandbox(false)
        .enable_gpu(false)
        .window_size(Some((1280, 900)))
        .args(flags.iter().map(OsStr::new).collect())
        // Tests may spend a while between protocol messages while the
        // others use the same browser.
        .idle_browser_timeout(Duration::from_secs(600))
        .build()
        .expect("valid launch options");
    Browser::new(options).expect("cannot launch Chromium")
}

/// A browser tab that records every console error, uncaught exception and
/// failed request of the pages it loads.
struct Window {
    tab: Arc<Tab>,
    base: String,
    problems: Arc<Mutex<Vec<String>>>,
    // Keeps the server and browser up while this window lives.
    _book: Arc<Book>,
}

impl Window {
    /// A new tab whose viewport is `width` by `height` CSS pixels.
    fn open(width: u32, height: u32) -> Window {
        let book = book();
        // A window of its own: a background tab gets no rendering updates,
        // so the page's resize observers would never run in it.
        let tab = book
            .browser
            .new_tab_with_options(Target::CreateTarget {
                url: "about:blank".to_string(),
                left: None,
                top: None,
                width: Some(width),
                height: Some(height),
                window_state: None,
                browser_context_id: None,
                enable_begin_frame_control: None,
                new_window: Some(true),
                background: Some(false),
                for_tab: None,
                hidden: None,
            })
            .expect("cannot open a window");
        tab.set_default_timeout(PAGE_LIMIT);
        let problems = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&problems);
        tab.add_event_listener(Arc::new(move |event: &Event| {
            if let Some(problem) = problem(event) {
                sink.lock().unwrap().push(problem);
            }
        }))
        .unwrap();
        tab.enable_runtime().unwrap();
        tab.enable_log().unwrap();
        tab.call_method(Network::Enable {
            max_total_buffer_size: None,
            max_resource_buffer_size: None,
            max_post_data_size: None,
            report_direct_socket_traffic: None,
            enable_durable_messages: None,
        })
        .unwrap();
        let window = Window {
            tab,
            base: book.server.url.clone(),
            problems,
            _book: book,
        };
        window.resize(width, height);
        window
    }

    fn resize(&self, width: u32, height: u32) {
        self.tab
            .call_method(Emulation::SetDeviceMetricsOverride {
                width,
                height,
                device_scale_factor: 1.0,
                mobile: false,
                scale: None,
                screen_width: None,
                screen_height: None,
                position_x: None,
                position_y: None,
                dont_set_visible_size: None,
                screen_orientation: None,
                viewport: None,
                display_feature: None,
                device_posture: None,
            })
            .expect("cannot set the viewport size");
    }

    /// Loads `page` (relative to the book's root) and waits until it and
    /// its fonts have loaded; returns the problems seen meanwhile.
    fn load(&self, page: &str) -> Vec<String> {
        let url = format!("{}{page}", self.base);
        // Through a blank page, so that a URL differing only in its
        // #anchor still loads a new document.
        if page.contains('#') {
            self.tab
                .navigate_to("about:blank")
                .and_then(|tab| tab.wait_until_navigated())
                .expect("cannot load about:blank");
        }
        self.problems.lock().unwrap().clear();
        // A flag on the old document tells it from the new one.
        self.eval("window.replacedByTheNextPage = true");
        self.tab
            .navigate_to(&url)
            .unwrap_or_else(|error| panic!("cannot load {url}: {error}"));
        self.wait_for(
            "!window.replacedByTheNextPage
                && document.readyState === 'complete'",
            &format!("{url} loads"),
        );
        self.tab
            .evaluate("document.fonts.ready.then(() => true)", true)
            .unwrap_or_else(|error| panic!("{url}: no fonts: {error}"));
        std::mem::take(&mut *self.problems.lock().unwrap())
    }

    /// Loads `page` and fails on any console error or failed request.
    fn load_cleanly(&self, page: &str) {
        let problems = self.load(page);
        assert!(
            problems.is_empty(),
            "{page} has problems:\n  {}",
            problems.join("\n  ")
        );
    }

    /// The value of a JavaScript expression, passed through JSON.
    fn eval(&self, expression: &str) -> Value {
        let wrapped = format!("JSON.stringify((() => ({expression}))())");
        let result = self
            .tab
            .evaluate(&wrapped, false)
            .unwrap_or_else(|error| panic!("cannot run {expression}: {error}"));
        match result.value {
            Some(Value::String(json)) => serde_json::from_str(&json).unwrap(),
            _ => panic!(
                "{expression} gave no JSON value: {:?}",
                result.description
            ),
        }
    }

    /// Polls `expression` until it is truthy; returns its value.
    fn wait_for(&self, expression: &str, what: &str) -> Value {
        let mut last = Value::Null;
        Wait::with_timeout(PAGE_LIMIT)
            .until(|| {
                last = self.eval(expression);
                truthy(&last).then(|| last.clone())
            })
            .unwrap_or_else(|_| {
                panic!(
                    "timed out after {PAGE_LIMIT:?} waiting until {what} \
                     (`{expression}` was {last})"
                )
            })
    }

    /// Saves a PNG of the part of the page between the top of `from` and
    /// the bottom of `to` (CSS selectors), beyond the viewport if need be.
    fn screenshot(&self, from: &str, to: &str, file: &str) -> PathBuf {
        let area = self.eval(&format!(
            "(() => {{
                const top = document.querySelector({from:?})
                    .getBoundingClientRect().top + window.scrollY;
                const bottom = document.querySelector({to:?})
                    .getBoundingClientRect().bottom + window.scrollY;
                return [top, bottom, document.documentElement.clientWidth];
            }})()"
        ));
        let number = |i: usize| area[i].as_f64().unwrap();
        let clip = Page::Viewport {
            x: 0.0,
            y: number(0) - 30.0,
            width: number(2),
            height: number(1) - number(0) + 40.0,
            scale: 1.0,
        };
        self.capture(Some(clip), file)
    }

    /// Saves a PNG of what the viewport shows.
    fn screenshot_viewport(&self, file: &str) -> PathBuf {
        self.capture(None, file)
    }

    /// The path of the current page below the site's root.
    fn page(&self) -> String {
        let url = self.eval("window.location.href");
        let url = url.as_str().unwrap();
        url.strip_prefix(&self.base).unwrap_or(url).to_string()
    }

    /// Saves a PNG of `clip` (beyond the viewport if need be), or of the
    /// viewport, as target/screenshots/`file`.
    fn capture(&self, clip: Option<Page::Viewport>, file: &str) -> PathBuf {
        let beyond = clip.is_some().then_some(true);
        let png = self
            .tab
            .call_method(Page::CaptureScreenshot {
                format: Some(Page::CaptureScreenshotFormatOption::Png),
                quality: None,
                clip,
                from_surface: Some(true),
                capture_beyond_viewport: beyond,
                optimize_for_speed: None,
            })
            .expect("cannot take a screenshot")
            .data;
        let dir = root().join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(file);
        let png = BASE64_STANDARD.decode(png).expect("a screenshot is base64");
        std::fs::write(&path, png).unwrap();
        path
    }
}

/// JavaScript's truthiness, and an empty list counts as false too.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => false,
        Value::Number(number) => number.as_f64() != Some(0.0),
        Value::String(text) => !text.is_empty(),
        Value::Array(items) => !items.is_empty(),
        _ => true,
    }
}

/// What an event says went wrong on the page, if anything.
fn problem(event: &Event) -> Option<String> {
    match event {
        Event::RuntimeExceptionThrown(thrown) => {
            let details = &thrown.params.exception_details;
            let description = details
                .exception
                .as_ref()
                .and_then(|exception| exception.description.clone())
                .unwrap_or_default();
            Some(format!(
                "uncaught exception at {}:{}: {} {description}",
                details.url.clone().unwrap_or_default(),
                details.line_number,
                details.text
            ))
        }
        Event::RuntimeConsoleAPICalled(call)
            if call.params.Type
                == Runtime::ConsoleAPICalledEventTypeOption::Error =>
        {
            let words: Vec<String> = call
                .params
                .args
                .iter()
                .map(|arg| match (&arg.value, &arg.description) {
                    (Some(value), _) => value.to_string(),
                    (None, Some(description)) => description.clone(),
                    (None, None) => "?".to_string(),
                })
                .collect();
            Some(format!("console.error: {}", words.join(" ")))
        }
        Event::LogEntryAdded(added)
            if added.params.entry.level == Log::LogEntryLevel::Error =>
        {
            let entry = &added.params.entry;
            Some(format!(
                "console error ({:?}): {} {}",
                entry.source,
                entry.text,
                entry.url.clone().unwrap_or_default()
            ))
        }
        Event::NetworkResponseReceived(received)
            if received.params.response.status >= 400 =>
        {
            let response = &received.params.response;
            Some(format!("HTTP {} for {}", response.status, response.url))
        }
        Event::NetworkLoadingFailed(failed)
            if failed.params.canceled != Some(true) =>
        {
            Some(format!(
                "request {:?} failed: {}",
                failed.params.request_id, failed.params.error_text
            ))
        }
        _ => None,
    }
}

/// The chapters SUMMARY.md lists, as the pages mdBook makes of them.
fn summary_pages() -> Vec<String> {
    let summary = std::fs::read_to_string(root().join("book/src/SUMMARY.md"))
        .expect("cannot read book/src/SUMMARY.md");
    summary
        .split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .filter(|target| target.ends_with(".md"))
        .map(|target| target.replace(".md", ".html"))
        .collect()
}

/// The pages the sidebar links to, relative to the book's root, each once
/// (it also links to the headings of the page shown).
fn sidebar_pages(window: &Window) -> Vec<String> {
    let links = window.wait_for(
        "Array.from(document.querySelectorAll('#mdbook-sidebar a[href]'))
            .map(a => a.href)
            .filter(href => href.startsWith(location.origin))",
        "the sidebar lists the chapters",
    );
    links
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|href| href.as_str()?.strip_prefix(&window.base))
        .map(|page| page.split('#').next().unwrap().to_string())
        .fold(Vec::new(), |mut pages, page| {
            if !pages.contains(&page) {
                pages.push(page);
            }
            pages
        })
}

#[test]
fn every_page_loads_without_errors() {
    let window = Window::open(1280, 900);
    window.load_cleanly("");
    let linked = sidebar_pages(&window);
    let listed = summary_pages();
    for page in &listed {
        assert!(
            linked.contains(page),
            "the sidebar does not link to {page}, which SUMMARY.md lists; \
             it links to {linked:?}"
        );
    }
    assert!(listed.iter().any(|page| page == COMPARISON), "{listed:?}");
    for page in &linked {
        window.load_cleanly(page);
        let title =
            window.eval("document.querySelector('main h1')?.textContent");
        assert!(title.is_string(), "{page} has no heading");
    }
}

#[test]
fn example_chapters_show_their_code() {
    let window = Window::open(1280, 900);
    for (page, call) in [
        ("udp-client.html", "UdpSocket::bind(client_address)"),
        ("udp-server.html", "server_socket.recv_from(&mut buffer)"),
        ("tcp-client.html", "TcpStream::connect"),
        ("tcp-server.html", "server_socket.accept()"),
    ] {
        window.load_cleanly(page);
        let shown = window.eval(&format!(
            "Array.from(document.querySelectorAll('main pre > code'))
                .some(code => code.textContent.includes({call:?})
                    && code.classList.contains('hljs')
                    && code.getBoundingClientRect().height > 100)"
        ));
        assert_eq!(
            shown,
            Value::Bool(true),
            "{page} shows no highlighted listing with `{call}`"
        );
    }
}

/// The two listings of every side-by-side pair: their boxes (x, y, width,
/// height) in page coordinates, once the marks are drawn.
fn listing_boxes(window: &Window) -> Vec<[[f64; 4]; 2]> {
    window.wait_for(
        "document.querySelectorAll('.side-by-side .sbs-mark').length > 0",
        "the differing lines are marked",
    );
    let boxes = window.eval(
        "Array.from(document.querySelectorAll('.side-by-side')).map(pair =>
            Array.from(pair.querySelectorAll(':scope > pre')).map(pre => {
                const box = pre.getBoundingClientRect();
                return [box.x, box.y + window.scrollY, box.width,
                        box.height];
            }))",
    );
    let number = |value: &Value| value.as_f64().unwrap();
    boxes
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| {
            let pair = pair.as_array().unwrap();
            assert_eq!(pair.len(), 2, "a pair needs two listings: {pair:?}");
            let listing = |i: usize| {
                let b = pair[i].as_array().unwrap();
                [number(&b[0]), number(&b[1]), number(&b[2]), number(&b[3])]
            };
            [listing(0), listing(1)]
        })
        .collect()
}

/// Whether the line of listing `side` (0 or 1) of pair `pair` that holds
/// `text` lies under a mark.
fn is_marked(window: &Window, pair: usize, side: usize, text: &str) -> bool {
    let marked = window.eval(&format!(
        "(() => {{
            const pre = document.querySelectorAll('.side-by-side')[{pair}]
                .querySelectorAll(':scope > pre')[{side}];
            const code = pre.querySelector('code');
            const at = code.textContent.indexOf({text:?});
            if (at < 0) return 'missing';
            const walker = document.createTreeWalker(code,
                NodeFilter.SHOW_TEXT);
            let node, seen = 0;
            while ((node = walker.nextNode())
                   && seen + node.length <= at) {{
                seen += node.length;
            }}
            const range = document.createRange();
            range.setStart(node, at - seen);
            range.setEnd(node, at - seen + 1);
            const box = range.getBoundingClientRect();
            const middle = (box.top + box.bottom) / 2;
            return Array.from(pre.querySelectorAll('.sbs-mark')).some(mark => {{
                const bar = mark.getBoundingClientRect();
                return bar.top <= middle && middle <= bar.bottom;
            }});
        }})()"
    ));
    marked
        .as_bool()
        .unwrap_or_else(|| panic!("no line with `{text}` in pair {pair}"))
}

/// Lines that differ are marked, lines the two programs share are not:
/// (pair, side, text, marked).
const MARKS: [(usize, usize, &str, bool); 8] = [
    (0, 0, "UdpSocket::bind(client_address)", true),
    (0, 0, "let args = Args::parse();", false),
    (0, 1, "TcpStream::connect((server_name", true),
    (0, 1, "let server_port = args.server_port;", false),
    (1, 0, "server_socket.recv_from(&mut buffer)", true),
    (1, 0, "let server_port = args.port;", false),
    (1, 1, "server_socket.listen(1)", true),
    (1, 1, "let args = Args::parse();", false),
];

/// What is wrong with the marks as they are drawn now (empty: nothing).
fn wrong_marks(window: &Window) -> Vec<String> {
    let mut wrong = Vec::new();
    let legends =
        window.eval("document.querySelectorAll('.sbs-legend').length");
    let pairs =
        window.eval("document.querySelectorAll('.side-by-side').length");
    if legends != pairs {
        wrong.push(format!("{legends} legends for {pairs} pairs"));
    }
    let per_listing = window.eval(
        "Array.from(document.querySelectorAll('.side-by-side > pre'))
            .map(pre => pre.querySelectorAll('.sbs-mark').length)",
    );
    if per_listing
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n.as_u64() == Some(0))
    {
        wrong.push(format!("a listing without marks: {per_listing}"));
    }
    for (pair, side, text, expected) in MARKS {
        if is_marked(window, pair, side, text) != expected {
            wrong.push(format!(
                "the line with `{text}` (pair {pair}, listing {side}) \
                 should {}be marked",
                if expected { "" } else { "not " }
            ));
        }
    }
    wrong
}

/// Waits until the marks are right for the current layout: the script
/// redraws them after each change of size, a moment after the layout.
fn check_marks(window: &Window, width: u32) {
    let mut wrong = Vec::new();
    Wait::with_timeout(PAGE_LIMIT)
        .until(|| {
            wrong = wrong_marks(window);
            wrong.is_empty().then_some(())
        })
        .unwrap_or_else(|_| {
            panic!("marks at {width} px:\n  {}", wrong.join("\n  "))
        });
}

#[test]
fn listings_sit_side_by_side_on_a_wide_screen() {
    let window = Window::open(1280, 900);
    window.load_cleanly(COMPARISON);
    let pairs = listing_boxes(&window);
    assert_eq!(pairs.len(), 2, "clients and servers: {pairs:?}");
    for [left, right] in pairs {
        let [lx, ly, lw, _] = left;
        let [rx, ry, ..] = right;
        assert!(
            rx >= lx + lw,
            "the second listing should be right of the first: {left:?} \
             {right:?}"
        );
        assert!((ly - ry).abs() < 2.0, "tops differ: {left:?} {right:?}");
        // Wider than half the 750 px text column: the pair uses the page.
        assert!(lw > 400.0, "columns too narrow: {left:?} {right:?}");
    }
    check_marks(&window, 1280);
    let shot = window.screenshot(
        "#the-two-clients",
        ".side-by-side",
        "udp-vs-tcp-1280.png",
    );
    assert!(shot.exists());
}

#[test]
fn listings_stack_on_a_narrow_screen() {
    let window = Window::open(400, 800);
    window.load_cleanly(COMPARISON);
    let pairs = listing_boxes(&window);
    assert_eq!(pairs.len(), 2, "clients and servers: {pairs:?}");
    for [first, second] in pairs {
        let [fx, fy, fw, fh] = first;
        let [sx, sy, sw, _] = second;
        assert!((fx - sx).abs() < 2.0, "not stacked: {first:?} {second:?}");
        assert!(sy >= fy + fh, "not stacked: {first:?} {second:?}");
        assert!(fw <= 400.0 && sw <= 400.0, "wider than the screen");
    }
    check_marks(&window, 400);
    window.screenshot(
        "#the-two-clients",
        ".side-by-side > pre",
        "udp-vs-tcp-400.png",
    );
}

#[test]
fn marks_follow_the_layout_when_the_window_narrows() {
    let window = Window::open(1280, 900);
    window.load_cleanly(COMPARISON);
    listing_boxes(&window);
    window.resize(400, 800);
    window.wait_for(
        "(() => {
            const pres = document.querySelectorAll('.side-by-side > pre');
            return pres[0].getBoundingClientRect().x
                === pres[1].getBoundingClientRect().x;
        })()",
        "the listings stack",
    );
    check_marks(&window, 400);
}

#[test]
fn diagrams_render() {
    let window = Window::open(1280, 900);
    window.load_cleanly(COMPARISON);
    for image in ["images/udp-exchange.svg", "images/tcp-exchange.svg"] {
        let size = window.wait_for(
            &format!(
                "(() => {{
                    const img = document.querySelector('main img[src={image:?}]');
                    return img && img.complete && img.naturalWidth > 0
                        && [img.naturalWidth, img.naturalHeight,
                            img.getBoundingClientRect().width,
                            img.getBoundingClientRect().height];
                }})()"
            ),
            &format!("{image} is loaded"),
        );
        let size: Vec<f64> = size
            .as_array()
            .unwrap_or_else(|| panic!("{image}: {size}"))
            .iter()
            .map(|n| n.as_f64().unwrap())
            .collect();
        assert!(
            size.iter().all(|&n| n > 50.0),
            "{image} renders too small: natural and shown size {size:?}"
        );
    }
}

#[test]
fn search_finds_recv_from() {
    let window = Window::open(1280, 900);
    window.load_cleanly("");
    window
        .tab
        .find_element("#mdbook-search-toggle")
        .and_then(|toggle| toggle.click().map(drop))
        .expect("cannot open the search bar");
    window
        .tab
        .wait_until_visible("#mdbook-searchbar")
        .and_then(|bar| bar.click().map(drop))
        .expect("the search bar does not appear");
    window.tab.type_str("recv_from").unwrap();
    let hits = window.wait_for(
        "Array.from(document.querySelectorAll('#mdbook-searchresults a'))
            .map(a => a.getAttribute('href'))",
        "the search shows results",
    );
    let hits: Vec<&str> = hits
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        hits.iter().any(|href| href.starts_with("udp-server.html")),
        "searching recv_from should find the UDP server chapter: {hits:?}"
    );
    let problems = std::mem::take(&mut *window.problems.lock().unwrap());
    assert!(problems.is_empty(), "search problems: {problems:?}");
}
