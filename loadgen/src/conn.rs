//! One load connection: connect, send requests when they are due (closed loop: as soon as a
//! slot is free; open loop: at their planned times), match responses FIFO, record each, and
//! reconnect after errors, until the end of the run; then drain what is still in flight.
//!
//! Invariants:
//! - At most `--pipeline` requests are in flight on a connection; every request sent ends as
//!   exactly one of: a recorded response, one counted error (timeout, read, write, protocol), or
//!   one "in flight at the end". Nothing is silently dropped.
//! - Open loop: a request's latency runs from its *planned* time, so a late send (the generator or
//!   the connection was busy) shows in the latency; the plan never slips: when behind, due
//!   requests go out at once until caught up. The service time runs from the actual write.
//! - No request is *planned* at or after the end of the run; in-flight ones get until the drain
//!   deadline (end + min(timeout, 2 s)) to finish.
//! - Every wait has a deadline (connect and TLS handshake together: `--timeout`; write, read:
//!   `--timeout` from the send), so a dead peer cannot stall a worker past the end.
//! - The send/receive loop is generic over the stream: `http://` runs it on glommio's
//!   `TcpStream` itself (no indirection added for TLS), `https://` on a rustls stream over it.
//!   A failed TLS handshake is a `connect` error (and a TLS failure) with the same back-off.
//! - `--new-conn`: one request per connection. Its latency runs from the start of the connect
//!   (closed loop) or from its planned time, the connect starting then (open loop), so it
//!   includes the connect and the handshake; the service time still runs from the write.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use glommio::net::TcpStream;

use crate::http::{HttpError, Response, ResponseReader};
use crate::record::{ErrorKind, Recorder};
use crate::schedule::{ConnPlan, RateSchedule};
use crate::tcp::EchoReader;
use crate::tls::{ClientStream, Connector};

/// What every connection of a run shares (read-only).
pub struct RunCtx {
    pub addr: SocketAddr,
    pub run_start: Instant,
    pub measure_start: Instant,
    /// No request is planned at or after this.
    pub end: Instant,
    /// In-flight requests still unanswered at this time are counted as in flight at the end.
    pub drain_until: Instant,
    pub schedule: Option<RateSchedule>,
    /// Connections over all workers (the stride of the open-loop plan).
    pub connections: usize,
    pub pipeline: usize,
    pub timeout: Duration,
    /// The bytes of one request.
    pub request: Vec<u8>,
    /// HTTP HEAD requests (responses without body).
    pub head: bool,
    /// `Some(size)`: tcp:// echo exchanges instead of HTTP.
    pub echo: Option<usize>,
    /// `https://`: this worker's TLS client.
    pub tls: Option<Connector>,
    /// One request per connection.
    pub new_conn: bool,
}

/// Run `fut` until `deadline`; `None` if the deadline came first.
pub async fn within<T>(deadline: Instant, fut: impl Future<Output = T>) -> Option<T> {
    let left = deadline.saturating_duration_since(Instant::now());
    futures_lite::future::or(async { Some(fut.await) }, async {
        glommio::timer::sleep(left).await;
        None
    })
    .await
}

/// Connect (bounded by the timeout and the end of the run); on failure count a connect error
/// and sleep the back-off, which doubles up to 500 ms.
pub async fn connect(ctx: &RunCtx, rec: &RefCell<Recorder>, backoff: &mut Duration) -> Option<TcpStream> {
    let deadline = (Instant::now() + ctx.timeout).min(ctx.end);
    let s = tcp_connect(ctx, rec, backoff, deadline).await?;
    opened(rec, backoff);
    Some(s)
}

/// [`connect`], then the TLS handshake within the same deadline; a failed handshake is counted
/// as a `connect` error (and a TLS failure), with the same back-off.
async fn connect_tls(
    ctx: &RunCtx,
    rec: &RefCell<Recorder>,
    tls: &Connector,
    backoff: &mut Duration,
) -> Option<ClientStream> {
    let deadline = (Instant::now() + ctx.timeout).min(ctx.end);
    let tcp = tcp_connect(ctx, rec, backoff, deadline).await?;
    match within(deadline, tls.handshake(tcp)).await {
        Some(Ok((s, resumed))) => {
            rec.borrow_mut().handshake(resumed);
            opened(rec, backoff);
            Some(s)
        }
        Some(Err(e)) => {
            failed(ctx, rec, backoff, Some(&|| e.to_string())).await;
            None
        }
        None => {
            failed(ctx, rec, backoff, Some(&|| "handshake timed out".to_string())).await;
            None
        }
    }
}

