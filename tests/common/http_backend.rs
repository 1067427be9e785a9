//! An HTTP/1.1 test target with behaviours chosen by path, recording what it receives.
//!
//! Deliberately simple and independent of spillway's codec (a shared parser would hide a
//! shared bug): one thread per connection, blocking I/O, keep-alive.
//!
//! | path | answer |
//! |---|---|
//! | `/echo-head` | 200, body = the request head exactly as received |
//! | `/echo-body` | 200, body = the request body (Content-Length or chunked, decoded) |
//! | `/slow?ms=N` | waits N ms, then 200 `slow` |
//! | `/reset` | closes the connection with a TCP reset, no answer |
//! | `/garbage` | answers bytes that are not HTTP |
//! | `/chunked` | 200 with a chunked body `hello, world` in three chunks |
//! | `/big?bytes=N` | 200 with N bytes (a repeating pattern) |
//! | `/stall-tail?bytes=N&ms=M` | 200 with N bytes, the last 16 KiB of them sent M ms after the rest |
//! | `/close` | 200 with `Connection: close`, then closes |
//! | `/status?code=N` | N with a short body |
//! | `/ws` (with Upgrade) | 101, then echoes every byte until EOF |
//! | `/ping` | 200 `pong` |
//! | `/health` | 200 while `seen.unhealthy` is false, else 503 (a health-check path to flip) |
//! | `/unasked-101` | 101 to a request that did not ask to upgrade, then bytes |
//! | anything else | 200 `ok` |
#![allow(dead_code)]

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

#[derive(Clone, Default)]
pub struct Seen {
    pub connections: Arc<AtomicUsize>,
    /// Connections the backend has finished with (the client closed, `Connection: close`, or
    /// its keep-alive limit passed).
    pub closed: Arc<AtomicUsize>,
    pub requests: Arc<AtomicUsize>,
    /// Requests at the backend now (from a complete head until the answer starts; a `/slow`
    /// one through its wait), and the most there ever were at once: what a cap on connections
    /// per target must bound.
    pub in_flight: Arc<AtomicUsize>,
    pub max_in_flight: Arc<AtomicUsize>,
    /// Every request head received, in order (health checks of `/health` excepted).
    pub heads: Arc<Mutex<Vec<String>>>,
    /// Makes `/health` answer 503.
    pub unhealthy: Arc<std::sync::atomic::AtomicBool>,
}

pub struct HttpBackend {
    pub addr: SocketAddr,
    pub seen: Seen,
}

pub fn http_backend() -> HttpBackend {
    http_backend_with(Duration::ZERO, Duration::from_secs(30))
}

/// A backend that waits `delay` before every answer: a slow target.
pub fn http_backend_with_delay(delay: Duration) -> HttpBackend {
    http_backend_with(delay, Duration::from_secs(30))
}

/// A backend that closes a keep-alive connection idle for `keep_alive` (as Node.js does after
/// 5 s): a pooled connection to it dies while idle.
pub fn http_backend_with_keep_alive(keep_alive: Duration) -> HttpBackend {
    http_backend_with(Duration::ZERO, keep_alive)
}

