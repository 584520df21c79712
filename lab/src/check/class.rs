//! `--class DIR`: every file of a folder, each executable one checked by
//! a checker of its own (in a sandbox, see `sandbox.rs`), `--jobs` at a
//! time; one row per file, whatever happened to it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use socket_walkthrough::{OrExit, fail};
use wait_timeout::ChildExt;

use super::process::Capture;
use super::report::{self, Format};
use super::sandbox::{self, Mode};
use super::{Exercise, is_executable};

/// The longest one submission's whole check may take: the slowest
/// exercise takes under a minute even for a program that hangs at every
/// step.
const SUBMISSION_LIMIT: Duration = Duration::from_secs(180);

/// What became of one file of the folder.
struct Row {
    name: String,
    /// The check's report, when there is one.
    report: Option<Value>,
    /// Why there is no report, or a note beside it.
    note: String,
    /// Whether this file counts against the class (a submission that
    /// failed, or did not run); a README does not.
    failed: bool,
}

pub struct Options {
    pub exercise: Exercise,
    pub format: Format,
    pub jobs: usize,
    pub sandbox: bool,
}

pub fn run(options: &Options, folder: &Path) {
    if options.format == Format::Gradescope {
        fail(
            "--format gradescope reports one program: run it on each \
             submission, or use --format csv for a class",
        );
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .or_exit(format_args!("cannot read {}", folder.display()))
        .flatten()
        .map(|entry| entry.path())
        .collect();
    files.sort();
    if files.is_empty() {
        fail(format_args!(
            "{} is empty (each submission is one program)",
            folder.display()
        ));
    }
    let mode = if options.sandbox {
        match Mode::probe() {
            Ok(mode) => Some(mode),
            Err(why) => fail(format_args!(
                "cannot sandbox the submissions here (it needs root or user \
                 namespaces; {why}); run with --no-sandbox to run them \
                 without one"
            )),
        }
    } else {
        None
    };
    let rows = check_all(options, mode, &files);
    let rows: Vec<Row> = rows.into_iter().map(Option::unwrap).collect();
    let names = criterion_names(&rows);
    match options.format {
        Format::Text => report::print(&table(&rows, &names)),
        Format::Json => {
            let submissions: Vec<Value> = rows
                .iter()
                .map(|row| {
                    serde_json::json!({
                        "submission": row.name,
                        "report": row.report,
                        "note": row.note,
                    })
                })
                .collect();
            let value = serde_json::json!({
                "exercise": options.exercise.name(),
                "submissions": submissions,
            });
            report::print(&format!("{value:#}\n"));
        }
        Format::Junit => {
            let suites: Vec<(String, &Value)> = rows
                .iter()
                .filter_map(|row| {
                    Some((row.name.clone(), row.report.as_ref()?))
                })
                .collect();
            report::print(&report::junit(&suites));
        }
        Format::Csv | Format::Gradescope => {
            let table: Vec<(String, Option<&Value>, String)> = rows
                .iter()
                .map(|row| {
                    (row.name.clone(), row.report.as_ref(), row.note.clone())
                })
                .collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            report::print(&report::csv(&names, &table));
        }
    }
    if rows.iter().any(|row| row.failed) {
        std::process::exit(1);
    }
}

/// Checks every file, `jobs` at a time; the rows come back in the order
/// of `files`.
fn check_all(
    options: &Options,
    mode: Option<Mode>,
    files: &[PathBuf],
) -> Vec<Option<Row>> {
    let rows: Mutex<Vec<Option<Row>>> =
        Mutex::new(files.iter().map(|_| None).collect());
    let next = AtomicUsize::new(0);
    thread::scope(|scope| {
        for _ in 0..options.jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(file) = files.get(index) else { break };
                    let row = check_file(options, mode, index, file);
                    rows.lock().unwrap_or_else(PoisonError::into_inner)
                        [index] = Some(row);
                }
            });
        }
    });
    rows.into_inner().unwrap_or_else(PoisonError::into_inner)
}

