//! The rules the book must keep, as pure functions over text and files so
//! that each can be tested on a made-up book.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
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

pub fn markdown_files(dir: &Path) -> Vec<PathBuf> {
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

/// How many errata `/work/shared/notes-errata.md` (`../shared/` beside the
/// repository) lists: the book has one full box for each, with ids
/// `erratum-1` to `erratum-18`.
pub const ERRATA: usize = 18;

/// The words a full erratum box begins with (erratum 18 is the lab
/// handout's, not the notes').
const BOX_OPENINGS: [&str; 2] = ["> **The notes say**", "> **The lab says**"];

/// Checks the errata boxes of the whole book: exactly one full box per
/// erratum id `1..=errata`, each one an anchor line
/// `<a id="erratum-N"></a>`, a blank line, then `> [!NOTE]` and a first
/// line that begins with **The notes say** (or **The lab says**).
/// `chapters` are (name, markdown) pairs.
pub fn check_errata(
    chapters: &[(String, String)],
    errata: usize,
) -> Vec<String> {
    let mut errors = Vec::new();
    let mut boxed: BTreeMap<usize, String> = BTreeMap::new();
    for (name, markdown) in chapters {
        let lines = lines_outside_code(markdown);
        let at = |n: usize| lines.get(n).map_or("", |(_, line)| line.trim());
        for (index, (number, line)) in lines.iter().enumerate() {
            let place = format!("{name}:{number}");
            if let Some(id) = erratum_anchor(line.trim()) {
                let followed = at(index + 1).is_empty()
                    && at(index + 2) == "> [!NOTE]"
                    && BOX_OPENINGS
                        .iter()
                        .any(|o| at(index + 3).starts_with(o));
                if !followed {
                    errors.push(format!(
                        "{place}: the anchor erratum-{id} is not followed by a \
                         blank line and a `> [!NOTE]` box that begins with \
                         **The notes say**"
                    ));
                } else if id == 0 || id > errata {
                    errors.push(format!(
                        "{place}: there is no erratum {id} (notes-errata.md \
                         has 1 to {errata})"
                    ));
                } else if let Some(first) = boxed.get(&id) {
                    errors.push(format!(
                        "{place}: a second box for erratum {id} (the first is \
                         at {first}); link to it instead"
                    ));
                } else {
                    boxed.insert(id, place);
                }
                continue;
            }
            let opens_box = line.trim() == "> [!NOTE]"
                && BOX_OPENINGS.iter().any(|o| at(index + 1).starts_with(o));
            let anchored = index >= 2
                && at(index - 1).is_empty()
                && erratum_anchor(at(index - 2)).is_some();
            if opens_box && !anchored {
                errors.push(format!(
                    "{place}: a \"The notes say\" box without its anchor: put \
                     `<a id=\"erratum-N\"></a>` and a blank line before it, or \
                     make it a one-line link to the erratum's box"
                ));
            }
        }
    }
    for id in 1..=errata {
        if !boxed.contains_key(&id) {
            errors.push(format!(
                "erratum {id} has no box (`<a id=\"erratum-{id}\"></a>` and a \
                 \"The notes say\" box)"
            ));
        }
    }
    errors
}

/// The number N of a line `<a id="erratum-N"></a>`.
fn erratum_anchor(line: &str) -> Option<usize> {
    line.strip_prefix("<a id=\"erratum-")?
        .strip_suffix("\"></a>")?
        .parse()
        .ok()
}

/// The lines of `markdown` (1-based numbers) that are not inside a fenced
/// code block.
fn lines_outside_code(markdown: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<&str> = None;
    let mut lines = Vec::new();
    for (index, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        match fence {
            Some(marker) => {
                if trimmed.starts_with(marker) {
                    fence = None;
                }
            }
            None if trimmed.starts_with("```") => fence = Some("```"),
            None if trimmed.starts_with("~~~") => fence = Some("~~~"),
            None => lines.push((index + 1, line)),
        }
    }
    lines
}

/// The parser options mdBook renders with, as far as headings, links and
/// tables are concerned.
fn markdown_options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_HEADING_ATTRIBUTES
}

