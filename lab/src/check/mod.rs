//! `check`: runs a student's program against real scenarios on loopback
//! and prints one line per criterion.
//!
//!     cargo lab check pinger -- ./target/debug/examples/my_pinger
//!     cargo lab check pinger --class submissions/
//!
//! Each exercise module builds its scenarios from the tools here: start
//! the student's program (as a client with the checker's servers, or as a
//! server on port 0), bound every wait, kill what hangs, and turn what
//! happened into a [`Criterion`] that passed or failed with what was
//! expected, what came, and a hint.

mod concurrent;
mod family;
mod framing;
mod pinger;
mod retry;
mod web;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use clap::ValueEnum;
use socket_walkthrough::{OrExit, fail};
use wait_timeout::ChildExt;

/// Check a program against an exercise's criteria.
#[derive(clap::Args)]
pub struct Args {
    /// Which exercise to check
    exercise: Exercise,
    /// Check every executable file in this folder (a class's submissions)
    /// and print a table instead of the criteria of one program
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    class: Option<PathBuf>,
    /// The command that runs the program to check, after `--`
    #[arg(
        last = true,
        value_name = "COMMAND",
        required_unless_present = "class"
    )]
    command: Vec<String>,
}

/// The exercises of the book's "Exercises" part.
#[derive(Clone, Copy, ValueEnum)]
pub enum Exercise {
    /// 1. UDP pinger: ten pings, RTTs, timeouts, statistics
    Pinger,
    /// 2. Timeouts and retries without stale replies
    Retry,
    /// 3. A TCP server that serves clients concurrently
    Concurrent,
    /// 4. Whole lines over one TCP connection
    Framing,
    /// 5. A client that reaches a server over IPv4 or IPv6
    Family,
    /// 6. A minimal web server
    Web,
}

impl Exercise {
    fn criteria(self, student: &Student) -> Vec<Criterion> {
        match self {
            Exercise::Pinger => pinger::check(student),
            Exercise::Retry => retry::check(student),
            Exercise::Concurrent => concurrent::check(student),
            Exercise::Framing => framing::check(student),
            Exercise::Family => family::check(student),
            Exercise::Web => web::check(student),
        }
    }
}

pub fn run(args: Args) {
    match &args.class {
        Some(folder) => check_class(args.exercise, folder),
        None => {
            let student = Student::new(&args.command);
            let criteria = args.exercise.criteria(&student);
            let failed = report(&criteria);
            if failed > 0 {
                std::process::exit(1);
            }
        }
    }
}

/// Prints one line per criterion and a closing count; returns how many
/// failed.
fn report(criteria: &[Criterion]) -> usize {
    for criterion in criteria {
        println!("{criterion}");
    }
    let failed = criteria.iter().filter(|c| c.failure.is_some()).count();
    let skipped = criteria.iter().filter(|c| c.skipped.is_some()).count();
    let passed = criteria.len() - failed - skipped;
    if skipped > 0 {
        println!("{passed} passed, {failed} failed, {skipped} skipped");
    } else {
        println!("{passed} passed, {failed} failed");
    }
    failed
}

/// Checks every executable file in `folder` and prints a table.
fn check_class(exercise: Exercise, folder: &Path) {
    let mut submissions: Vec<PathBuf> = std::fs::read_dir(folder)
        .or_exit(format_args!("cannot read {}", folder.display()))
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| is_executable(path))
        .collect();
    submissions.sort();
    if submissions.is_empty() {
        fail(format_args!(
            "no executable files in {} (each submission is one program)",
            folder.display()
        ));
    }
    let name_width = submissions
        .iter()
        .map(|path| file_name(path).len())
        .max()
        .unwrap_or(0)
        .max("submission".len());
    println!(
        "{:name_width$}  passed  failed  failed criteria",
        "submission"
    );
    let mut all_passed = true;
    for path in &submissions {
        let command = vec![path.display().to_string()];
        let criteria = exercise.criteria(&Student::new(&command));
        let failed: Vec<&str> = criteria
            .iter()
            .filter(|c| c.failure.is_some())
            .map(|c| c.name)
            .collect();
        all_passed &= failed.is_empty();
        println!(
            "{:name_width$}  {:>6}  {:>6}  {}",
            file_name(path),
            criteria
                .iter()
                .filter(|c| c.failure.is_none() && c.skipped.is_none())
                .count(),
            failed.len(),
            if failed.is_empty() {
                "-".to_string()
            } else {
                failed.join(", ")
            }
        );
    }
    if !all_passed {
        std::process::exit(1);
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into())
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "exe")
}

/// One thing the program must do, and whether it did.
pub struct Criterion {
    pub name: &'static str,
    pub failure: Option<Failure>,
    /// Why the criterion could not be checked on this machine; a skipped
    /// criterion neither passes nor fails.
    pub skipped: Option<String>,
}

/// What went wrong with a criterion, said so a student can act on it.
pub struct Failure {
    pub expected: String,
    pub got: String,
    pub hint: String,
}

