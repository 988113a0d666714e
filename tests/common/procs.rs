//! Child processes the tests and benches start (the calma binary, nats-server): wait for the line
//! that says a child is ready, then keep draining its pipe so it never blocks on a full one.

use std::io::{BufRead, Read};
use std::net::SocketAddr;

/// Read `out` until a line containing `needle` and return that line; panics with `what` when
/// the child closes its pipe first (it exited).
pub fn wait_for_line(out: &mut impl BufRead, needle: &str, what: &str) -> String {
    let mut line = String::new();
    while !line.contains(needle) {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            panic!("{what}");
        }
    }
    line
}

/// Throw away the rest of a child's output, on a thread of its own.
pub fn drain(mut out: impl Read + Send + 'static) {
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
}

/// The address in calma's "calma listening on http://ADDR" line.
pub fn listening_addr(line: &str) -> SocketAddr {
    line.split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .parse()
        .unwrap()
}
