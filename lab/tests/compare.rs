//! End-to-end tests of `socket-walkthrough compare`: the real binary, one
//! experiment at a time with `--json`, checked for the claim each
//! experiment makes. Timings are printed, never asserted: the machine is
//! shared and noisy, only the qualitative results are stable.

#[path = "../../tests/support/mod.rs"]
mod support;

use serde_json::{Value, json};
use support::Run;

/// Runs the lab binary with `args`.
fn lab(args: &[&str]) -> Run {
    support::run_lab(args, b"")
}

/// One experiment's JSON results, with the run for failure messages.
struct Results {
    run: Run,
    experiment: Value,
}

impl Results {
    /// The value at a JSON pointer such as `/udp/sizes`.
    fn at(&self, pointer: &str) -> &Value {
        self.experiment.pointer(pointer).unwrap_or_else(|| {
            panic!("no {pointer} in the results\n{}", self.run.describe())
        })
    }

    fn number(&self, pointer: &str) -> u64 {
        self.at(pointer).as_u64().unwrap_or_else(|| {
            panic!("{pointer} is not a count\n{}", self.run.describe())
        })
    }

    fn check(&self, pointer: &str, expected: Value) {
        assert_eq!(
            self.at(pointer),
            &expected,
            "{pointer}\n{}",
            self.run.describe()
        );
    }

    fn claim(&self, holds: bool, claim: &str) {
        assert!(holds, "{claim}\n{}", self.run.describe());
    }
}

/// Runs `compare <name> --json` (plus `extra`) and returns its one
/// experiment.
fn compare(name: &str, extra: &[&str]) -> Results {
    let mut args = vec!["compare", name, "--json"];
    args.extend_from_slice(extra);
    let run = lab(&args);
    run.assert_success();
    let document: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON: {e}\n{}", run.describe()));
    let experiment = match document.as_array().map(Vec::as_slice) {
        Some([experiment]) => experiment.clone(),
        _ => panic!("expected an array of one\n{}", run.describe()),
    };
    let results = Results { run, experiment };
    results.check("/name", json!(name));
    results.claim(
        results
            .at("/conclusion")
            .as_str()
            .is_some_and(|c| !c.is_empty()),
        "a conclusion",
    );
    results
}

const TITLES: [&str; 8] = [
    "1. boundaries: three sends, how many reads?",
    "2. cost: time of one request/reply exchange",
    "3. absent: no server at the address",
    "4. oversize: a 5000-byte message, a 2048-byte buffer",
    "5. loss: a path that drops 30% of datagrams",
    "6. backlog: a server that never calls accept",
    "7. rebind: restarting a server on the same port",
    "8. flow: a fast sender, a receiver not reading yet",
];

#[test]
fn boundaries_udp_keeps_messages_tcp_keeps_only_bytes() {
    let results = compare("boundaries", &[]);
    results.check("/udp/reads", json!(3));
    results.check("/udp/sizes", json!([3, 3, 5]));
    results.check("/udp/received", json!(["one", "two", "three"]));
    results.check("/tcp/received", json!("onetwothree"));
    let reads = results.number("/tcp/reads");
    results.claim((1..=3).contains(&reads), "TCP: at most 3 reads");
}

#[test]
fn cost_times_every_exchange_of_each_transport() {
    let results = compare("cost", &["--requests", "50"]);
    for series in ["/udp", "/tcp/new_connection", "/tcp/persistent"] {
        results.check(&format!("{series}/exchanges"), json!(50));
        results.check(&format!("{series}/failed"), json!(0));
        let median = results.at(&format!("{series}/median_us")).as_f64();
        let p99 = results.at(&format!("{series}/p99_us")).as_f64();
        results.claim(
            median.is_some_and(|median| median > 0.0),
            &format!("{series}: a positive median"),
        );
        results.claim(
            median.zip(p99).is_some_and(|(median, p99)| p99 >= median),
            &format!("{series}: p99 at least the median"),
        );
    }
    // The one ratio shown is new/kept, from the two medians it reports;
    // no UDP-vs-TCP ratio (thread wake-up noise on loopback) is left.
    let new = results.at("/tcp/new_connection/median_us").as_f64();
    let kept = results.at("/tcp/persistent/median_us").as_f64();
    let ratio = results.at("/tcp/persistent/cheaper_than_new").as_f64();
    results.claim(
        matches!((new, kept, ratio), (Some(new), Some(kept), Some(ratio))
            if (new / kept - ratio).abs() <= 0.06 * ratio + 0.05),
        "cheaper_than_new = new median / kept median",
    );
    for gone in ["/tcp/new_connection/vs_udp", "/tcp/persistent/vs_udp"] {
        results.claim(
            results.experiment.pointer(gone).is_none(),
            &format!("no {gone}"),
        );
    }
}

#[test]
fn absent_server_only_unconnected_udp_hears_nothing() {
    let results = compare("absent", &[]);
    results.check("/udp/unconnected/outcome", json!("TimedOut"));
    results.check("/udp/connected/outcome", json!("ConnectionRefused"));
    results.check("/tcp/outcome", json!("ConnectionRefused"));
}