impl Criterion {
    pub fn pass(name: &'static str) -> Criterion {
        Criterion {
            name,
            failure: None,
            skipped: None,
        }
    }

    /// A criterion this machine cannot check, and why.
    pub fn skip(name: &'static str, reason: impl Into<String>) -> Criterion {
        Criterion {
            name,
            failure: None,
            skipped: Some(reason.into()),
        }
    }

    pub fn fail(
        name: &'static str,
        expected: impl Into<String>,
        got: impl Into<String>,
        hint: impl Into<String>,
    ) -> Criterion {
        let failure = Failure {
            expected: expected.into(),
            got: got.into(),
            hint: hint.into(),
        };
        Criterion {
            name,
            failure: Some(failure),
            skipped: None,
        }
    }

    /// Every criterion in `names` skipped for one reason: the checker
    /// could not set up what they all need.
    pub fn skip_all(names: &[&'static str], reason: &str) -> Vec<Criterion> {
        names
            .iter()
            .map(|name| Criterion::skip(name, reason))
            .collect()
    }

    /// Passes when `result` is `Ok`; an `Err` carries the failure.
    pub fn from(name: &'static str, result: Result<(), Failure>) -> Criterion {
        Criterion {
            name,
            failure: result.err(),
            skipped: None,
        }
    }
}

impl Failure {
    pub fn new(
        expected: impl Into<String>,
        got: impl Into<String>,
        hint: impl Into<String>,
    ) -> Failure {
        Failure {
            expected: expected.into(),
            got: got.into(),
            hint: hint.into(),
        }
    }
}

impl std::fmt::Display for Criterion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(reason) = &self.skipped {
            return write!(f, "SKIP {}: {}", self.name, one_line(reason));
        }
        match &self.failure {
            None => write!(f, "PASS {}", self.name),
            Some(failure) => write!(
                f,
                "FAIL {}: expected {}; got {}. Hint: {}",
                self.name,
                one_line(&failure.expected),
                one_line(&failure.got),
                one_line(&failure.hint)
            ),
        }
    }
}

/// Shows text on one line, shortened: program output can be long.
pub fn one_line(text: &str) -> String {
    let mut line = text.trim_end().replace('\n', "⏎");
    if line.chars().count() > 160 {
        line = line.chars().take(157).collect::<String>() + "...";
    }
    line
}

/// The student's program: a command and its arguments.
pub struct Student {
    program: String,
    args: Vec<String>,
}

impl Student {
    pub fn new(command: &[String]) -> Student {
        let (program, args) = command.split_first().unwrap_or_else(|| {
            fail("give the command that runs the program after `--`")
        });
        Student {
            program: program.clone(),
            args: args.to_vec(),
        }
    }

    /// How the program is shown in messages: its command line.
    pub fn shown(&self, extra: &[&str]) -> String {
        let mut words = vec![self.program.as_str()];
        words.extend(self.args.iter().map(String::as_str));
        words.extend(extra);
        words.join(" ")
    }

