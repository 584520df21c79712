//! The checker's reports: every format is drawn from one JSON value per
//! program (see [`to_json`]), so that one program and a class, checked
//! here or in a sandbox, say the same thing.
//!
//! The JSON of one program (documented on the teachers' page):
//!
//! ```text
//! { "exercise": "pinger", "program": "...", "started": true,
//!   "error": null or "why it did not start",
//!   "criteria": [ { "name", "status": "pass"|"fail"|"skip", "weight",
//!                   "score", "expected", "got", "hint", "reason" } ],
//!   "passed", "failed", "skipped", "score", "max_score" }
//! ```

use std::io::Write;

use quick_xml::Writer;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
use serde_json::{Value, json};

use super::Criterion;

/// The formats of `--format`.
#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
pub enum Format {
    /// One line per criterion (one row per submission with --class)
    Text,
    /// The report as JSON (see the teachers' page)
    Json,
    /// JUnit XML, read by GitHub Classroom, GitLab and Jenkins
    Junit,
    /// Gradescope's results.json (one program)
    Gradescope,
    /// One row per submission, one column per criterion (--class)
    Csv,
}

/// Points a criterion is worth. Most are worth 1; those that carry the
/// point of their exercise are worth 2.
pub fn weight(name: &str) -> u32 {
    match name {
        "reports-timeouts"
        | "ignores-stale-replies"
        | "serves-while-one-client-is-silent"
        | "two-lines-in-one-write"
        | "tries-the-next-address"
        | "refuses-path-escape" => 2,
        _ => 1,
    }
}

/// The JSON of one program's check.
pub fn to_json(
    exercise: &str,
    program: &str,
    criteria: &[Criterion],
    error: Option<&str>,
) -> Value {
    let mut listed = Vec::new();
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let (mut score, mut max_score) = (0, 0);
    for criterion in criteria {
        let weight = weight(criterion.name);
        let mut entry = json!({
            "name": criterion.name,
            "weight": weight,
        });
        if let Some(reason) = &criterion.skipped {
            skipped += 1;
            entry["status"] = json!("skip");
            entry["score"] = json!(0);
            entry["reason"] = json!(reason);
        } else if let Some(failure) = &criterion.failure {
            failed += 1;
            max_score += weight;
            entry["status"] = json!("fail");
            entry["score"] = json!(0);
            entry["expected"] = json!(failure.expected);
            entry["got"] = json!(failure.got);
            entry["hint"] = json!(failure.hint);
        } else {
            passed += 1;
            max_score += weight;
            score += weight;
            entry["status"] = json!("pass");
            entry["score"] = json!(weight);
        }
        listed.push(entry);
    }
    json!({
        "exercise": exercise,
        "program": program,
        "started": error.is_none(),
        "error": error,
        "criteria": listed,
        "passed": passed,
        "failed": failed,
        "skipped": skipped,
        "score": score,
        "max_score": max_score,
    })
}

fn text_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or_default()
}

fn number(value: &Value, key: &str) -> u64 {
    value[key].as_u64().unwrap_or_default()
}

/// The text report of one program: a line per criterion and a count, or
/// one line when the program never started.
pub fn text(report: &Value) -> String {
    if let Some(error) = report["error"].as_str() {
        return format!("{}; no criterion was checked\n", one_line(error));
    }
    let mut text = String::new();
    for criterion in criteria(report) {
        text.push_str(&criterion_line(criterion));
        text.push('\n');
    }
    let (passed, failed, skipped) = (
        number(report, "passed"),
        number(report, "failed"),
        number(report, "skipped"),
    );
    if skipped > 0 {
        text.push_str(&format!(
            "{passed} passed, {failed} failed, {skipped} skipped\n"
        ));
    } else {
        text.push_str(&format!("{passed} passed, {failed} failed\n"));
    }
    text
}

fn criteria(report: &Value) -> &[Value] {
    report["criteria"].as_array().map_or(&[], Vec::as_slice)
}

/// `PASS name`, `SKIP name: why` or `FAIL name: expected ...; got ....
/// Hint: ...`.
fn criterion_line(criterion: &Value) -> String {
    let name = text_of(criterion, "name");
    match text_of(criterion, "status") {
        "pass" => format!("PASS {name}"),
        "skip" => {
            format!("SKIP {name}: {}", one_line(text_of(criterion, "reason")))
        }
        _ => format!("FAIL {name}: {}", failure_text(criterion)),
    }
}

/// What was expected and the hint are the checker's own words, shown
/// whole; what came may hold the program's output, and is shortened.
fn failure_text(criterion: &Value) -> String {
    let whole = |key| text_of(criterion, key).trim_end().replace('\n', "⏎");
    format!(
        "expected {}; got {}. Hint: {}",
        whole("expected"),
        one_line(text_of(criterion, "got")),
        whole("hint")
    )
}

/// Shows text on one line, shortened at a word boundary: program output
/// can be long.
pub fn one_line(text: &str) -> String {
    const LONGEST: usize = 160;
    let line = text.trim_end().replace('\n', "⏎");
    if line.chars().count() <= LONGEST {
        return line;
    }
    let cut: String = line.chars().take(LONGEST - 3).collect();
    let cut = match cut.rfind(' ') {
        Some(at) if at > LONGEST / 2 => &cut[..at],
        _ => cut.as_str(),
    };
    format!("{} ...", cut.trim_end())
}

