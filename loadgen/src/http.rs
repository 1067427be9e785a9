//! The HTTP/1.1 client codec, loadgen's own (it never shares the proxy's): the request bytes a
//! connection sends, and an incremental response reader that frames responses out of a byte
//! stream (Content-Length, chunked, or until close) without copying bodies.
//!
//! Invariants: the reader never holds more than one response head (bounded by
//! [`MAX_HEAD`]) plus one read's worth of bytes; bodies are skipped, never stored; responses come
//! out in order, one per request, so pipelined requests match their responses FIFO; interim 1xx
//! responses are skipped; anything malformed is an [`HttpError`], never a panic.

/// Longest response head accepted.
pub const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 64;
const READ_CHUNK: usize = 64 * 1024;

/// A response that cannot be framed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HttpError {
    #[error("malformed response head: {0}")]
    Head(String),
    #[error("response head over {MAX_HEAD} bytes")]
    HeadTooLarge,
    #[error("bad Content-Length")]
    ContentLength,
    #[error("bad chunked encoding")]
    Chunked,
    #[error("connection closed in the middle of a response")]
    UnexpectedEof,
}

/// Build the bytes of one request; the same bytes are sent for every request of a connection.
pub fn build_request(method: &str, host: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\n").into_bytes();
    let has = |n: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
    if !has("host") {
        r.extend_from_slice(format!("Host: {host}\r\n").as_bytes());
    }
    for (k, v) in headers {
        r.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    let wants_length = !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH");
    if wants_length && !has("content-length") {
        r.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    r.extend_from_slice(b"\r\n");
    r.extend_from_slice(body);
    r
}

/// One complete response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// The server will close (or has closed) the connection after it.
    pub close: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Length(Response, u64),
    Chunked(Response, Chunk),
    UntilClose(Response),
}

/// Frames responses out of the bytes read from one connection.
#[derive(Debug)]
pub struct ResponseReader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    state: State,
}

impl Default for ResponseReader {
    fn default() -> Self {
        ResponseReader { buf: vec![0; READ_CHUNK], start: 0, end: 0, state: State::Head }
    }
}

