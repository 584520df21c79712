//! One wrong program per requirement of the exercise pages (fixtures/,
//! in Python, as many courses teach these labs), and the checker must
//! fail each on exactly the criterion of that requirement; the right
//! Python programs beside them pass. All run at once: most of a check is
//! waiting for timeouts.
//!
//! Also here: the checker's own guards (§2 of issue 9), a program that
//! prints without end and one that leaves a daemon holding its pipes.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;

use support::{Run, run_lab, run_program};

/// A program of fixtures/python/.
fn python(name: &str) -> PathBuf {
    support::workspace_root().join("fixtures/python").join(name)
}

/// Whether `python3` runs here; the tests of Python programs say so and
/// check nothing where it does not.
fn have_python() -> bool {
    let found = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !found {
        eprintln!("skipped: python3 is not installed");
    }
    found
}

/// The criteria a run of the checker failed.
fn failed(run: &Run) -> Vec<String> {
    run.stdout
        .lines()
        .filter_map(|line| line.strip_prefix("FAIL "))
        .filter_map(|rest| rest.split_once(':'))
        .map(|(name, _)| name.to_string())
        .collect()
}

/// Runs the checker with `PYTHONUNBUFFERED=1` in its environment: its
/// verdicts must not depend on it.
fn check_unbuffered(exercise: &str, program: &Path) -> Run {
    let lab = support::lab_binary().display().to_string();
    let program = program.display().to_string();
    let args = [
        "PYTHONUNBUFFERED=1",
        lab.as_str(),
        "check",
        exercise,
        "--",
        program.as_str(),
    ];
    run_program(Path::new("env"), "env", &args, b"")
}

#[test]
fn each_python_mistake_fails_its_criterion_and_nothing_else() {
    if !have_python() {
        return;
    }
    // (exercise, program, the only criterion it must fail; "" = none)
    let table = [
        ("pinger", "pinger.py", ""),
        ("pinger", "pinger_rtt_in_seconds.py", "measures-each-rtt"),
        (
            "pinger",
            "pinger_mean_over_all_pings.py",
            "prints-statistics",
        ),
        (
            "pinger",
            "pinger_reply_without_address.py",
            "reports-replies",
        ),
        (
            "pinger",
            "pinger_integer_timeout.py",
            "honours-the-timeout-flag",
        ),
        (
            "pinger",
            "pinger_stats_of_nothing.py",
            "statistics-when-all-lost",
        ),
        ("retry", "retry.py", ""),
        (
            "retry",
            "retry_prints_the_tag.py",
            "prints-exactly-the-result-lines",
        ),
        (
            "retry",
            "retry_exits_with_a_message.py",
            "exits-0-when-all-answered",
        ),
        (
            "retry",
            "retry_silent_failure.py",
            "keeps-going-after-a-failure",
        ),
        ("family", "family.py", ""),
        (
            "family",
            "family_traceback_on_silence.py",
            "gives-up-when-nobody-answers",
        ),
        ("web", "web.py", ""),
        ("web", "web_prefix_check.py", "refuses-path-escape"),
        (
            "web",
            "web_no_percent_decoding.py",
            "decodes-percent-escapes",
        ),
        ("web", "web_empty_404.py", "answers-404"),
    ];
    // Sixteen at a time: most of a check is waiting, and the checker
    // allows a slow start (an interpreter on a loaded machine).
    let runs: Vec<Run> = table
        .chunks(16)
        .flat_map(|chunk| {
            thread::scope(|scope| {
                let handles: Vec<_> = chunk
                    .iter()
                    .map(|(exercise, program, _)| {
                        scope.spawn(|| {
                            check_unbuffered(exercise, &python(program))
                        })
                    })
                    .collect();
                let runs: Vec<Run> =
                    handles.into_iter().map(|h| h.join().unwrap()).collect();
                runs
            })
        })
        .collect();
    for ((exercise, program, criterion), run) in table.iter().zip(&runs) {
        let expected: Vec<&str> = if criterion.is_empty() {
            vec![]
        } else {
            vec![criterion]
        };
        assert_eq!(
            failed(run),
            expected,
            "{exercise} {program}\n{}",
            run.describe()
        );
        assert!(
            run.stdout.lines().count() > 1,
            "{program}: no criteria listed\n{}",
            run.describe()
        );
        let status = if criterion.is_empty() { 0 } else { 1 };
        assert_eq!(run.status.code(), Some(status), "{}", run.describe());
    }
}

#[test]
fn a_ready_line_left_in_pythons_buffer_is_named() {
    if !have_python() {
        return;
    }
    // PYTHONUNBUFFERED=1 in the checker's environment would hide the
    // mistake; the checker clears it for the program it runs.
    let run = check_unbuffered("web", &python("web_buffered_ready_line.py"));
    run.assert_checker_failed(
        "prints-its-address",
        "its ready line is waiting in its output buffer",
    );
    run.assert_checker_failed("prints-its-address", "print(..., flush=True)");
}

#[test]
fn a_program_that_prints_without_end_is_stopped_and_its_output_bounded() {
    if !have_python() {
        return;
    }
    let program = python("prints_without_end.py").display().to_string();
    let run = run_lab(&["check", "retry", "--", &program], b"");
    run.assert_checker_failed(
        "retries-lost-requests",
        "the program wrote more than 16 MiB and was stopped",
    );
    // What the checker shows of that output stays short.
    assert!(run.stdout.len() < 16 * 1024, "{}", run.describe());
    let json =
        run_lab(&["check", "retry", "--format", "json", "--", &program], b"");
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let got = report["criteria"][0]["got"].as_str().unwrap();
    assert!(got.contains("bytes dropped ...]"), "{got:.300}");
    assert!(got.len() < 200 * 1024, "{} bytes kept", got.len());
}

#[test]
fn a_server_that_prints_without_end_is_stopped() {
    if !have_python() {
        return;
    }
    let program = python("server_prints_without_end.py");
    let run = support::check("concurrent", &program, &[]);
    run.assert_checker_failed(
        "answers-one-client",
        "the server wrote more than 16 MiB and was stopped",
    );
}

#[test]
fn a_daemon_holding_the_pipes_neither_stalls_the_checker_nor_survives() {
    if !have_python() {
        return;
    }
    let program = python("daemon_holds_stdout.py");
    let shown = program.display().to_string();
    // The daemon sleeps 300 s with the pipes open: run_lab's limit (20 s)
    // would fail this test if the checker waited for them.
    let run = run_lab(&["check", "pinger", "--", &shown], b"");
    run.assert_checker_failed("sends-ten-pings", "no datagram");
    assert!(
        run.elapsed.as_secs() < 15,
        "the checker waited for the daemon\n{}",
        run.describe()
    );
    assert!(
        running_with(&shown).is_empty(),
        "left running: {:?}",
        running_with(&shown)
    );
}

/// Processes whose command line holds `needle` (Linux: from /proc).
fn running_with(needle: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            cmdline.contains(needle).then_some(cmdline)
        })
        .collect()
}
