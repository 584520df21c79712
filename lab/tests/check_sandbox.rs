//! `--class` in sandboxes (Linux): hostile submissions are contained and
//! leave nothing behind, and a class of 30 checked side by side gets the
//! verdicts each program gets alone.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use support::{Run, example, run_lab, workspace_root};

fn python(name: &str) -> PathBuf {
    workspace_root().join("fixtures/python").join(name)
}

/// A fresh folder that the submissions' own users can read.
fn class_folder(name: &str) -> PathBuf {
    let folder = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&folder);
    fs::create_dir_all(&folder).unwrap();
    folder
}

fn submit(folder: &Path, name: &str, program: &Path) {
    fs::copy(program, folder.join(name)).unwrap();
}

/// Runs `--class` with `args`; `None` (after checking the one line that
/// says so) where this machine cannot sandbox.
fn class(exercise: &str, folder: &Path, args: &[&str]) -> Option<Run> {
    let folder = folder.display().to_string();
    let mut all = vec!["check", exercise, "--class", folder.as_str()];
    all.extend(args);
    let run = run_lab(&all, b"");
    if run.stderr.contains("cannot sandbox the submissions here") {
        run.assert_error("run with --no-sandbox");
        eprintln!("skipped: no sandbox here: {}", run.stderr.trim());
        return None;
    }
    Some(run)
}

/// Processes whose command line holds `needle` (Linux: from /proc).
fn running_with(needle: &str) -> Vec<String> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let cmdline = fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            cmdline.contains(needle).then_some(cmdline)
        })
        .collect()
}

/// The failure text of the first criterion of `submission`'s report.
fn first_got(report: &serde_json::Value, submission: &str) -> String {
    let rows = report["submissions"].as_array().unwrap();
    let row = rows
        .iter()
        .find(|row| row["submission"] == submission)
        .unwrap_or_else(|| panic!("no row for {submission}: {report:#}"));
    row["report"]["criteria"][0]["got"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn hostile_submissions_are_contained_and_leave_nothing_behind() {
    let folder = class_folder("hostile-class");
    submit(&folder, "alice", &example("tcp_lines_server"));
    for name in ["fork_bomb.py", "writes_outside.py", "connects_out.py"] {
        submit(&folder, name, &python(name));
    }
    // A client exercise gives a program 10 s to send anything: time for
    // the allocation to reach the limit on a slow machine.
    let memory_folder = class_folder("hostile-memory");
    submit(
        &memory_folder,
        "allocates_without_end.py",
        &python("allocates_without_end.py"),
    );
    // A server outside the sandboxes, on this machine's loopback, as
    // another submission's would be.
    let outside = TcpListener::bind("127.0.0.1:0").unwrap();
    outside.set_nonblocking(true).unwrap();
    let port = outside.local_addr().unwrap().port();
    fs::write(folder.join("ports.txt"), format!("{port}\n")).unwrap();
    let args = ["--jobs", "2", "--format", "json"];
    let (run, memory) = std::thread::scope(|scope| {
        let memory = scope.spawn(|| class("retry", &memory_folder, &args));
        (class("framing", &folder, &args), memory.join().unwrap())
    });
    let (Some(run), Some(memory)) = (run, memory) else {
        return;
    };
    assert_eq!(run.status.code(), Some(1), "{}", run.describe());
    let report: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}\n{}", run.describe()));
    // The right one is unharmed by its neighbours.
    let rows = report["submissions"].as_array().unwrap();
    let alice = rows
        .iter()
        .find(|row| row["submission"] == "alice")
        .unwrap();
    assert_eq!(alice["report"]["failed"], 0, "{report:#}");
    // The fork bomb met the limit on processes.
    let forks = first_got(&report, "fork_bomb.py");
    let started: u32 = forks
        .split_whitespace()
        .find_map(|word| word.parse().ok())
        .unwrap_or_else(|| panic!("{forks}"));
    assert!(started < 1000, "{forks}");
    // The allocation failed, and the checker said so.
    assert!(
        memory.stdout.contains("MemoryError"),
        "{}",
        memory.describe()
    );
    // Nothing was written outside the submission's folder.
    let writes = first_got(&report, "writes_outside.py");
    assert!(writes.contains("could not write"), "{writes}");
    assert!(!folder.join("written-by-a-submission.txt").exists());
    assert!(!Path::new("/tmp/written-by-a-submission.txt").exists());
    // No connection came out.
    let connects = first_got(&report, "connects_out.py");
    assert!(connects.contains(&format!("port {port}")), "{connects}");
    assert_eq!(
        outside.accept().map(|_| ()).map_err(|e| e.kind()),
        Err(ErrorKind::WouldBlock),
        "a submission reached a server outside its sandbox"
    );
    // And nothing of any of them runs any more.
    let left = running_with(&folder.display().to_string());
    assert!(left.is_empty(), "left running: {left:?}");
}

#[test]
fn a_class_of_30_side_by_side_gets_the_verdicts_of_each_alone() {
    let folder = class_folder("class-of-30");
    submit(&folder, "web_base.py", &python("web_base.py"));
    // Each program and the one criterion it fails alone (tests of
    // check_web.rs and check_mistakes.rs); "*" for all of them.
    let programs: [(PathBuf, &str); 6] = [
        (example("web_server"), ""),
        (python("web.py"), ""),
        (python("web_prefix_check.py"), "refuses-path-escape"),
        (
            python("web_no_percent_decoding.py"),
            "decodes-percent-escapes",
        ),
        (python("web_empty_404.py"), "answers-404"),
        (example("tcp_server"), "*"),
    ];
    let mut expected = BTreeMap::new();
    for n in 0..5 {
        for (index, (program, fails)) in programs.iter().enumerate() {
            let name = format!(
                "s{n}{index}-{}",
                program.file_name().unwrap().to_string_lossy()
            );
            submit(&folder, &name, program);
            expected.insert(name, *fails);
        }
    }
    let Some(run) = class("web", &folder, &["--jobs", "4", "--format", "csv"])
    else {
        return;
    };
    let mut lines = run.stdout.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let mut seen = 0;
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        let Some(fails) = expected.get(cells[0]) else {
            assert_eq!(cells[0], "web_base.py", "{}", run.describe());
            continue;
        };
        seen += 1;
        let failed: Vec<&str> = header
            .iter()
            .zip(&cells)
            .filter(|(_, cell)| **cell == "0")
            .map(|(name, _)| *name)
            .filter(|name| *name != "score")
            .collect();
        match *fails {
            "*" => assert_eq!(failed.len(), 12, "{line}\n{}", run.describe()),
            "" => assert!(failed.is_empty(), "{line}\n{}", run.describe()),
            one => assert_eq!(failed, [one], "{line}\n{}", run.describe()),
        }
    }
    assert_eq!(seen, 30, "{}", run.describe());
}
