//! Runs the example programs as real processes for the end-to-end tests.
//!
//! Servers start with `--port 0` and tell us their port on their first
//! line of output, so no test needs a fixed port or a sleep. Every failure
//! message shows the command, its exit status, stdout and stderr.

#![allow(dead_code)] // each test file uses a different part of this module

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long any one client run may take before the test kills it.
pub const RUN_LIMIT: Duration = Duration::from_secs(20);

/// The workspace root: this module serves the root package's tests
/// (tests/) and the lab's (lab/tests/, through `#[path]`).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    if manifest_dir.join("lab").is_dir() {
        manifest_dir.to_path_buf()
    } else {
        manifest_dir
            .parent()
            .expect("lab/ has a parent")
            .to_path_buf()
    }
}

/// The lab binary (lab/src/main.rs). Only the lab's own tests have it:
/// cargo builds a package's binaries for that package's tests alone.
pub fn lab_binary() -> &'static Path {
    match option_env!("CARGO_BIN_EXE_lab") {
        Some(path) => Path::new(path),
        None => panic!("the lab binary is only there for lab/tests/"),
    }
}

/// Path of a compiled example, built once per test binary.
pub fn example(name: &str) -> PathBuf {
    let path =
        example_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// The folder of the compiled examples (built once per test binary).
fn example_dir() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        // `cargo test` builds the examples already; this makes the tests
        // right even when run alone (`cargo test --test examples`).
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--examples"])
            .args(["--package", "socket-walkthrough"])
            .current_dir(workspace_root())
            .status()
            .expect("cannot run cargo to build the examples");
        assert!(status.success(), "cargo build --examples failed");
        let mut dir = std::env::current_exe().unwrap();
        dir.pop(); // the test binary
        if dir.ends_with("deps") {
            dir.pop();
        }
        dir.join("examples")
    })
}

/// Path of a deliberately wrong program from the `checker-fixtures`
/// crate (fixtures/src/bin/), built once per test binary.
pub fn fixture(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--package", "checker-fixtures"])
            .current_dir(workspace_root())
            .status()
            .expect("cannot run cargo to build the fixtures");
        assert!(status.success(), "cargo build -p checker-fixtures failed");
        // examples/ sits in the profile folder, beside the fixtures.
        example_dir()
            .parent()
            .expect("the profile folder")
            .to_path_buf()
    });
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// Runs `cargo lab check <exercise> -- <program> <args>` and returns
/// the checker's run.
pub fn check(exercise: &str, program: &Path, args: &[&str]) -> Run {
    let program = program.display().to_string();
    let mut all = vec!["check", exercise, "--", program.as_str()];
    all.extend(args);
    run_lab(&all, b"")
}

/// A server example running in the background; killed when dropped.
pub struct Server {
    pub name: String,
    pub args: Vec<String>,
    child: Child,
    /// The address from the ready line, e.g. 127.0.0.1:40123.
    pub address: SocketAddr,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts `name` (udp_server or tcp_server) on loopback, port 0.
    pub fn start(name: &str) -> Server {
        Server::start_with(name, &["--bind", "127.0.0.1", "--port", "0"])
    }

