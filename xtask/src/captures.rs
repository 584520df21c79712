//! The book's packet diagrams are drawn from real captures, and the book
//! build checks that they still show what the programs put on the wire.
//!
//! `cargo xtask bless` runs `lab trace` for each exchange and writes the
//! diagram (`book/src/images/NAME.svg`), the capture
//! (`book/src/captures/NAME.pcap`), its packet sequence
//! (`book/src/captures/NAME.seq`: direction, protocol, flags, payload
//! length) and the printed trace (`book/src/output/trace_*.txt`).
//! `cargo xtask book` captures each exchange afresh and fails when its
//! sequence differs from the committed one.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The exchanges the book shows: `lab trace` name, file name.
const EXCHANGES: [(&str, &str); 4] = [
    ("udp", "udp-exchange"),
    ("tcp", "tcp-exchange"),
    ("tcp-unread", "tcp-unread"),
    ("udp-absent", "udp-absent"),
];

/// How many runs bless takes, keeping the most frequent sequence: some
/// runs differ by timing alone (on loopback the client closes first in
/// one TCP exchange of ten, or more on a busy machine).
const RUNS: usize = 5;

/// How many fresh captures the check may take before one matches the
/// committed, most frequent, sequence.
const ATTEMPTS: usize = 10;

/// The diagram of exchange `name`, in the book's source folder `src`.
fn image_file(src: &Path, name: &str) -> PathBuf {
    src.join("images").join(format!("{name}.svg"))
}

/// The printed trace of `exchange`, as the book includes it.
fn output_file(src: &Path, exchange: &str) -> PathBuf {
    src.join("output")
        .join(format!("trace_{}.txt", exchange.replace('-', "_")))
}

fn capture_file(src: &Path, name: &str, extension: &str) -> PathBuf {
    src.join("captures").join(format!("{name}.{extension}"))
}

/// Rewrites every diagram, capture, sequence and printed trace from
/// fresh runs; of `RUNS` runs, keeps one with the most frequent
/// sequence.
pub fn bless(root: &Path) -> Result<(), String> {
    let lab = Lab::find(root)?;
    let src = root.join("book/src");
    let src = src.as_path();
    fs::create_dir_all(src.join("captures"))
        .map_err(|error| format!("cannot create book/src/captures: {error}"))?;
    for (exchange, name) in EXCHANGES {
        let scratch = std::env::temp_dir().join(format!("xtask-{name}"));
        let mut runs = Vec::new();
        for attempt in 0..RUNS {
            let files = scratch.join(attempt.to_string());
            fs::create_dir_all(&files).map_err(|error| error.to_string())?;
            let stdout = lab.trace(exchange, &files)?;
            let sequence = read(&files.join("sequence"))?;
            runs.push((sequence, stdout, files));
        }
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for (sequence, _, _) in &runs {
            *counts.entry(sequence.as_str()).or_default() += 1;
        }
        let (sequence, stdout, files) = runs
            .iter()
            .max_by_key(|(sequence, _, _)| counts[sequence.as_str()])
            .expect("at least one run");
        copy(&files.join("svg"), &image_file(src, name))?;
        copy(&files.join("pcap"), &capture_file(src, name, "pcap"))?;
        write(&capture_file(src, name, "seq"), sequence)?;
        let shown = format!("$ cargo lab trace {exchange}\n{stdout}");
        write(&output_file(src, exchange), &shown)?;
        println!(
            "bless: {name}: {} packets ({} of {RUNS} runs alike)",
            sequence.lines().count(),
            counts[sequence.as_str()]
        );
        let _ = fs::remove_dir_all(&scratch);
    }
    Ok(())
}

/// The drift check of the book build: each committed sequence must come
/// out of a fresh capture again. Where this machine can capture neither
/// as root nor in a user namespace, says it skipped.
pub fn check(root: &Path) -> Result<(), String> {
    check_book(&Lab::find(root)?, &root.join("book/src"))
}

