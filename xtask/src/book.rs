//! Builds the book with mdBook's own library and fails on anything that
//! would let the book drift from the code.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use mdbook_driver::MDBook;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

use crate::checks;

/// Builds `root/book` into `root/book/book` and checks sources and HTML.
/// Returns the folder with the HTML.
pub fn build_and_check(root: &Path) -> Result<PathBuf, String> {
    build_and_check_book(root, &root.join("book"), checks::ERRATA)
}

/// Same as [`build_and_check`] for any book folder (tests use made-up
/// ones), which must box errata 1 to `errata`.
pub fn build_and_check_book(
    root: &Path,
    book_dir: &Path,
    errata: usize,
) -> Result<PathBuf, String> {
    let src_dir = book_dir.join("src");
    let mut errors = Vec::new();
    let walks = checks::check_sources(root, &src_dir).unwrap_or_else(|found| {
        errors.extend(found);
        Vec::new()
    });
    let chapters = chapters(&src_dir);
    errors.extend(checks::check_errata(&chapters, errata));
    for (name, markdown) in &chapters {
        errors.extend(checks::check_map_links(name, markdown));
    }

    let html_dir = build(book_dir)?;
    errors.extend(checks::check_html(&html_dir));
    for walk in &walks {
        let relative = walk.chapter.strip_prefix(&src_dir).unwrap();
        let page = html_dir.join(relative).with_extension("html");
        let page_html = fs::read_to_string(&page).unwrap_or_default();
        let source = fs::read_to_string(&walk.file).unwrap_or_default();
        if let Err(error) = checks::check_whole_listing(&page_html, &source) {
            errors.push(format!(
                "{}: the whole listing of {}: {error}",
                page.display(),
                walk.file.display()
            ));
        }
    }
    let recorded =
        fs::read_to_string(book_dir.join(KEY_LINES)).unwrap_or_default();
    let current = key_lines(root, &src_dir, &walks);
    if recorded != current {
        errors.push(changed_key_lines(&recorded, &current));
    }
    if errors.is_empty() {
        Ok(html_dir)
    } else {
        Err(format!(
            "the book breaks {} rule(s):\n  {}",
            errors.len(),
            errors.join("\n  ")
        ))
    }
}

/// Where the text of the key-line fragments is recorded, in the book
/// folder.
const KEY_LINES: &str = "key-lines.txt";

/// The text of every fragment on the exercises' solution pages, which
/// show key lines only. The coverage rule cannot notice that a changed
/// solution moved its key lines; comparing this text with the recorded
/// one does, so a solution cannot change without its page being
/// revisited.
fn key_lines(root: &Path, src_dir: &Path, walks: &[checks::Walk]) -> String {
    let mut text = String::new();
    for walk in walks.iter().filter(|walk| !walk.every_line) {
        let source = fs::read_to_string(&walk.file).unwrap_or_default();
        let lines: Vec<&str> = source.lines().collect();
        let page = walk.chapter.strip_prefix(src_dir).unwrap_or(&walk.chapter);
        let file = walk.file.strip_prefix(root).unwrap_or(&walk.file);
        for &(first, last) in &walk.ranges {
            let _ = writeln!(
                text,
                "== {} shows {}:{first}:{last}",
                page.display(),
                file.display()
            );
            for line in &lines[first - 1..last.min(lines.len())] {
                let _ = writeln!(text, "{line}");
            }
        }
    }
    text
}

fn changed_key_lines(recorded: &str, current: &str) -> String {
    let first_difference = recorded
        .lines()
        .zip(current.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| {
            recorded.lines().count().min(current.lines().count())
        });
    let header = current
        .lines()
        .take(first_difference + 1)
        .filter(|line| line.starts_with("== "))
        .last()
        .unwrap_or("(none)");
    format!(
        "the key lines shown on the exercises' solution pages changed \
         (first at `{header}`, line {} of book/{KEY_LINES}): revisit the \
         page, then record them with `cargo xtask bless`",
        first_difference + 1
    )
}

/// Every chapter of the book as (path under `src/`, markdown), in path
/// order.
fn chapters(src_dir: &Path) -> Vec<(String, String)> {
    let mut chapters: Vec<(String, String)> = checks::markdown_files(src_dir)
        .into_iter()
        .map(|path| {
            let name = path.strip_prefix(src_dir).unwrap_or(&path);
            let markdown = fs::read_to_string(&path).unwrap_or_default();
            (name.display().to_string(), markdown)
        })
        .collect();
    chapters.sort();
    chapters
}

