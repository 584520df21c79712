//! The socket lab: live experiments that show how UDP and TCP differ, and a
//! lossy UDP relay to put between the examples.
//!
//!     cargo lab compare            # all eight experiments
//!     cargo lab compare boundaries # one of them
//!     cargo lab relay --listen 127.0.0.1:12001 --server 127.0.0.1:12000
//!     cargo lab pinger-server --drop 0.36 --seed 7
//!     cargo lab check pinger -- ./target/debug/examples/udp_pinger
//!     cargo lab trace tcp          # the packets of one TCP exchange

mod check;
mod compare;
mod pinger_server;
mod relay;
mod trace;

use clap::{Parser, Subcommand};

/// Experiments with UDP and TCP sockets on this machine, and the checker
/// of the book's exercises.
#[derive(Parser)]
#[command(name = "lab", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run UDP and TCP side by side on loopback and print what differs
    Compare(compare::Args),
    /// Relay UDP datagrams between a client and a server, losing,
    /// delaying, duplicating and reordering some on purpose
    Relay(relay::Args),
    /// Answer pings like the Kurose & Ross UDP Pinger lab's server,
    /// dropping a share of them (exercise 1)
    PingerServer(pinger_server::Args),
    /// Check a program written for one of the book's exercises
    Check(check::Args),
    /// Capture the packets of one exchange of the examples on loopback
    /// (or watch a port live) and explain each one
    Trace(trace::Args),
}

fn main() {
    match Cli::parse().command {
        Command::Compare(args) => compare::run(args),
        Command::Relay(args) => relay::run(args),
        Command::PingerServer(args) => pinger_server::run(args),
        Command::Check(args) => check::run(args),
        Command::Trace(args) => trace::run(args),
    }
}

#[test]
fn flags_are_well_formed() {
    use clap::CommandFactory;
    Cli::command().debug_assert();
}