async fn tcp_connect(
    ctx: &RunCtx,
    rec: &RefCell<Recorder>,
    backoff: &mut Duration,
    deadline: Instant,
) -> Option<TcpStream> {
    match within(deadline, TcpStream::connect(ctx.addr)).await {
        Some(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Some(s)
        }
        Some(Err(_)) | None => {
            failed(ctx, rec, backoff, None).await;
            None
        }
    }
}

fn opened(rec: &RefCell<Recorder>, backoff: &mut Duration) {
    *backoff = Duration::from_millis(10);
    rec.borrow_mut().connections += 1;
}

/// A connection attempt failed (unless the run is over): count it, sleep the back-off.
/// `tls`: it was the handshake that failed, for this reason.
async fn failed(ctx: &RunCtx, rec: &RefCell<Recorder>, backoff: &mut Duration, tls: Option<&dyn Fn() -> String>) {
    let now = Instant::now();
    if now < ctx.end {
        match tls {
            Some(why) => rec.borrow_mut().handshake_failed(now, why),
            None => rec.borrow_mut().error(now, ErrorKind::Connect),
        }
        glommio::timer::sleep((*backoff).min(ctx.end - now)).await;
        *backoff = (*backoff * 2).min(Duration::from_millis(500));
    }
}

enum Codec {
    Http(ResponseReader),
    Echo(EchoReader),
}

impl Codec {
    fn next(&mut self, head: bool) -> Result<Option<Response>, HttpError> {
        match self {
            Codec::Http(r) => r.next(head),
            Codec::Echo(e) => Ok(e.next_exchange()),
        }
    }
    fn spare(&mut self) -> Result<&mut [u8], HttpError> {
        match self {
            Codec::Http(r) => r.spare(),
            Codec::Echo(e) => Ok(e.spare()),
        }
    }
    fn filled(&mut self, n: usize) {
        match self {
            Codec::Http(r) => r.filled(n),
            Codec::Echo(e) => e.filled(n),
        }
    }
    fn eof(&mut self) -> Result<Option<Response>, HttpError> {
        match self {
            Codec::Http(r) => r.eof(),
            Codec::Echo(_) => Err(HttpError::UnexpectedEof),
        }
    }
    fn reset(&mut self) {
        match self {
            Codec::Http(r) => r.reset(),
            Codec::Echo(e) => e.reset(),
        }
    }
}

/// Why a connection is given up.
enum Broken {
    Error(ErrorKind),
    /// The server asked to close (`Connection: close`) after a complete response.
    Closed,
    /// The drain deadline passed with requests still in flight.
    End,
}

/// One request in flight: when it was planned and when it was written.
type InFlight = (Instant, Instant);

/// The state of one connection task that outlives its successive TCP connections.
struct Conn {
    plan: Option<ConnPlan>,
    codec: Codec,
    inflight: VecDeque<InFlight>,
    batch: Vec<u8>,
}

/// Drive connection number `index` (over all workers) until the end of the run.
pub async fn run_conn(ctx: Rc<RunCtx>, rec: Rc<RefCell<Recorder>>, index: usize) {
    let mut c = Conn {
        plan: ctx.schedule.as_ref().map(|_| ConnPlan::new(index, ctx.connections)),
        codec: match ctx.echo {
            Some(n) => Codec::Echo(EchoReader::new(n)),
            None => Codec::Http(ResponseReader::default()),
        },
        inflight: VecDeque::with_capacity(ctx.pipeline),
        batch: Vec::new(),
    };
    let mut backoff = Duration::from_millis(10);
    loop {
        if Instant::now() >= ctx.end {
            return;
        }
        if ctx.new_conn && !wait_for_plan(&ctx, c.plan.as_ref()).await {
            return;
        }
        // --new-conn, closed loop: the request's latency includes the connect.
        let started = (ctx.new_conn && c.plan.is_none()).then(Instant::now);
        c.codec.reset();
        let outcome = match &ctx.tls {
            None => {
                let Some(mut stream) = connect(&ctx, &rec, &mut backoff).await else { continue };
                exchange(&ctx, &rec, &mut stream, &mut c, started).await
            }
            Some(tls) => {
                let Some(mut stream) = connect_tls(&ctx, &rec, tls, &mut backoff).await else { continue };
                exchange(&ctx, &rec, &mut stream, &mut c, started).await
            }
        };
        let now = Instant::now();
        let inflight = &mut c.inflight;
        let lost = inflight.len() as u64;
        inflight.clear();
        match outcome {
            Broken::Error(kind) => {
                let mut r = rec.borrow_mut();
                for _ in 0..lost {
                    r.error(now, kind);
                }
            }
            Broken::End => {
                rec.borrow_mut().in_flight_at_end += lost;
                return;
            }
            Broken::Closed => {}
        }
    }
}

