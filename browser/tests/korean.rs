//! The Korean edition (한국어판, under ko/) in a real browser: its pages
//! load without errors in Korean (`lang="ko"`, Korean title and labels),
//! the language switch leads both ways to the same chapter, Hangul renders
//! with a real CJK font (screenshots of the UDP client chapter in both
//! editions land in target/screenshots/), the Korean search finds words
//! followed by particles, every callout is still a callout, and the
//! side-by-side chapter has Korean labels with its marks in place.
//!
//! Like book.rs, the tests serve the book with `cargo xtask serve --port
//! 0` (which builds both editions) and drive the system's Chromium. They
//! run on whatever ko.po holds: today the sample translation (title,
//! table of contents, introduction, the UDP diagram, the side-by-side
//! labels) and the glossary.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError, Weak, mpsc};
use std::thread;
use std::time::Duration;

use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use headless_chrome::protocol::cdp::types::Event;
use headless_chrome::protocol::cdp::{CSS, Page, Runtime};
use headless_chrome::util::Wait;
use headless_chrome::{Browser, LaunchOptions, Tab};
use serde_json::Value;

const SERVE_LIMIT: Duration = Duration::from_secs(15 * 60);
const PAGE_LIMIT: Duration = Duration::from_secs(30);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// `cargo xtask serve --port 0`; killed when dropped.
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
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot run `cargo xtask serve`");
        let (lines, ready) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let mut server = Server {
            child,
            url: String::new(),
        };
        let prefix = "serving the book at ";
        // The build prints its own lines first.
        loop {
            let line = ready.recv_timeout(SERVE_LIMIT).unwrap_or_else(|e| {
                let status = server.child.try_wait().ok().flatten();
                panic!(
                    "no ready line from `cargo xtask serve` ({e}); {status:?}"
                )
            });
            if let Some(rest) = line.strip_prefix(prefix) {
                server.url = rest.split_whitespace().next().unwrap().into();
                return server;
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Book {
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
    let chromium = ["/usr/bin/chromium"]
        .iter()
        .map(PathBuf::from)
        .chain(std::env::var_os("PATH").iter().flat_map(|path| {
            std::env::split_paths(path)
                .map(|dir| dir.join("chromium"))
                .collect::<Vec<_>>()
        }))
        .find(|file| file.is_file())
        .expect("no Chromium (/usr/bin/chromium or `chromium` on PATH)");
    let flags = [
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ];
    let options = LaunchOptions::default_builder()
        .path(Some(chromium))
        .headless(true)
        .sandbox(false)
        .enable_gpu(false)
        .window_size(Some((1280, 900)))
        .args(flags.iter().map(OsStr::new).collect())
        .idle_browser_timeout(Duration::from_secs(600))
        .build()
        .expect("valid launch options");
    let book = Arc::new(Book {
        browser: Browser::new(options).expect("cannot launch Chromium"),
        server,
    });
    *shared = Arc::downgrade(&book);
    book
}

/// A tab that records console errors, exceptions and failed requests.
struct Window {
    tab: Arc<Tab>,
    base: String,
    problems: Arc<Mutex<Vec<String>>>,
    _book: Arc<Book>,
}

impl Window {
    fn open() -> Window {
        let book = book();
        let tab = book.browser.new_tab().expect("cannot open a tab");
        tab.set_default_timeout(PAGE_LIMIT);
        let problems = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&problems);
        tab.add_event_listener(Arc::new(move |event: &Event| {
            let problem = match event {
                Event::RuntimeExceptionThrown(thrown) => {
                    Some(format!("exception: {:?}", thrown.params))
                }
                Event::RuntimeConsoleAPICalled(call)
                    if call.params.Type
                        == Runtime::ConsoleAPICalledEventTypeOption::Error =>
                {
                    Some(format!("console.error: {:?}", call.params.args))
                }
                Event::NetworkResponseReceived(received)
                    if received.params.response.status >= 400 =>
                {
                    Some(format!(
                        "HTTP {} for {}",
                        received.params.response.status,
                        received.params.response.url
                    ))
                }
                _ => None,
            };
            if let Some(problem) = problem {
                sink.lock().unwrap().push(problem);
            }
        }))
        .unwrap();
        tab.enable_runtime().unwrap();
        tab.call_method(headless_chrome::protocol::cdp::Network::Enable {
            max_total_buffer_size: None,
            max_resource_buffer_size: None,
            max_post_data_size: None,
            report_direct_socket_traffic: None,
            enable_durable_messages: None,
        })
        .unwrap();
        Window {
            tab,
            base: book.server.url.clone(),
            problems,
            _book: book,
        }
    }

    /// Loads `page` (below the site's root) and fails on any problem.
    fn load_cleanly(&self, page: &str) {
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
            .unwrap();
        let problems = std::mem::take(&mut *self.problems.lock().unwrap());
        assert!(problems.is_empty(), "{page}: {}", problems.join("\n  "));
    }

    fn eval(&self, expression: &str) -> Value {
        let wrapped = format!("JSON.stringify((() => ({expression}))())");
        let result = self
            .tab
            .evaluate(&wrapped, false)
            .unwrap_or_else(|error| panic!("cannot run {expression}: {error}"));
        match result.value {
            Some(Value::String(json)) => serde_json::from_str(&json).unwrap(),
            _ => panic!("{expression} gave no value: {:?}", result.description),
        }
    }

    fn wait_for(&self, expression: &str, what: &str) -> Value {
        let mut last = Value::Null;
        Wait::with_timeout(PAGE_LIMIT)
            .until(|| {
                last = self.eval(expression);
                // JavaScript's truthiness; an empty list counts as false.
                let truthy = match &last {
                    Value::Null | Value::Bool(false) => false,
                    Value::Number(n) => n.as_f64() != Some(0.0),
                    Value::String(text) => !text.is_empty(),
                    Value::Array(items) => !items.is_empty(),
                    _ => true,
                };
                truthy.then(|| last.clone())
            })
            .unwrap_or_else(|_| {
                panic!(
                    "timed out waiting until {what} (`{expression}`: {last})"
                )
            })
    }

    /// The path of the current page below the site's root.
    fn page(&self) -> String {
        let url = self.eval("window.location.href");
        let url = url.as_str().unwrap();
        url.strip_prefix(&self.base).unwrap_or(url).to_string()
    }

    fn screenshot(&self, file: &str) -> PathBuf {
        let png = self
            .tab
            .call_method(Page::CaptureScreenshot {
                format: Some(Page::CaptureScreenshotFormatOption::Png),
                quality: None,
                clip: None,
                from_surface: Some(true),
                capture_beyond_viewport: None,
                optimize_for_speed: None,
            })
            .expect("cannot take a screenshot")
            .data;
        let dir = root().join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(file);
        std::fs::write(&path, BASE64_STANDARD.decode(png).unwrap()).unwrap();
        path
    }
}

/// The pages of the English edition, from its SUMMARY.md.
fn pages() -> Vec<String> {
    let summary =
        std::fs::read_to_string(root().join("book/src/SUMMARY.md")).unwrap();
    summary
        .lines()
        .filter_map(|line| {
            let target = line.split("](").nth(1)?.split(')').next()?;
            Some(target.replace(".md", ".html"))
        })
        .collect()
}

#[test]
fn korean_pages_load_in_korean_and_the_switch_goes_both_ways() {
    let window = Window::open();
    for page in pages().iter().chain(&["glossary.html".to_string()]) {
        window.load_cleanly(&format!("ko/{page}"));
        let lang = window.eval("document.documentElement.lang");
        assert_eq!(lang, "ko", "ko/{page}");
        let title = window.eval("document.title");
        assert!(
            title
                .as_str()
                .unwrap()
                .ends_with("Rust로 한 줄씩 읽는 소켓 프로그래밍"),
            "ko/{page}: title {title}"
        );
        let labels = window.eval(
            "[document.getElementById('mdbook-searchbar').placeholder,
              document.getElementById('mdbook-sidebar-toggle').title]",
        );
        assert_eq!(
            labels,
            serde_json::json!(["이 책에서 검색…", "목차 열기/닫기"])
        );
    }
    // The Korean table of contents.
    window.load_cleanly("ko/index.html");
    let toc = window.wait_for(
        "Array.from(document.querySelectorAll('#mdbook-sidebar a'))
            .map(a => a.textContent.trim()).join(' | ')",
        "the sidebar is filled",
    );
    for entry in ["들어가며", "UDP 클라이언트", "연습 문제와 채점기", "용어집"]
    {
        assert!(toc.as_str().unwrap().contains(entry), "{entry} in {toc}");
    }
    // Both ways, at the top level and one folder down, keeping the section.
    for (english, korean) in [
        ("udp-client.html", "ko/udp-client.html"),
        ("exercises/pinger.html", "ko/exercises/pinger.html"),
        (
            "introduction.html#what-a-socket-is",
            "ko/introduction.html#what-a-socket-is",
        ),
    ] {
        for (from, to, label) in
            [(english, korean, "한국어"), (korean, english, "English")]
        {
            window.load_cleanly(from);
            let switch = window.eval(
                "document.querySelector('#mdbook-menu-bar .lang-switch')
                    .textContent",
            );
            assert_eq!(switch, label, "the switch on {from}");
            window.eval(
                "(window.replacedByTheNextPage = true,
                  document.querySelector('.lang-switch').click(), true)",
            );
            window.wait_for(
                "!window.replacedByTheNextPage
                    && document.readyState === 'complete'",
                &format!("the switch on {from} leads somewhere"),
            );
            assert_eq!(window.page(), to, "the switch on {from}");
        }
    }
}