/// [`check`] of the book whose source folder is `src`.
fn check_book(lab: &Lab, src: &Path) -> Result<(), String> {
    if !lab.can_capture() {
        println!(
            "book: skipped the packet drift check: capturing needs \
             CAP_NET_RAW or user namespaces (CI runs it as root)"
        );
        return Ok(());
    }
    let mut errors = Vec::new();
    for (exchange, name) in EXCHANGES {
        let path = capture_file(src, name, "seq");
        let committed = read(&path)?;
        for file in [
            image_file(src, name),
            capture_file(src, name, "pcap"),
            output_file(src, exchange),
        ] {
            if !file.is_file() {
                errors.push(format!(
                    "{} is missing: run `cargo xtask bless`",
                    file.display()
                ));
            }
        }
        let scratch = std::env::temp_dir().join(format!("xtask-check-{name}"));
        fs::create_dir_all(&scratch).map_err(|error| error.to_string())?;
        let mut last = String::new();
        let mut drawn = String::new();
        for _ in 0..ATTEMPTS {
            lab.trace(exchange, &scratch)?;
            last = read(&scratch.join("sequence"))?;
            if last == committed {
                drawn = read(&scratch.join("svg"))?;
                break;
            }
        }
        let _ = fs::remove_dir_all(&scratch);
        if last != committed {
            errors.push(format!(
                "{}: {ATTEMPTS} fresh captures of `lab trace {exchange}` put \
                 other packets on the wire than the book's diagram shows \
                 ({}); if the change is intended, run `cargo xtask bless` \
                 and revisit the diagrams and the chapters that explain them",
                path.display(),
                first_difference(&committed, &last)
            ));
            continue;
        }
        // The same packets, drawn today: the diagram has no times or
        // ports, so it differs only where it names other lines of the
        // examples than they have now.
        let image = image_file(src, name);
        if image.is_file() && read(&image)? != drawn {
            errors.push(format!(
                "{}: the diagram names other lines of the examples than a \
                 fresh capture does (they moved?): run `cargo xtask bless`",
                image.display()
            ));
        }
    }
    if errors.is_empty() {
        println!("book: the packet diagrams match fresh captures");
        Ok(())
    } else {
        Err(format!(
            "the packet drift check failed:\n  {}",
            errors.join("\n  ")
        ))
    }
}

fn first_difference(committed: &str, fresh: &str) -> String {
    let committed: Vec<&str> = committed.lines().collect();
    let fresh: Vec<&str> = fresh.lines().collect();
    let index = committed
        .iter()
        .zip(&fresh)
        .position(|(a, b)| a != b)
        .unwrap_or(committed.len().min(fresh.len()));
    format!(
        "packet {}: committed `{}`, captured `{}`",
        index + 1,
        committed.get(index).unwrap_or(&"(none)"),
        fresh.get(index).unwrap_or(&"(none)")
    )
}

/// The lab binary, run directly as root or else in a private network
/// namespace (`unshare --user --map-root-user --net`), where it may
/// capture too.
struct Lab {
    program: PathBuf,
    namespace: bool,
}

impl Lab {
    fn find(root: &Path) -> Result<Lab, String> {
        // The lab and the examples it runs, built once here: the lab
        // then runs without CARGO in its environment, so it does not
        // call cargo again for every capture.
        crate::cargo(&["build", "--quiet", "--package", "lab"], &[])?;
        crate::cargo(
            &[
                "build",
                "--quiet",
                "--package",
                "socket-walkthrough",
                "--examples",
            ],
            &[],
        )?;
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let program = target.join("debug/lab");
        let namespace = !crate::is_root();
        Ok(Lab { program, namespace })
    }

    fn command(&self) -> Command {
        let mut command = if self.namespace {
            let mut command = Command::new("unshare");
            command
                .args(["--user", "--map-root-user", "--net"])
                .arg(&self.program);
            command
        } else {
            Command::new(&self.program)
        };
        command.env_remove("CARGO");
        command
    }

