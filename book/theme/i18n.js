// The two editions of the book: English at the root of the site, Korean
// under ko/ (built by `cargo xtask book` from book/po/ko.po).
//
// On every page of both editions this adds a language switch to the menu
// bar that leads to the same page (and section) of the other edition. On
// Korean pages it also puts mdBook's interface labels in Korean and
// plugs a Hangul-aware index into mdBook's search box: mdBook's own index
// (elasticlunr) drops Hangul (mdBook issue 1081). The xtask writes the
// Korean index into ko/searchindex-*.js: for each section its title, text
// and an inverted index from tokens to sections, where a run of Hangul
// syllables gives its syllable bigrams, so that 소켓 finds 소켓을, 소켓은
// and 소켓이; other words are indexed whole and matched by prefix.
(function () {
    "use strict";

    const korean = document.documentElement.lang === "ko";

    // Pages that only the Korean edition has; their switch leads to the
    // English introduction.
    const KOREAN_ONLY = ["glossary.html"];

    // The page's path below the edition's root, from mdBook's
    // `path_to_root` ("", "../", ...): as many trailing parts of the URL.
    function pageInEdition() {
        const depth = (path_to_root.match(/\.\.\//g) || []).length;
        const parts = window.location.pathname.split("/");
        if (parts[parts.length - 1] === "") {
            parts[parts.length - 1] = "index.html";
        }
        return parts.slice(-(depth + 1)).join("/");
    }

    function addSwitch() {
        const buttons = document.querySelector("#mdbook-menu-bar .right-buttons");
        if (!buttons) {
            return;
        }
        let page = pageInEdition();
        let hash = window.location.hash;
        if (KOREAN_ONLY.includes(page)) {
            page = "index.html";
            hash = "";
        }
        const link = document.createElement("a");
        link.className = "lang-switch";
        if (korean) {
            link.href = path_to_root + "../" + page + hash;
            link.hreflang = "en";
            link.lang = "en";
            link.textContent = "English";
            link.title = "Read this page in English";
        } else {
            link.href = path_to_root + "ko/" + page + hash;
            link.hreflang = "ko";
            link.lang = "ko";
            link.textContent = "한국어";
            link.title = "이 페이지를 한국어로 읽기";
        }
        link.setAttribute("aria-label", link.title);
        // Keep the section when the reader scrolled to one.
        link.addEventListener("click", () => {
            link.hash = window.location.hash;
        });
        buttons.prepend(link);
    }

    // mdBook 0.5.4's interface labels that its template writes in
    // English: [selector, attribute (or "text"), Korean].
    const LABELS = [
        ["#mdbook-sidebar-toggle", "title", "목차 열기/닫기"],
        ["#mdbook-sidebar-toggle", "aria-label", "목차 열기/닫기"],
        ["#mdbook-sidebar", "aria-label", "목차"],
        ["#mdbook-theme-toggle", "title", "테마 바꾸기"],
        ["#mdbook-theme-toggle", "aria-label", "테마 바꾸기"],
        ["#mdbook-theme-list", "aria-label", "테마"],
        ["#mdbook-search-toggle", "title", "검색 (`/`)"],
        ["#mdbook-search-toggle", "aria-label", "검색창 열기/닫기"],
        ["#mdbook-searchbar", "placeholder", "이 책에서 검색…"],
        ["a[href$='print.html']", "title", "이 책 인쇄"],
        ["a[href$='print.html']", "aria-label", "이 책 인쇄"],
        ["a[rel='prev']", "title", "이전 장"],
        ["a[rel='prev']", "aria-label", "이전 장"],
        ["a[rel~='next']", "title", "다음 장"],
        ["a[rel~='next']", "aria-label", "다음 장"],
        ["nav[aria-label='Page navigation']", "aria-label", "쪽 이동"],
    ];

    function translateLabels() {
        for (const [selector, attribute, text] of LABELS) {
            for (const element of document.querySelectorAll(selector)) {
                element.setAttribute(attribute, text);
            }
        }
        // The keyboard help, by what each line is about.
        const HELP = [
            [/navigate between chapters/,
             "<kbd>←</kbd> 또는 <kbd>→</kbd>: 이전 장, 다음 장"],
            [/to search in the book/, "<kbd>S</kbd> 또는 <kbd>/</kbd>: 이 책에서 검색"],
            [/to show this help/, "<kbd>?</kbd>: 이 도움말 보기"],
            [/to hide this help/, "<kbd>Esc</kbd>: 이 도움말 닫기"],
        ];
        for (const p of document.querySelectorAll("#mdbook-help-popup p")) {
            const line = HELP.find(([pattern]) => pattern.test(p.textContent));
            if (line) {
                p.innerHTML = line[1];
            }
        }
        // The callouts' titles ("Note", ...) that mdBook writes.
        const KINDS = { Note: "참고", Tip: "팁", Important: "중요",
                        Warning: "경고", Caution: "주의" };
        for (const title of document.querySelectorAll(".blockquote-tag-title")) {
            for (const node of title.childNodes) {
                const word = node.nodeType === Node.TEXT_NODE && node.data.trim();
                if (word && KINDS[word]) {
                    node.data = node.data.replace(word, KINDS[word]);
                }
            }
        }
        const title = document.querySelector(".mdbook-help-title");
        if (title) {
            title.textContent = "단축키";
        }
        // The results header, which searcher.js writes in English.
        const header = document.getElementById("mdbook-searchresults-header");
        if (header) {
            const rewrite = () => {
                const found = /^(?:(\d+) search results? for|No search results for) '(.*)'[.:]$/
                    .exec(header.textContent);
                if (found) {
                    header.textContent = found[1]
                        ? "'" + found[2] + "' 검색 결과 " + found[1] + "건:"
                        : "'" + found[2] + "' 검색 결과가 없습니다.";
                }
            };
            new MutationObserver(rewrite).observe(header, { childList: true });
        }
    }

    // The query's tokens, as the xtask tokenizes the text (i18n.rs:
    // `tokens`), grouped by word: a word matches a section when all its
    // tokens are in the section and the word itself is in its text.
    function tokens(text) {
        const out = [];
        const pattern = /([\uac00-\ud7a3]+)|([\p{L}\p{N}_]+)/gu;
        let match;
        while ((match = pattern.exec(text)) !== null) {
            if (match[1]) {
                const run = match[1];
                if (run.length === 1) {
                    out.push(run);
                }
                for (let i = 0; i + 1 < run.length; i++) {
                    out.push(run.slice(i, i + 2));
                }
            } else {
                out.push(match[2].toLowerCase());
            }
        }
        return out;
    }

    // Stands in for elasticlunr's index: `search` returns what searcher.js
    // expects, [{ref, score, doc: {title, body, breadcrumbs}}], best first.
    function HangulIndex(index) {
        const documents = index.documents;
        const postings = index.postings;
        const terms = Object.keys(postings);
        const docsWith = token => {
            if (/^[\uac00-\ud7a3]+$/.test(token)) {
                return new Set(postings[token] || []);
            }
            // A latin word: every indexed word it starts.
            const found = new Set();
            for (const term of terms) {
                if (term.startsWith(token)) {
                    for (const id of postings[term]) {
                        found.add(id);
                    }
                }
            }
            return found;
        };
        const count = (text, word) => text.split(word).length - 1;
        this.search = function (query) {
            const words = query.toLowerCase().split(/\s+/).filter(w => w);
            let candidates = null;
            for (const word of words) {
                for (const token of tokens(word)) {
                    const ids = docsWith(token);
                    candidates = candidates === null
                        ? ids
                        : new Set([...candidates].filter(id => ids.has(id)));
                }
            }
            if (candidates === null) {
                return [];
            }
            const results = [];
            for (const id of candidates) {
                const doc = documents[id];
                const title = doc.title.toLowerCase();
                const body = doc.body.toLowerCase();
                let score = 0;
                let all = true;
                for (const word of words) {
                    const hits = 3 * count(title, word) + count(body, word);
                    // Bigrams can all be there without the word: check.
                    if (hits === 0 && /[\uac00-\ud7a3]/.test(word)) {
                        all = false;
                    }
                    score += hits;
                }
                if (all) {
                    results.push({ ref: String(id), score, doc });
                }
            }
            return results.sort((a, b) => b.score - a.score || a.ref - b.ref);
        };
    }

    function useHangulIndex() {
        if (typeof elasticlunr === "undefined") {
            return;
        }
        const load = elasticlunr.Index.load;
        elasticlunr.Index.load = function (index) {
            return index && index.hangul ? new HangulIndex(index) : load(index);
        };
    }

    addSwitch();
    if (korean) {
        translateLabels();
        useHangulIndex();
    }
    window.koreanSearchTokens = tokens;
})();