#[test]
fn oversize_udp_cuts_tcp_delivers_and_an_early_close_resets() {
    let results = compare("oversize", &[]);
    results.check("/udp/sent", json!(5000));
    results.check("/udp/arrived", json!(5000));
    results.check("/udp/received", json!(2048));
    results.check("/udp/lost", json!(2952));
    results.check("/udp/next_read", json!("nothing"));
    results.check("/tcp/received", json!(5000));
    results.check("/tcp/intact", json!(true));
    let sizes: Vec<u64> = results
        .at("/tcp/sizes")
        .as_array()
        .map(|sizes| sizes.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    results.claim(
        sizes.len() >= 3
            && sizes.iter().all(|&size| size <= 2048)
            && sizes.iter().sum::<u64>() == 5000,
        "TCP: 5000 bytes in reads of at most 2048",
    );
    results.check("/tcp/reset/server_read", json!(2048));
    // Linux: the reply that arrived before the RST is still read; the
    // read after it reports the reset.
    results.check("/tcp/reset/first_read_is_reply", json!(true));
    results.check("/tcp/reset/first_read", json!(15));
    results.check("/tcp/reset/next_read", json!("ConnectionReset"));
}

#[test]
fn loss_udp_loses_the_same_datagrams_every_run_tcp_none() {
    let first = compare("loss", &[]);
    let second = compare("loss", &[]);
    let received = first.number("/udp/received");
    first.claim(received < 100, "UDP: some replies lost");
    first.claim(
        first.number("/udp/requests_dropped")
            + first.number("/udp/replies_dropped")
            + received
            == 100,
        "UDP: every loss is one the forwarder chose",
    );
    second.check("/udp/received", json!(received));
    second.check(
        "/udp/requests_dropped",
        first.at("/udp/requests_dropped").clone(),
    );
    for results in [&first, &second] {
        results.check("/udp/sent", json!(100));
        results.check("/tcp/sent", json!(100));
        results.check("/tcp/received", json!(100));
        results.check("/tcp/lost", json!(0));
    }
}

#[test]
fn backlog_connections_complete_without_accept_until_the_queue_is_full() {
    let results = compare("backlog", &[]);
    results.check("/udp/queued", json!(10));
    let small = results.number("/tcp/backlog_1/completed");
    let large = results.number("/tcp/backlog_128/completed");
    results.claim(small < large, "listen(1) completes fewer connects");
    results.check("/tcp/backlog_128/completed", json!(10));
    results.check("/tcp/backlog_128/failure", Value::Null);
    // Linux lets the queue hold one more than the backlog.
    if cfg!(target_os = "linux") {
        results.check("/tcp/backlog_1/completed", json!(2));
        results.check("/tcp/backlog_1/failure", json!("TimedOut"));
    }
}

#[test]
fn rebind_time_wait_holds_a_tcp_port_unless_both_reuse_it() {
    let results = compare("rebind", &[]);
    results.check("/udp/rebind", json!("ok"));
    results.check("/tcp/without_reuse", json!("AddrInUse"));
    results.check("/tcp/with_reuse", json!("ok"));
    // Linux wants SO_REUSEADDR on the socket in TIME_WAIT too.
    if cfg!(target_os = "linux") {
        results.check("/tcp/only_new_reuse", json!("AddrInUse"));
    }
}

#[test]
fn flow_udp_drops_for_a_slow_reader_tcp_makes_the_sender_wait() {
    let results = compare("flow", &[]);
    let sent = results.number("/udp/sent");
    let received = results.number("/udp/received");
    results.check("/udp/sent", json!(1000));
    results.claim(received < sent, "UDP: datagrams dropped");
    results.check("/udp/dropped", json!(sent - received));
    let payload = results.number("/tcp/sent");
    results.check("/tcp/blocked", json!(true));
    results.claim(
        results.number("/tcp/written_before_block") < payload,
        "TCP: blocked before the end",
    );
    results.check("/tcp/received", json!(payload));
    results.check("/tcp/intact", json!(true));
}

#[test]
fn default_run_prints_all_eight_side_by_side_in_80_columns() {
    let run = lab(&["compare"]);
    run.assert_success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    for title in TITLES {
        assert!(lines.contains(&title), "no {title:?}\n{}", run.describe());
    }
    let headers = lines
        .iter()
        .filter(|line| line.split(" | ").map(str::trim).eq(["UDP", "TCP"]))
        .count();
    assert_eq!(headers, 8, "UDP | TCP headers\n{}", run.describe());
    let conclusions: Vec<usize> = (0..lines.len())
        .filter(|&index| lines[index].starts_with("=> "))
        .collect();
    assert_eq!(conclusions.len(), 8, "conclusions\n{}", run.describe());
    for index in conclusions {
        let next = lines.get(index + 1).copied().unwrap_or_default();
        assert!(
            next.is_empty(),
            "a conclusion on one line\n{}",
            run.describe()
        );
    }
    for line in lines {
        assert!(
            line.chars().count() <= 80,
            "wider than 80 columns: {line:?}\n{}",
            run.describe()
        );
    }
}

#[test]
fn json_run_lists_all_eight_in_order() {
    let run = lab(&["compare", "--json", "--requests", "50"]);
    run.assert_success();
    let document: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON: {e}\n{}", run.describe()));
    let experiments = document.as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = experiments
        .iter()
        .filter_map(|experiment| experiment["name"].as_str())
        .collect();
    let expected: Vec<&str> = TITLES
        .iter()
        .filter_map(|title| title.split([' ', ':']).nth(1))
        .collect();
    assert_eq!(names, expected, "{}", run.describe());
    for experiment in &experiments {
        assert!(
            experiment["udp"].is_object()
                && experiment["tcp"].is_object()
                && experiment["conclusion"].is_string(),
            "{experiment}\n{}",
            run.describe()
        );
    }
}

#[test]
fn bad_experiment_or_request_count_is_a_usage_error() {
    for args in [
        &["compare", "nonsense"][..],
        &["compare", "cost", "--requests", "0"],
    ] {
        let run = lab(args);
        assert_eq!(run.status.code(), Some(2), "{}", run.describe());
        assert!(run.stdout.is_empty(), "{}", run.describe());
        assert!(
            run.stderr.starts_with("error: invalid value")
                && run.stderr.contains("--help"),
            "{}",
            run.describe()
        );
    }
}