    fn can_capture(&self) -> bool {
        !self.namespace
            || Command::new("unshare")
                .args(["--user", "--map-root-user", "--net", "true"])
                .output()
                .is_ok_and(|output| output.status.success())
    }

    /// Runs `lab trace EXCHANGE` writing `pcap`, `svg` and `sequence` in
    /// `files`; returns what it printed, without the namespace's note.
    fn trace(&self, exchange: &str, files: &Path) -> Result<String, String> {
        let output = self
            .command()
            .args(["trace", exchange])
            .arg("--pcap")
            .arg(files.join("pcap"))
            .arg("--svg")
            .arg(files.join("svg"))
            .arg("--sequence")
            .arg(files.join("sequence"))
            .output()
            .map_err(|error| format!("cannot run lab trace: {error}"))?;
        check_output(exchange, &output)?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        Ok(stdout
            .lines()
            .filter(|line| !line.starts_with("(lo was down"))
            .map(|line| format!("{line}\n"))
            .collect())
    }
}

fn check_output(exchange: &str, output: &Output) -> Result<(), String> {
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`lab trace {exchange}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text)
        .map_err(|error| format!("cannot write {}: {error}", path.display()))
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    fs::copy(from, to).map(drop).map_err(|error| {
        format!(
            "cannot copy {} to {}: {error}",
            from.display(),
            to.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copy of the book's committed captures in a scratch folder.
    fn committed_captures() -> (tempfile::TempDir, PathBuf) {
        let root = crate::root();
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        for folder in ["captures", "images", "output"] {
            fs::create_dir_all(src.join(folder)).unwrap();
        }
        for (exchange, name) in EXCHANGES {
            let book = root.join("book/src");
            for (from, to) in [
                (image_file(&book, name), image_file(&src, name)),
                (
                    capture_file(&book, name, "pcap"),
                    capture_file(&src, name, "pcap"),
                ),
                (
                    capture_file(&book, name, "seq"),
                    capture_file(&src, name, "seq"),
                ),
                (output_file(&book, exchange), output_file(&src, exchange)),
            ] {
                fs::copy(&from, &to).unwrap();
            }
        }
        (dir, src)
    }

    #[test]
    fn a_capture_that_differs_from_the_diagram_fails_the_book() {
        let lab = Lab::find(&crate::root()).unwrap();
        if !lab.can_capture() {
            println!("skipped: no CAP_NET_RAW and no user namespaces");
            return;
        }
        let (_dir, src) = committed_captures();
        check_book(&lab, &src).unwrap();
        // As if the server sent its reply in two segments.
        let sequence = capture_file(&src, "tcp-exchange", "seq");
        let text = fs::read_to_string(&sequence).unwrap().replacen(
            "server>client TCP PSH,ACK len=15",
            "server>client TCP PSH,ACK len=7\nserver>client TCP PSH,ACK len=8",
            1,
        );
        fs::write(&sequence, text).unwrap();
        fs::remove_file(image_file(&src, "udp-absent")).unwrap();
        // As if tcp_server's write_all had moved since the last bless.
        let image = image_file(&src, "tcp-unread");
        let drawn = fs::read_to_string(&image).unwrap();
        let moved = drawn
            .replace("write_all (tcp_server.rs:", "write_all (tcp_server.rs:1");
        assert_ne!(drawn, moved);
        fs::write(&image, moved).unwrap();
        let error = check_book(&lab, &src).unwrap_err();
        assert!(
            error.contains("tcp-exchange.seq: 10 fresh captures"),
            "{error}"
        );
        assert!(
            error.contains(
                "packet 6: committed `server>client TCP PSH,ACK len=7`"
            ),
            "{error}"
        );
        assert!(error.contains("udp-absent.svg is missing"), "{error}");
        assert!(
            error.contains("tcp-unread.svg: the diagram names other lines"),
            "{error}"
        );
        assert!(!error.contains("udp-exchange"), "{error}");
    }
}