/// Rewrites the chapters' map links to the lines their sections show, and
/// writes the current key lines to `book/key-lines.txt` (`cargo xtask
/// bless`).
pub fn bless_book(root: &Path) -> Result<(), String> {
    let book_dir = root.join("book");
    let src_dir = book_dir.join("src");
    for (name, markdown) in chapters(&src_dir) {
        let blessed = checks::bless_map_links(&markdown);
        if blessed != markdown {
            fs::write(src_dir.join(&name), blessed)
                .map_err(|error| format!("cannot write {name}: {error}"))?;
        }
    }
    let walks = checks::check_sources(root, &src_dir)
        .map_err(|found| found.join("\n"))?;
    fs::write(book_dir.join(KEY_LINES), key_lines(root, &src_dir, &walks))
        .map_err(|error| format!("cannot write book/{KEY_LINES}: {error}"))
}

/// Runs mdBook; any warning or error it logs fails the build (mdBook
/// itself exits 0 after, for example, an include of a missing file).
fn build(book_dir: &Path) -> Result<PathBuf, String> {
    let problems = Arc::new(Mutex::new(Vec::new()));
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(false)
                .without_time()
                .with_filter(tracing_subscriber::filter::LevelFilter::WARN),
        )
        .with(Problems(Arc::clone(&problems)));
    let result = tracing::subscriber::with_default(subscriber, || {
        let book = MDBook::load(book_dir)?;
        book.build()?;
        Ok::<_, mdbook_driver::errors::Error>(book.build_dir_for("html"))
    });
    let html_dir =
        result.map_err(|error| format!("mdBook failed: {error:#}"))?;
    let problems = problems.lock().unwrap();
    if !problems.is_empty() {
        return Err(format!(
            "mdBook reported {} problem(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        ));
    }
    Ok(html_dir)
}

/// Records the text of every warning and error event.
struct Problems(Arc<Mutex<Vec<String>>>);

impl<S: Subscriber> Layer<S> for Problems {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        // Levels order by verbosity: WARN and ERROR are the "smallest".
        if *event.metadata().level() <= Level::WARN {
            let mut text = String::new();
            event.record(&mut Message(&mut text));
            self.0.lock().unwrap().push(text);
        }
    }
}

struct Message<'a>(&'a mut String);

