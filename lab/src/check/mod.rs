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

mod class;
mod concurrent;
mod family;
mod framing;
mod pinger;
mod process;
mod report;
mod retry;
mod sandbox;
mod web;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use clap::ValueEnum;
use report::Format;
use socket_walkthrough::fail;
use wait_timeout::ChildExt;

use process::Capture;

/// Check a program against an exercise's criteria.
#[derive(clap::Args)]
pub struct Args {
    /// Which exercise to check
    exercise: Exercise,
    /// Check every file in this folder (a class's submissions, one
    /// executable file each) and print one row per file
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    class: Option<PathBuf>,
    /// How to report: text, json, junit, gradescope (one program) or csv
    /// (--class)
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// With --class: how many submissions to check at once [default: the
    /// number of cores]
    #[arg(long, value_name = "N", requires = "class")]
    jobs: Option<usize>,
    /// With --class: run the submissions without a sandbox (where this
    /// machine allows none)
    #[arg(long)]
    no_sandbox: bool,
    /// Set up the sandbox made by `unshare`, with this folder for the
    /// program (the class run's own use)
    #[arg(long, hide = true, value_name = "DIR")]
    sandboxed: Option<PathBuf>,
    /// In the sandbox, run the program as this user (the class run's own
    /// use)
    #[arg(long, hide = true, requires = "sandboxed")]
    uid: Option<u32>,
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

    /// The name on the command line.
    fn name(self) -> &'static str {
        match self {
            Exercise::Pinger => "pinger",
            Exercise::Retry => "retry",
            Exercise::Concurrent => "concurrent",
            Exercise::Framing => "framing",
            Exercise::Family => "family",
            Exercise::Web => "web",
        }
    }
}