    fn command(&self, extra: &[&str]) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.args).args(extra);
        // A submission may be a script that starts the real program: put
        // both in a process group of their own, so that stopping the
        // submission stops all of it (see `stop_all`).
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        command
    }

    /// Runs the program to its end with `extra` arguments and `stdin`;
    /// kills it after `limit`.
    pub fn run(
        &self,
        extra: &[&str],
        stdin: &[u8],
        limit: Duration,
    ) -> Finished {
        self.run_watched(extra, stdin, limit, || false)
    }

    /// Like [`Student::run`], but also kills the program as soon as
    /// `stuck()` returns true (it is asked every few milliseconds): a
    /// scenario that can tell that the program hangs need not wait for
    /// the whole limit. The run then counts as killed after the time it
    /// ran.
    pub fn run_watched(
        &self,
        extra: &[&str],
        stdin: &[u8],
        limit: Duration,
        stuck: impl FnMut() -> bool,
    ) -> Finished {
        let mut child = match self
            .command(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(child) => child,
            Err(error) => {
                return Finished::not_started(error);
            }
        };
        let mut input = child.stdin.take().expect("stdin is piped");
        let stdin = stdin.to_vec();
        let writer = thread::spawn(move || {
            let _ = input.write_all(&stdin);
        });
        let stdout = collect(child.stdout.take().expect("stdout is piped"));
        let stderr = collect(child.stderr.take().expect("stderr is piped"));
        let (status, limit) = wait_watched(&mut child, limit, stuck);
        let _ = writer.join();
        Finished {
            status,
            stdout: stdout.join().unwrap_or_default(),
            stderr: stderr.join().unwrap_or_default(),
            limit,
        }
    }

    /// Starts the program as a server with `extra` arguments and waits (up
    /// to `limit`) for its first line, which must end with the address it
    /// listens on (e.g. `... ready on 127.0.0.1:40123`).
    pub fn start_server(
        &self,
        extra: &[&str],
        limit: Duration,
    ) -> Result<RunningServer, Failure> {
        let shown = self.shown(extra);
        let mut child = self
            .command(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| {
                Failure::new(
                    "the program to start",
                    format!("`{shown}`: {error}"),
                    "check the command after `--`",
                )
            })?;
        let lines = forward_lines(child.stdout.take().expect("piped"));
        let stderr = collect(child.stderr.take().expect("piped"));
        let mut server = RunningServer {
            shown,
            child,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            lines,
            stderr: Some(stderr),
        };
        let first = server.lines.recv_timeout(limit).map_err(|error| {
            // A closed stdout means the program is exiting: give it a
            // moment, so that its status and stderr can be shown.
            let status = match error {
                mpsc::RecvTimeoutError::Disconnected => server
                    .child
                    .wait_timeout(Duration::from_secs(1))
                    .ok()
                    .flatten(),
                mpsc::RecvTimeoutError::Timeout => {
                    server.child.try_wait().ok().flatten()
                }
            };
            // Its last words say why, e.g. an unknown flag.
            let stderr = match status {
                Some(_) => server
                    .stderr
                    .take()
                    .and_then(|h| h.join().ok())
                    .unwrap_or_default(),
                None => String::new(),
            };
            Failure::new(
                format!("a first line ending in the address, within {limit:?}"),
                match status {
                    Some(status) if !stderr.trim().is_empty() => format!(
                        "the server exited ({status}), stderr: {:?}",
                        stderr.trim_end()
                    ),
                    Some(status) => format!("the server exited ({status})"),
                    None => "no line".to_string(),
                },
                "print a ready line such as `ready on 127.0.0.1:40123` \
                 after binding (use the address from local_addr)",
            )
        })?;
        let address = first
            .split_whitespace()
            .last()
            .and_then(|word| word.parse::<SocketAddr>().ok())
            .ok_or_else(|| {
                Failure::new(
                    "a first line ending in the bound address",
                    format!("{first:?}"),
                    "end the first line with local_addr(), e.g. \
                     `The server is ready to receive on 127.0.0.1:40123`",
                )
            })?;
        server.address = address;
        Ok(server)
    }
}

/// A program that ran to its end, or was killed at its limit.
pub struct Finished {
    /// `None` when the program was killed at the limit or never started.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub limit: Duration,
}

impl Finished {
    fn not_started(error: std::io::Error) -> Finished {
        Finished {
            status: None,
            stdout: String::new(),
            stderr: format!("cannot start: {error}"),
            limit: Duration::ZERO,
        }
    }

    pub fn killed(&self) -> bool {
        self.status.is_none()
    }
}

/// A student's server running in the background; killed when dropped.
pub struct RunningServer {
    pub shown: String,
    child: Child,
    /// The address from the ready line.
    pub address: SocketAddr,
    lines: Receiver<String>,
    stderr: Option<JoinHandle<String>>,
}

impl RunningServer {
    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops the server and returns what it wrote on stderr.
    pub fn stop(mut self) -> String {
        stop_all(&mut self.child);
        self.stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }

    /// The address to connect to: a server bound to 0.0.0.0 or [::] is
    /// reached over loopback.
    pub fn loopback(&self) -> SocketAddr {
        let mut address = self.address;
        if address.ip().is_unspecified() {
            address.set_ip(match address {
                SocketAddr::V4(_) => [127, 0, 0, 1].into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        address
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        stop_all(&mut self.child);
    }
}

/// Kills the program and every process it started (its process group),
/// so that nothing keeps running, holding a port or a pipe open.
fn stop_all(child: &mut Child) {
    #[cfg(unix)]
    if let Ok(group) = i32::try_from(child.id()) {
        // SAFETY: kill(2) takes plain integers; a negative pid names the
        // process group that `Student::command` created for this child.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Waits for `child` to exit, and kills it at `limit` or as soon as
/// `stuck()` returns true. Returns the exit status (`None`: killed) and
/// the limit that applied: `limit`, or the time it ran if `stuck` ended
/// it.
fn wait_watched(
    child: &mut Child,
    limit: Duration,
    mut stuck: impl FnMut() -> bool,
) -> (Option<ExitStatus>, Duration) {
    const ASK_EVERY: Duration = Duration::from_millis(20);
    let started = Instant::now();
    loop {
        let left = limit.saturating_sub(started.elapsed());
        let stop = match child.wait_timeout(left.min(ASK_EVERY)) {
            Ok(Some(status)) => return (Some(status), limit),
            Ok(None) if started.elapsed() >= limit => Some(limit),
            // Whole milliseconds: the time is shown to the student.
            Ok(None) if stuck() => Some(Duration::from_millis(
                started.elapsed().as_millis() as u64,
            )),
            Ok(None) => None,
            Err(_) => Some(limit),
        };
        if let Some(ran) = stop {
            stop_all(child);
            return (None, ran);
        }
    }
}

fn collect(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn forward_lines(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}
