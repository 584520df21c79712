//! The rules the book must keep, as pure functions over text and files so
//! that each can be tested on a made-up book.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};
use scraper::{Html, Selector};

/// One `{{#include path}}` or `{{#include path:first:last}}` that makes up
/// a Rust code block of a chapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    /// The included file, resolved against the chapter's folder.
    pub file: PathBuf,
    pub lines: Lines,
}

/// The Rust code blocks of one chapter, each of which must be exactly one
/// include of a `.rs` file under `examples/` or `src/` (files that cargo
/// compiles). Returns the includes in order of appearance, or the reasons
/// why a block breaks the rule.
pub fn rust_includes(
    markdown: &str,
    chapter_dir: &Path,
    root: &Path,
) -> Result<Vec<Include>, Vec<String>> {
    let mut includes = Vec::new();
    let mut errors = Vec::new();
    let mut block: Option<String> = None;
    for event in Parser::new(markdown) {
        match event {
            Event::Start(Tag::CodeBlock(kind)) => {
                let language = match kind {
                    CodeBlockKind::Fenced(info) => info
                        .split([',', ' '])
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                    CodeBlockKind::Indented => String::new(),
                };
                if language == "rust" {
                    block = Some(String::new());
                }
            }
            Event::Text(text) => {
                if let Some(block) = block.as_mut() {
                    block.push_str(&text);
                }
            }
            Event::End(TagEnd::CodeBlock) => {
                if let Some(text) = block.take() {
                    match parse_include(text.trim_end_matches('\n')) {
                        Ok((path, lines)) => {
                            let file = normalize(&chapter_dir.join(path));
                            let compiled = ["examples", "src"]
                                .iter()
                                .any(|dir| file.starts_with(root.join(dir)));
                            if !compiled
                                || file.extension() != Some("rs".as_ref())
                            {
                                errors.push(format!(
                                    "a Rust block includes {}, which is not \
                                     a .rs file under examples/ or src/",
                                    file.display()
                                ));
                            }
                            includes.push(Include { file, lines });
                        }
                        Err(error) => errors.push(error),
                    }
                }
            }
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok(includes)
    } else {
        Err(errors)
    }
}

/// `None` for a whole file, else the first and last line (1-based).
type Lines = Option<(usize, usize)>;

/// Parses the text of a Rust block: one include directive, nothing else.
fn parse_include(text: &str) -> Result<(&str, Lines), String> {
    let directive = text
        .strip_prefix("{{#include ")
        .and_then(|rest| rest.strip_suffix("}}"))
        .filter(|inner| !inner.contains('\n'))
        .ok_or_else(|| {
            format!(
                "a Rust code block must be one `{{{{#include file.rs}}}}` or \
                 `{{{{#include file.rs:FIRST:LAST}}}}` of a compiled file; \
                 found:\n{text}"
            )
        })?
        .trim();
    let mut parts = directive.split(':');
    let path = parts.next().unwrap_or_default();
    let numbers: Vec<&str> = parts.collect();
    match numbers.as_slice() {
        [] => Ok((path, None)),
        [first, last] => {
            let first: usize = first.parse().map_err(|_| bad_range(text))?;
            let last: usize = last.parse().map_err(|_| bad_range(text))?;
            if first == 0 || last < first {
                return Err(bad_range(text));
            }
            Ok((path, Some((first, last))))
        }
        _ => Err(bad_range(text)),
    }
}

fn bad_range(text: &str) -> String {
    format!(
        "`{text}`: use a whole file or FIRST:LAST line numbers \
         (1-based, FIRST <= LAST); anchors and open ranges are not used here"
    )
}

/// Resolves `.` and `..` without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Checks that `ranges`, in the order given, show every non-blank line of
/// `source` exactly once, in ascending order.
/// With `every_line` false (an exercise's solution page, which shows only
/// the key lines) the fragments must still follow the file in order.
pub fn check_coverage(
    source: &str,
    ranges: &[(usize, usize)],
    every_line: bool,
) -> Result<(), Vec<String>> {
    let lines: Vec<&str> = source.lines().collect();
    let mut errors = Vec::new();
    let mut next = 1; // the first line not shown yet
    let unexplained = |from: usize, to: usize, errors: &mut Vec<String>| {
        if !every_line {
            return;
        }
        let missing: Vec<usize> = (from..to)
            .filter(|&n| !lines[n - 1].trim().is_empty())
            .collect();
        if let (Some(first), Some(last)) = (missing.first(), missing.last()) {
            errors.push(format!(
                "lines {first}-{last} are not shown in any fragment \
                 (first: `{}`)",
                lines[first - 1].trim()
            ));
        }
    };
    for &(first, last) in ranges {
        if last > lines.len() {
            errors.push(format!(
                "fragment {first}:{last} ends after the last line ({})",
                lines.len()
            ));
            continue;
        }
        if first < next {
            errors.push(format!(
                "fragment {first}:{last} shows lines {first}-{} again \
                 (fragments must follow the file in order)",
                (next - 1).min(last)
            ));
        } else {
            unexplained(next, first, &mut errors);
        }
        next = next.max(last + 1);
    }
    unexplained(next, lines.len() + 1, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// A chapter that walks a file: shows it whole, then in fragments.
pub struct Walk {
    pub chapter: PathBuf,
    pub file: PathBuf,
    /// Whether the fragments show every non-blank line (false on the
    /// solution pages of exercises, which show the key lines).
    pub every_line: bool,
    /// The fragments' first and last lines, in the chapter's order.
    pub ranges: Vec<(usize, usize)>,
}

/// Runs the source-level rules over every chapter in `src_dir` and
/// returns the walks found (chapter, file) or every broken rule.
pub fn check_sources(
    root: &Path,
    src_dir: &Path,
) -> Result<Vec<Walk>, Vec<String>> {
    let mut errors = Vec::new();
    let mut walks = Vec::new();
    let mut shown_whole: HashSet<PathBuf> = HashSet::new();
    let mut chapters: Vec<PathBuf> = markdown_files(src_dir);
    chapters.sort();
    for chapter in chapters {
        let markdown = fs::read_to_string(&chapter).unwrap_or_default();
        let name = chapter.strip_prefix(src_dir).unwrap_or(&chapter);
        let includes = match rust_includes(
            &markdown,
            chapter.parent().unwrap_or(src_dir),
            root,
        ) {
            Ok(includes) => includes,
            Err(found) => {
                errors.extend(
                    found
                        .into_iter()
                        .map(|e| format!("{}: {e}", name.display())),
                );
                continue;
            }
        };
        // Solution pages of exercises walk the key lines only.
        let every_line = !name.starts_with("exercises");
        let mut ranges: BTreeMap<&Path, Vec<(usize, usize)>> = BTreeMap::new();
        let mut whole: HashSet<&Path> = HashSet::new();
        for include in &includes {
            if include.lines.is_none() {
                shown_whole.insert(include.file.clone());
            }
            match include.lines {
                Some(lines) => {
                    ranges.entry(&include.file).or_default().push(lines)
                }
                None => {
                    whole.insert(&include.file);
                }
            }
        }
        for (file, ranges) in ranges {
            if !whole.contains(file) {
                errors.push(format!(
                    "{}: shows fragments of {} but never the whole file first",
                    name.display(),
                    file.display()
                ));
            }
            let Ok(source) = fs::read_to_string(file) else {
                errors.push(format!(
                    "{}: cannot read {}",
                    name.display(),
                    file.display()
                ));
                continue;
            };
            match check_coverage(&source, &ranges, every_line) {
                Ok(()) => walks.push(Walk {
                    chapter: chapter.clone(),
                    file: file.to_path_buf(),
                    every_line,
                    ranges: ranges.clone(),
                }),
                Err(found) => errors.extend(found.into_iter().map(|e| {
                    format!(
                        "{} walking {}: {e}",
                        name.display(),
                        file.display()
                    )
                })),
            }
        }
    }
    // Every example is in the book; all but the exercises' solutions have
    // a chapter that walks every line.
    let walked: HashSet<&Path> = walks
        .iter()
        .filter(|w| w.every_line)
        .map(|w| w.file.as_path())
        .collect();
    let solutions: HashSet<&Path> = walks
        .iter()
        .filter(|w| !w.every_line)
        .map(|w| w.file.as_path())
        .collect();
    let mut examples: Vec<PathBuf> = fs::read_dir(root.join("examples"))
        .map(|dir| dir.flatten().map(|entry| entry.path()).collect())
        .unwrap_or_default();
    examples.sort();
    for example in examples {
        if example.extension() != Some("rs".as_ref()) {
            continue;
        }
        if !shown_whole.contains(&example) {
            errors.push(format!(
                "{} is not shown whole in any chapter",
                example.display()
            ));
        } else if !walked.contains(example.as_path())
            && !solutions.contains(example.as_path())
        {
            errors.push(format!(
                "{} has no chapter that walks it line by line",
                example.display()
            ));
        }
    }
    if errors.is_empty() {
        Ok(walks)
    } else {
        Err(errors)
    }
}

fn markdown_files(dir: &Path) -> Vec<PathBuf> {
    files_with_extension(dir, "md")
}

fn files_with_extension(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_with_extension(&path, extension));
        } else if path.extension() == Some(extension.as_ref()) {
            found.push(path);
        }
    }
    found
}

