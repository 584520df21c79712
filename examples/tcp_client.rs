//! TCP client: connects to the TCP server, sends one lowercase sentence
//! and prints the uppercase reply.
//!
//! Start the server first, in another terminal:
//!
//!     cargo run --example tcp_server
//!     cargo run --example tcp_client
//!
//! `--help` lists the flags (server name and port).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

use clap::Parser;
use socket_walkthrough::{OrExit, fail, input};

/// Send one line to the TCP uppercase server and print its reply.
#[derive(Parser)]
struct Args {
    /// Host name or IP address of the server
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// TCP port the server listens on
    #[arg(long, default_value_t = 12000)]
    server_port: u16,
}

fn main() {
    let args = Args::parse();
    let server_name = args.server_name;
    let server_port = args.server_port;
    let mut client_socket =
        TcpStream::connect((server_name.as_str(), server_port)).or_exit(
            format_args!("cannot connect to {server_name}:{server_port}"),
        );
    let sentence = input("Input lowercase sentence: ");
    // A TCP stream has no message boundaries: the newline tells the server
    // where the sentence ends, however the bytes are split on the way.
    client_socket
        .write_all(format!("{sentence}\n").as_bytes())
        .or_exit("cannot send the sentence");
    let mut modified_sentence = Vec::new();
    BufReader::with_capacity(2048, &client_socket)
        .read_until(b'\n', &mut modified_sentence)
        .or_exit("cannot receive the reply");
    // read_until also stops at the end of the stream: a reply without its
    // newline means the server closed the connection halfway.
    if modified_sentence.pop() != Some(b'\n') {
        fail("the server closed the connection before the end of its reply");
    }
    let modified_sentence = String::from_utf8_lossy(&modified_sentence);
    println!("From Server: {modified_sentence}");
    drop(client_socket);
}

#[test]
fn flags_are_well_formed() {
    use clap::CommandFactory;
    Args::command().debug_assert();
}
