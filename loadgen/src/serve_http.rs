//! The test backend's request framing: one HTTP/1.1 request (head and body, Content-Length or
//! chunked) out of the bytes a connection has received, for `loadgen serve`.
//!
//! Invariants: a request is reported complete only with its whole body buffered, and `len` is
//! exactly its size on the wire, so pipelined requests are taken one after the other; ambiguous
//! framing (both Content-Length and chunked, differing lengths) and malformed heads are `Bad`.

/// One complete request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Bytes taken by the request, head and body.
    pub len: usize,
    /// The client asked to close after the response (or speaks HTTP/1.0 without keep-alive).
    pub close: bool,
}

/// What the buffered bytes hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Complete(Request),
    Partial,
    Bad,
}

/// Frame the first request in `buf`.
pub fn parse_request(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Request::new(&mut headers);
    let head = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Bad,
    };
    let http10 = r.version == Some(0);
    let (mut length, mut chunked, mut close, mut keep_alive) = (None::<usize>, false, false, false);
    for h in r.headers.iter() {
        let v = String::from_utf8_lossy(h.value).trim().to_ascii_lowercase();
        if h.name.eq_ignore_ascii_case("content-length") {
            match v.parse::<usize>() {
                Ok(l) if length.is_none_or(|old| old == l) => length = Some(l),
                _ => return Parsed::Bad,
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = v.split(',').any(|t| t.trim() == "chunked");
        } else if h.name.eq_ignore_ascii_case("connection") {
            close |= v.contains("close");
            keep_alive |= v.contains("keep-alive");
        }
    }
    if chunked && length.is_some() {
        return Parsed::Bad;
    }
    let body = if chunked {
        match chunked_len(&buf[head..]) {
            Ok(Some(n)) => n,
            Ok(None) => return Parsed::Partial,
            Err(()) => return Parsed::Bad,
        }
    } else {
        let l = length.unwrap_or(0);
        if buf.len() - head < l {
            return Parsed::Partial;
        }
        l
    };
    Parsed::Complete(Request {
        method: r.method.unwrap_or("").to_string(),
        path: r.path.unwrap_or("").to_string(),
        len: head + body,
        close: close || (http10 && !keep_alive),
    })
}

/// Size of a complete chunked body at the start of `b` (trailers included), `None` if incomplete.
fn chunked_len(b: &[u8]) -> Result<Option<usize>, ()> {
    let line_end = |from: usize| b[from..].windows(2).position(|w| w == b"\r\n").map(|i| from + i);
    let mut at = 0;
    loop {
        let Some(eol) = line_end(at) else { return Ok(None) };
        let size_text = std::str::from_utf8(&b[at..eol]).map_err(|_| ())?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16).map_err(|_| ())?;
        at = eol + 2;
        if size == 0 {
            // Trailer fields, then an empty line.
            loop {
                let Some(eol) = line_end(at) else { return Ok(None) };
                let empty = eol == at;
                at = eol + 2;
                if empty {
                    return Ok(Some(at));
                }
            }
        }
        if b.len() < at + size + 2 {
            return Ok(None);
        }
        if &b[at + size..at + size + 2] != b"\r\n" {
            return Err(());
        }
        at += size + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipelined_requests_with_bodies() {
        let wire = b"POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\nConnection: close\r\n\r\n";
        let Parsed::Complete(first) = parse_request(wire) else { panic!("first request") };
        assert_eq!((first.method.as_str(), first.path.as_str(), first.close), ("POST", "/a", false));
        let Parsed::Complete(second) = parse_request(&wire[first.len..]) else { panic!("second request") };
        assert_eq!((second.path.as_str(), second.close, first.len + second.len), ("/b", true, wire.len()));
        assert_eq!(parse_request(&wire[..first.len - 1]), Parsed::Partial);
    }

    #[test]
    fn chunked_bodies_and_bad_framing() {
        let wire = b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n0\r\nX: y\r\n\r\n";
        match parse_request(wire) {
            Parsed::Complete(r) => assert_eq!(r.len, wire.len()),
            p => panic!("{p:?}"),
        }
        assert_eq!(parse_request(&wire[..wire.len() - 2]), Parsed::Partial);
        assert_eq!(parse_request(b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"), Parsed::Bad);
        assert_eq!(
            parse_request(b"GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Parsed::Bad
        );
        assert_eq!(parse_request(b"\x01\x02 nonsense\r\n\r\n"), Parsed::Bad);
        let Parsed::Complete(r) = parse_request(b"GET / HTTP/1.0\r\n\r\n") else { panic!("1.0") };
        assert!(r.close);
    }
}
