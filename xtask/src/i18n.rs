//! The Korean edition (한국어판): the gettext catalogue `book/po/ko.po`,
//! its refresh (`cargo xtask po`), the Korean build under `ko/` of the
//! HTML, and the checks that keep it complete and correct.
//!
//! English stays the source. The messages are what mdbook-i18n-helpers
//! extracts from each chapter, minus code blocks (the Rust listings are
//! the files cargo compiles; console output stays as the programs print
//! it), plus the text of raw HTML blocks and of the diagrams. Two things
//! the stock gettext round trip gets wrong are handled here:
//!
//! - a callout marker (`> [!NOTE]`) would be escaped into the message
//!   and come back as plain text (mdbook-i18n-helpers issue 326), so the
//!   marker is kept out of the messages and put back after translation;
//! - mdBook's search index has no Hangul (mdBook issue 1081), so the
//!   Korean edition gets an index of syllable bigrams (`theme/i18n.js`
//!   searches it).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use mdbook_driver::MDBook;
use mdbook_driver::book::{Book, BookItem, Chapter};
use mdbook_i18n_helpers::{extract_events, extract_messages};
use mdbook_i18n_helpers::{gettext, reconstruct_markdown};
use polib::catalog::Catalog;
use polib::message::{Message, MessageMutView};
use polib::metadata::CatalogMetadata;
use pulldown_cmark::{Event, Parser, Tag, TagEnd};
use scraper::{Html, Selector};
use serde::Deserialize;

use crate::checks;

/// The language of the edition built from `book/po/ko.po`.
pub const KOREAN: &str = "ko";

/// The folder of the catalogues, in the book folder.
const PO_DIR: &str = "po";

/// The file of the Korean edition's settings (the completeness switch).
const EDITIONS: &str = "editions.toml";

/// The preferred terms and their rejected variants.
const TERMS: &str = "terms.toml";

/// The Korean-only glossary page, generated from the terms list.
const GLOSSARY: &str = "glossary.md";

/// The admonition kinds of GitHub's syntax, which mdBook 0.5 renders.
const ADMONITIONS: [&str; 5] =
    ["NOTE", "TIP", "IMPORTANT", "WARNING", "CAUTION"];

/// One message of the English source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub msgid: String,
    /// Where it appears: `src/file.md:LINE`, one per line.
    pub sources: Vec<String>,
    /// A note for the translator (`#.` in the catalogue).
    pub comment: String,
}

#[derive(Deserialize)]
struct Editions {
    ko: Edition,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Edition {
    /// The switch: true once ko.po is complete. From then on a missing,
    /// untranslated or fuzzy message fails the build.
    complete: bool,
}

/// `book/po/terms.toml`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Terms {
    /// The glossary page's title and opening paragraph (Korean).
    pub title: String,
    pub intro: String,
    pub term: Vec<Term>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Term {
    pub en: String,
    pub ko: String,
    /// One line, in Korean.
    pub meaning: String,
    /// The page (and anchor) where the term first matters.
    pub first: String,
    /// Spellings that must not appear in ko.po.
    #[serde(default)]
    pub rejected: Vec<String>,
}

// ---------------------------------------------------------------------
// Extraction

/// The messages of the English book in `book_dir`, in reading order, each
/// msgid once (with every place it appears).
pub fn extract(book_dir: &Path) -> Result<Vec<Entry>, String> {
    let book = MDBook::load(book_dir)
        .map_err(|error| format!("mdBook cannot load the book: {error:#}"))?;
    let src = PathBuf::from("src");
    let mut found: Vec<(String, String, String)> = Vec::new();
    if let Some(title) = &book.config.book.title {
        found.push((title.clone(), "book.toml".into(), String::new()));
    }
    let summary = fs::read_to_string(book_dir.join("src/SUMMARY.md"))
        .map_err(|error| format!("cannot read src/SUMMARY.md: {error}"))?;
    for (line, message) in messages_of(&summary)? {
        found.push((
            strip_links(&message),
            format!("src/SUMMARY.md:{line}"),
            String::new(),
        ));
    }
    for item in book.book.iter() {
        let BookItem::Chapter(chapter) = item else {
            continue;
        };
        let Some(path) = &chapter.path else { continue };
        let file = src.join(path);
        for (line, message) in messages_of(&chapter.content)
            .map_err(|error| format!("{}: {error}", file.display()))?
        {
            found.push((
                message,
                format!("{}:{line}", file.display()),
                String::new(),
            ));
        }
        for (line, block) in html_blocks(&chapter.content) {
            found.push((
                block,
                format!("{}:{line}", file.display()),
                "Raw HTML: translate the text and the values of alt, title \
                 and data-name; keep every tag and other attribute."
                    .into(),
            ));
        }
    }
    for (file, text) in svg_files(&book_dir.join("src/images")) {
        let source = format!("src/images/{file}");
        for label in svg_labels(&text) {
            found.push((
                label.text,
                source.clone(),
                "A label of a diagram: keep it about as short.".into(),
            ));
        }
    }
    Ok(dedup(found))
}

fn dedup(found: Vec<(String, String, String)>) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (msgid, source, comment) in found {
        match index.get(&msgid) {
            Some(&at) => {
                if !entries[at].sources.contains(&source) {
                    entries[at].sources.push(source);
                }
            }
            None => {
                index.insert(msgid.clone(), entries.len());
                entries.push(Entry {
                    msgid,
                    sources: vec![source],
                    comment,
                });
            }
        }
    }
    entries
}

/// The messages of one Markdown text with their line numbers: the crate's
/// extraction, without code blocks and without callout markers.
fn messages_of(markdown: &str) -> Result<Vec<(usize, String)>, String> {
    let marked = hide_admonition_markers(markdown);
    let code = code_lines(&marked);
    let messages = extract_messages(&marked)
        .map_err(|error| format!("cannot extract messages: {error}"))?;
    Ok(messages
        .into_iter()
        .filter(|(line, _)| !code.contains(line))
        .map(|(line, message)| (line, message.message))
        .collect())
}