/// Open loop with `--new-conn`: sleep until the connection's next planned time, so the connect
/// starts then; `false` when nothing more is planned before the end.
async fn wait_for_plan(ctx: &RunCtx, plan: Option<&ConnPlan>) -> bool {
    let (Some(p), Some(s)) = (plan, ctx.schedule.as_ref()) else { return true };
    match p.peek(s).map(|t| ctx.run_start + t) {
        Some(at) if at < ctx.end => {
            glommio::timer::sleep(at.saturating_duration_since(Instant::now())).await;
            true
        }
        _ => false,
    }
}

/// Send and receive on one open connection until it breaks or the run is over. `started`: the
/// planned time of the first request in closed loop (`--new-conn`: when the connect began).
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    ctx: &RunCtx,
    rec: &RefCell<Recorder>,
    stream: &mut S,
    c: &mut Conn,
    mut started: Option<Instant>,
) -> Broken {
    let Conn { plan, codec, inflight, batch } = c;
    loop {
        // 1. Send every request that is due, up to the pipeline depth.
        let now = Instant::now();
        let mut due = 0;
        while inflight.len() + due < ctx.pipeline {
            let planned = match (plan.as_mut(), ctx.schedule.as_ref()) {
                (Some(p), Some(s)) => match p.peek(s).map(|t| ctx.run_start + t) {
                    Some(at) if at <= now && at < ctx.end => {
                        p.advance();
                        at
                    }
                    _ => break,
                },
                _ if now < ctx.end => started.take().unwrap_or(now),
                _ => break,
            };
            inflight.push_back((planned, now));
            due += 1;
        }
        if due > 0 {
            let bytes: &[u8] = if due == 1 {
                &ctx.request
            } else {
                batch.clear();
                for _ in 0..due {
                    batch.extend_from_slice(&ctx.request);
                }
                batch
            };
            // The flush is free on a TCP stream; on a TLS stream it sends what rustls still holds.
            let write = async {
                stream.write_all(bytes).await?;
                stream.flush().await
            };
            match within(now + ctx.timeout, write).await {
                Some(Ok(())) => {
                    let mut r = rec.borrow_mut();
                    for &(planned, _) in inflight.iter().skip(inflight.len() - due) {
                        r.sent(now, planned);
                    }
                }
                Some(Err(_)) => return Broken::Error(ErrorKind::Write),
                None => return Broken::Error(ErrorKind::Timeout),
            }
        }
        // 2. Nothing in flight: wait for the next planned time, or stop.
        let Some(&(_, oldest_sent)) = inflight.front() else {
            let next = match (plan.as_ref(), ctx.schedule.as_ref()) {
                (Some(p), Some(s)) => p.peek(s).map(|t| ctx.run_start + t),
                _ => Some(Instant::now()),
            };
            match next {
                Some(at) if at < ctx.end => {
                    glommio::timer::sleep(at.saturating_duration_since(Instant::now())).await;
                    continue;
                }
                _ => return Broken::End,
            }
        };
        // 3. Read until the oldest request is answered.
        let timed_out_at = oldest_sent + ctx.timeout;
        let deadline = timed_out_at.min(ctx.drain_until.max(Instant::now()));
        let resp = loop {
            match codec.next(ctx.head) {
                Ok(Some(r)) => break r,
                Ok(None) => {}
                Err(_) => return Broken::Error(ErrorKind::Protocol),
            }
            let spare = match codec.spare() {
                Ok(s) => s,
                Err(_) => return Broken::Error(ErrorKind::Protocol),
            };
            match within(deadline, stream.read(spare)).await {
                Some(Ok(0)) => match codec.eof() {
                    Ok(Some(r)) => break r,
                    _ => return Broken::Error(ErrorKind::Read),
                },
                Some(Ok(n)) => codec.filled(n),
                // A TLS peer that closed without close_notify: an end of stream like any other.
                Some(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => match codec.eof() {
                    Ok(Some(r)) => break r,
                    _ => return Broken::Error(ErrorKind::Read),
                },
                Some(Err(_)) => return Broken::Error(ErrorKind::Read),
                None if Instant::now() >= ctx.drain_until && timed_out_at > ctx.drain_until => return Broken::End,
                None => return Broken::Error(ErrorKind::Timeout),
            }
        };
        let now = Instant::now();
        if let Some((planned, sent)) = inflight.pop_front() {
            let bytes = match codec {
                Codec::Echo(ref e) => e.size() as u64,
                Codec::Http(_) => 0,
            };
            rec.borrow_mut().response(now, planned, sent, resp.status, bytes);
        }
        if resp.close || ctx.new_conn {
            // Whatever else was pipelined on this connection will not be answered.
            return if inflight.is_empty() { Broken::Closed } else { Broken::Error(ErrorKind::Read) };
        }
        if now >= ctx.end && inflight.is_empty() {
            return Broken::End;
        }
    }
}