    /// Starts `name` with exactly these arguments and waits for its
    /// ready line.
    pub fn start_with(name: &str, args: &[&str]) -> Server {
        let mut child = Command::new(example(name))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let lines = forward_lines(child.stdout.take().unwrap());
        let stderr = Arc::new(Mutex::new(String::new()));
        let stderr_reader = {
            let mut pipe = child.stderr.take().unwrap();
            let stderr = Arc::clone(&stderr);
            thread::spawn(move || {
                let mut chunk = [0; 4096];
                while let Ok(n @ 1..) = pipe.read(&mut chunk) {
                    let text = String::from_utf8_lossy(&chunk[..n]);
                    stderr.lock().unwrap().push_str(&text);
                }
            })
        };
        let mut server = Server {
            name: name.to_string(),
            args: args.iter().map(|a| a.to_string()).collect(),
            child,
            address: "0.0.0.0:0".parse().unwrap(),
            lines,
            stderr,
            stderr_reader: Some(stderr_reader),
        };
        let ready = server.next_line();
        let address = ready
            .strip_prefix("The server is ready to receive on ")
            .and_then(|address| address.parse().ok())
            .unwrap_or_else(|| {
                panic!("unexpected ready line {ready:?}\n{}", server.describe())
            });
        server.address = address;
        server
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The address a client on this machine uses to reach the server.
    pub fn loopback(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port()))
    }

    /// The next line the server printed on stdout (waits up to 10 s).
    pub fn next_line(&mut self) -> String {
        match self.lines.recv_timeout(Duration::from_secs(10)) {
            Ok(line) => line,
            Err(error) => panic!(
                "no line from the server within 10 s ({error})\n{}",
                self.describe()
            ),
        }
    }

    /// Asserts that the next line on stdout is `expected`.
    pub fn expect_line(&mut self, expected: &str) {
        let line = self.next_line();
        assert_eq!(line, expected, "server output\n{}", self.describe());
    }

    /// Asserts the server is still running.
    pub fn assert_alive(&mut self) {
        let status = self.child.try_wait().unwrap();
        assert!(status.is_none(), "server exited\n{}", self.describe());
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn describe(&mut self) -> String {
        let status = match self.child.try_wait() {
            Ok(Some(status)) => status.to_string(),
            _ => "still running".to_string(),
        };
        format!(
            "command: {} {}\nstatus: {status}\nstderr:\n{}",
            self.name,
            self.args.join(" "),
            self.stderr()
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
    }
}

fn forward_lines(stdout: ChildStdout) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// A finished run of a client (or of a server that failed to start).
pub struct Run {
    pub command: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    pub fn describe(&self) -> String {
        format!(
            "command: {}\nstatus: {}\nelapsed: {:?}\nstdout:\n{}\nstderr:\n{}",
            self.command, self.status, self.elapsed, self.stdout, self.stderr
        )
    }

    pub fn assert_success(&self) -> &Self {
        assert!(
            self.status.success(),
            "expected success\n{}",
            self.describe()
        );
        assert!(
            self.stderr.is_empty(),
            "unexpected stderr\n{}",
            self.describe()
        );
        self
    }

    /// For a run of the checker: exit status 0, no `FAIL` line, and a
    /// `PASS <name>` line for every criterion in `criteria`.
    pub fn assert_checker_passed(&self, criteria: &[&str]) {
        assert_eq!(self.status.code(), Some(0), "{}", self.describe());
        for name in criteria {
            assert!(
                self.stdout
                    .lines()
                    .any(|line| line == format!("PASS {name}")),
                "{name} is not listed as passed\n{}",
                self.describe()
            );
        }
        assert!(!self.stdout.contains("FAIL"), "{}", self.describe());
    }

    /// For a run of the checker: exit status 1 and a `FAIL <criterion>:`
    /// line that contains `words`.
    pub fn assert_checker_failed(&self, criterion: &str, words: &str) {
        assert_eq!(self.status.code(), Some(1), "{}", self.describe());
        let prefix = format!("FAIL {criterion}:");
        assert!(
            self.stdout
                .lines()
                .any(|line| line.starts_with(&prefix) && line.contains(words)),
            "no `{prefix} ...{words}...` line\n{}",
            self.describe()
        );
    }

    /// Asserts exit status 1 and exactly one line `error: ...` on stderr
    /// that contains `needle`.
    pub fn assert_error(&self, needle: &str) -> &Self {
        assert_eq!(
            self.status.code(),
            Some(1),
            "exit status\n{}",
            self.describe()
        );
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert!(
            lines.len() == 1
                && lines[0].starts_with("error: ")
                && lines[0].contains(needle),
            "expected one error line containing {needle:?}\n{}",
            self.describe()
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.describe());
        self
    }
}

/// Runs example `name` with `args`, feeding `stdin`, and waits for it to
/// exit (killing it after [`RUN_LIMIT`]).
pub fn run_example(name: &str, args: &[&str], stdin: &[u8]) -> Run {
    run_program(&example(name), name, args, stdin)
}

/// Runs the lab binary (`lab`, lab/src/main.rs) the same way.
pub fn run_lab(args: &[&str], stdin: &[u8]) -> Run {
    run_program(lab_binary(), "lab", args, stdin)
}

/// Runs `program` (shown as `label` in failure messages) with `args`,
/// feeding `stdin`, and waits for it to exit (killing it after
/// [`RUN_LIMIT`]).
pub fn run_program(
    program: &Path,
    label: &str,
    args: &[&str],
    stdin: &[u8],
) -> Run {
    let command = format!("{label} {}", args.join(" "));
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command}: {e}"));
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    // A program that exits early closes its end; that is not our failure.
    let writer = thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let stdout = read_all(child.stdout.take().unwrap());
    let stderr = read_all(child.stderr.take().unwrap());
    let status = match wait_with_limit(&mut child, RUN_LIMIT) {
        Some(status) => status,
        None => {
            child.kill().unwrap();
            let status = child.wait().unwrap();
            let run = Run {
                command,
                status,
                stdout: stdout.join().unwrap(),
                stderr: stderr.join().unwrap(),
                elapsed: started.elapsed(),
            };
            panic!("killed after {RUN_LIMIT:?}\n{}", run.describe());
        }
    };
    let elapsed = started.elapsed();
    writer.join().unwrap();
    Run {
        command,
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
        elapsed,
    }
}