/// Checks the built HTML in `html_dir`: no unexpanded `{{#`, no playground
/// button, every internal link and `#anchor` resolves.
pub fn check_html(html_dir: &Path) -> Vec<String> {
    let mut errors = Vec::new();
    let mut pages: HashMap<PathBuf, Html> = HashMap::new();
    for file in files_with_extension(html_dir, "html") {
        let text = fs::read_to_string(&file).unwrap_or_default();
        pages.insert(file, Html::parse_document(&text));
    }
    let ids = Selector::parse("[id]").unwrap();
    let id_sets: HashMap<&PathBuf, HashSet<&str>> = pages
        .iter()
        .map(|(file, page)| {
            let set = page.select(&ids).filter_map(|e| e.attr("id")).collect();
            (file, set)
        })
        .collect();
    let links = Selector::parse("a[href]").unwrap();
    let playground = Selector::parse("pre.playground, .play-button").unwrap();
    let mut files: Vec<&PathBuf> = pages.keys().collect();
    files.sort();
    for file in files {
        let page = &pages[file];
        let name = file.strip_prefix(html_dir).unwrap_or(file).display();
        if page.html().contains("{{#") {
            errors.push(format!("{name}: an unexpanded `{{{{#` directive"));
        }
        if page.select(&playground).next().is_some() {
            errors
                .push(format!("{name}: a code block has a playground button"));
        }
        for link in page.select(&links) {
            let href = link.attr("href").unwrap_or_default();
            if href.contains("://")
                || href.starts_with("//")
                || href.starts_with("mailto:")
                || href.starts_with("javascript:")
            {
                continue;
            }
            let (path, anchor) = href.split_once('#').unwrap_or((href, ""));
            let target = if path.is_empty() {
                file.clone()
            } else {
                let mut target = normalize(&file.parent().unwrap().join(path));
                if path.ends_with('/') {
                    target.push("index.html");
                }
                target
            };
            if !target.exists() {
                errors.push(format!("{name}: link `{href}` leads nowhere"));
                continue;
            }
            if !anchor.is_empty() {
                let found = id_sets
                    .get(&target)
                    .is_some_and(|set| set.contains(anchor));
                if !found {
                    errors
                        .push(format!("{name}: link `{href}`: no such anchor"));
                }
            }
        }
    }
    errors
}

