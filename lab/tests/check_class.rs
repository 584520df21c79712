//! `check <exercise> --class DIR`: a folder of programs in, a table out.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::fs;
use std::path::{Path, PathBuf};

use support::{Session, check_text, example, run_lab};

/// Puts a copy of `program` in `folder` under `name` (copies keep the
/// executable bit).
fn submit(folder: &Path, name: &str, program: &Path) {
    fs::copy(program, folder.join(name)).unwrap();
}

#[test]
fn class_mode_prints_one_row_per_submission() {
    let folder = fresh_folder("class");
    submit(&folder, "alice", &example("tcp_threaded_server"));
    submit(&folder, "bob", &example("tcp_server"));
    // Not executable: a student's notes, not a submission.
    fs::write(folder.join("README.txt"), "not a program").unwrap();
    let folder_arg = folder.display().to_string();
    let run = run_lab(&["check", "concurrent", "--class", &folder_arg], b"");
    assert_eq!(run.status.code(), Some(1), "{}", run.describe());
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", run.describe());
    assert!(lines[0].starts_with("submission"), "{}", run.describe());
    // One row per file: the README's says why it has no result.
    assert!(
        lines[1].starts_with("README.txt ")
            && lines[1].ends_with("(not executable: skipped)"),
        "{}",
        run.describe()
    );
    let alice: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(alice[0], "alice", "{}", run.describe());
    assert_eq!(alice[2], "0", "alice failed something\n{}", run.describe());
    let bob: Vec<&str> = lines[3].split_whitespace().collect();
    assert_eq!(bob[0], "bob", "{}", run.describe());
    assert_ne!(bob[2], "0", "bob passed everything\n{}", run.describe());
    assert!(
        lines[3].contains("serves-while-one-client-is-silent"),
        "{}",
        run.describe()
    );
    // The teachers' page shows this run.
    let mut session = Session::default();
    session.line("$ ls submissions");
    session.line("README.txt  alice  bob");
    session.record(
        "cargo lab check concurrent --class submissions",
        &run,
        None,
    );
    support::assert_transcripts([check_text(
        "exercises/class.txt",
        session.text,
    )]);
}

#[test]
fn class_mode_needs_a_folder_with_programs() {
    let folder = fresh_folder("empty-class");
    let folder_arg = folder.display().to_string();
    let run = run_lab(&["check", "web", "--class", &folder_arg], b"");
    run.assert_error("is empty");
    let run = run_lab(&["check", "web", "--class", "/no/such/folder"], b"");
    run.assert_error("cannot read /no/such/folder");
}

#[test]
fn a_command_that_does_not_exist_gets_one_line() {
    let run = run_lab(&["check", "framing", "--", "/no/such/program"], b"");
    run.assert_error("cannot start `/no/such/program`: No such file");
    assert!(run.stdout.is_empty(), "{}", run.describe());
}

#[test]
fn check_without_a_command_is_a_usage_error() {
    let run = run_lab(&["check", "pinger"], b"");
    assert_eq!(run.status.code(), Some(2), "{}", run.describe());
}

/// A fresh, empty folder under cargo's scratch space for tests.
fn fresh_folder(name: &str) -> PathBuf {
    let folder = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&folder);
    fs::create_dir_all(&folder).unwrap();
    folder
}

#[cfg(unix)]
#[test]
fn a_wrapper_script_that_hangs_is_stopped_with_its_children() {
    use std::os::unix::fs::PermissionsExt;
    let folder = fresh_folder("wrapper");
    let script = folder.join("hangs.sh");
    // No `exec`: the shell waits for a child that never ends and that
    // holds the checker's pipes open.
    fs::write(&script, "#!/bin/sh\nsleep 300\necho never\n").unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let script_arg = script.display().to_string();
    // run_lab kills the checker itself after RUN_LIMIT: finishing at all
    // shows that the checker stopped the script and its sleep.
    let run = run_lab(&["check", "retry", "--", &script_arg], b"");
    assert_eq!(run.status.code(), Some(1), "{}", run.describe());
    assert!(
        run.stdout.contains("FAIL answers-every-line"),
        "{}",
        run.describe()
    );
}
