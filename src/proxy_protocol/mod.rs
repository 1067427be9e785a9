//! The PROXY protocol (HAProxy's, versions 1 and 2): the header a proxy writes first on a
//! connection to say whose connection it carries, and reading that header from a client.
//!
//! Two directions, one codec:
//! - to targets (`send-proxy`, `send-proxy-v2`, a group's `proxy_protocol = "v1"|"v2"`): the
//!   session writes [`encode`]'s header first on each backend connection, with the client's
//!   source and destination; a health check writes the header without them (v1 `UNKNOWN`, v2
//!   `LOCAL`), as HAProxy and NLB do;
//! - from clients (`bind ... accept-proxy`, a listener's `accept_proxy = true`): [`accept`]
//!   reads the header before anything else, within a deadline and without reading a byte past
//!   it (what follows is the client's own stream, spliced or parsed by the session), and the
//!   address it names stands for the peer's everywhere.
//!
//! The parser ([`parse`]) is pure, never panics and never asks for more than
//! [`READ_MAX`] bytes: it is what the fuzz target `proxy_header` drives.
//!
//! A leaf: it names no other module of the crate (the session code above it calls it), so its
//! reader uses `libc` and `monoio` directly rather than `crate::io`.

pub mod accept;
pub mod encode;
pub mod parse;

use std::net::SocketAddr;

pub use accept::{accept, AcceptError};
pub use encode::{encode, Encoded};
pub use parse::{parse, Header, ParseError};

/// Which version of the protocol a target is spoken to with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// The text line: `PROXY TCP4 src dst sport dport\r\n`.
    V1,
    /// The binary header: a 12-byte signature, command, family, length, addresses.
    V2,
}

impl Version {
    /// The word the TOML file uses (`proxy_protocol = "v1"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        }
    }
}

/// The two ends of a proxied client connection: the client, and the address it connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addresses {
    pub source: SocketAddr,
    pub destination: SocketAddr,
}

/// The most bytes a header is read with before it is known whole: a v2 header's fixed part
/// and its largest address block (two unix paths, 216 bytes). A v1 line is at most 107.
pub const READ_MAX: usize = parse::V2_FIXED + 216;
