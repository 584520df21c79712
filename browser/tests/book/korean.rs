//! The Korean edition (한국어판, under ko/) in a real browser: its pages
//! load without errors in Korean (`lang="ko"`, Korean title and labels),
//! the language switch leads both ways to the same chapter, Hangul renders
//! with a real CJK font (screenshots of the UDP client chapter in both
//! editions land in target/screenshots/), the Korean search finds words
//! followed by particles, every callout is still a callout, and the
//! side-by-side chapter has Korean labels with its marks in place.
//!
//! A module of book.rs's test binary, so that both editions are checked
//! with one build of the book, one server and one browser.

use headless_chrome::protocol::cdp::CSS;

use super::{Window, summary_pages};

#[test]
fn korean_pages_load_in_korean_and_the_switch_goes_both_ways() {
    let window = Window::open(1280, 900);
    for page in summary_pages().iter().chain(&["glossary.html".to_string()]) {
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
    let window = Window::open(1280, 900);
    for (page, file) in [
        ("udp-client.html", "udp-client-en.png"),
        ("ko/udp-client.html", "udp-client-ko.png"),
    ] {
        window.load_cleanly(page);
        let shot = window.screenshot_viewport(file);
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
    let window = Window::open(1280, 900);
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
    let window = Window::open(1280, 900);
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
    let window = Window::open(1280, 900);
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
