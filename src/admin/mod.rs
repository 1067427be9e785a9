//! The admin API: a small HTTP/1.1 server on `[admin] listen`, served by shard 0.
//!
//! It reads requests with the proxy's own codec (the same strict parser, the same limits), one
//! request per connection (`Connection: close`: scrapers and scripts reconnect cheaply, and a
//! control endpoint has no use for keep-alive). Figures are gathered by asking every shard for
//! its snapshot through its mailbox and awaiting the replies, so shard 0 keeps serving traffic
//! while it waits — its own mailbox is answered by its run loop like any other.
//!
//! HttpContext 0 also runs the sweep that removes drained targets ([`sweep_drained_targets`]).

pub mod csv;
mod html;
pub mod prometheus;
mod routes;
mod rule_figures;
pub mod stats;

use std::{
    cell::Cell,
    rc::Rc,
    time::{Duration, Instant},
};

use monoio::net::{TcpListener, TcpStream};
use tracing::{debug, warn};

use crate::{
    control::Control,
    http::codec::{self, BodyFraming, Parsed},
    http::errors::reason,
    http::HttpContext,
    io,
    metrics::ShardSnapshot,
};

/// A whole admin exchange (request in, response out) must fit in this.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request body the admin API reads (its bodies are a line of JSON).
const MAX_BODY: u64 = 64 * 1024;
/// Admin connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 64;
/// How long the figures of a shard are awaited before it is left out of a reply.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often shard 0 looks for drained targets to remove.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// A response of the admin API.
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    /// Extra header lines, each ending in CRLF.
    pub headers: String,
}

impl Reply {
    pub fn json(status: u16, body: String) -> Reply {
        Reply { status, content_type: "application/json", body, headers: String::new() }
    }

    pub fn error(status: u16, message: impl std::fmt::Display) -> Reply {
        Reply::json(status, serde_json::json!({ "error": message.to_string() }).to_string() + "\n")
    }

    fn render(&self) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n{}Connection: close\r\n\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len(),
            self.headers
        )
        .into_bytes();
        out.extend_from_slice(self.body.as_bytes());
        out
    }
}

/// A parsed admin request.
pub struct Request<'a> {
    pub method: codec::Method,
    /// The path, without the query string.
    pub path: &'a str,
    /// The whole request target (path and query), for HAProxy's `...;csv` forms.
    pub target: &'a str,
    /// `Authorization` header value, if any.
    pub authorization: Option<&'a [u8]>,
    /// Whether the client accepts `text/html` (a browser): the stats page then wins at a URI
    /// the admin API also serves (`stats uri /stats`).
    pub wants_html: bool,
    pub body: &'a [u8],
}