impl ResponseReader {
    /// Space to read into (compacting or growing the buffer as needed).
    pub fn spare(&mut self) -> Result<&mut [u8], HttpError> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.buf.len() - self.end < READ_CHUNK / 4 && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            if self.buf.len() >= MAX_HEAD + READ_CHUNK {
                return Err(HttpError::HeadTooLarge);
            }
            self.buf.resize(self.buf.len() + READ_CHUNK, 0);
        }
        Ok(&mut self.buf[self.end..])
    }

    /// Record that `n` bytes were read into [`spare`](Self::spare).
    pub fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// Forget everything (after the connection is closed).
    pub fn reset(&mut self) {
        self.start = 0;
        self.end = 0;
        self.state = State::Head;
    }

    /// The peer closed the connection: the response being read until close is complete;
    /// anything else half-read is an error.
    pub fn eof(&mut self) -> Result<Option<Response>, HttpError> {
        let state = std::mem::replace(&mut self.state, State::Head);
        match state {
            State::UntilClose(r) => Ok(Some(r)),
            State::Head if self.start == self.end => Ok(None),
            _ => Err(HttpError::UnexpectedEof),
        }
    }

    /// The next complete response in the buffered bytes, if there is one. `head_request`: the
    /// oldest outstanding request was a HEAD (its response has no body).
    pub fn next(&mut self, head_request: bool) -> Result<Option<Response>, HttpError> {
        loop {
            match self.state {
                State::Head => {
                    let Some((resp, framing)) = self.parse_head(head_request)? else { return Ok(None) };
                    match framing {
                        None => return Ok(Some(resp)),
                        Some(state) => self.state = state,
                    }
                }
                State::Length(resp, remaining) => {
                    let take = (remaining as usize).min(self.end - self.start);
                    self.start += take;
                    let left = remaining - take as u64;
                    if left == 0 {
                        self.state = State::Head;
                        return Ok(Some(resp));
                    }
                    self.state = State::Length(resp, left);
                    return Ok(None);
                }
                State::Chunked(resp, Chunk::Trailer) => match self.take_line()? {
                    None => return Ok(None),
                    Some([]) => {
                        self.state = State::Head;
                        return Ok(Some(resp));
                    }
                    Some(_) => continue, // a trailer field: skipped
                },
                State::Chunked(resp, chunk) => match self.step_chunk(chunk)? {
                    None => return Ok(None),
                    Some(next) => {
                        self.state = State::Chunked(resp, next);
                        if next == chunk {
                            return Ok(None); // no byte consumed: wait for more
                        }
                    }
                },
                State::UntilClose(_) => {
                    self.start = self.end;
                    return Ok(None);
                }
            }
        }
    }

    /// Advance one chunked-framing step; `None` when more bytes are needed.
    fn step_chunk(&mut self, chunk: Chunk) -> Result<Option<Chunk>, HttpError> {
        match chunk {
            Chunk::Size => {
                let Some(line) = self.take_line()? else { return Ok(None) };
                let hex = line.split(|&b| b == b';').next().unwrap_or_default();
                let hex = std::str::from_utf8(hex).map_err(|_| HttpError::Chunked)?.trim();
                let size = u64::from_str_radix(hex, 16).map_err(|_| HttpError::Chunked)?;
                Ok(Some(if size == 0 { Chunk::Trailer } else { Chunk::Data(size) }))
            }
            Chunk::Data(remaining) => {
                let take = (remaining as usize).min(self.end - self.start);
                self.start += take;
                let left = remaining - take as u64;
                Ok(Some(if left == 0 { Chunk::DataEnd } else { Chunk::Data(left) }))
            }
            Chunk::DataEnd => match self.take_line()? {
                Some([]) => Ok(Some(Chunk::Size)),
                Some(_) => Err(HttpError::Chunked),
                None => Ok(None),
            },
            // Trailer lines are read by the caller.
            Chunk::Trailer => Ok(Some(Chunk::Trailer)),
        }
    }

    /// Take one CRLF-terminated line (without the CRLF) out of the buffer.
    fn take_line(&mut self) -> Result<Option<&[u8]>, HttpError> {
        let avail = &self.buf[self.start..self.end];
        match avail.windows(2).position(|w| w == b"\r\n") {
            Some(i) => {
                let s = self.start;
                self.start += i + 2;
                Ok(Some(&self.buf[s..s + i]))
            }
            None if avail.len() > MAX_HEAD => Err(HttpError::Chunked),
            None => Ok(None),
        }
    }

    #[allow(clippy::type_complexity)]
    fn parse_head(&mut self, head_request: bool) -> Result<Option<(Response, Option<State>)>, HttpError> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut r = httparse::Response::new(&mut headers);
            let n = match r.parse(&self.buf[self.start..self.end]) {
                Ok(httparse::Status::Complete(n)) => n,
                Ok(httparse::Status::Partial) if self.end - self.start > MAX_HEAD => {
                    return Err(HttpError::HeadTooLarge)
                }
                Ok(httparse::Status::Partial) => return Ok(None),
                Err(e) => return Err(HttpError::Head(e.to_string())),
            };
            let status = r.code.unwrap_or(0);
            let http10 = r.version == Some(0);
            let (mut length, mut chunked, mut close, mut keep_alive) = (None, false, http10, false);
            for h in r.headers.iter() {
                let v = std::str::from_utf8(h.value).unwrap_or("").trim();
                if h.name.eq_ignore_ascii_case("content-length") {
                    let l: u64 = v.parse().map_err(|_| HttpError::ContentLength)?;
                    if length.is_some_and(|old| old != l) {
                        return Err(HttpError::ContentLength);
                    }
                    length = Some(l);
                } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = v.to_ascii_lowercase().split(',').any(|t| t.trim() == "chunked");
                } else if h.name.eq_ignore_ascii_case("connection") {
                    let v = v.to_ascii_lowercase();
                    close |= v.contains("close");
                    keep_alive |= v.contains("keep-alive");
                }
            }
            if http10 && keep_alive {
                close = false;
            }
            self.start += n;
            if (100..200).contains(&status) && status != 101 {
                continue; // interim response: the final one follows
            }
            let resp = Response { status, close };
            let no_body = head_request || status == 204 || status == 304 || status == 101;
            let framing = if no_body {
                None
            } else if chunked {
                Some(State::Chunked(resp, Chunk::Size))
            } else if let Some(l) = length {
                (l > 0).then_some(State::Length(resp, l))
            } else {
                Some(State::UntilClose(Response { status, close: true }))
            };
            return Ok(Some((resp, framing)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(r: &mut ResponseReader, bytes: &[u8]) {
        let spare = r.spare().unwrap();
        spare[..bytes.len()].copy_from_slice(bytes);
        r.filled(bytes.len());
    }

    #[test]
    fn request_bytes() {
        let r = build_request("POST", "h:1", "/x", &[("X-A".into(), "1".into())], b"hi");
        assert_eq!(r, b"POST /x HTTP/1.1\r\nHost: h:1\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nhi");
        let r = build_request("GET", "h", "/", &[("host".into(), "other".into())], b"");
        assert_eq!(r, b"GET / HTTP/1.1\r\nhost: other\r\n\r\n");
    }

    /// The statuses read from `stream` when it arrives in two parts, split at `cut`.
    fn statuses_split_at(stream: &[u8], cut: usize) -> Vec<u16> {
        let mut r = ResponseReader::default();
        let mut got = Vec::new();
        for part in [&stream[..cut], &stream[cut..]] {
            feed(&mut r, part);
            while let Some(x) = r.next(false).unwrap() {
                got.push(x.status);
            }
        }
        got
    }

    #[test]
    fn pipelined_length_responses_split_anywhere() {
        let stream = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 503 X\r\ncontent-length: 0\r\n\r\n";
        for cut in 0..stream.len() {
            assert_eq!(statuses_split_at(stream, cut), vec![200, 503], "cut at {cut}");
        }
    }

    #[test]
    fn chunked_with_trailer_and_interim() {
        let stream = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 C\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\nHTTP/1.1 204 N\r\n\r\n";
        for cut in 0..stream.len() {
            assert_eq!(statuses_split_at(stream, cut), vec![201, 204], "cut at {cut}");
        }
    }

    #[test]
    fn until_close_head_and_errors() {
        let mut r = ResponseReader::default();
        feed(&mut r, b"HTTP/1.0 200 OK\r\n\r\nbody bytes");
        assert_eq!(r.next(false).unwrap(), None);
        assert_eq!(r.eof().unwrap(), Some(Response { status: 200, close: true }));

        let mut r = ResponseReader::default();
        feed(&mut r, b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\n");
        assert_eq!(r.next(true).unwrap(), Some(Response { status: 200, close: true }));

        let mut r = ResponseReader::default();
        feed(&mut r, b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc");
        assert_eq!(r.next(false).unwrap(), None);
        assert_eq!(r.eof(), Err(HttpError::UnexpectedEof));

        let mut r = ResponseReader::default();
        feed(&mut r, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
        assert_eq!(r.next(false), Err(HttpError::ContentLength));

        let mut r = ResponseReader::default();
        feed(&mut r, b"SMTP ready\r\n\r\n");
        assert!(matches!(r.next(false), Err(HttpError::Head(_))));
    }
}
