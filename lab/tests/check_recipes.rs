//! The teachers' page's recipes (a GitHub Classroom workflow and a
//! Gradescope autograder) built from the page's own code blocks and run
//! on the solutions, and the reports the page shows, from real runs.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;

use support::{Run, check_text, example, run_program, workspace_root};

/// The code block that follows `<!-- recipe: NAME -->` on the teachers'
/// page.
fn recipe(name: &str) -> String {
    let page = workspace_root().join("book/src/exercises/teachers.md");
    let page = fs::read_to_string(page).unwrap();
    let marker = format!("<!-- recipe: {name} -->\n");
    let after = &page[page.find(&marker).expect(&marker) + marker.len()..];
    let body = &after[after.find('\n').unwrap() + 1..];
    body[..body.find("\n```").unwrap() + 1].to_string()
}

/// The value of `key:` in the workflow's YAML (one line each).
fn yaml_value(yaml: &str, key: &str) -> String {
    yaml.lines()
        .find_map(|line| line.trim().strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("no {key} in the workflow"))
        .to_string()
}

fn fresh_folder(name: &str) -> PathBuf {
    let folder = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&folder);
    fs::create_dir_all(&folder).unwrap();
    folder
}

/// Runs `script` with bash in `dir`, with `env` added to the
/// environment.
fn bash(script: &str, dir: &Path, env: &[(&str, &Path)]) -> Run {
    let mut args = vec!["-C".to_string(), dir.display().to_string()];
    for (key, value) in env {
        args.push(format!("{key}={}", value.display()));
    }
    args.extend(["bash", "-c", script].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_program(Path::new("env"), "env", &args, b"")
}

fn python(name: &str) -> PathBuf {
    workspace_root().join("fixtures/python").join(name)
}

#[test]
fn the_classroom_workflow_builds_and_checks_the_solution() {
    let yaml = recipe("classroom.yml");
    let report = fresh_folder("classroom").join("pinger-report.xml");
    // The solution in place of the student's example; the report where
    // the test can read it.
    let setup =
        yaml_value(&yaml, "setup-command").replace("my_pinger", "udp_pinger");
    let command = yaml_value(&yaml, "command")
        .replace("my_pinger", "udp_pinger")
        .replace("> pinger-report.xml", &format!("> {}", report.display()));
    let root = workspace_root();
    bash(&setup, &root, &[]).assert_success();
    let run = bash(&command, &root, &[]);
    assert_eq!(run.status.code(), Some(0), "{}", run.describe());
    let xml = fs::read_to_string(&report).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), 9, "{xml}");
    assert!(xml.contains("failures=\"0\""), "{xml}");
}

#[test]
fn the_gradescope_autograder_scores_the_solutions_in_full() {
    let top = fresh_folder("gradescope");
    let source = top.join("source");
    fs::create_dir_all(&source).unwrap();
    std::os::unix::fs::symlink(
        workspace_root(),
        source.join("socket-walkthrough"),
    )
    .unwrap();
    for name in ["setup.sh", "run_autograder"] {
        fs::write(source.join(name), recipe(name)).unwrap();
    }
    let env = [("AUTOGRADER", top.as_path())];
    bash("bash source/setup.sh", &top, &env).assert_success();
    // Two copies of the autograder's folder, one per submission, checked
    // at once: a Python pinger and the Rust solution's binary.
    let python_top = fresh_folder("gradescope-python");
    let rust_top = fresh_folder("gradescope-rust");
    for (folder, files) in [
        (
            &python_top,
            vec![python("pinger.py"), python("pinger_base.py")],
        ),
        (&rust_top, vec![example("udp_pinger")]),
    ] {
        std::os::unix::fs::symlink(&source, folder.join("source")).unwrap();
        let submission = folder.join("submission");
        fs::create_dir_all(&submission).unwrap();
        for file in files {
            fs::copy(&file, submission.join(file.file_name().unwrap()))
                .unwrap();
        }
    }
    let runs: Vec<(PathBuf, Run)> = thread::scope(|scope| {
        [&python_top, &rust_top]
            .map(|folder| {
                scope.spawn(move || {
                    let env = [("AUTOGRADER", folder.as_path())];
                    let run = bash("bash source/run_autograder", folder, &env);
                    (folder.to_path_buf(), run)
                })
            })
            .map(|handle| handle.join().unwrap())
            .into()
    });
    for (folder, run) in runs {
        let results = fs::read_to_string(folder.join("results/results.json"))
            .unwrap_or_else(|e| {
                panic!("no results.json ({e})\n{}", run.describe())
            });
        let results: serde_json::Value =
            serde_json::from_str(&results).unwrap();
        let tests = results["tests"].as_array().unwrap();
        assert_eq!(tests.len(), 9, "{results:#}");
        let most: u64 =
            tests.iter().map(|t| t["max_score"].as_u64().unwrap()).sum();
        assert_eq!(results["score"].as_u64(), Some(most), "{results:#}");
        assert!(tests.iter().all(|t| t["status"] == "passed"), "{results:#}");
    }
}

/// The reports on the teachers' page: the Gradescope results and the
/// JUnit XML of one wrong web server, with its path shown as a student's.
#[test]
fn the_reports_on_the_page_are_real_runs() {
    let program = python("web_no_percent_decoding.py");
    let shown = program.display().to_string();
    let lab = support::lab_binary();
    let run = |format: &str| {
        let args = ["check", "web", "--format", format, "--", shown.as_str()];
        let run = run_program(lab, "lab", &args, b"");
        assert_eq!(run.status.code(), Some(1), "{}", run.describe());
        run.stdout.replace(&shown, "submission/web_server.py")
    };
    let results = run("gradescope");
    let value: serde_json::Value = serde_json::from_str(&results).unwrap();
    let tests = value["tests"].as_array().unwrap();
    let failed: Vec<&str> = tests
        .iter()
        .filter(|t| t["status"] == "failed")
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["decodes-percent-escapes"], "{results}");
    let most: u64 =
        tests.iter().map(|t| t["max_score"].as_u64().unwrap()).sum();
    assert_eq!(value["score"].as_u64(), Some(most - 1), "{results}");
    let junit = run("junit");
    let mut reader = quick_xml::Reader::from_str(&junit);
    let (mut cases, mut failures) = (0, 0);
    loop {
        match reader.read_event().expect("well-formed XML") {
            quick_xml::events::Event::Eof => break,
            quick_xml::events::Event::Start(tag)
            | quick_xml::events::Event::Empty(tag) => match tag.name().as_ref()
            {
                b"testcase" => cases += 1,
                b"failure" => failures += 1,
                _ => {}
            },
            _ => {}
        }
    }
    assert_eq!((cases, failures), (12, 1), "{junit}");
    support::assert_transcripts([
        check_text("exercises/gradescope-results.json", results),
        check_text("exercises/web-junit.xml", junit),
    ]);
}

#[test]
fn csv_is_for_a_class_and_gradescope_for_one_program() {
    let lab = support::lab_binary();
    let program = example("udp_pinger").display().to_string();
    let run = run_program(
        lab,
        "lab",
        &["check", "pinger", "--format", "csv", "--", &program],
        b"",
    );
    run.assert_error("--format csv is for --class");
    let folder = fresh_folder("gradescope-class").display().to_string();
    let run = run_program(
        lab,
        "lab",
        &[
            "check",
            "pinger",
            "--format",
            "gradescope",
            "--class",
            &folder,
        ],
        b"",
    );
    run.assert_error("--format gradescope reports one program");
}