pub fn run(args: Args) {
    process::become_subreaper();
    if let Some(folder) = &args.class {
        let jobs = args.jobs.unwrap_or_else(|| {
            thread::available_parallelism().map_or(1, usize::from)
        });
        let options = class::Options {
            exercise: args.exercise,
            format: args.format,
            jobs,
            sandbox: !args.no_sandbox,
        };
        return class::run(&options, folder);
    }
    if args.format == Format::Csv {
        fail("--format csv is for --class: one row per submission");
    }
    if let Some(home) = &args.sandboxed
        && let Err(why) = sandbox::enter(home, args.uid)
    {
        fail(format_args!("cannot set up the sandbox: {why}"));
    }
    let student = Student::new(&args.command);
    let criteria = args.exercise.criteria(&student);
    let error = student.never_started();
    let value = report::to_json(
        args.exercise.name(),
        &student.shown(&[]),
        &criteria,
        error.as_deref(),
    );
    match args.format {
        Format::Text => {
            let text = report::text(&value);
            if error.is_some() {
                // One line, as for every error the checker reports.
                eprint!("error: {text}");
            } else {
                report::print(&text);
            }
        }
        Format::Json => report::print(&format!("{value:#}\n")),
        Format::Junit => {
            let name = student.shown(&[]);
            report::print(&report::junit(&[(name, &value)]));
        }
        Format::Gradescope => {
            let results = report::gradescope(&value);
            report::print(&format!("{results:#}\n"));
        }
        Format::Csv => unreachable!("refused above"),
    }
    // The sandbox's process 1 reaps what is left before it goes.
    process::kill_descendants();
    if error.is_some() || value["failed"].as_u64() != Some(0) {
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

/// The student's program: a command and its arguments.
pub struct Student {
    program: String,
    args: Vec<String>,
    /// Whether any attempt to start the program worked.
    started: AtomicBool,
    /// Why the first attempt that failed did.
    spawn_error: Mutex<Option<String>>,
}

impl Student {
    pub fn new(command: &[String]) -> Student {
        let (program, args) = command.split_first().unwrap_or_else(|| {
            fail("give the command that runs the program after `--`")
        });
        Student {
            program: program.clone(),
            args: args.to_vec(),
            started: AtomicBool::new(false),
            spawn_error: Mutex::new(None),
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
        // The checker must judge the same program the same way whatever
        // its own environment says: Python reads this one to decide
        // whether its stdout is buffered (see `ready_line_hint`).
        command.env_remove("PYTHONUNBUFFERED");
        sandbox::confine(&mut command);
        command
    }

    /// Starts `command`, and remembers whether starting worked.
    fn spawn(&self, command: &mut Command) -> std::io::Result<Child> {
        let child = command.spawn();
        match &child {
            Ok(_) => self.started.store(true, Ordering::Relaxed),
            Err(error) => {
                self.note_error(error);
            }
        }
        child
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
        mut stuck: impl FnMut() -> bool,
    ) -> Finished {
        let mut command = self.command(extra);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = match self.spawn(&mut command) {
            Ok(child) => child,
            Err(error) => {
                return Finished::not_started(format!("cannot start: {error}"));
            }
        };
        let mut input = child.stdin.take().expect("stdin is piped");
        let stdin = stdin.to_vec();
        let writer = thread::spawn(move || {
            let _ = input.write_all(&stdin);
        });
        let written = Arc::new(AtomicU64::new(0));
        let stdout = Capture::start(
            child.stdout.take().expect("stdout is piped"),
            Arc::clone(&written),
        );
        let stderr = Capture::start(
            child.stderr.take().expect("stderr is piped"),
            Arc::clone(&written),
        );
        let (status, limit) = wait_watched(&mut child, limit, || {
            written.load(Ordering::Relaxed) > process::OUTPUT_LIMIT || stuck()
        });
        // Its own process has ended: whatever it left running goes too,
        // after a moment to finish writing.
        let deadline = Instant::now() + process::PIPE_GRACE;
        let stdout_text = stdout.text_by(deadline);
        let stderr_text = stderr.text_by(deadline);
        stop_all(&mut child);
        let _ = writer.join();
        Finished {
            status,
            stdout: stdout_text,
            stderr: stderr_text,
            limit,
            flooded: written.load(Ordering::Relaxed) > process::OUTPUT_LIMIT,
        }
    }

    /// Remembers that the program could not be started, and why.
    fn note_error(&self, error: &std::io::Error) -> String {
        let text = format!("cannot start `{}`: {error}", self.shown(&[]));
        let mut first = self
            .spawn_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        first.get_or_insert_with(|| text.clone());
        text
    }

    /// Why the program never started, if no attempt to start it worked.
    pub fn never_started(&self) -> Option<String> {
        if self.started.load(Ordering::Relaxed) {
            return None;
        }
        self.spawn_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
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
        let mut command = self.command(extra);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.spawn(&mut command).map_err(|error| {
            Failure::new(
                "the program to start",
                format!("`{shown}`: {error}"),
                "check the command after `--`",
            )
        })?;
        let written = Arc::new(AtomicU64::new(0));
        let lines = process::forward_lines(
            child.stdout.take().expect("piped"),
            Arc::clone(&written),
        );
        let stderr = Capture::start(
            child.stderr.take().expect("piped"),
            Arc::clone(&written),
        );
        let mut server = RunningServer {
            shown,
            child,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            lines,
            stderr: Some(stderr),
            written,
            flooded: false,
        };
        let first = match server.lines.recv_timeout(limit) {
            Ok(line) => line,
            Err(error) => return Err(server.no_ready_line(error, limit)),
        };
        let address = first
            .split_whitespace()
            .last()
            .and_then(|word| word.parse::<SocketAddr>().ok())
            .ok_or_else(|| {
                Failure::new(
                    "a first line ending in the bound address",
                    format!("{first:?}"),
                    "end the first line with the address the socket is \
                     bound to, e.g. `The server is ready to receive on \
                     127.0.0.1:40123` (Python: getsockname(); Rust: \
                     local_addr())",
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
    /// Whether it was stopped for writing more than
    /// [`process::OUTPUT_LIMIT`].
    pub flooded: bool,
}

impl Finished {
    fn not_started(why: String) -> Finished {
        Finished {
            status: None,
            stdout: String::new(),
            stderr: why,
            limit: Duration::ZERO,
            flooded: false,
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
    stderr: Option<Capture>,
    /// Bytes it wrote on stdout and stderr.
    written: Arc<AtomicU64>,
    /// Whether it was stopped for writing more than
    /// [`process::OUTPUT_LIMIT`].
    flooded: bool,
}

impl RunningServer {
    /// Whether the process is still running. One that has written more
    /// than [`process::OUTPUT_LIMIT`] is stopped here.
    pub fn alive(&mut self) -> bool {
        if self.written.load(Ordering::Relaxed) > process::OUTPUT_LIMIT {
            self.flooded = true;
            stop_all(&mut self.child);
            return false;
        }
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Whether it was stopped for writing without end.
    pub fn flooded(&self) -> bool {
        self.flooded
    }

    /// Stops the server and returns what it wrote on stderr.
    pub fn stop(mut self) -> String {
        stop_all(&mut self.child);
        self.stderr.take().map_or_else(String::new, |stderr| {
            stderr.text_by(Instant::now() + process::PIPE_GRACE)
        })
    }

    /// Why no ready line came: the program exited (with its last words),
    /// or it runs and listens but its line is stuck in a buffer, or it
    /// runs and says nothing.
    fn no_ready_line(
        &mut self,
        error: mpsc::RecvTimeoutError,
        limit: Duration,
    ) -> Failure {
        // A closed stdout means the program is exiting: give it a moment,
        // so that its status and stderr can be shown.
        let status = match error {
            mpsc::RecvTimeoutError::Disconnected => self
                .child
                .wait_timeout(Duration::from_secs(1))
                .ok()
                .flatten(),
            mpsc::RecvTimeoutError::Timeout => {
                self.child.try_wait().ok().flatten()
            }
        };
        let expected =
            format!("a first line ending in the address, within {limit:?}");
        let Some(status) = status else {
            if let Some(port) = process::listening_port() {
                return Failure::new(
                    expected,
                    format!(
                        "no line, yet the program listens on port {port}: \
                         its ready line is waiting in its output buffer"
                    ),
                    "flush standard output after the ready line: when \
                     stdout is a pipe, not a terminal, output is kept in a \
                     buffer until it fills. Python: print(..., flush=True); \
                     Rust: println! already flushes at each line",
                );
            }
            return Failure::new(
                expected,
                "no line",
                "print a ready line such as `ready on 127.0.0.1:40123` \
                 after binding (the address from local_addr in Rust, \
                 getsockname() in Python), and flush it",
            );
        };
        // Its last words say why, e.g. an unknown flag.
        let stderr = self.stderr.take().map_or_else(String::new, |stderr| {
            stderr.text_by(Instant::now() + process::PIPE_GRACE)
        });
        Failure::new(
            expected,
            if stderr.trim().is_empty() {
                format!("the server exited ({status})")
            } else {
                format!(
                    "the server exited ({status}), stderr: {:?}",
                    stderr.trim_end()
                )
            },
            "print a ready line such as `ready on 127.0.0.1:40123` after \
             binding; see its stderr for why it stopped",
        )
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

/// Kills the program and every process it started (its process group,
/// then every process left below the checker), so that nothing keeps
/// running, holding a port or a pipe open.
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
    process::kill_descendants();
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