/// Checks that the chapter page shows `source` as one code block whose
/// text equals the file exactly, line for line and byte for byte. (A code
/// block's text does not end in a newline: the file's final newline only
/// ends its last line, so it is the one byte not compared.)
pub fn check_whole_listing(
    page_html: &str,
    source: &str,
) -> Result<(), String> {
    let source = source.strip_suffix('\n').unwrap_or(source);
    let page = Html::parse_document(page_html);
    let code = Selector::parse("pre > code").unwrap();
    let blocks: Vec<String> = page
        .select(&code)
        .map(|block| block.text().collect())
        .collect();
    if blocks.iter().any(|text| text == source) {
        return Ok(());
    }
    let closest = blocks.iter().max_by_key(|text| text.len()).cloned();
    Err(match closest {
        None => "the page has no code block".to_string(),
        Some(text) => {
            let common = text
                .split('\n')
                .zip(source.split('\n'))
                .take_while(|(a, b)| a == b)
                .count();
            format!(
                "no code block equals the file; the longest block first \
                 differs at line {}: {:?} in the page, {:?} in the file",
                common + 1,
                text.split('\n').nth(common),
                source.split('\n').nth(common)
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "//! header\n\nuse a;\n\nfn main() {\n    b();\n}\n";

    #[test]
    fn coverage_accepts_fragments_that_skip_only_blank_lines() {
        assert_eq!(
            check_coverage(SOURCE, &[(1, 1), (3, 3), (5, 7)], true),
            Ok(())
        );
        assert_eq!(check_coverage(SOURCE, &[(1, 3), (4, 7)], true), Ok(()));
    }

    #[test]
    fn coverage_reports_gaps_repeats_and_disorder() {
        let gap = check_coverage(SOURCE, &[(1, 1), (5, 7)], true).unwrap_err();
        assert_eq!(
            gap,
            ["lines 3-3 are not shown in any fragment (first: `use a;`)"]
        );
        let tail = check_coverage(SOURCE, &[(1, 5)], true).unwrap_err();
        assert_eq!(
            tail,
            ["lines 6-7 are not shown in any fragment (first: `b();`)"]
        );
        let twice =
            check_coverage(SOURCE, &[(1, 3), (3, 7)], true).unwrap_err();
        assert!(twice[0].contains("shows lines 3-3 again"), "{twice:?}");
        let disorder =
            check_coverage(SOURCE, &[(5, 7), (1, 3)], true).unwrap_err();
        assert_eq!(disorder.len(), 2, "{disorder:?}");
        let past = check_coverage(SOURCE, &[(1, 9)], true).unwrap_err();
        assert!(past[0].contains("ends after the last line"), "{past:?}");
    }

    #[test]
    fn key_lines_may_skip_but_not_repeat_or_go_back() {
        assert_eq!(check_coverage(SOURCE, &[(5, 6)], false), Ok(()));
        let back = check_coverage(SOURCE, &[(5, 6), (3, 3)], false);
        assert!(back.unwrap_err()[0].contains("again"));
    }

    #[test]
    fn rust_blocks_must_be_includes_of_compiled_files() {
        let root = Path::new("/repo");
        let dir = root.join("book/src");
        let good = "```rust\n{{#include ../../examples/a.rs}}\n```\n\n\
                    ```rust\n{{#include ../../examples/a.rs:2:4}}\n```\n\n\
                    ```console\n$ anything goes here\n```\n";
        let includes = rust_includes(good, &dir, root).unwrap();
        assert_eq!(
            includes,
            [
                Include {
                    file: root.join("examples/a.rs"),
                    lines: None
                },
                Include {
                    file: root.join("examples/a.rs"),
                    lines: Some((2, 4))
                },
            ]
        );
        for bad in [
            "```rust\nfn main() {}\n```\n",
            "```rust,ignore\n{{#include ../../notes/a.rs}}\n```\n",
            "```rust\n{{#include ../../examples/a.rs:4:2}}\n```\n",
            "```rust\n{{#include ../../examples/a.rs:anchor}}\n```\n",
            "```rust\n{{#include ../../examples/a.rs}}\nlet x = 1;\n```\n",
        ] {
            assert!(
                rust_includes(bad, &dir, root).is_err(),
                "accepted {bad:?}"
            );
        }
    }

    #[test]
    fn whole_listing_must_match_to_the_byte() {
        let page = "<pre><code class=\"language-rust\">fn main() {\n    x(&amp;y);\n}</code></pre>";
        assert_eq!(
            check_whole_listing(page, "fn main() {\n    x(&y);\n}\n"),
            Ok(())
        );
        let error = check_whole_listing(page, "fn main() {\n    x(&z);\n}\n")
            .unwrap_err();
        assert!(error.contains("differs at line 2"), "{error}");
    }

    #[test]
    fn html_check_finds_broken_links_anchors_and_directives() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, body: &str| {
            fs::write(dir.path().join(name), body).unwrap()
        };
        write(
            "a.html",
            "<h1 id=\"top\">A</h1><a href=\"b.html#here\">ok</a>\
                         <a href=\"#top\">ok</a><a href=\"https://x.org/\">ext</a>",
        );
        write(
            "b.html",
            "<p id=\"here\">B</p><a href=\"a.html#nowhere\">bad</a>\
                         <a href=\"c.html\">bad</a><p>{{#include x.rs}}</p>\
                         <pre class=\"playground\"><code>x</code></pre>",
        );
        let mut errors = check_html(dir.path());
        errors.sort();
        assert_eq!(
            errors,
            [
                "b.html: a code block has a playground button",
                "b.html: an unexpanded `{{#` directive",
                "b.html: link `a.html#nowhere`: no such anchor",
                "b.html: link `c.html` leads nowhere",
            ]
        );
    }
}
