//! The lab's console sessions that the book shows (compare runs, the relay
//! chapter's two terminals) are real: these tests run them and compare the
//! output with book/src/output/. `cargo xtask bless` rewrites the files
//! after an intended change.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::fs;

use support::{Server, Session, assert_transcripts, check_text, run_example};

/// Replaces every number in `text` by `#`, so that two runs of an
/// experiment compare equal when only their figures differ.
fn mask_numbers(text: &str) -> String {
    let mut masked = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            while chars
                .peek()
                .is_some_and(|c| c.is_ascii_digit() || *c == '.')
            {
                chars.next();
            }
            masked.push('#');
        } else {
            masked.push(c);
        }
    }
    masked
}

/// The words of a two-column experiment block, column by column, with
/// numbers masked: independent of figures and of where a column wraps.
fn shape(block: &str) -> [Vec<String>; 3] {
    let mut columns: [Vec<String>; 3] = Default::default();
    for line in block.lines() {
        let (left, right, other) = match line.split_once('|') {
            Some((left, right)) => (left, right, ""),
            None => ("", "", line),
        };
        for (column, text) in columns.iter_mut().zip([left, right, other]) {
            column.extend(text.split_whitespace().map(mask_numbers));
        }
    }
    columns
}

const EXPERIMENTS: [&str; 8] = [
    "boundaries",
    "cost",
    "absent",
    "oversize",
    "loss",
    "backlog",
    "rebind",
    "flow",
];

/// The book shows one recorded run of each experiment: the words and the
/// layout must be what the lab prints today; only figures may differ.
#[test]
fn recorded_compare_runs_match_the_lab() {
    let dir = support::workspace_root().join("book/src/output");
    let mut mismatches = Vec::new();
    for name in EXPERIMENTS {
        let run = support::run_lab(&["compare", name], b"");
        run.assert_success();
        let path = dir.join(format!("compare-{name}.txt"));
        let recorded_command = format!("$ cargo lab compare {name}\n");
        if std::env::var_os("BLESS").is_some() {
            fs::write(&path, format!("{recorded_command}{}", run.stdout))
                .unwrap();
            continue;
        }
        let recorded = fs::read_to_string(&path).unwrap_or_default();
        let recorded = recorded.strip_prefix(&recorded_command).unwrap_or("");
        if shape(recorded) != shape(&run.stdout) {
            mismatches.push(format!(
                "{} no longer matches `compare {name}` (`cargo xtask bless`)\n\
                 --- book\n{recorded}--- real run\n{}",
                path.display(),
                run.stdout
            ));
        }
    }
    if std::env::var_os("BLESS").is_some() {
        fs::write(dir.join("compare-machine.txt"), machine()).unwrap();
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// A one-line description of this machine for the recorded runs.
fn machine() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel =
        fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "Recorded with a debug build (`cargo run`) on {} {}, {cores} cores \
         ({cpu}), Linux {}, a shared machine: the figures vary from run to \
         run.\n",
        std::env::consts::OS,
        std::env::consts::ARCH,
        kernel.trim()
    )
}

#[test]
fn mask_and_shape_ignore_figures_and_wrapping() {
    assert_eq!(
        mask_numbers("median 53.4 µs (1.7x UDP), p99"),
        "median # µs (#x UDP), p#"
    );
    let a = "A    | B 1\nlong left | right\n=> done 12\n";
    let b = "A | B 22 right\nlong    |\nleft |\n=> done 3\n";
    assert_eq!(shape(a), shape(b));
    assert_ne!(shape(a), shape("A | B 1\nlong left | wrong\n=> done 1\n"));
}

/// The relay chapter's two terminals: the relay's log and a client that
/// sometimes gets no reply. Fates come from the seed, so the run is exact
/// once ports are renumbered: server 12000, relay 12001, clients from
/// 50001 on in order of appearance.
#[test]
fn relay_sessions() {
    let mut server = Server::start("udp_server");
    let server_port = server.port();
    let server_address = format!("127.0.0.1:{server_port}");
    let relay_args = [
        "relay",
        "--listen",
        "127.0.0.1:0",
        "--server",
        &server_address,
        "--drop",
        "0.3",
        "--seed",
        "7",
    ];
    let mut relay = std::process::Command::new(support::lab_binary())
        .args(relay_args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut relay_out = std::io::BufReader::new(relay.stdout.take().unwrap());
    let mut first_line = String::new();
    std::io::BufRead::read_line(&mut relay_out, &mut first_line).unwrap();
    let relay_port: u16 = first_line
        .split_once(", forwarding")
        .and_then(|(head, _)| head.rsplit_once(':'))
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {first_line:?}"));

    let mut client_session = Session::default();
    let sentences = ["one", "two", "three", "four", "five", "six"];
    for sentence in sentences {
        let args = ["--server-port", &relay_port.to_string(), "--timeout", "1"];
        let run = run_example(
            "udp_client",
            &args,
            format!("{sentence}\n").as_bytes(),
        );
        let shown = "cargo run --example udp_client -- --server-port 12001 \
                     --timeout 1";
        client_session.record(shown, &run, Some(sentence));
        if run.status.success() {
            server.next_line();
        }
    }
    let _ = relay.kill();
    let _ = relay.wait();
    let mut log = String::new();
    std::io::Read::read_to_string(&mut relay_out, &mut log).unwrap();
    let mut relay_session = Session::default();
    relay_session.line(
        "$ cargo lab relay --listen 127.0.0.1:12001 --server 127.0.0.1:12000 \
         --drop 0.3 --seed 7",
    );
    relay_session.text.push_str(&first_line);
    relay_session.text.push_str(&log);
    assert!(
        relay_session.text.contains("dropped"),
        "{}",
        relay_session.text
    );

    let renumber = |session: Session| {
        renumber_ports(&session.text, server_port, relay_port)
    };
    assert_transcripts([
        check_text("relay_session.txt", renumber(relay_session)),
        check_text("relay_client_timeout.txt", renumber(client_session)),
    ]);
}

/// Writes the server's port as 12000, the relay's as 12001 and each
/// client's ephemeral port as 50001, 50002, … in order of appearance.
fn renumber_ports(text: &str, server_port: u16, relay_port: u16) -> String {
    let mut clients: Vec<String> = Vec::new();
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("127.0.0.1:") {
        let from = at + "127.0.0.1:".len();
        out.push_str(&rest[..from]);
        let digits = rest[from..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len() - from);
        let port = &rest[from..from + digits];
        // The command lines already show the book's ports.
        let shown = if port == "12000" || port == "12001" {
            port.to_string()
        } else if port == server_port.to_string() {
            "12000".to_string()
        } else if port == relay_port.to_string() {
            "12001".to_string()
        } else {
            let index =
                clients.iter().position(|p| p == port).unwrap_or_else(|| {
                    clients.push(port.to_string());
                    clients.len() - 1
                });
            (50001 + index).to_string()
        };
        out.push_str(&shown);
        rest = &rest[from + digits..];
    }
    out.push_str(rest);
    out
}