/// Waits for `child` to exit, for at most `limit`; `None` if it is still
/// running then. (Polling with std alone keeps the root package free of
/// dev-dependencies, which every example would otherwise link.)
pub fn wait_with_limit(
    child: &mut Child,
    limit: Duration,
) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("cannot wait for a child")
        {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

fn read_all(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        pipe.read_to_end(&mut bytes).unwrap();
        String::from_utf8(bytes).expect("output is not UTF-8")
    })
}

/// Runs a client against `server` with one line of input.
pub fn client(name: &str, server: &Server, line: &str) -> Run {
    let port = server.port().to_string();
    run_example(
        name,
        &["--server-name", "127.0.0.1", "--server-port", &port],
        format!("{line}\n").as_bytes(),
    )
}

/// What a client prints on stdout when the reply is `reply`.
pub fn expected_stdout(reply: &str) -> String {
    format!("Input lowercase sentence: From Server: {reply}\n")
}

/// A console session: lines as a terminal shows them.
#[derive(Default)]
pub struct Session {
    pub text: String,
}

impl Session {
    /// Records `$ <shown>` and what the program printed. `typed` is the
    /// line the user typed at the prompt, shown after the prompt as a
    /// terminal echoes it.
    pub fn record(&mut self, shown: &str, run: &Run, typed: Option<&str>) {
        self.text.push_str(&format!("$ {shown}\n"));
        let prompt = "Input lowercase sentence: ";
        match (typed, run.stdout.strip_prefix(prompt)) {
            (Some(typed), Some(rest)) => {
                self.text.push_str(&format!("{prompt}{typed}\n{rest}"));
            }
            _ => self.text.push_str(&run.stdout),
        }
        self.text.push_str(&run.stderr);
    }

    pub fn line(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
    }
}

/// Compares `actual` with the book's file (or writes it, with `BLESS`).
pub fn check_text(file: &str, actual: String) -> Option<String> {
    let path = workspace_root().join("book/src/output").join(file);
    if std::env::var_os("BLESS").is_some() {
        fs::write(&path, &actual).unwrap();
        return None;
    }
    let expected = fs::read_to_string(&path).unwrap_or_default();
    (expected != actual).then(|| {
        format!(
            "{} differs from a real run (intended? `cargo xtask bless`)\n\
             --- book\n{expected}--- real run\n{actual}",
            path.display()
        )
    })
}

/// Asserts that every transcript comparison (from [`check_text`]) matched,
/// showing every mismatch at once.
pub fn assert_transcripts(
    mismatches: impl IntoIterator<Item = Option<String>>,
) {
    let mismatches: Vec<String> = mismatches.into_iter().flatten().collect();
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