/// Accepts admin connections until the shard closes.
pub async fn serve(shard: Rc<HttpContext>, socket: std::net::TcpListener) {
    let listener = match TcpListener::from_std(socket) {
        Ok(l) => l,
        Err(e) => {
            warn!(error = %e, "admin API: cannot register the listening socket; no admin API");
            return;
        }
    };
    let open = Rc::new(Cell::new(0usize));
    let mut drain_seen = false;
    let local = listener.local_addr().ok();
    loop {
        if open.get() >= MAX_CONNECTIONS {
            monoio::select! {
                _ = monoio::time::sleep(Duration::from_millis(10)) => continue,
                _ = shard.closing() => return,
            }
        }
        // Readiness, then a non-blocking accept: dropping a pending io_uring accept when the
        // other branch wins could lose a connection the kernel had already accepted.
        let ready = monoio::select! {
            r = listener.readable(false) => r,
            _ = shard.closing() => return,
            // Draining after a hand-over (`-sf`): the new process serves the admin API, on
            // the same socket (taken through the upgrade socket) or on its own beside this
            // one; this one stops taking its connections. A plain drain keeps serving
            // (`/healthz` answers 503 then).
            _ = shard.stopped_accepting(), if !drain_seen => {
                drain_seen = true;
                if shard.control.handed_over() {
                    return;
                }
                if local.is_some_and(|addr| crate::sockopt::listens_beside(&listener, addr)) {
                    // Our own socket closes with this loop: what is queued on it is answered
                    // first (closing would reset it). A connect in the instant between the
                    // last accept and the close can still be reset; the kernel gives no way
                    // to leave a SO_REUSEPORT group without that window.
                    serve_queued(&shard, &listener, &open);
                    crate::sockopt::stop_listening(std::os::fd::AsRawFd::as_raw_fd(&listener));
                    return;
                }
                continue;
            }
        };
        if let Err(e) = ready {
            debug!(error = %e, "admin listener readiness failed");
            monoio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        match accept_one(&shard, &listener, &open) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => {
                debug!(error = %e, "admin accept failed");
                monoio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
}

/// Accepts one connection (non-blocking) and serves it in a task of its own.
fn accept_one(shard: &Rc<HttpContext>, listener: &TcpListener, open: &Rc<Cell<usize>>) -> std::io::Result<()> {
    let (stream, _peer) = crate::listener::accept_nonblocking(std::os::fd::AsRawFd::as_raw_fd(listener))?;
    let stream = TcpStream::from_std(stream)?;
    open.set(open.get() + 1);
    let (shard, open) = (shard.clone(), open.clone());
    monoio::spawn(async move {
        monoio::select! {
            _ = monoio::time::timeout(EXCHANGE_TIMEOUT, exchange(&shard, stream)) => {}
            _ = shard.closing() => {}
        }
        open.set(open.get() - 1);
    });
    Ok(())
}

/// Takes every connection already queued on `listener` (each served in its own task).
fn serve_queued(shard: &Rc<HttpContext>, listener: &TcpListener, open: &Rc<Cell<usize>>) {
    loop {
        match accept_one(shard, listener, open) {
            Ok(()) => {}
            // A client that gave up while queued is skipped, not taken for the queue's end.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ECONNABORTED | libc::EPROTO | libc::EINTR)) => {}
            Err(_) => return,
        }
    }
}

/// Reads one request, answers it, closes.
async fn exchange(shard: &HttpContext, stream: TcpStream) {
    if crate::sockopt::set_nonblocking(std::os::fd::AsRawFd::as_raw_fd(&stream)).is_err() {
        return;
    }
    let deadline = Some(Instant::now() + EXCHANGE_TIMEOUT);
    let reply = match read_request(shard, &stream, deadline).await {
        Ok(Some((buf, head, headers))) => {
            let bytes = &buf[..];
            let (t0, t1) = head.target;
            let target = std::str::from_utf8(&bytes[t0 as usize..t1 as usize]).unwrap_or("");
            let path = target.split('?').next().unwrap_or("");
            let authorization =
                headers.iter().find(|h| h.name(bytes).eq_ignore_ascii_case(b"authorization")).map(|h| h.value(bytes));
            let body = &bytes[head.head_len..];
            let wants_html = headers
                .iter()
                .filter(|h| h.name(bytes).eq_ignore_ascii_case(b"accept"))
                .any(|h| h.value(bytes).windows(9).any(|w| w.eq_ignore_ascii_case(b"text/html")));
            let request = Request { method: head.method, path, target, authorization, wants_html, body };
            routes::route(shard, &request).await
        }
        Ok(None) => return,
        Err(reply) => reply,
    };
    let _ = io::write_all(&stream, &reply.render(), deadline).await;
}

type ParsedRequest = (Vec<u8>, codec::RequestHead, Vec<codec::Header>);

/// Reads a request head and its Content-Length body. `Ok(None)`: the client went away.
async fn read_request(
    shard: &HttpContext,
    stream: &TcpStream,
    deadline: Option<Instant>,
) -> Result<Option<ParsedRequest>, Reply> {
    let limits = &shard.http.limits;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let mut headers = Vec::new();
    let head = loop {
        let n = match io::read_some(stream, &mut chunk, deadline).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        match codec::parse_request(&buf, limits, &mut headers) {
            Ok(Parsed::Complete(head)) => break head,
            Ok(Parsed::Partial) if buf.len() > limits.max_request_head => {
                return Err(Reply::error(431, "request head too large"))
            }
            Ok(Parsed::Partial) => {}
            Err(e) => return Err(Reply::error(e.status, e.reason)),
        }
    };
    let body_len = match head.framing {
        BodyFraming::None => 0,
        BodyFraming::Length(n) if n <= MAX_BODY => n as usize,
        BodyFraming::Length(_) => return Err(Reply::error(413, format!("body over {MAX_BODY} bytes"))),
        BodyFraming::Chunked | BodyFraming::UntilClose => {
            return Err(Reply::error(411, "send the body with a Content-Length"))
        }
    };
    while buf.len() < head.head_len + body_len {
        let n = match io::read_some(stream, &mut chunk, deadline).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
    }
    buf.truncate(head.head_len + body_len);
    Ok(Some((buf, head, headers)))
}

/// The figures of every shard, added up (a shard that does not answer in time is left out).
pub async fn gather(control: &Control) -> ShardSnapshot {
    let mut total = ShardSnapshot::default();
    for reply in control.ask_snapshots() {
        if let Ok(Ok(snapshot)) = monoio::time::timeout(SNAPSHOT_TIMEOUT, reply).await {
            total.merge(&snapshot);
        }
    }
    total
}

/// Removes drained targets once nothing is in flight on them (or their delay is over).
pub async fn sweep_drained_targets(shard: Rc<HttpContext>) {
    loop {
        monoio::select! {
            _ = monoio::time::sleep(SWEEP_EVERY) => {}
            _ = shard.closing() => return,
        }
        if shard.control.has_draining() {
            let figures = gather(&shard.control).await;
            shard.control.remove_drained(&figures);
        }
    }
}
