// Marks the lines that differ between the two listings of every
// `<div class="side-by-side">`: the lines outside a longest common
// subsequence of the two files' lines, compared without their indentation.
//
// highlight.js owns the markup inside each <code>, so the marks are not
// spans in the code but bars laid over it: absolutely positioned in the
// <pre>, placed where the browser says each line is (a DOM Range per
// line, which also works when a long line wraps). They are redrawn
// whenever a listing changes size (window width, late web fonts).
// mdBook runs this file after book.js, which has highlighted the code by
// then; the marks only read the code's text and its layout.
(function () {
    "use strict";

    // The text of each line of a listing (without the final newline).
    function linesOf(code) {
        return code.textContent.replace(/\n$/, "").split("\n");
    }

    // Flags, for each line of `a` and of `b`, whether it lies outside a
    // longest common subsequence of the two; blank lines never count.
    function unmatched(a, b) {
        const n = a.length;
        const m = b.length;
        const width = m + 1;
        // lcs[i * width + j]: LCS length of a[i..] and b[j..].
        const lcs = new Uint32Array((n + 1) * width);
        for (let i = n - 1; i >= 0; i--) {
            for (let j = m - 1; j >= 0; j--) {
                lcs[i * width + j] = a[i] === b[j]
                    ? lcs[(i + 1) * width + j + 1] + 1
                    : Math.max(lcs[(i + 1) * width + j],
                               lcs[i * width + j + 1]);
            }
        }
        const onlyA = a.map(line => line !== "");
        const onlyB = b.map(line => line !== "");
        let i = 0;
        let j = 0;
        while (i < n && j < m) {
            if (a[i] === b[j]) {
                onlyA[i] = false;
                onlyB[j] = false;
                i++;
                j++;
            } else if (lcs[(i + 1) * width + j] >= lcs[i * width + j + 1]) {
                i++;
            } else {
                j++;
            }
        }
        return [onlyA, onlyB];
    }

    // One DOM Range per line of `code`, spanning the line's text across
    // however many highlight.js spans it is split into.
    function lineRanges(code) {
        const ranges = [];
        let range = document.createRange();
        range.setStart(code, 0);
        const walker = document.createTreeWalker(code, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            let from = 0;
            let at;
            while ((at = node.data.indexOf("\n", from)) !== -1) {
                range.setEnd(node, at);
                ranges.push(range);
                range = document.createRange();
                range.setStart(node, at + 1);
                from = at + 1;
            }
        }
        range.setEnd(code, code.childNodes.length);
        ranges.push(range);
        return ranges;
    }

    // Lays a bar over each run of flagged lines of one listing.
    function drawMarks(code, flags, side) {
        const pre = code.parentElement;
        for (const old of pre.querySelectorAll(":scope > .sbs-mark")) {
            old.remove();
        }
        const ranges = lineRanges(code);
        const origin = pre.getBoundingClientRect().top + pre.clientTop;
        let run = null;
        const flush = () => {
            if (run === null) {
                return;
            }
            const bar = document.createElement("div");
            bar.className = "sbs-mark " + side;
            bar.setAttribute("aria-hidden", "true");
            bar.style.top = (run.top - origin) + "px";
            bar.style.height = (run.bottom - run.top) + "px";
            pre.appendChild(bar);
            run = null;
        };
        flags.forEach((flagged, index) => {
            const rects = flagged && index < ranges.length
                ? Array.from(ranges[index].getClientRects())
                      .filter(rect => rect.height > 0)
                : [];
            if (rects.length === 0) {
                // Unflagged lines end a run; flagged blank lines (never
                // produced) or lines without a box leave it open.
                if (!flagged) {
                    flush();
                }
                return;
            }
            const top = Math.min(...rects.map(rect => rect.top));
            const bottom = Math.max(...rects.map(rect => rect.bottom));
            if (run === null) {
                run = { top, bottom };
            } else {
                run.bottom = Math.max(run.bottom, bottom);
            }
        });
        flush();
    }

    // The legend's words in each edition's language, chosen by the page's
    // <html lang>; a language missing here gets English. The listings'
    // names come from the labels' data-name (translated with the page).
    const WORDS = {
        en: {
            first: "the first",
            second: "the second",
            onlyIn: name => "only in " + name,
            rest: ". Unmarked lines are the same in both " +
                  "(indentation aside).",
        },
        ko: {
            first: "첫째 목록",
            second: "둘째 목록",
            onlyIn: name => name + "에만 있는 줄",
            rest: ". 표시가 없는 줄은 (들여쓰기를 빼면) 양쪽이 같습니다.",
        },
    };
    const words = WORDS[document.documentElement.lang] || WORDS.en;

    // The legend above a pair, named after its two labels.
    function legend(pair, labels) {
        const names = labels.map((label, index) =>
            label.dataset.name || (index === 0 ? words.first : words.second));
        const legend = document.createElement("p");
        legend.className = "sbs-legend";
        names.forEach((name, index) => {
            const swatch = document.createElement("span");
            swatch.className = "sbs-swatch " +
                (index === 0 ? "sbs-left" : "sbs-right");
            legend.append(swatch, words.onlyIn(name),
                          index === 0 ? " \u00a0 " : "");
        });
        legend.append(words.rest);
        pair.parentElement.insertBefore(legend, pair);
    }

    function setUp(pair) {
        const codes = Array.from(pair.querySelectorAll(":scope > pre > code"));
        if (codes.length !== 2) {
            console.warn("side-by-side: expected 2 listings, found",
                         codes.length);
            return;
        }
        const [flagsA, flagsB] = unmatched(
            ...codes.map(code => linesOf(code).map(line => line.trim())));
        const draw = () => {
            drawMarks(codes[0], flagsA, "sbs-left");
            drawMarks(codes[1], flagsB, "sbs-right");
        };
        legend(pair, Array.from(pair.querySelectorAll(":scope > .sbs-label")));
        draw();
        if (typeof ResizeObserver === "function") {
            const observer = new ResizeObserver(draw);
            codes.forEach(code => observer.observe(code));
        }
        window.addEventListener("resize", draw);
        if (document.fonts && document.fonts.ready) {
            document.fonts.ready.then(draw);
        }
    }

    function setUpAll() {
        document.querySelectorAll(".side-by-side").forEach(setUp);
    }

    if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", setUpAll);
    } else {
        setUpAll();
    }
})();