fn http_backend_with(delay: Duration, keep_alive: Duration) -> HttpBackend {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Seen::default();
    let s = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            // Heads and bodies are written apart: without this, Nagle holds each body back
            // until the head's ACK, which the peer delays (40 ms per request).
            let _ = stream.set_nodelay(true);
            s.connections.fetch_add(1, Ordering::SeqCst);
            let s = s.clone();
            std::thread::spawn(move || {
                let _ = serve(stream, &s, delay, keep_alive);
                s.closed.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    HttpBackend { addr, seen }
}

/// Counts a request in `in_flight` (and `max_in_flight`) from its complete head until dropped:
/// just before its answer is written.
struct InFlight<'a>(&'a Seen);

impl<'a> InFlight<'a> {
    fn enter(seen: &'a Seen) -> Self {
        let now = seen.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        seen.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(seen)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

fn query(path: &str, key: &str) -> Option<u64> {
    let q = path.split_once('?')?.1;
    q.split('&').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

fn serve(stream: TcpStream, seen: &Seen, delay: Duration, keep_alive: Duration) -> std::io::Result<()> {
    stream.set_read_timeout(Some(keep_alive))?;
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        // Head.
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let request_line = head.lines().next().unwrap_or("").to_string();
        let path = request_line.split(' ').nth(1).unwrap_or("/").to_string();
        if path == "/health" {
            let status = if seen.unhealthy.load(Ordering::SeqCst) { "503 Down" } else { "200 OK" };
            out.write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes())?;
            return Ok(());
        }
        let in_flight = InFlight::enter(seen);
        seen.requests.fetch_add(1, Ordering::SeqCst);
        seen.heads.lock().unwrap().push(head.clone());
        let header = |name: &str| header_value(&head, name);
        // Body.
        let mut body = Vec::new();
        if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            body = read_chunked(&mut reader)?;
        } else if let Some(n) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
            body.resize(n, 0);
            reader.read_exact(&mut body)?;
        }
        let respond = |out: &mut TcpStream, status: &str, extra: &str, body: &[u8]| -> std::io::Result<()> {
            out.write_all(format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n{extra}\r\n", body.len()).as_bytes())?;
            out.write_all(body)
        };
        std::thread::sleep(delay);
        let route = path.split('?').next().unwrap_or("/");
        if route == "/slow" {
            std::thread::sleep(Duration::from_millis(query(&path, "ms").unwrap_or(1000)));
        }
        // No longer in flight once the answer starts: the proxy can only send the next
        // request under a cap after it has the answer, so this count never overlaps the next
        // request's, even when this thread is descheduled after the last write.
        drop(in_flight);
        let close_requested = header("connection").is_some_and(|v| v.contains("close"));
        match route {
            "/echo-head" => respond(&mut out, "200 OK", "", head.as_bytes())?,
            "/echo-body" => respond(&mut out, "200 OK", "", &body)?,
            "/slow" => respond(&mut out, "200 OK", "", b"slow")?,
            "/reset" => {
                let s = socket2::SockRef::from(&out);
                s.set_linger(Some(Duration::ZERO))?;
                return Ok(());
            }
            "/garbage" => {
                out.write_all(b"this is not http\r\n\r\n")?;
                return Ok(());
            }
            "/chunked" => out.write_all(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n2\r\n, \r\n5\r\nworld\r\n0\r\n\r\n",
            )?,
            "/big" => respond(&mut out, "200 OK", "", &pattern(query(&path, "bytes").unwrap_or(1024) as usize))?,
            "/stall-tail" => {
                let body = pattern(query(&path, "bytes").unwrap_or(32 * 1024) as usize);
                let split = body.len().saturating_sub(16 * 1024);
                out.write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes())?;
                out.write_all(&body[..split])?;
                std::thread::sleep(Duration::from_millis(query(&path, "ms").unwrap_or(100)));
                out.write_all(&body[split..])?
            }
            "/close" => {
                respond(&mut out, "200 OK", "Connection: close\r\n", b"bye")?;
                return Ok(());
            }
            "/status" => {
                let code = query(&path, "code").unwrap_or(200);
                respond(&mut out, &format!("{code} Status"), "", format!("{code}").as_bytes())?
            }
            "/ws" if header("upgrade").is_some() => {
                out.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")?;
                // Echo until EOF (bytes already buffered first).
                let buffered = reader.buffer().to_vec();
                out.write_all(&buffered)?;
                reader.consume(buffered.len());
                let mut inner = reader.into_inner();
                let mut buf = [0u8; 8192];
                loop {
                    let n = inner.read(&mut buf)?;
                    if n == 0 {
                        let _ = out.shutdown(std::net::Shutdown::Write);
                        return Ok(());
                    }
                    out.write_all(&buf[..n])?;
                }
            }
            "/ping" => respond(&mut out, "200 OK", "", b"pong")?,
            "/unasked-101" => {
                out.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: surprise\r\nConnection: Upgrade\r\n\r\n")?;
                out.write_all(b"binary junk")?;
            }
            _ => respond(&mut out, "200 OK", "", b"ok")?,
        }
        if close_requested {
            return Ok(());
        }
    }
}

/// Sends raw bytes to `addr` and reads until the peer closes or `limit` passes; returns what
/// came back.
pub fn raw_exchange(addr: SocketAddr, request: &[u8], limit: Duration) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(limit)).unwrap();
    s.write_all(request).unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    got
}

/// Reads one HTTP/1.1 response (Content-Length or chunked body) from `reader`; returns
/// (status, head, body).
pub fn read_response(reader: &mut impl BufRead) -> std::io::Result<(u16, String, Vec<u8>)> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let header = |name: &str| header_value(&head, name);
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        body = read_chunked(reader)?;
    } else if let Some(n) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(n, 0);
        reader.read_exact(&mut body)?;
    } else if status != 101 && status != 204 && status != 304 && status >= 200 {
        reader.read_to_end(&mut body)?;
    }
    Ok((status, head, body))
}

/// The value of header `name` (lower case) in a raw head, trimmed.
fn header_value(head: &str, name: &str) -> Option<String> {
    head.to_ascii_lowercase().lines().find_map(|l| l.strip_prefix(&format!("{name}:")).map(|v| v.trim().to_string()))
}

/// Reads a chunked body (extensions ignored, trailers skipped) and returns it decoded.
fn read_chunked(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        reader.read_line(&mut size_line)?;
        let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
        if size == 0 {
            let mut trailer = String::new();
            while reader.read_line(&mut trailer)? > 0 && trailer != "\r\n" {
                trailer.clear();
            }
            return Ok(body);
        }
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk)?;
        body.extend_from_slice(&chunk[..size]);
    }
}