#[test]
fn hangul_renders_with_a_real_font() {
    let window = Window::open();
    for (page, file) in [
        ("udp-client.html", "udp-client-en.png"),
        ("ko/udp-client.html", "udp-client-ko.png"),
    ] {
        window.load_cleanly(page);
        let shot = window.screenshot(file);
        assert!(shot.metadata().unwrap().len() > 10_000, "{shot:?}");
    }
    // The fonts Chromium really drew the Korean introduction's heading
    // and first paragraph with.
    window.load_cleanly("ko/introduction.html");
    for selector in ["main h1", "main p"] {
        let node = window.tab.find_element(selector).unwrap().node_id;
        window.tab.call_method(CSS::Enable(None)).unwrap();
        let fonts = window
            .tab
            .call_method(CSS::GetPlatformFontsForNode { node_id: node })
            .unwrap()
            .fonts;
        let families: Vec<&str> =
            fonts.iter().map(|font| font.family_name.as_str()).collect();
        assert!(
            fonts.iter().any(|font| {
                font.glyph_count > 0.0
                    && ["CJK", "KR", "Gothic", "Nanum"]
                        .iter()
                        .any(|name| font.family_name.contains(name))
            }),
            "{selector} of ko/introduction.html is drawn with {families:?}: \
             no Korean font (install fonts-noto-cjk)"
        );
    }
}

