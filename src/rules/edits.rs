//! Header edits (`set-header`, `add-header`, `del-header`): which hold for this message is a
//! bit mask computed during evaluation; the head writer asks [`Edits::drops`] for each received
//! field and calls [`Edits::write_added`] once at the end, so an edit costs nothing unless it
//! holds, and nothing is allocated.

use std::{io::Write, net::SocketAddr};

use super::{request::Request, Compiled, CompiledRule};
use crate::config::rules::{HeaderEdit, HeaderOp, Piece};

/// The header edits that hold for one message.
#[derive(Debug, Clone, Copy)]
pub struct Edits<'r> {
    rules: &'r [CompiledRule],
    /// Bit `k`: the `k`-th header edit of `rules` holds.
    mask: u128,
}

/// The edits of a response; a type of its own so that the two phases are not mixed up.
#[derive(Debug, Clone, Copy)]
pub struct ResponseEdits<'r>(pub Edits<'r>);

impl ResponseEdits<'_> {
    pub fn none() -> Self {
        ResponseEdits(Edits::none())
    }
}

/// What a header value's `%[...]` pieces are taken from.
pub enum Values<'v, 'a> {
    /// A request edit: the request itself.
    Request(&'v Request<'a>),
    /// A response edit: the connection's values only.
    Connection { peer: SocketAddr, local: SocketAddr, tls: bool },
}

impl<'r> Edits<'r> {
    pub fn none() -> Self {
        Edits { rules: &[], mask: 0 }
    }

    pub(super) fn new(rules: &'r [CompiledRule], mask: u128) -> Self {
        Edits { rules, mask }
    }

    pub fn is_empty(&self) -> bool {
        self.mask == 0
    }

    /// The edits that hold, in rule order.
    fn holding(&self) -> impl Iterator<Item = &'r HeaderEdit> + '_ {
        let mask = self.mask;
        self.rules
            .iter()
            .filter_map(|r| match &r.action {
                Compiled::Header(e) => Some(e),
                _ => None,
            })
            .enumerate()
            .filter(move |(k, _)| *k < 128 && mask & (1u128 << k) != 0)
            .map(|(_, e)| e)
    }

    /// Whether a received field called `name` is removed (by a `set` or a `del`).
    pub fn drops(&self, name: &[u8]) -> bool {
        self.mask != 0 && self.holding().any(|e| e.op != HeaderOp::Add && e.name.as_bytes().eq_ignore_ascii_case(name))
    }

    /// Writes the fields the edits add (`set` and `add`), each `Name: value\r\n`.
    pub fn write_added(&self, out: &mut Vec<u8>, values: &Values<'_, '_>) {
        if self.mask == 0 {
            return;
        }
        for e in self.holding().filter(|e| e.op != HeaderOp::Del) {
            out.extend_from_slice(e.name.as_bytes());
            out.extend_from_slice(b": ");
            for piece in &e.value.pieces {
                write_piece(piece, values, out);
            }
            out.extend_from_slice(b"\r\n");
        }
    }
}

fn write_piece(piece: &Piece, values: &Values<'_, '_>, out: &mut Vec<u8>) {
    let (peer, local, tls, request) = match values {
        Values::Request(r) => (r.peer, r.local, r.tls, Some(r)),
        Values::Connection { peer, local, tls } => (*peer, *local, *tls, None),
    };
    // Writing to a Vec cannot fail.
    let _ = match piece {
        Piece::Literal(t) => out.write_all(t.as_bytes()),
        Piece::Src => write!(out, "{}", peer.ip().to_canonical()),
        Piece::SrcPort => write!(out, "{}", peer.port()),
        Piece::Dst => write!(out, "{}", local.ip().to_canonical()),
        Piece::DstPort => write!(out, "{}", local.port()),
        Piece::Tls => out.write_all(if tls { b"1" } else { b"0" }),
        Piece::Method => out.write_all(request.map_or(&[][..], |r| r.method)),
        Piece::Path => out.write_all(request.map_or(&[][..], |r| r.path())),
        Piece::Url => out.write_all(request.map_or(&[][..], |r| r.target)),
        Piece::Query => out.write_all(request.map_or(&[][..], |r| r.query())),
        Piece::Version => out.write_all(request.map_or("", |r| r.version).as_bytes()),
        Piece::RequestHeader(name) => {
            if let Some(r) = request {
                r.fields.any(&mut |n, v| {
                    if n.eq_ignore_ascii_case(name.as_bytes()) {
                        out.extend_from_slice(v);
                        return true;
                    }
                    false
                });
            }
            Ok(())
        }
    };
}