/// A link of a chapter map, `[L12–14](#id)` or `[L12](#id)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapLink {
    /// Where the whole link stands in the chapter's text.
    pub span: Range<usize>,
    pub first: usize,
    pub last: usize,
    /// The section it points to, without the `#`.
    pub id: String,
    /// Whether it is written exactly as it should be (an en dash between
    /// two different numbers, one number for one line).
    pub well_formed: bool,
}

/// The map links of a chapter: every inline link to `#id` whose text is
/// `L` and line numbers.
pub fn map_links(markdown: &str) -> Vec<MapLink> {
    let mut links = Vec::new();
    let parser = Parser::new_ext(markdown, markdown_options());
    for (event, span) in parser.into_offset_iter() {
        let Event::Start(Tag::Link { dest_url, .. }) = event else {
            continue;
        };
        let Some(id) = dest_url.strip_prefix('#') else {
            continue;
        };
        let source = &markdown[span.clone()];
        let Some(text) = source
            .strip_prefix("[L")
            .and_then(|rest| rest.strip_suffix(&format!("](#{id})")))
        else {
            continue;
        };
        let (numbers, well_formed_dash) = match text.split_once('–') {
            Some((first, last)) => ((first, last), true),
            None => match text.split_once('-') {
                Some((first, last)) => ((first, last), false),
                None => ((text, text), true),
            },
        };
        let (Ok(first), Ok(last)) =
            (numbers.0.parse::<usize>(), numbers.1.parse::<usize>())
        else {
            continue;
        };
        let single = !text.contains(['–', '-']);
        links.push(MapLink {
            span,
            first,
            last,
            id: id.to_string(),
            well_formed: well_formed_dash && (single || first != last),
        });
    }
    links
}

/// The heading ids of a chapter as mdBook gives them, each with the first
/// and last line of the ranged Rust includes in its section (up to the
/// next heading of the same or a higher level); `None` for a section that
/// shows no fragment.
pub fn section_ranges(
    markdown: &str,
) -> BTreeMap<String, Option<(usize, usize)>> {
    let mut sections: BTreeMap<String, Option<(usize, usize)>> =
        BTreeMap::new();
    let mut used: HashSet<String> = HashSet::new();
    // The sections whose heading is open (level, id), outermost first.
    let mut open: Vec<(usize, String)> = Vec::new();
    let mut heading: Option<(usize, Option<String>, String)> = None;
    let mut block: Option<String> = None;
    for event in Parser::new_ext(markdown, markdown_options()) {
        match event {
            Event::Start(Tag::Heading { level, id, .. }) => {
                heading = Some((
                    level as usize,
                    id.map(|id| id.to_string()),
                    String::new(),
                ));
            }
            Event::Text(text) | Event::Code(text) => {
                if let Some((_, _, name)) = heading.as_mut() {
                    name.push_str(&text);
                } else if let Some(block) = block.as_mut() {
                    block.push_str(&text);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some((level, explicit, name)) = heading.take() {
                    let id = explicit.unwrap_or_else(|| {
                        unique_id(&id_from_content(&name), &mut used)
                    });
                    open.retain(|(open_level, _)| *open_level < level);
                    sections.insert(id.clone(), None);
                    open.push((level, id));
                }
            }
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info)))
                if info.split([',', ' ']).next() == Some("rust") =>
            {
                block = Some(String::new());
            }
            Event::End(TagEnd::CodeBlock) => {
                let Some(text) = block.take() else { continue };
                let Ok((_, Some((first, last)))) =
                    parse_include(text.trim_end_matches('\n'))
                else {
                    continue;
                };
                for (_, id) in &open {
                    let range = sections.entry(id.clone()).or_default();
                    *range = Some(match *range {
                        Some((low, high)) => (low.min(first), high.max(last)),
                        None => (first, last),
                    });
                }
            }
            _ => {}
        }
    }
    sections
}

/// mdBook's id for a heading's text (mdbook-html's `id_from_content`).
fn id_from_content(content: &str) -> String {
    content
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '-' {
                Some(c)
            } else if c.is_whitespace() {
                Some('-')
            } else {
                None
            }
        })
        .collect()
}