fn check_file(
    options: &Options,
    mode: Option<Mode>,
    index: usize,
    file: &Path,
) -> Row {
    let name = super::file_name(file);
    let row = |note: &str, failed| Row {
        name: name.clone(),
        report: None,
        note: note.to_string(),
        failed,
    };
    if file.is_dir() {
        return row("a folder, not a program: skipped", false);
    }
    if !is_executable(file) {
        return row("not executable: skipped", false);
    }
    let me = std::env::current_exe()
        .or_exit("cannot find the checker's own program");
    let mut command = match mode {
        Some(mode) => {
            let mut command = mode.command();
            command.arg(me);
            command
        }
        None => Command::new(me),
    };
    command.args(["check", options.exercise.name(), "--format", "json"]);
    // The sandbox's folder: made here, empty, and a tmpfs inside.
    let home = std::env::temp_dir().join(format!(
        "socket-walkthrough-class-{}-{index}",
        std::process::id()
    ));
    if let Some(mode) = mode {
        if let Err(error) = std::fs::create_dir_all(&home) {
            return row(
                &format!("cannot make {}: {error}", home.display()),
                true,
            );
        }
        command.arg("--sandboxed").arg(&home);
        if mode.own_users() {
            // A thousand user ids per class run, picked by its process
            // id: two class runs at once must not share a user, or one's
            // processes count against the other's limit.
            let run = std::process::id() % 1000;
            let uid = sandbox::FIRST_UID + run * 1000 + (index % 1000) as u32;
            command.args(["--uid", &uid.to_string()]);
        }
    } else {
        command.arg("--no-sandbox");
    }
    command.arg("--").arg(absolute(file));
    let mut child = match command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(error) => {
            return row(&format!("the checker did not start: {error}"), true);
        }
    };
    let written = Arc::new(AtomicU64::new(0));
    let stdout = Capture::start(
        child.stdout.take().expect("piped"),
        Arc::clone(&written),
    );
    let stderr = Capture::start(child.stderr.take().expect("piped"), written);
    let status = child.wait_timeout(SUBMISSION_LIMIT).ok().flatten();
    if status.is_none() {
        // Killing `unshare` kills the checker inside (--kill-child), and
        // with it, as process 1, every process of the submission.
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir(&home);
        return row(
            &format!(
                "stopped at the limit of {SUBMISSION_LIMIT:?} for one \
                 submission"
            ),
            true,
        );
    }
    let _ = std::fs::remove_dir(&home);
    let deadline = Instant::now() + Duration::from_secs(2);
    let output = stdout.text_by(deadline);
    let errors = stderr.text_by(deadline);
    let Ok(report) = serde_json::from_str::<Value>(&output) else {
        let why = errors
            .lines()
            .find(|line| !line.trim().is_empty())
            .unwrap_or("no report");
        return row(&format!("the check did not finish: {why}"), true);
    };
    let mut row = row("", false);
    if let Some(error) = report["error"].as_str() {
        row.note = format!("did not start: {error}");
        if mode.is_some_and(Mode::own_users) && error.contains("os error 13") {
            row.note.push_str(
                " (the sandbox runs each submission as a user of its own: \
                 make the folder and the programs readable by all, e.g. \
                 chmod -R a+rX FOLDER, or use --no-sandbox)",
            );
        }
        row.failed = true;
    } else {
        row.failed = report["failed"].as_u64() != Some(0);
    }
    row.report = Some(report);
    row
}

fn absolute(file: &Path) -> PathBuf {
    std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf())
}

/// Every criterion named in any report, in the order of the first report
/// that has them.
fn criterion_names(rows: &[Row]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for report in rows.iter().filter_map(|row| row.report.as_ref()) {
        for criterion in report["criteria"].as_array().into_iter().flatten() {
            let name = criterion["name"].as_str().unwrap_or_default();
            if !names.iter().any(|known| known == name) {
                names.push(name.to_string());
            }
        }
    }
    names
}

/// The text table: one row per file.
fn table(rows: &[Row], _names: &[String]) -> String {
    let width = rows
        .iter()
        .map(|row| row.name.chars().count())
        .max()
        .unwrap_or(0)
        .max("submission".len());
    let mut text =
        format!("{:width$}  passed  failed  failed criteria\n", "submission");
    for row in rows {
        let Some(report) = row.report.as_ref().filter(|r| r["error"].is_null())
        else {
            text.push_str(&format!(
                "{:width$}  {:>6}  {:>6}  ({})\n",
                row.name, "-", "-", row.note
            ));
            continue;
        };
        let failed: Vec<&str> = report["criteria"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["status"] == "fail")
            .filter_map(|c| c["name"].as_str())
            .collect();
        text.push_str(&format!(
            "{:width$}  {:>6}  {:>6}  {}\n",
            row.name,
            report["passed"].as_u64().unwrap_or_default(),
            failed.len(),
            if failed.is_empty() {
                "-".to_string()
            } else {
                failed.join(", ")
            }
        ));
    }
    text
}
