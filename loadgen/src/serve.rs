//! `loadgen serve`: a test backend with a known capacity and latency, on glommio executors (one
//! SO_REUSEPORT listener each). Modes: `http` (HTTP/1.1 keep-alive and pipelining, Content-Length
//! responses), `echo` (every byte back), `bulk` (stream chunks as fast as the client reads).
//!
//! HTTP routes: `--health-path` answers 200, or 503 after `POST /admin/unhealthy` (200 again after
//! `POST /admin/healthy`); `POST /admin/pause?ms=N` makes every request handled in the next N ms
//! wait until then (a stall, as a GC pause would); `GET /admin/stats` answers
//! `{"connections":N,"requests":N}`; anything else is a normal request: it takes a concurrency
//! slot (FIFO wait beyond `--max-concurrency`), holds it for `--latency` plus up to `--jitter`, and
//! answers 200 with `--body-bytes` bytes, or 500 with probability `--fail-rate`.
//!
//! With `--tls-cert FILE --tls-key FILE` (http mode) it serves HTTPS: the same HTTP loop over a
//! rustls stream (see [`crate::tls::acceptor`]), so both schemes behave the same once the
//! handshake is done.
//!
//! Invariants: responses on a connection go out in request order; admin and health requests
//! never take a concurrency slot nor wait for the latency; a malformed request gets 400 and the
//! connection is closed; a TLS handshake that fails or takes over 10 s closes that connection
//! only; the process stops on SIGINT/SIGTERM or after `--duration`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use futures_rustls::TlsAcceptor;
use glommio::net::{TcpListener, TcpStream};
use glommio::sync::Semaphore;
use glommio::{LocalExecutorPoolBuilder, PoolPlacement};
use rand::Rng;
use signal_hook::consts::{SIGINT, SIGTERM};

use crate::cli::{ServeArgs, ServeMode};
use crate::conn::within;
use crate::serve_http::{parse_request, Parsed};
use crate::tls::TlsError;

/// Longest a client may take to complete its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The backend could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("bad --listen address {0:?}")]
    Addr(String),
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, String),
    #[error("bad value for {0}")]
    Value(&'static str),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot install the SIGINT/SIGTERM handlers: {0}")]
    Signals(std::io::Error),
}

/// SIGINT and SIGTERM set `stop` (signal-hook's flag: an atomic store in the handler) until the
/// returned guard is dropped. Registered alongside any other handler in the process (the
/// spillway demo runs backends in its own process), not instead of it.
fn stop_on_signals(stop: &Arc<AtomicBool>) -> Result<SignalsGuard, ServeError> {
    let mut ids = Vec::new();
    for signal in [SIGINT, SIGTERM] {
        let id = signal_hook::flag::register(signal, stop.clone()).map_err(ServeError::Signals)?;
        ids.push(id);
    }
    Ok(SignalsGuard(ids))
}

/// Unregisters the backend's signal actions.
struct SignalsGuard(Vec<signal_hook::SigId>);