/// mdBook's rule for a repeated id: `-1`, `-2`, ... appended.
fn unique_id(id: &str, used: &mut HashSet<String>) -> String {
    if used.insert(id.to_string()) {
        return id.to_string();
    }
    (1..)
        .map(|n| format!("{id}-{n}"))
        .find(|candidate| used.insert(candidate.clone()))
        .unwrap()
}

/// How a map link to lines `first..=last` of section `id` is written.
fn map_link_text(first: usize, last: usize, id: &str) -> String {
    if first == last {
        format!("[L{first}](#{id})")
    } else {
        format!("[L{first}–{last}](#{id})")
    }
}

/// Checks that every map link of a chapter names exactly the lines its
/// section shows.
pub fn check_map_links(name: &str, markdown: &str) -> Vec<String> {
    let sections = section_ranges(markdown);
    let mut errors = Vec::new();
    for link in map_links(markdown) {
        let written = &markdown[link.span.clone()];
        let line = markdown[..link.span.start].lines().count().max(1);
        match sections.get(&link.id) {
            None => errors.push(format!(
                "{name}:{line}: map link `{written}`: no section has the id \
                 `{}`",
                link.id
            )),
            Some(None) => errors.push(format!(
                "{name}:{line}: map link `{written}`: its section shows no \
                 fragment of the program"
            )),
            Some(Some((first, last))) => {
                let right = map_link_text(*first, *last, &link.id);
                if *written != right {
                    errors.push(format!(
                        "{name}:{line}: map link `{written}` should read \
                         `{right}`, the lines its section shows (`cargo xtask \
                         bless` rewrites it)"
                    ));
                }
            }
        }
    }
    errors
}