impl Visit for Message<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A made-up project with one example and a book that walks it.
    fn project(chapter: &str) -> tempfile::TempDir {
        project_with(chapter, "[output.html.playground]\nrunnable = false\n")
    }

    fn project_with(chapter: &str, config: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("examples")).unwrap();
        fs::create_dir_all(root.join("book/src")).unwrap();
        fs::write(
            root.join("examples/hello.rs"),
            "fn main() {\n    hi();\n}\n",
        )
        .unwrap();
        fs::write(
            root.join("book/book.toml"),
            format!("[book]\ntitle = \"t\"\n{config}"),
        )
        .unwrap();
        fs::write(
            root.join("book/src/SUMMARY.md"),
            "# S\n\n- [Hello](hello.md)\n",
        )
        .unwrap();
        fs::write(root.join("book/src/hello.md"), chapter).unwrap();
        dir
    }

    const GOOD: &str = "# Hello\n\n```rust\n{{#include ../../examples/hello.rs}}\n```\n\n\
                        ```rust\n{{#include ../../examples/hello.rs:1:3}}\n```\n";

    #[test]
    fn a_correct_book_builds_and_passes() {
        let dir = project(GOOD);
        let html =
            build_and_check_book(dir.path(), &dir.path().join("book"), 0)
                .unwrap();
        assert!(html.join("hello.html").exists());
    }

    #[test]
    fn a_missing_include_fails_although_mdbook_exits_zero() {
        let chapter = format!(
            "{GOOD}\n```text\n{{{{#include nothing-here.txt}}}}\n```\n"
        );
        let dir = project(&chapter);
        let error =
            build_and_check_book(dir.path(), &dir.path().join("book"), 0)
                .unwrap_err();
        assert!(error.contains("mdBook reported"), "{error}");
        assert!(error.contains("nothing-here.txt"), "{error}");
    }

    #[test]
    fn an_unwalked_line_fails() {
        let chapter = GOOD.replace("hello.rs:1:3", "hello.rs:1:2");
        let dir = project(&chapter);
        let error =
            build_and_check_book(dir.path(), &dir.path().join("book"), 0)
                .unwrap_err();
        assert!(error.contains("lines 3-3 are not shown"), "{error}");
        assert!(error.contains("has no chapter that walks it"), "{error}");
    }

    #[test]
    fn an_exercise_solution_page_shows_key_lines_only() {
        let dir = project(GOOD);
        let root = dir.path();
        fs::write(
            root.join("examples/solution.rs"),
            "fn main() {\n    a();\n    b();\n}\n",
        )
        .unwrap();
        fs::create_dir_all(root.join("book/src/exercises")).unwrap();
        fs::write(
            root.join("book/src/exercises/solution.md"),
            "# S\n\n```rust\n{{#include ../../../examples/solution.rs}}\n```\n\n\
             ```rust\n{{#include ../../../examples/solution.rs:3:3}}\n```\n",
        )
        .unwrap();
        fs::write(
            root.join("book/src/SUMMARY.md"),
            "# S\n\n- [Hello](hello.md)\n- [Solution](exercises/solution.md)\n",
        )
        .unwrap();
        // Key lines must be recorded; then the page passes.
        let error =
            build_and_check_book(root, &root.join("book"), 0).unwrap_err();
        assert!(error.contains("key lines shown"), "{error}");
        bless_book(root).unwrap();
        let recorded =
            fs::read_to_string(root.join("book/key-lines.txt")).unwrap();
        assert_eq!(
            recorded,
            "== exercises/solution.md shows examples/solution.rs:3:3\n    b();\n"
        );
        build_and_check_book(root, &root.join("book"), 0).unwrap();
        // A changed solution moves its key lines: the page must be
        // revisited, although the fragment is still in order.
        fs::write(
            root.join("examples/solution.rs"),
            "fn main() {\n    a();\n    c();\n    b();\n}\n",
        )
        .unwrap();
        let error =
            build_and_check_book(root, &root.join("book"), 0).unwrap_err();
        assert!(error.contains("key lines shown"), "{error}");
        assert!(error.contains("exercises/solution.md shows"), "{error}");
        // The same page outside exercises/ must walk every line.
        fs::remove_file(root.join("book/src/exercises/solution.md")).unwrap();
        fs::write(
            root.join("book/src/solution.md"),
            "# S\n\n```rust\n{{#include ../../examples/solution.rs}}\n```\n\n\
             ```rust\n{{#include ../../examples/solution.rs:3:3}}\n```\n",
        )
        .unwrap();
        fs::write(
            root.join("book/src/SUMMARY.md"),
            "# S\n\n- [Hello](hello.md)\n- [Solution](solution.md)\n",
        )
        .unwrap();
        let error =
            build_and_check_book(root, &root.join("book"), 0).unwrap_err();
        assert!(error.contains("lines 1-2 are not shown"), "{error}");
    }

    #[test]
    fn an_example_missing_from_the_book_fails() {
        let dir = project(GOOD);
        fs::write(dir.path().join("examples/extra.rs"), "fn main() {}\n")
            .unwrap();
        let error =
            build_and_check_book(dir.path(), &dir.path().join("book"), 0)
                .unwrap_err();
        assert!(
            error.contains("extra.rs is not shown whole in any chapter"),
            "{error}"
        );
    }

    #[test]
    fn a_run_button_fails() {
        let dir = project_with(GOOD, "");
        let error =
            build_and_check_book(dir.path(), &dir.path().join("book"), 0)
                .unwrap_err();
        assert!(
            error.contains("hello.html: a code block has a playground button"),
            "{error}"
        );
    }

    #[test]
    fn errata_boxes_and_map_links_are_checked_and_bless_fixes_the_map() {
        let chapter = format!(
            "{GOOD}\n## Call hi\n\n[L1](#call-hi) shows it.\n\n\
             ```rust\n{{{{#include ../../examples/hello.rs:2:3}}}}\n```\n"
        )
        .replace("hello.rs:1:3", "hello.rs:1:1");
        let dir = project(&chapter);
        let (root, book) = (dir.path(), dir.path().join("book"));
        let error = build_and_check_book(root, &book, 1).unwrap_err();
        assert!(error.contains("erratum 1 has no box"), "{error}");
        assert!(
            error.contains("`[L1](#call-hi)` should read `[L2–3](#call-hi)`"),
            "{error}"
        );
        bless_book(root).unwrap();
        let boxed = "\n<a id=\"erratum-1\"></a>\n\n> [!NOTE]\n\
                     > **The notes say** a. **In fact** b.\n";
        let blessed = fs::read_to_string(book.join("src/hello.md")).unwrap();
        assert!(blessed.contains("[L2–3](#call-hi) shows it."), "{blessed}");
        fs::write(book.join("src/hello.md"), blessed + boxed).unwrap();
        build_and_check_book(root, &book, 1).unwrap();
    }

    #[test]
    fn a_broken_anchor_fails() {
        let chapter =
            format!("{GOOD}\nSee [there](hello.md#no-such-heading).\n");
        let dir = project(&chapter);
        let error =
            build_and_check_book(dir.path(), &dir.path().join("book"), 0)
                .unwrap_err();
        assert!(error.contains("no such anchor"), "{error}");
    }
}
