// The Korean edition's search. mdBook's own index (elasticlunr) drops
// Hangul (mdBook issue 1081), so `cargo xtask book` replaces the Korean
// edition's ko/searchindex-*.js with this script followed by an index of
// its own: for each section that mdBook indexed, its title, breadcrumbs
// and text, and an inverted index from tokens to sections. A run of
// Hangul syllables gives its syllable bigrams, so that 소켓 finds 소켓을,
// 소켓은 and 소켓이; other words are indexed whole and matched by prefix.
//
// mdBook's searcher.js loads that file when the reader opens the search
// box and then calls elasticlunr.Index.load on the index: this script
// runs first, in the same file, and answers that call with an object
// whose `search` gives what searcher.js expects. The rest (results list,
// teasers, highlighting, keyboard) is mdBook's.
(function () {
    "use strict";

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

    const load = elasticlunr.Index.load;
    elasticlunr.Index.load = function (index) {
        return index && index.hangul ? new HangulIndex(index) : load(index);
    };

    // The results header, which searcher.js writes in English.
    const header = document.getElementById("mdbook-searchresults-header");
    if (header) {
        const rewrite = () => {
            const found =
                /^(?:(\d+) search results? for|No search results for) '(.*)'[.:]$/
                    .exec(header.textContent);
            if (found) {
                header.textContent = found[1]
                    ? "'" + found[2] + "' 검색 결과 " + found[1] + "건:"
                    : "'" + found[2] + "' 검색 결과가 없습니다.";
            }
        };
        new MutationObserver(rewrite).observe(header, { childList: true });
    }
})();