impl Drop for SignalsGuard {
    fn drop(&mut self) {
        for id in self.0.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// State shared by every executor of the backend.
pub struct Shared {
    pub args: ServeArgs,
    base: Instant,
    healthy: AtomicBool,
    /// Requests wait until this many ns after `base` (0 = no pause).
    paused_until: AtomicU64,
    pub connections: AtomicU64,
    pub requests: AtomicU64,
    /// The response body.
    body: Vec<u8>,
    /// `--tls-cert`: HTTPS.
    tls: Option<TlsAcceptor>,
    /// Set by SIGINT/SIGTERM, or when an executor could not bind.
    stop: Arc<AtomicBool>,
}

impl Shared {
    fn new(args: ServeArgs, tls: Option<TlsAcceptor>) -> Shared {
        let body = vec![b'x'; args.body_bytes];
        Shared {
            tls,
            args,
            base: Instant::now(),
            healthy: AtomicBool::new(true),
            paused_until: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            body,
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn set_healthy(&self, v: bool) {
        self.healthy.store(v, Ordering::Relaxed);
    }
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }
    pub fn pause_for(&self, d: Duration) {
        let until = (Instant::now() + d).saturating_duration_since(self.base).as_nanos() as u64;
        self.paused_until.fetch_max(until, Ordering::Relaxed);
    }
    fn paused_until(&self) -> Option<Instant> {
        let ns = self.paused_until.load(Ordering::Relaxed);
        let at = self.base + Duration::from_nanos(ns);
        (ns > 0 && at > Instant::now()).then_some(at)
    }
}

/// Run the backend until a signal or `--duration`. Prints `listening on ADDR` once bound.
pub fn run(args: ServeArgs) -> Result<(), ServeError> {
    if !(0.0..=1.0).contains(&args.fail_rate) {
        return Err(ServeError::Value("--fail-rate (0..=1)"));
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (None, None) => None,
        (Some(_), Some(_)) if args.mode != ServeMode::Http => {
            return Err(ServeError::Value("--tls-cert (only with --mode http)"))
        }
        (Some(cert), Some(key)) => Some(crate::tls::acceptor(cert, key)?),
        _ => return Err(ServeError::Value("--tls-cert and --tls-key (give both)")),
    };
    let threads = args.threads.max(1);
    let mut addr = args
        .listen
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| ServeError::Addr(args.listen.clone()))?;
    if addr.port() == 0 {
        // Every executor must bind the same port: pick a free one first.
        let probe = std::net::TcpListener::bind(addr).map_err(|e| ServeError::Bind(addr, e.to_string()))?;
        addr = probe.local_addr().map_err(|e| ServeError::Bind(addr, e.to_string()))?;
    }
    let stop_at = args.duration.map(|d| Instant::now() + d);
    let shared = Arc::new(Shared::new(args, tls));
    let _signals = stop_on_signals(&shared.stop)?;
    let bound = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(std::sync::Mutex::new(None::<String>));
    let (b2, f2, s2) = (bound.clone(), failed.clone(), shared.clone());
    let placement = match glommio::CpuSet::online() {
        Ok(set) if set.len() >= threads => PoolPlacement::MaxSpread(threads, Some(set)),
        _ => PoolPlacement::Unbound(threads),
    };
    let handles = LocalExecutorPoolBuilder::new(placement)
        .name("serve")
        .on_all_shards(move || {
            let (bound, failed, shared) = (b2.clone(), f2.clone(), s2.clone());
            async move {
                let listener = match TcpListener::bind(addr) {
                    Ok(l) => l,
                    Err(e) => {
                        if let Ok(mut f) = failed.lock() {
                            *f = Some(e.to_string());
                        }
                        bound.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                };
                bound.fetch_add(1, Ordering::Relaxed);
                accept_loop(listener, shared, stop_at).await;
            }
        })
        .map_err(|e| ServeError::Bind(addr, e.to_string()))?;
    while bound.load(Ordering::Relaxed) < threads as u64 {
        std::thread::sleep(Duration::from_millis(1));
    }
    if let Some(e) = failed.lock().ok().and_then(|f| f.clone()) {
        shared.stop.store(true, Ordering::Relaxed);
        let _ = handles.join_all();
        return Err(ServeError::Bind(addr, e));
    }
    println!("listening on {addr}");
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    let _ = handles.join_all();
    eprintln!(
        "loadgen serve: {} requests on {} connections",
        shared.requests.load(Ordering::Relaxed),
        shared.connections.load(Ordering::Relaxed)
    );
    Ok(())
}

fn stopping(stop: &AtomicBool, stop_at: Option<Instant>) -> bool {
    stop.load(Ordering::Relaxed) || stop_at.is_some_and(|t| Instant::now() >= t)
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, stop_at: Option<Instant>) {
    let limit = match shared.args.max_concurrency {
        0 => None,
        n => Some(Rc::new(Semaphore::new(n as u64))),
    };
    let watch = async {
        while !stopping(&shared.stop, stop_at) {
            glommio::timer::sleep(Duration::from_millis(50)).await;
        }
    };
    let accept = async {
        loop {
            match listener.accept().await {
                Ok(mut stream) => {
                    shared.connections.fetch_add(1, Ordering::Relaxed);
                    let (shared, limit) = (shared.clone(), limit.clone());
                    glommio::spawn_local(async move {
                        let _ = stream.set_nodelay(true);
                        match shared.args.mode {
                            ServeMode::Http => match &shared.tls {
                                None => http_conn(&mut stream, &shared, limit.as_deref()).await,
                                Some(tls) => https_conn(stream, tls, &shared, limit.as_deref()).await,
                            },
                            ServeMode::Echo => echo_conn(stream).await,
                            ServeMode::Bulk => bulk_conn(stream, shared.args.body_bytes).await,
                        }
                    })
                    .detach();
                }
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => glommio::timer::sleep(Duration::from_millis(10)).await,
            }
        }
    };
    futures_lite::future::or(watch, accept).await;
}

async fn echo_conn(mut s: TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n @ 1..) = s.read(&mut buf).await {
        if s.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

async fn bulk_conn(mut s: TcpStream, chunk: usize) {
    let buf = vec![b'x'; if chunk == 0 { 64 * 1024 } else { chunk }];
    while s.write_all(&buf).await.is_ok() {}
}

fn response(status: u16, reason: &str, body: &[u8], close: bool) -> Vec<u8> {
    let conn = if close { "Connection: close\r\n" } else { "" };
    let mut r = format!("HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\n{conn}\r\n", body.len()).into_bytes();
    r.extend_from_slice(body);
    r
}

/// Write all of `bytes` and flush (a no-op on TCP; on TLS it sends what rustls still holds).
async fn send<S: AsyncWrite + Unpin>(s: &mut S, bytes: &[u8]) -> std::io::Result<()> {
    s.write_all(bytes).await?;
    s.flush().await
}

/// HTTPS: the handshake, then the HTTP loop, then a close_notify (all bounded in time).
async fn https_conn(stream: TcpStream, tls: &TlsAcceptor, shared: &Shared, limit: Option<&Semaphore>) {
    let Some(Ok(mut s)) = within(Instant::now() + HANDSHAKE_TIMEOUT, tls.accept(stream)).await else { return };
    http_conn(&mut s, shared, limit).await;
    let _ = within(Instant::now() + Duration::from_secs(1), s.close()).await;
}

async fn http_conn<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, shared: &Shared, limit: Option<&Semaphore>) {
    let mut buf = vec![0u8; 64 * 1024];
    let (mut start, mut end) = (0, 0);
    loop {
        let req = match parse_request(&buf[start..end]) {
            Parsed::Partial => {
                if start > 0 {
                    buf.copy_within(start..end, 0);
                    end -= start;
                    start = 0;
                }
                if end == buf.len() {
                    if buf.len() >= 1 << 20 {
                        let _ = send(s, &response(431, "Too Large", b"", true)).await;
                        return;
                    }
                    buf.resize(buf.len() * 2, 0);
                }
                match s.read(&mut buf[end..]).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => end += n,
                }
                continue;
            }
            Parsed::Bad => {
                let _ = send(s, &response(400, "Bad Request", b"", true)).await;
                return;
            }
            Parsed::Complete(r) => r,
        };
        start += req.len;
        shared.requests.fetch_add(1, Ordering::Relaxed);
        let mut out = handle(&req, shared, limit).await;
        if req.method == "HEAD" {
            // Same head (Content-Length included), no body.
            if let Some(i) = out.windows(4).position(|w| w == b"\r\n\r\n") {
                out.truncate(i + 4);
            }
        }
        if send(s, &out).await.is_err() || req.close {
            return;
        }
    }
}

async fn handle(req: &crate::serve_http::Request, shared: &Shared, limit: Option<&Semaphore>) -> Vec<u8> {
    let a = &shared.args;
    let path = req.path.split('?').next().unwrap_or("");
    if a.health_path.as_deref() == Some(path) {
        return if shared.healthy() {
            response(200, "OK", b"ok\n", req.close)
        } else {
            response(503, "Service Unavailable", b"unhealthy\n", req.close)
        };
    }
    match (req.method.as_str(), path) {
        ("POST", "/admin/unhealthy") | ("POST", "/admin/healthy") => {
            shared.set_healthy(path == "/admin/healthy");
            return response(200, "OK", b"ok\n", req.close);
        }
        ("POST", "/admin/pause") => {
            let ms = req.path.split_once("ms=").and_then(|(_, v)| v.split('&').next()?.parse::<u64>().ok());
            return match ms {
                Some(ms) => {
                    shared.pause_for(Duration::from_millis(ms));
                    response(200, "OK", b"paused\n", req.close)
                }
                None => response(400, "Bad Request", b"need ?ms=N\n", req.close),
            };
        }
        ("GET", "/admin/stats") => {
            let body = format!(
                "{{\"connections\":{},\"requests\":{}}}\n",
                shared.connections.load(Ordering::Relaxed),
                shared.requests.load(Ordering::Relaxed)
            );
            return response(200, "OK", body.as_bytes(), req.close);
        }
        _ => {}
    }
    let _permit = match limit {
        Some(sem) => sem.acquire_permit(1).await.ok(),
        None => None,
    };
    if let Some(until) = shared.paused_until() {
        glommio::timer::sleep(until.saturating_duration_since(Instant::now())).await;
    }
    let jitter = if a.jitter.is_zero() { Duration::ZERO } else { a.jitter.mul_f64(rand::thread_rng().gen::<f64>()) };
    let wait = a.latency + jitter;
    if !wait.is_zero() {
        glommio::timer::sleep(wait).await;
    }
    if a.fail_rate > 0.0 && rand::thread_rng().gen::<f64>() < a.fail_rate {
        return response(500, "Internal Server Error", b"fail\n", req.close);
    }
    response(200, "OK", &shared.body, req.close)
}