/// Gradescope's results.json for one program: one test per criterion,
/// scored by its weight; skipped criteria are worth nothing.
pub fn gradescope(report: &Value) -> Value {
    let error = report["error"].as_str();
    let tests: Vec<Value> = criteria(report)
        .iter()
        .map(|criterion| {
            let status = text_of(criterion, "status");
            let weight = number(criterion, "weight");
            let output = match (error, status) {
                (Some(error), _) => error.to_string(),
                (None, "pass") => "passed".to_string(),
                (None, "skip") => format!(
                    "skipped on this machine: {}",
                    text_of(criterion, "reason")
                ),
                (None, _) => failure_text(criterion),
            };
            json!({
                "name": text_of(criterion, "name"),
                "score": if error.is_none() { number(criterion, "score") } else { 0 },
                "max_score": if status == "skip" { 0 } else { weight },
                "status": if status == "fail" || error.is_some() { "failed" } else { "passed" },
                "output": output,
            })
        })
        .collect();
    let score: u64 = tests.iter().map(|t| number(t, "score")).sum();
    json!({
        "score": score,
        "output": match error {
            Some(error) => format!("{error}; no criterion was checked"),
            None => format!(
                "{} passed, {} failed, {} skipped",
                number(report, "passed"),
                number(report, "failed"),
                number(report, "skipped")
            ),
        },
        "tests": tests,
    })
}

/// JUnit XML: one test suite per program (`name` names it), one test case
/// per criterion.
pub fn junit(suites: &[(String, &Value)]) -> String {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    let mut write = |event: Event| {
        writer
            .write_event(event)
            .expect("writing XML to memory cannot fail");
    };
    let total = |key: &str| -> u64 {
        suites.iter().map(|(_, report)| count(report, key)).sum()
    };
    let mut root = BytesStart::new("testsuites");
    root.push_attribute(("tests", total("tests").to_string().as_str()));
    root.push_attribute(("failures", total("failures").to_string().as_str()));
    root.push_attribute(("skipped", total("skipped").to_string().as_str()));
    write(Event::Start(root));
    for (name, report) in suites {
        let exercise = text_of(report, "exercise");
        let mut suite = BytesStart::new("testsuite");
        suite.push_attribute(("name", name.as_str()));
        suite.push_attribute((
            "tests",
            count(report, "tests").to_string().as_str(),
        ));
        suite.push_attribute((
            "failures",
            count(report, "failures").to_string().as_str(),
        ));
        suite.push_attribute((
            "skipped",
            count(report, "skipped").to_string().as_str(),
        ));
        write(Event::Start(suite));
        let error = report["error"].as_str();
        for criterion in criteria(report) {
            let mut case = BytesStart::new("testcase");
            case.push_attribute(("name", text_of(criterion, "name")));
            case.push_attribute((
                "classname",
                format!("{exercise}.{name}").as_str(),
            ));
            let status = text_of(criterion, "status");
            let (tag, message) = match (error, status) {
                (Some(error), _) => ("failure", error.to_string()),
                (None, "fail") => ("failure", failure_text(criterion)),
                (None, "skip") => {
                    ("skipped", text_of(criterion, "reason").to_string())
                }
                _ => {
                    write(Event::Empty(case));
                    continue;
                }
            };
            write(Event::Start(case));
            let mut inner = BytesStart::new(tag);
            inner.push_attribute(("message", one_line(&message).as_str()));
            write(Event::Start(inner));
            write(Event::Text(BytesText::new(&message)));
            write(Event::End(BytesEnd::new(tag)));
            write(Event::End(BytesEnd::new("testcase")));
        }
        write(Event::End(BytesEnd::new("testsuite")));
    }
    write(Event::End(BytesEnd::new("testsuites")));
    let mut xml = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n".to_vec();
    xml.extend(writer.into_inner());
    xml.push(b'\n');
    String::from_utf8(xml).expect("the XML writer writes UTF-8")
}

/// JUnit's counts for one report: a program that never started fails
/// every criterion.
fn count(report: &Value, key: &str) -> u64 {
    let listed = criteria(report).len() as u64;
    let started = report["error"].is_null();
    match key {
        "tests" => listed,
        "failures" if !started => listed,
        "failures" => number(report, "failed"),
        "skipped" if !started => 0,
        _ => number(report, "skipped"),
    }
}

/// The CSV of a class: one row per file, one column per criterion (the
/// points it got, empty when skipped or not checked), the total, the
/// maximum and a note.
pub fn csv(
    names: &[&str],
    rows: &[(String, Option<&Value>, String)],
) -> String {
    let mut out = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["submission"];
    header.extend(names);
    header.extend(["score", "max_score", "note"]);
    write_record(&mut out, &header);
    for (submission, report, note) in rows {
        let mut record = vec![submission.clone()];
        for name in names {
            let got = report.and_then(|report| {
                criteria(report)
                    .iter()
                    .find(|c| text_of(c, "name") == *name)
                    .filter(|c| text_of(c, "status") != "skip")
                    .map(|c| number(c, "score").to_string())
            });
            record.push(got.unwrap_or_default());
        }
        match report {
            Some(report) => {
                record.push(number(report, "score").to_string());
                record.push(number(report, "max_score").to_string());
            }
            None => record.extend([String::new(), String::new()]),
        }
        record.push(note.clone());
        write_record(&mut out, &record);
    }
    let bytes = out.into_inner().expect("writing CSV to memory cannot fail");
    String::from_utf8(bytes).expect("the fields are UTF-8")
}

fn write_record<S: AsRef<[u8]>>(out: &mut csv::Writer<Vec<u8>>, record: &[S]) {
    out.write_record(record)
        .expect("writing CSV to memory cannot fail");
}

/// Writes `text` to stdout; a closed stdout (a pipe to `head`) is not
/// the checker's failure.
pub fn print(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_between_words() {
        let long = "word ".repeat(60);
        let line = one_line(&long);
        assert!(line.ends_with("word ..."), "{line}");
        assert!(line.chars().count() <= 160);
    }
}