/// The sections the Korean search lists for `term`, in order.
fn search(window: &Window, term: &str) -> Vec<String> {
    window.load_cleanly(&format!("ko/index.html?search={term}"));
    let found = window.wait_for(
        "document.getElementById('mdbook-searchresults-header').textContent
            .includes('검색 결과')
         && Array.from(document.querySelectorAll('#mdbook-searchresults a'))
            .map(a => a.getAttribute('href').replace(/\\?[^#]*/, ''))",
        &format!("the search for {term} shows results"),
    );
    found
        .as_array()
        .unwrap()
        .iter()
        .map(|href| href.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn korean_search_finds_words_followed_by_particles() {
    let window = Window::open();
    // 소켓: the introduction says 소켓을, 소켓은 and 소켓이(란).
    let sockets = search(&window, "소켓");
    for section in [
        "introduction.html#what-a-socket-is",
        "introduction.html#two-transport-services-two-kinds-of-socket",
        "glossary.html#용어집",
    ] {
        assert!(
            sockets.iter().any(|s| s == section),
            "{section}: {sockets:?}"
        );
    }
    let texts = window.eval(
        "Array.from(document.querySelectorAll('#mdbook-searchresults .teaser'))
            .map(t => t.textContent).join(' ')",
    );
    for form in ["소켓을", "소켓은", "소켓이"] {
        assert!(texts.as_str().unwrap().contains(form), "{form} in {texts}");
    }
    let header = window.eval(
        "document.getElementById('mdbook-searchresults-header').textContent",
    );
    assert!(
        header.as_str().unwrap().starts_with("'소켓' 검색 결과"),
        "{header}"
    );
    // Each term finds the chapter that teaches it, now that every chapter
    // is translated.
    for (term, page) in [
        ("핸드셰이크", "tcp-server.html"),
        ("데이터그램", "udp-client.html"),
        ("백로그", "tcp-server.html"),
        ("소켓을", "udp-client.html"),
    ] {
        let found = search(&window, term);
        assert!(
            found.iter().any(|s| s.starts_with(page)),
            "{term}: {found:?}"
        );
    }
}

#[test]
fn every_callout_is_a_callout_in_korean_too() {
    let window = Window::open();
    let count = "[document.querySelectorAll('main blockquote.blockquote-tag')
                   .length,
                  Array.from(document.querySelectorAll(
                   '.blockquote-tag-title')).map(t => t.textContent.trim())]";
    // The build compares every page; here the four with most callouts.
    let mut total = 0;
    for page in [
        "udp-client.html",
        "udp-server.html",
        "tcp-client.html",
        "tcp-server.html",
    ] {
        window.load_cleanly(page);
        let english = window.eval(count);
        window.load_cleanly(&format!("ko/{page}"));
        let korean = window.eval(count);
        assert_eq!(english[0], korean[0], "callouts on {page}");
        let titles = korean[1].as_array().unwrap();
        assert!(titles.iter().all(|t| t == "참고"), "ko/{page}: {titles:?}");
        total += english[0].as_u64().unwrap();
    }
    assert!(total >= 10, "only {total} callouts on those pages");
}

#[test]
fn side_by_side_has_korean_labels_with_its_marks() {
    let window = Window::open();
    let marks = "document.querySelectorAll('.sbs-mark').length";
    window.load_cleanly("udp-vs-tcp.html");
    let english = window.wait_for(marks, "the English marks are drawn");
    window.load_cleanly("ko/udp-vs-tcp.html");
    let korean = window.wait_for(marks, "the Korean marks are drawn");
    assert_eq!(english, korean, "marks in both editions");
    let legend =
        window.eval("document.querySelector('.sbs-legend').textContent");
    let legend = legend.as_str().unwrap();
    for words in [
        "UDP 클라이언트에만 있는 줄",
        "TCP 클라이언트에만 있는 줄",
        "양쪽이 같습니다",
    ] {
        assert!(legend.contains(words), "{words} in {legend:?}");
    }
    // Each mark lies over a line of its listing.
    let inside = window.eval(
        "Array.from(document.querySelectorAll('.sbs-mark')).every(mark => {
            const box = mark.getBoundingClientRect();
            const pre = mark.parentElement.getBoundingClientRect();
            return box.height > 0 && box.top >= pre.top - 1
                && box.bottom <= pre.bottom + 1;
        })",
    );
    assert_eq!(inside, true);
    // The diagram of the Korean edition (drawn from a capture) has Korean
    // labels, its calls and line numbers left as code.
    let svg = window
        .tab
        .evaluate("fetch('images/udp-exchange.svg').then(r => r.text())", true)
        .unwrap()
        .value
        .unwrap();
    for label in [">클라이언트<", ">서버<", ">send_to (udp_client.rs:"] {
        assert!(svg.as_str().unwrap().contains(label), "{label} in {svg}");
    }
}