/// The chapter with every map link rewritten to the lines its section
/// shows; links to unknown or empty sections stay as they are.
pub fn bless_map_links(markdown: &str) -> String {
    let sections = section_ranges(markdown);
    let mut out = String::with_capacity(markdown.len());
    let mut copied = 0;
    for link in map_links(markdown) {
        if let Some(Some((first, last))) = sections.get(&link.id) {
            out.push_str(&markdown[copied..link.span.start]);
            out.push_str(&map_link_text(*first, *last, &link.id));
            copied = link.span.end;
        }
    }
    out.push_str(&markdown[copied..]);
    out
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

    fn book(pages: &[(&str, &str)]) -> Vec<(String, String)> {
        pages
            .iter()
            .map(|(name, text)| (name.to_string(), text.to_string()))
            .collect()
    }

    const BOX_1: &str = "Text.\n\n<a id=\"erratum-1\"></a>\n\n> [!NOTE]\n\
                         > **The notes say** x. **In fact** y.\n";
    const BOX_2: &str = "<a id=\"erratum-2\"></a>\n\n> [!NOTE]\n\
                         > **The lab says** x. **In fact** y.\n\n\
                         (See [erratum 1](a.md#erratum-1): y.)\n";

    #[test]
    fn one_full_box_per_erratum_passes() {
        let pages = book(&[("a.md", BOX_1), ("b.md", BOX_2)]);
        assert_eq!(check_errata(&pages, 2), Vec::<String>::new());
        // Boxes shown as code, and other notes, are not errata boxes.
        let other = "```md\n> [!NOTE]\n> **The notes say** x\n```\n\n\
                     > [!NOTE]\n> **Try it**: run the lab.\n";
        let pages = book(&[("a.md", BOX_1), ("b.md", BOX_2), ("c.md", other)]);
        assert_eq!(check_errata(&pages, 2), Vec::<String>::new());
    }

    #[test]
    fn a_missing_erratum_fails() {
        let pages = book(&[("a.md", BOX_1)]);
        assert_eq!(
            check_errata(&pages, 2),
            ["erratum 2 has no box (`<a id=\"erratum-2\"></a>` and a \
              \"The notes say\" box)"]
        );
    }

    #[test]
    fn a_second_box_for_an_erratum_fails() {
        let pages = book(&[("a.md", BOX_1), ("b.md", BOX_2), ("c.md", BOX_1)]);
        let errors = check_errata(&pages, 2);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("c.md:3: a second box for erratum 1")
                && errors[0].contains("the first is at a.md:3"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_box_without_its_anchor_fails() {
        let bare = "> [!NOTE]\n> **The notes say** x. **In fact** y.\n";
        let no_blank = "<a id=\"erratum-2\"></a>\n> [!NOTE]\n\
                        > **The notes say** x.\n";
        for (page, expected) in [
            (bare, "c.md:1: a \"The notes say\" box without its anchor"),
            (no_blank, "c.md:1: the anchor erratum-2 is not followed"),
        ] {
            let pages =
                book(&[("a.md", BOX_1), ("b.md", BOX_2), ("c.md", page)]);
            let errors = check_errata(&pages, 2);
            assert!(
                errors.iter().any(|e| e.starts_with(expected)),
                "{page:?}: {errors:?}"
            );
        }
        let stray = "<a id=\"erratum-9\"></a>\n\n> [!NOTE]\n\
                     > **The notes say** x.\n";
        let pages = book(&[("a.md", BOX_1), ("b.md", BOX_2), ("c.md", stray)]);
        assert_eq!(
            check_errata(&pages, 2),
            ["c.md:1: there is no erratum 9 (notes-errata.md has 1 to 2)"]
        );
    }

    const MAPPED: &str = "# Chapter\n\n\
        | Python | call | Rust | |\n|---|---|---|---|\n\
        | `import` | — | [L3–4](#the-imports) | same |\n\
        | `bind` | `bind()` | [L9](#bind-it-now), [L2-2](#the-imports) | merged |\n\n\
        ## The imports\n\n```rust\n{{#include ../../examples/a.rs:3:3}}\n```\n\n\
        ### More of them\n\n```rust\n{{#include ../../examples/a.rs:4:4}}\n```\n\n\
        ## Bind it, now!\n\n```rust\n{{#include ../../examples/a.rs:9:9}}\n```\n\n\
        ## Run it\n\nSee [L3](#run-it) and [the imports](#the-imports).\n";

    #[test]
    fn map_links_must_name_their_sections_lines() {
        let errors = check_map_links("a.md", MAPPED);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].starts_with(
                "a.md:6: map link `[L2-2](#the-imports)` \
                                   should read `[L3–4](#the-imports)`"
            ),
            "{errors:?}"
        );
        assert!(
            errors[1].starts_with(
                "a.md:28: map link `[L3](#run-it)`: its \
                                   section shows no fragment"
            ),
            "{errors:?}"
        );
        let moved = MAPPED.replace("a.rs:9:9", "a.rs:9:11");
        let errors = check_map_links("a.md", &moved);
        assert!(
            errors.iter().any(|e| e.contains(
                "`[L9](#bind-it-now)` should read \
                                     `[L9–11](#bind-it-now)`"
            )),
            "{errors:?}"
        );
        let unknown = MAPPED.replace("(#bind-it-now)", "(#bind-it)");
        let errors = check_map_links("a.md", &unknown);
        assert!(
            errors
                .iter()
                .any(|e| e.contains("no section has the id `bind-it`")),
            "{errors:?}"
        );
    }

    #[test]
    fn bless_rewrites_map_links_to_their_sections_lines() {
        let moved = MAPPED.replace("a.rs:9:9", "a.rs:9:11");
        let blessed = bless_map_links(&moved);
        let expected = moved.replace(
            "[L9](#bind-it-now), [L2-2](#the-imports)",
            "[L9–11](#bind-it-now), [L3–4](#the-imports)",
        );
        assert_eq!(blessed, expected, "only the wrong map links change");
        // What is left is the link to a section without fragments.
        assert_eq!(check_map_links("a.md", &blessed).len(), 1);
    }

    #[test]
    fn section_ids_follow_mdbook() {
        let sections = section_ranges(
            "# A `b` c\n\n## Run it\n\n## Run it\n\n## Über-größe: 2048?\n",
        );
        let ids: Vec<&str> = sections.keys().map(String::as_str).collect();
        assert_eq!(ids, ["a-b-c", "run-it", "run-it-1", "über-größe-2048"]);
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
