// The two editions of the book: English at the root of the site, Korean
// under ko/ (built by `cargo xtask book` from book/po/ko.po).
//
// On every page of both editions this adds a language switch to the menu
// bar that leads to the same page (and section) of the other edition. On
// Korean pages it also puts mdBook's interface labels in Korean. (The
// Korean search is theme/korean-search.js.)
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
    }

    addSwitch();
    if (korean) {
        translateLabels();
    }
})();