/// The line numbers (1-based) inside fenced or indented code blocks.
fn code_lines(markdown: &str) -> HashSet<usize> {
    let mut lines = HashSet::new();
    for (event, range) in Parser::new(markdown).into_offset_iter() {
        if let Event::Start(Tag::CodeBlock(_)) = event {
            let first = line_of(markdown, range.start);
            let last = line_of(markdown, range.end.saturating_sub(1));
            lines.extend(first..=last);
        }
    }
    lines
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The text of SUMMARY.md's links without the link (as mdBook shows
/// them in the table of contents).
fn strip_links(message: &str) -> String {
    let events: Vec<_> = extract_events(message, None)
        .into_iter()
        .filter(|(_, event)| {
            !matches!(
                event,
                Event::Start(Tag::Link { .. }) | Event::End(TagEnd::Link)
            )
        })
        .collect();
    reconstruct_markdown(&events, None)
        .map(|(text, _)| text)
        .unwrap_or_else(|_| message.to_string())
}

/// Replaces each callout marker line `> [!NOTE]` with an HTML comment,
/// which the extraction skips, so the marker is in no message and cannot
/// be escaped by the round trip. Keeps the line count.
fn hide_admonition_markers(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    for line in markdown.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let quote_end = body
            .char_indices()
            .take_while(|&(_, c)| c == '>' || c == ' ')
            .last()
            .map_or(0, |(i, c)| i + c.len_utf8());
        let (quote, rest) = body.split_at(quote_end);
        let kind = rest
            .strip_prefix("[!")
            .and_then(|rest| rest.trim_end().strip_suffix(']'))
            .filter(|kind| ADMONITIONS.contains(kind));
        match kind {
            Some(kind) if quote.contains('>') => {
                out.push_str(quote);
                let _ = write!(out, "<!-- admonition:{kind} -->");
                out.push_str(&line[body.len()..]);
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// Puts the markers back after translation. The crate's Markdown writer
/// puts an empty quote line before and after the comment, but the marker
/// must open the quote and be followed by its text: those lines go.
fn restore_admonition_markers(markdown: &str) -> String {
    let blank_quote = |line: &str| {
        line.contains('>')
            && line.chars().all(|c| c == '>' || c.is_whitespace())
    };
    let mut lines: Vec<String> = Vec::new();
    let mut skip_blank = false;
    for line in markdown.split('\n') {
        if skip_blank && blank_quote(line) {
            skip_blank = false;
            continue;
        }
        skip_blank = false;
        let marker = ADMONITIONS.iter().find_map(|kind| {
            let comment = format!("<!-- admonition:{kind} -->");
            line.trim_end()
                .strip_suffix(&comment)
                .filter(|quote| blank_quote(quote))
                .map(|quote| format!("{quote}[!{kind}]"))
        });
        match marker {
            Some(marker) => {
                if lines.last().is_some_and(|last| blank_quote(last)) {
                    lines.pop();
                }
                lines.push(marker);
                skip_blank = true;
            }
            None => lines.push(line.to_string()),
        }
    }
    lines.join("\n")
}

/// The raw HTML blocks of a chapter that hold text a reader sees, with
/// their first line: each is one message, translated whole.
fn html_blocks(markdown: &str) -> Vec<(usize, String)> {
    html_block_ranges(markdown)
        .into_iter()
        .map(|range| {
            (line_of(markdown, range.start), markdown[range].to_string())
        })
        .collect()
}

fn html_block_ranges(markdown: &str) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    for (event, range) in Parser::new(markdown).into_offset_iter() {
        if let Event::Start(Tag::HtmlBlock) = event {
            let block = &markdown[range.clone()];
            // Only top-level blocks: one inside a quote or a list has
            // the markers of its container on every line.
            let top_level = block.lines().all(|line| !line.starts_with('>'));
            if top_level && has_visible_text(block) {
                let end = range.start + block.trim_end().len();
                ranges.push(range.start..end);
            }
        }
    }
    ranges
}

/// Whether HTML shows text: words outside tags and comments, or an
/// attribute that a reader or a screen reader gets.
fn has_visible_text(html: &str) -> bool {
    if ["alt=\"", "title=\"", "data-name=\""]
        .iter()
        .any(|a| html.contains(a))
    {
        return true;
    }
    let mut text = String::new();
    let mut depth = 0;
    for c in html.chars() {
        match c {
            '<' => depth += 1,
            '>' if depth > 0 => depth -= 1,
            _ if depth == 0 => text.push(c),
            _ => {}
        }
    }
    text.chars().any(char::is_alphabetic)
}

/// One translatable text of an SVG: `<title>`, `<desc>`, or a `<text>`
/// that is not code (class `call`, the socket calls) or quoted data.
struct SvgLabel {
    /// Byte range of the text between the tags.
    range: std::ops::Range<usize>,
    text: String,
}

fn svg_labels(svg: &str) -> Vec<SvgLabel> {
    let mut labels = Vec::new();
    for tag in ["title", "desc", "text"] {
        let open = format!("<{tag}");
        let close = format!("</{tag}>");
        let mut from = 0;
        while let Some(at) = svg[from..].find(&open) {
            let start_tag = from + at;
            let Some(tag_end) = svg[start_tag..].find('>') else {
                break;
            };
            let attributes = &svg[start_tag + open.len()..start_tag + tag_end];
            let body_start = start_tag + tag_end + 1;
            let Some(length) = svg[body_start..].find(&close) else {
                break;
            };
            let body = &svg[body_start..body_start + length];
            from = body_start + length + close.len();
            // `<textPath` and the like start with the same letters.
            if !attributes.is_empty()
                && !attributes.starts_with(char::is_whitespace)
            {
                continue;
            }
            // Quoted program data ("hello over tcp\n") stays as sent.
            let data = body.trim_start().starts_with(['"', '&']);
            if attributes.contains("class=\"call\"")
                || data
                || body.contains('<')
                || !body.chars().any(char::is_alphabetic)
            {
                continue;
            }
            labels.push(SvgLabel {
                range: body_start..body_start + length,
                text: body.to_string(),
            });
        }
    }
    labels.sort_by_key(|label| label.range.start);
    labels
}

fn svg_files(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|entry| {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let text = fs::read_to_string(entry.path()).ok()?;
                    name.ends_with(".svg").then_some((name, text))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

// ---------------------------------------------------------------------
// The catalogue: template, merge, status

fn po_path(book_dir: &Path) -> PathBuf {
    book_dir.join(PO_DIR).join(format!("{KOREAN}.po"))
}

fn new_metadata(language: &str) -> CatalogMetadata {
    let mut metadata = CatalogMetadata::new();
    metadata.project_id_version = "socket-walkthrough".into();
    metadata.language = language.into();
    metadata.mime_version = "1.0".into();
    metadata.content_type = "text/plain; charset=UTF-8".into();
    metadata.content_transfer_encoding = "8bit".into();
    metadata
}

fn message(entry: &Entry, msgstr: &str, fuzzy: bool) -> Message {
    let mut message = Message::build_singular()
        .with_source(entry.sources.join(" "))
        .with_comments(entry.comment.clone())
        .with_msgid(entry.msgid.clone())
        .with_msgstr(msgstr.to_string())
        .done();
    if fuzzy {
        message.flags_mut().add_flag("fuzzy");
    }
    message
}

/// The least similarity (Sørensen–Dice over character bigrams) at which
/// an old translation is offered, marked fuzzy, for a changed message.
const FUZZY_SIMILARITY: f64 = 0.7;

/// msgmerge's semantics: every message of `template` in template order; a
/// msgid already in `old` keeps its translation and flags; a new msgid
/// close to an old one that left the template gets that translation,
/// marked fuzzy; messages that left the template are dropped.
pub fn merge(template: &[Entry], old: Option<&Catalog>) -> Catalog {
    let mut catalog = Catalog::new(new_metadata(KOREAN));
    let current: HashSet<&str> =
        template.iter().map(|e| e.msgid.as_str()).collect();
    let retired: Vec<(&str, &str)> = old
        .map(|old| {
            old.messages()
                .filter(|m| !current.contains(m.msgid()) && m.is_translated())
                .filter_map(|m| Some((m.msgid(), m.msgstr().ok()?)))
                .collect()
        })
        .unwrap_or_default();
    for entry in template {
        let kept =
            old.and_then(|old| old.find_message(None, &entry.msgid, None));
        let new = match kept {
            Some(kept) => message(
                entry,
                kept.msgstr().unwrap_or_default(),
                kept.flags().is_fuzzy(),
            ),
            None => {
                let closest = retired
                    .iter()
                    .map(|&(id, text)| {
                        (strsim::sorensen_dice(id, &entry.msgid), text)
                    })
                    .filter(|&(score, _)| score >= FUZZY_SIMILARITY)
                    .max_by(|a, b| a.0.total_cmp(&b.0));
                match closest {
                    Some((_, text)) => message(entry, text, true),
                    None => message(entry, "", false),
                }
            }
        };
        catalog.append_or_update(new);
    }
    catalog
}

/// Writes `catalog` to `path`, keeping the comment lines that opened the
/// file before (the translators' notes on style).
fn write_catalog(
    catalog: &Catalog,
    path: &Path,
    header: &str,
) -> Result<(), String> {
    polib::po_file::write(catalog, path)
        .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    let body = fs::read_to_string(path).unwrap_or_default();
    fs::write(path, format!("{header}{}", body.trim_start_matches('\n')))
        .map_err(|error| format!("cannot write {}: {error}", path.display()))
}

/// The `#` lines at the top of a PO file.
fn header_comment(text: &str) -> String {
    text.lines()
        .take_while(|line| line.starts_with('#'))
        .map(|line| format!("{line}\n"))
        .collect()
}

/// The header fields polib 0.2 requires (it panics without them).
const HEADER_FIELDS: [&str; 9] = [
    "Project-Id-Version",
    "POT-Creation-Date",
    "PO-Revision-Date",
    "Language-Team",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Language",
    "Plural-Forms",
];

fn read_catalog(path: &Path) -> Result<Catalog, String> {
    let text = fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let header: String = text
        .split("\n\n")
        .find(|block| block.contains("msgid \"\""))
        .unwrap_or_default()
        .to_string();
    if let Some(field) = HEADER_FIELDS
        .iter()
        .find(|field| !header.contains(&format!("\"{field}:")))
    {
        return Err(format!(
            "{}: the header (msgid \"\") has no `{field}:` line",
            path.display()
        ));
    }
    polib::po_file::parse(path).map_err(|error| {
        format!("{}: not a valid PO file: {error}", path.display())
    })
}

/// `cargo xtask po`: writes the template `po/messages.pot` and merges it
/// into `po/ko.po` (created if missing). Returns a one-line summary.
pub fn update_catalogue(book_dir: &Path) -> Result<String, String> {
    let template = extract(book_dir)?;
    let po_dir = book_dir.join(PO_DIR);
    fs::create_dir_all(&po_dir).map_err(|error| {
        format!("cannot create {}: {error}", po_dir.display())
    })?;
    let mut pot = Catalog::new(new_metadata(""));
    for entry in &template {
        pot.append_or_update(message(entry, "", false));
    }
    write_catalog(&pot, &po_dir.join("messages.pot"), "")?;
    let path = po_path(book_dir);
    let (old, header) = if path.exists() {
        let text = fs::read_to_string(&path).unwrap_or_default();
        (Some(read_catalog(&path)?), header_comment(&text))
    } else {
        (None, String::new())
    };
    let merged = merge(&template, old.as_ref());
    write_catalog(&merged, &path, &header)?;
    let status = Status::of(&template, &merged);
    Ok(format!(
        "{}: {}",
        relative(book_dir, &path),
        status.summary()
    ))
}

#[derive(Debug, PartialEq, Eq)]
pub enum Problem {
    Missing,
    Untranslated,
    Fuzzy,
}

/// How complete a catalogue is for the current English source.
pub struct Status {
    pub total: usize,
    /// In template order.
    pub problems: Vec<(Problem, Entry)>,
}

impl Status {
    pub fn of(template: &[Entry], catalog: &Catalog) -> Status {
        let problems = template
            .iter()
            .filter_map(|entry| {
                let problem =
                    match catalog.find_message(None, &entry.msgid, None) {
                        None => Problem::Missing,
                        Some(m) if m.flags().is_fuzzy() => Problem::Fuzzy,
                        Some(m) if !m.is_translated() => Problem::Untranslated,
                        Some(_) => return None,
                    };
                Some((problem, entry.clone()))
            })
            .collect();
        Status {
            total: template.len(),
            problems,
        }
    }

    fn count(&self, kind: Problem) -> usize {
        self.problems.iter().filter(|(p, _)| *p == kind).count()
    }

    pub fn summary(&self) -> String {
        format!(
            "{} messages, {} translated, {} untranslated, {} fuzzy, {} missing",
            self.total,
            self.total - self.problems.len(),
            self.count(Problem::Untranslated),
            self.count(Problem::Fuzzy),
            self.count(Problem::Missing),
        )
    }

    /// The error of an incomplete catalogue: the file, the counts, and
    /// the first few messages to do, each with where it comes from.
    pub fn error(&self, po: &str) -> Option<String> {
        let (_, first) = self.problems.first()?;
        let mut text = format!(
            "{po} is incomplete ({}); first untranslated message: {} {}",
            self.summary(),
            first.sources[0],
            shorten(&first.msgid)
        );
        for (problem, entry) in self.problems.iter().take(10) {
            let kind = match problem {
                Problem::Missing => {
                    "missing from the file (run `cargo xtask po`)"
                }
                Problem::Untranslated => "untranslated",
                Problem::Fuzzy => {
                    "fuzzy (check it, then remove the fuzzy flag)"
                }
            };
            let _ = write!(
                text,
                "\n    {}: {kind}: {}",
                entry.sources[0],
                shorten(&entry.msgid)
            );
        }
        Some(text)
    }
}

fn shorten(text: &str) -> String {
    let one_line = text.replace('\n', " ");
    let mut short: String = one_line.chars().take(60).collect();
    if short.len() < one_line.len() {
        short.push('…');
    }
    format!("{short:?}")
}

fn relative(book_dir: &Path, path: &Path) -> String {
    let parent = book_dir.parent().unwrap_or(book_dir);
    path.strip_prefix(parent)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Every rejected variant of the terms list found in a translation.
pub fn check_terms(catalog: &Catalog, terms: &Terms, po: &str) -> Vec<String> {
    let mut errors = Vec::new();
    for message in catalog.messages() {
        let Ok(text) = message.msgstr() else { continue };
        for term in &terms.term {
            for variant in &term.rejected {
                if text.contains(variant.as_str()) {
                    let source = message
                        .source()
                        .split_whitespace()
                        .next()
                        .unwrap_or("?");
                    errors.push(format!(
                        "{po}: {source}: `{variant}` is a rejected variant; \
                         this book writes `{}` ({})",
                        term.ko, term.en
                    ));
                }
            }
        }
    }
    errors
}

/// Every term's `first` names a chapter of the book.
fn check_glossary_links(book_dir: &Path, terms: &Terms) -> Vec<String> {
    terms
        .term
        .iter()
        .filter(|term| {
            let page = term.first.split('#').next().unwrap_or_default();
            !book_dir.join("src").join(page).is_file()
        })
        .map(|term| {
            format!(
                "{PO_DIR}/{TERMS}: `{}`: first = {:?} is not a page of the book",
                term.en, term.first
            )
        })
        .collect()
}

fn read_terms(book_dir: &Path) -> Result<Terms, String> {
    let path = book_dir.join(PO_DIR).join(TERMS);
    let text = fs::read_to_string(&path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    toml::from_str(&text)
        .map_err(|error| format!("{}: {error}", path.display()))
}

fn read_editions(book_dir: &Path) -> Result<Edition, String> {
    let path = book_dir.join(PO_DIR).join(EDITIONS);
    let text = fs::read_to_string(&path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    toml::from_str::<Editions>(&text)
        .map(|editions| editions.ko)
        .map_err(|error| format!("{}: {error}", path.display()))
}

// ---------------------------------------------------------------------
// The Korean build

/// Translates the loaded book in place, before mdBook's preprocessors run
/// (so code blocks are still one `{{#include}}` line, and the text is the
/// text the messages were extracted from), and adds the glossary page.
fn translate(
    book: &mut Book,
    po: &Catalog,
    terms: &Terms,
) -> anyhow::Result<()> {
    let mut catalog = Catalog::new(new_metadata(KOREAN));
    for message in po.messages() {
        if message.is_translated() && !message.flags().is_fuzzy() {
            catalog.append_or_update(
                Message::build_singular()
                    .with_source(message.source().to_string())
                    .with_msgid(message.msgid().to_string())
                    .with_msgstr(
                        message.msgstr().unwrap_or_default().to_string(),
                    )
                    .done(),
            );
        }
    }
    book.for_each_mut(|item| {
        if let BookItem::Chapter(chapter) = item {
            chapter.content = translate_html_blocks(
                &hide_admonition_markers(&chapter.content),
                &catalog,
            );
        }
    });
    gettext::add_stripped_summary_translations(&mut catalog);
    gettext::translate_book(&catalog, book)?;
    let mut titles = HashMap::new();
    book.for_each_mut(|item| {
        if let BookItem::Chapter(chapter) = item {
            chapter.content = restore_admonition_markers(&chapter.content);
            if let Some(path) = &chapter.path {
                titles.insert(path.display().to_string(), chapter.name.clone());
            }
        }
    });
    book.push_item(BookItem::Chapter(Chapter::new(
        &terms.title,
        glossary(terms, &titles),
        GLOSSARY,
        Vec::new(),
    )));
    Ok(())
}

fn translate_html_blocks(markdown: &str, catalog: &Catalog) -> String {
    let mut text = markdown.to_string();
    for range in html_block_ranges(markdown).into_iter().rev() {
        if let Some(found) =
            catalog.find_message(None, &markdown[range.clone()], None)
            && let Ok(msgstr) = found.msgstr()
        {
            text.replace_range(range, msgstr);
        }
    }
    text
}

/// The glossary page in Markdown, from the terms list; `titles` maps a
/// chapter's file to its (translated) title.
pub fn glossary(terms: &Terms, titles: &HashMap<String, String>) -> String {
    let mut page = format!("# {}\n\n{}\n\n", terms.title, terms.intro.trim());
    page.push_str(
        "| English | 이 책의 용어 | 뜻 | 처음 나오는 곳 |\n|---|---|---|---|\n",
    );
    for term in &terms.term {
        let cell = |text: &str| text.replace('|', "\\|");
        let _ = writeln!(
            page,
            "| {} | **{}** | {} | [{}]({}) |",
            cell(&term.en),
            cell(&term.ko),
            cell(&term.meaning),
            titles
                .get(term.first.split('#').next().unwrap_or_default())
                .map_or(term.first.as_str(), String::as_str),
            term.first
        );
    }
    page
}

/// The outcome of the Korean build, for the caller's report.
pub struct Korean {
    pub html_dir: PathBuf,
    pub status: String,
}

/// Builds the Korean edition into `<html_dir>/ko` and checks it, when
/// `book/po/ko.po` exists (`Ok(None)` when not). The English edition
/// must be built into `html_dir` first: its pages are compared.
pub fn build_and_check(
    book_dir: &Path,
    html_dir: &Path,
) -> Result<Option<Korean>, Vec<String>> {
    let po = po_path(book_dir);
    if !po.exists() {
        return Ok(None);
    }
    let po_name = relative(book_dir, &po);
    let one = |error: String| vec![error];
    let catalog = read_catalog(&po).map_err(one)?;
    let terms = read_terms(book_dir).map_err(one)?;
    let edition = read_editions(book_dir).map_err(one)?;
    let template = extract(book_dir).map_err(one)?;
    let status = Status::of(&template, &catalog);
    let mut errors = check_terms(&catalog, &terms, &po_name);
    errors.extend(check_glossary_links(book_dir, &terms));
    if edition.complete
        && let Some(error) = status.error(&po_name)
    {
        errors.push(error);
    }
    let summary = if edition.complete {
        format!("{po_name}: {}", status.summary())
    } else {
        format!(
            "{po_name}: {} (in progress: untranslated text shows in English; \
             set `complete = true` in {PO_DIR}/{EDITIONS} to require all)",
            status.summary()
        )
    };

    let ko_dir = html_dir.join(KOREAN);
    let title = book_title(book_dir, &catalog);
    let built = crate::book::build_with(book_dir, |book| {
        book.config.book.language = Some(KOREAN.into());
        book.config.book.title = title;
        book.config.build.build_dir = PathBuf::from("book").join(KOREAN);
        book.config
            .set("output.html.site-url", format!("/{KOREAN}/"))?;
        translate(&mut book.book, &catalog, &terms)
    });
    match built {
        Ok(dir) if dir == ko_dir => {}
        Ok(dir) => errors.push(format!(
            "the Korean edition went to {}, not {}",
            dir.display(),
            ko_dir.display()
        )),
        Err(error) => {
            errors.push(format!("the Korean edition: {error}"));
            return Err(errors);
        }
    }
    let (anchors, found) = adopt_english_anchors(html_dir, &ko_dir);
    errors.extend(found);
    let catalog = read_catalog(&po).map_err(one)?;
    if let Err(error) = translate_svgs(book_dir, &ko_dir, &catalog) {
        errors.push(error);
    }
    errors.extend(
        checks::check_html(&ko_dir)
            .into_iter()
            .map(|error| format!("{KOREAN}/{error}")),
    );
    errors.extend(compare_callouts(html_dir, &ko_dir));
    if let Err(error) = write_korean_search_index(book_dir, &ko_dir, &anchors) {
        errors.push(error);
    }
    if errors.is_empty() {
        Ok(Some(Korean {
            html_dir: ko_dir,
            status: summary,
        }))
    } else {
        Err(errors)
    }
}

fn book_title(book_dir: &Path, catalog: &Catalog) -> Option<String> {
    let english = MDBook::load(book_dir).ok()?.config.book.title?;
    let korean = catalog
        .find_message(None, &english, None)
        .filter(|m| m.is_translated() && !m.flags().is_fuzzy())
        .and_then(|m| m.msgstr().ok().map(str::to_string));
    Some(korean.unwrap_or(english))
}

/// mdBook makes a heading's id from its text, so a translated heading
/// gets a Korean id and every `page.md#english-anchor` link into it would
/// break. Translation keeps the headings and their order, so the Korean
/// page takes the English page's ids, heading by heading (the language
/// switch keeps the `#anchor` too). A page whose headings do not match
/// the English page's in number is an error.
/// Returns, per page, each changed id (Korean → English) and the errors.
fn adopt_english_anchors(
    english: &Path,
    korean: &Path,
) -> (Anchors, Vec<String>) {
    let mut errors = Vec::new();
    let mut renamed = Anchors::new();
    let headings =
        Selector::parse("h1[id], h2[id], h3[id], h4[id], h5[id], h6[id]")
            .unwrap();
    let ids = |html: &str| -> Vec<String> {
        Html::parse_document(html)
            .select(&headings)
            .filter_map(|h| h.attr("id").map(str::to_string))
            .collect()
    };
    for page in callout_counts(english, Some(korean))
        .into_keys()
        .chain(["print.html".into()])
    {
        let ko_path = korean.join(&page);
        let (Ok(en_html), Ok(mut ko_html)) = (
            fs::read_to_string(english.join(&page)),
            fs::read_to_string(&ko_path),
        ) else {
            continue;
        };
        let (en_ids, ko_ids) = (ids(&en_html), ids(&ko_html));
        // The print page has the glossary after the English pages.
        let comparable = if page == "print.html" {
            ko_ids.len() >= en_ids.len()
        } else {
            ko_ids.len() == en_ids.len()
        };
        if !comparable {
            errors.push(format!(
                "{KOREAN}/{page}: {} headings, the English page has {}",
                ko_ids.len(),
                en_ids.len()
            ));
            continue;
        }
        for (en_id, ko_id) in en_ids.iter().zip(&ko_ids) {
            if en_id != ko_id {
                renamed.insert((page.clone(), ko_id.clone()), en_id.clone());
                let escaped =
                    |id: &str| id.replace('&', "&amp;").replace('"', "&quot;");
                for (from, to) in [
                    (
                        format!("id=\"{}\"", escaped(ko_id)),
                        format!("id=\"{en_id}\""),
                    ),
                    (
                        format!("href=\"#{}\"", escaped(ko_id)),
                        format!("href=\"#{en_id}\""),
                    ),
                ] {
                    ko_html = ko_html.replace(&from, &to);
                }
            }
        }
        if let Err(error) = fs::write(&ko_path, ko_html) {
            errors.push(format!("cannot write {}: {error}", ko_path.display()));
        }
    }
    (renamed, errors)
}

/// (page, Korean id) → English id.
type Anchors = HashMap<(String, String), String>;

/// Writes the diagrams of the Korean edition, their labels translated.
fn translate_svgs(
    book_dir: &Path,
    ko_dir: &Path,
    catalog: &Catalog,
) -> Result<(), String> {
    for (file, svg) in svg_files(&book_dir.join("src/images")) {
        let mut text = svg.clone();
        for label in svg_labels(&svg).into_iter().rev() {
            let translated = catalog
                .find_message(None, &label.text, None)
                .filter(|m| m.is_translated() && !m.flags().is_fuzzy())
                .and_then(|m| m.msgstr().ok());
            if let Some(translated) = translated {
                text.replace_range(label.range, translated);
            }
        }
        let path = ko_dir.join("images").join(&file);
        fs::write(&path, text).map_err(|error| {
            format!("cannot write {}: {error}", path.display())
        })?;
    }
    Ok(())
}

/// The callouts (admonitions) of each page: the English and the Korean
/// edition must have the same number on every page.
pub fn compare_callouts(english: &Path, korean: &Path) -> Vec<String> {
    let mut errors = Vec::new();
    let english_counts = callout_counts(english, Some(korean));
    let korean_counts = callout_counts(korean, None);
    for (page, count) in &english_counts {
        let translated = korean_counts.get(page).copied().unwrap_or(0);
        if translated != *count {
            errors.push(format!(
                "{KOREAN}/{page}: {translated} callout(s), the English page has \
                 {count} (a `> [!NOTE]` marker lost in translation?)"
            ));
        }
    }
    errors
}

/// Number of admonition elements per page (relative path), skipping the
/// folder `skip` and the print page (every page at once).
fn callout_counts(dir: &Path, skip: Option<&Path>) -> BTreeMap<String, usize> {
    let selector = Selector::parse("blockquote.blockquote-tag").unwrap();
    let mut counts = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        let Ok(entries) = fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if Some(path.as_path()) == skip {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if path.extension() == Some("html".as_ref()) {
                let name =
                    path.strip_prefix(dir).unwrap().display().to_string();
                if name == "print.html"
                    || name == "toc.html"
                    || name == "404.html"
                {
                    continue;
                }
                let html = fs::read_to_string(&path).unwrap_or_default();
                let page = Html::parse_document(&html);
                counts.insert(name, page.select(&selector).count());
            }
        }
    }
    counts
}

// ---------------------------------------------------------------------
// Korean search

/// The tokens of a text as the Korean search indexes them: each run of
/// Hangul syllables gives its syllable bigrams (a one-syllable run gives
/// itself), so 소켓 matches 소켓을, 소켓은 and 소켓이; every other run of
/// letters and digits is one lowercase word. `theme/i18n.js` tokenizes
/// the query the same way.
pub fn tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut run: Vec<char> = Vec::new();
    let mut word = String::new();
    let flush_run = |run: &mut Vec<char>, tokens: &mut Vec<String>| {
        if run.len() == 1 {
            tokens.push(run[0].to_string());
        }
        for pair in run.windows(2) {
            tokens.push(pair.iter().collect());
        }
        run.clear();
    };
    let flush_word = |word: &mut String, tokens: &mut Vec<String>| {
        if !word.is_empty() {
            tokens.push(std::mem::take(word));
        }
    };
    for c in text.chars() {
        if is_hangul(c) {
            flush_word(&mut word, &mut tokens);
            run.push(c);
        } else if c.is_alphanumeric() || c == '_' {
            flush_run(&mut run, &mut tokens);
            word.extend(c.to_lowercase());
        } else {
            flush_run(&mut run, &mut tokens);
            flush_word(&mut word, &mut tokens);
        }
    }
    flush_run(&mut run, &mut tokens);
    flush_word(&mut word, &mut tokens);
    tokens
}

fn is_hangul(c: char) -> bool {
    ('\u{AC00}'..='\u{D7A3}').contains(&c)
}

/// Replaces the Korean edition's elasticlunr index (which has no Hangul)
/// with one from [`tokens`]: the same sections, titles, breadcrumbs and
/// texts that mdBook collected, and an inverted index token → sections.
/// `theme/i18n.js` plugs it into mdBook's search box.
fn write_korean_search_index(
    book_dir: &Path,
    ko_dir: &Path,
    anchors: &Anchors,
) -> Result<(), String> {
    let engine_file = book_dir.join("theme/korean-search.js");
    let engine = fs::read_to_string(&engine_file).map_err(|error| {
        format!("cannot read {}: {error}", engine_file.display())
    })?;
    let path = search_index_file(ko_dir)
        .ok_or_else(|| format!("{}: no searchindex*.js", ko_dir.display()))?;
    let script = fs::read_to_string(&path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let mut index = parse_search_index(&script).ok_or_else(|| {
        format!("{}: not mdBook's search index", path.display())
    })?;
    let docs = index["index"]["documentStore"]["docs"].clone();
    let serde_json::Value::Object(docs) = docs else {
        return Err(format!("{}: no documents in the index", path.display()));
    };
    let mut ids: Vec<(usize, serde_json::Value)> = docs
        .into_iter()
        .filter_map(|(id, doc)| Some((id.parse().ok()?, doc)))
        .collect();
    ids.sort_by_key(|(id, _)| *id);
    let mut postings: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut documents = Vec::new();
    for (id, doc) in ids {
        let field =
            |name: &str| doc[name].as_str().unwrap_or_default().to_string();
        let (title, body, breadcrumbs) =
            (field("title"), field("body"), field("breadcrumbs"));
        let mut seen = HashSet::new();
        for token in tokens(&format!("{title} {body}")) {
            if seen.insert(token.clone()) {
                postings.entry(token).or_default().push(id);
            }
        }
        documents.push(serde_json::json!({
            "id": id, "title": title, "body": body, "breadcrumbs": breadcrumbs,
        }));
    }
    // The sections' anchors as the pages now have them (English ids).
    if let Some(urls) = index["doc_urls"].as_array_mut() {
        for url in urls {
            let Some((page, id)) = url.as_str().and_then(|u| u.split_once('#'))
            else {
                continue;
            };
            if let Some(english) =
                anchors.get(&(page.to_string(), id.to_string()))
            {
                *url = format!("{page}#{english}").into();
            }
        }
    }
    index["index"] = serde_json::json!({
        "hangul": true,
        "documents": documents,
        "postings": postings,
    });
    let json =
        serde_json::to_string(&index).map_err(|error| error.to_string())?;
    fs::write(
        &path,
        format!(
            "{engine}\nwindow.search = Object.assign(window.search, {json});\n"
        ),
    )
    .map_err(|error| format!("cannot write {}: {error}", path.display()))
}

pub fn search_index_file(html_dir: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(html_dir)
        .ok()?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with("searchindex") && name.ends_with(".js")
        })
        .collect();
    found.sort();
    found.pop()
}

/// The JSON inside mdBook's `searchindex.js`, which wraps it as
/// `JSON.parse('…')` with `\` and `'` escaped by a backslash.
fn parse_search_index(script: &str) -> Option<serde_json::Value> {
    let start = script.find("JSON.parse('")? + "JSON.parse('".len();
    let end = script.rfind("'));")?;
    let mut json = String::with_capacity(end - start);
    let mut chars = script[start..end].chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            json.push(chars.next()?);
        } else {
            json.push(c);
        }
    }
    serde_json::from_str(&json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hangul_runs_become_bigrams_and_other_words_stay_whole() {
        assert_eq!(
            tokens("소켓을 send_to로!"),
            ["소켓", "켓을", "send_to", "로"]
        );
        assert_eq!(tokens("UDP 소켓"), ["udp", "소켓"]);
    }

    #[test]
    fn callout_markers_leave_the_messages_and_come_back() {
        let text = "Intro.\n\n> [!NOTE]\n> **The notes say** x.\n";
        let messages = messages_of(text).unwrap();
        assert_eq!(
            messages,
            [
                (1, "Intro.".to_string()),
                (4, "**The notes say** x.".to_string())
            ]
        );
        assert_eq!(
            restore_admonition_markers(&hide_admonition_markers(text)),
            text
        );
        // As the crate's writer puts it after translation.
        assert_eq!(
            restore_admonition_markers(
                "A.\n\n > \n > <!-- admonition:NOTE -->\n > \n > **B** c.\n > \n > D."
            ),
            "A.\n\n > [!NOTE]\n > **B** c.\n > \n > D."
        );
    }

    #[test]
    fn code_blocks_are_not_messages() {
        let text = "Para \"one\".\n\n```console\n$ echo \"hi\" // x\n```\n\n\
                    ```rust\n{{#include a.rs}}\n```\n\n    let x = \"y\";\n";
        assert_eq!(
            messages_of(text).unwrap(),
            [(1, "Para \"one\".".to_string())]
        );
    }

    #[test]
    fn diagram_labels_skip_code() {
        let svg = "<svg><title>One exchange</title>\
                   <text class=\"call\" x=\"1\">send_to</text>\
                   <text x=\"2\" font-weight=\"bold\">client</text>\
                   <text class=\"data\">\"HELLO\"</text>\
                   <text>→</text></svg>";
        let labels: Vec<String> =
            svg_labels(svg).into_iter().map(|l| l.text).collect();
        assert_eq!(labels, ["One exchange", "client"]);
    }

    /// A made-up book with a translation in book/po, built in both
    /// editions by the same function `cargo xtask book` calls.
    fn made_up_book(po: &str, complete: bool) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let book = dir.path().join("book");
        fs::create_dir_all(book.join("src")).unwrap();
        fs::create_dir_all(book.join("po")).unwrap();
        fs::write(book.join("book.toml"), "[book]\ntitle = \"T\"\n").unwrap();
        fs::write(book.join("src/SUMMARY.md"), "# S\n\n- [One](one.md)\n")
            .unwrap();
        fs::write(
            book.join("src/one.md"),
            "# One\n\nFirst.\n\nSecond.\n\n> [!NOTE]\n> Third.\n\n\
             ```console\n$ echo \"out\"\n```\n",
        )
        .unwrap();
        fs::write(book.join("po/ko.po"), po).unwrap();
        fs::create_dir_all(book.join("theme")).unwrap();
        fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../book/theme/korean-search.js"),
            book.join("theme/korean-search.js"),
        )
        .unwrap();
        fs::write(
            book.join("po/editions.toml"),
            format!("[ko]\ncomplete = {complete}\n"),
        )
        .unwrap();
        fs::write(
            book.join("po/terms.toml"),
            "title = \"용어집\"\nintro = \"용어\"\n[[term]]\nen = \"handshake\"\n\
             ko = \"핸드셰이크\"\nmeaning = \"m\"\nfirst = \"one.md\"\n\
             rejected = [\"핸드쉐이크\"]\n",
        )
        .unwrap();
        dir
    }

    const HEADER: &str = "msgid \"\"\nmsgstr \"\"\n\"Project-Id-Version: t\\n\"\n\
        \"POT-Creation-Date: \\n\"\n\"PO-Revision-Date: \\n\"\n\"Language-Team: \\n\"\n\
        \"MIME-Version: 1.0\\n\"\n\"Content-Type: text/plain; charset=UTF-8\\n\"\n\
        \"Content-Transfer-Encoding: 8bit\\n\"\n\
        \"Language: ko\\n\"\n\"Plural-Forms: nplurals=1; plural=0;\\n\"\n\n";

    fn entry(msgid: &str, msgstr: &str, fuzzy: bool) -> String {
        let flag = if fuzzy { "#, fuzzy\n" } else { "" };
        format!("{flag}msgid \"{msgid}\"\nmsgstr \"{msgstr}\"\n\n")
    }

    #[test]
    fn an_incomplete_translation_fails_naming_each_message() {
        // "First." is missing, "Second." untranslated, "Third." fuzzy.
        let po = [
            HEADER.to_string(),
            entry("T", "티", false),
            entry("S", "에스", false),
            entry("One", "하나", false),
            entry("Second.", "", false),
            entry("Third.", "셋째.", true),
        ]
        .concat();
        let dir = made_up_book(&po, true);
        let book = dir.path().join("book");
        let template = extract(&book).unwrap();
        let ids: Vec<&str> =
            template.iter().map(|e| e.msgid.as_str()).collect();
        // The console block is no message; the callout marker is in none.
        assert_eq!(ids, ["T", "S", "One", "First.", "Second.", "Third."]);
        let html = crate::book::build_with(&book, |_| Ok(())).unwrap();
        let errors = build_and_check(&book, &html).err().unwrap();
        let error = errors.join("\n");
        assert!(error.contains("book/po/ko.po is incomplete"), "{error}");
        assert!(
            error.contains(
                "first untranslated message: src/one.md:3 \"First.\""
            ),
            "{error}"
        );
        assert!(
            error.contains("src/one.md:3: missing from the file"),
            "{error}"
        );
        assert!(
            error.contains("src/one.md:5: untranslated: \"Second.\""),
            "{error}"
        );
        assert!(error.contains("src/one.md:8: fuzzy"), "{error}");
        // With the switch off the same catalogue builds, English where
        // the translation is missing.
        let dir = made_up_book(&po, false);
        let book = dir.path().join("book");
        let html = crate::book::build_with(&book, |_| Ok(())).unwrap();
        let korean = build_and_check(&book, &html).unwrap().unwrap();
        assert!(
            korean.status.contains("6 messages, 3 translated"),
            "{}",
            korean.status
        );
    }

    #[test]
    fn a_complete_translation_keeps_its_callout_and_rejects_bad_terms() {
        let complete = |third: &str| {
            [
                HEADER.to_string(),
                entry("T", "티", false),
                entry("S", "에스", false),
                entry("One", "하나", false),
                entry("First.", "첫째.", false),
                entry("Second.", "둘째.", false),
                entry("Third.", third, false),
            ]
            .concat()
        };
        let dir = made_up_book(&complete("셋째."), true);
        let book = dir.path().join("book");
        let html = crate::book::build_with(&book, |_| Ok(())).unwrap();
        let korean = build_and_check(&book, &html).unwrap().unwrap();
        let page =
            fs::read_to_string(korean.html_dir.join("one.html")).unwrap();
        assert!(page.contains("<html lang=\"ko\""), "{page}");
        assert!(page.contains("blockquote-tag-note"), "{page}");
        assert!(page.contains("셋째."), "{page}");
        assert!(korean.html_dir.join("glossary.html").is_file());
        // A rejected variant in a translation fails the build.
        let dir = made_up_book(&complete("핸드쉐이크."), true);
        let book = dir.path().join("book");
        let html = crate::book::build_with(&book, |_| Ok(())).unwrap();
        let error = build_and_check(&book, &html).err().unwrap().join("\n");
        assert!(
            error.contains("`핸드쉐이크` is a rejected variant"),
            "{error}"
        );
        assert!(error.contains("this book writes `핸드셰이크`"), "{error}");
    }

    #[test]
    fn a_changed_message_keeps_its_old_translation_marked_fuzzy() {
        let po = [
            HEADER.to_string(),
            entry("One", "하나", false),
            entry("The old second sentence.", "둘째 문장.", false),
        ]
        .concat();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ko.po");
        fs::write(&path, po).unwrap();
        let old = read_catalog(&path).unwrap();
        let template: Vec<Entry> = ["One", "The old second sentence!", "New."]
            .iter()
            .map(|id| Entry {
                msgid: id.to_string(),
                sources: vec!["src/one.md:1".into()],
                comment: String::new(),
            })
            .collect();
        let merged = merge(&template, Some(&old));
        let view: Vec<(&str, &str, bool)> = merged
            .messages()
            .map(|m| (m.msgid(), m.msgstr().unwrap(), m.flags().is_fuzzy()))
            .collect();
        assert_eq!(
            view,
            [
                ("One", "하나", false),
                ("The old second sentence!", "둘째 문장.", true),
                ("New.", "", false),
            ]
        );
    }
}
