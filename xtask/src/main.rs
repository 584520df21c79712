//! Project automation, run as `cargo xtask <task>` (alias in
//! .cargo/config.toml). Every task a contributor needs is here:
//!
//! - `cargo xtask book`: build the HTML book with mdBook 0.5.4 and check it
//!   (and that its packet diagrams still match fresh captures).
//! - `cargo xtask serve --open`: build, then serve it and open a browser.
//! - `cargo xtask ci`: everything CI runs (fmt, clippy, tests, book, the
//!   book in a browser).
//! - `cargo xtask po`: refresh the Korean catalogue book/po/ko.po.
//! - `cargo xtask bless`: rewrite the book's console transcripts from
//!   real runs after an intended change in the programs' output, the
//!   chapters' map links from the lines their sections show, and the
//!   packet diagrams from fresh captures.

mod book;
mod captures;
mod checks;
mod i18n;
mod serve;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Build, check and serve the book; run what CI runs")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build the book into book/book/ and check it (fails on any mdBook
    /// warning, unresolved include, broken link or uncovered line)
    Book,
    /// Build the book, then serve it over HTTP until Ctrl-C
    Serve {
        /// Port to serve on (0 picks a free one)
        #[arg(long, default_value_t = 3000)]
        port: u16,
        /// Address to serve on; 0.0.0.0 makes it reachable from other hosts
        #[arg(long, default_value = "127.0.0.1")]
        bind: IpAddr,
        /// Open the book in the default web browser
        #[arg(long)]
        open: bool,
        /// Serve this folder as it is instead of building the book (the
        /// tests serve folders of their own)
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Run every check CI runs: fmt, clippy, all tests, the book, and the
    /// browser tests of the book (installs Chromium with apt-get as root)
    Ci,
    /// Refresh the Korean catalogue: extract the English messages into
    /// book/po/messages.pot and merge them into book/po/ko.po (changed
    /// messages keep their old translation, marked fuzzy)
    Po,
    /// Rewrite book/src/output/ from real runs of the examples, the lab
    /// and the checker, record the solution pages' key lines, and rewrite
    /// the chapters' map links
    Bless,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Book => captures::check(&root())
            .and_then(|()| book::build_and_check(&root()))
            .map(|html| {
                println!("book: HTML written to {}", html.display());
            }),
        Task::Serve {
            port,
            bind,
            open,
            dir,
        } => dir
            .map_or_else(|| book::build_and_check(&root()), Ok)
            .and_then(|html| serve::serve(&html, (bind, port).into(), open)),
        Task::Ci => ci(),
        Task::Po => i18n::update_catalogue(&root().join("book"))
            .map(|summary| println!("po: {summary}")),
        // Every test that records a transcript writes it when BLESS is
        // set; the others ignore it.
        Task::Bless => cargo(
            &[
                "test",
                "--package",
                "socket-walkthrough",
                "--package",
                "lab",
                "--tests",
            ],
            &[("BLESS", "1")],
        )
        .and_then(|()| book::bless_book(&root()))
        .and_then(|()| captures::bless(&root())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the parent of xtask/).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

fn ci() -> Result<(), String> {
    cargo(&["fmt", "--all", "--", "--check"], &[])?;
    cargo(
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    // The examples' own #[test]s, the library's unit tests, the
    // end-to-end tests, and xtask's tests of the book checks. The browser
    // tests come last: they need the checked book and a Chromium.
    // What the tests run besides our own programs, installed at once
    // (one apt-get update): tcpdump reads back the trace's pcap files,
    // tests/python_peers.rs runs the textbook's Python programs, and the
    // browser tests drive Chromium.
    ensure_debian_packages(&[
        ("tcpdump", on_path("tcpdump")),
        ("python3", on_path("python3")),
        ("chromium", chromium_installed()),
        // The Korean edition's screenshots need a font with Hangul.
        ("fonts-noto-cjk", Path::new(CJK_FONT).is_file()),
    ])?;
    cargo(&["test", "--workspace", "--exclude", "browser-tests"], &[])?;
    captures::check(&root())?;
    let html = book::build_and_check(&root())?;
    println!("book: built and checked, HTML in {}", html.display());
    cargo(&["test", "-p", "browser-tests"], &[])
}

/// Installs the Debian packages among `packages` (name, whether it is
/// already there) that are missing, with one apt-get run, as root where
/// there is apt-get (a Debian or Ubuntu CI machine); anywhere else the
/// error names them and says how.
fn ensure_debian_packages(packages: &[(&str, bool)]) -> Result<(), String> {
    let missing: Vec<&str> = packages
        .iter()
        .filter(|(_, installed)| !installed)
        .map(|(name, _)| *name)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(" ");
    if !(on_path("apt-get") && is_root()) {
        return Err(format!(
            "the tests need Debian's {list}; install them, e.g. with \
             `sudo apt-get install {list}`, and run again"
        ));
    }
    apt_get(&["update"])?;
    let mut install = vec!["install", "-y", "--no-install-recommends"];
    install.extend(&missing);
    apt_get(&install)
}

/// The font file of Debian's fonts-noto-cjk, which renders Hangul.
const CJK_FONT: &str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc";

/// Where the browser tests look for it, in the same order.
fn chromium_installed() -> bool {
    Path::new("/usr/bin/chromium").is_file() || on_path("chromium")
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| dir.join(program).is_file())
    })
}

/// Whether this process runs as root (`id -u` prints 0); false where
/// there is no `id`.
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}

/// Runs `apt-get <args>` without questions; an error names the command.
fn apt_get(args: &[&str]) -> Result<(), String> {
    println!("xtask: apt-get {}", args.join(" "));
    let status = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map_err(|error| format!("cannot run apt-get: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`apt-get {}` failed ({status})", args.join(" ")))
    }
}

/// Runs `cargo <args>` in the workspace root; an error names the command.
fn cargo(args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    println!("xtask: cargo {}", args.join(" "));
    let status = Command::new(&cargo)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root())
        .status()
        .map_err(|error| format!("cannot run {cargo}: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {}` failed ({status})", args.join(" ")))
    }
}
