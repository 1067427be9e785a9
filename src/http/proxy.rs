//! The request flow of an HTTP listener, one client connection at a time:
//!
//! ```text
//! wait (idle_timeout) → read head (request_timeout, else 408) → [100 Continue]
//!   → pick target → pooled connection or connect (next target on failure, else 503)
//!   → send rewritten head + body → wait first response byte (response_timeout, else 504)
//!   → relay response head + body → pool the backend connection → next request
//! ```
//!
//! Front-end pipelining is honoured by construction: requests are taken one at a time from the
//! client's buffer and answered in order; a backend connection carries one request at a time.
//!
//! Errors are answered where they arise and close the client connection when its framing can
//! no longer be trusted (every error spillway makes itself closes: the rest of the input cannot
//! be resynchronised). A target that resets or answers garbage gets *this* request a 502; other
//! connections are not affected. A reused pooled connection that fails before any response byte
//! is retried once on a fresh connection when the request can be sent again (its whole body
//! was in the buffer): the target may have closed it just as we wrote.

mod respond;

use std::{net::SocketAddr, rc::Rc, time::Instant};

use tracing::debug;

use super::resources::HttpContext;
use super::routing::{self, Answer, HeadFields, RequestEdits, Route};
use super::{
    buffer::{InBuf, Scratch},
    closing,
    codec::{self, BodyFraming, HttpError, Parsed, RequestHead, ResponseHead},
    errors,
    headers::{self, ForwardContext},
    park::PARK_AFTER,
    relay::{relay_body, Framer, RelayError},
};
use crate::{
    balance::PickContext,
    context::{ClientAddrs, ListenerRuntime},
    group::{GroupRuntime, Pick, Refusal, SlotGuard},
    io::IoError,
    pool::BackendConn,
    rules::{Decision, Outcome, RuleSet},
    stream::Stream,
};
use respond::{respond, Exchange};

/// What to do with the client connection after an exchange.
enum After {
    KeepAlive,
    Close,
}

/// The client side of a connection: its socket, and the scratch while one is held.
struct Client {
    stream: Stream,
    /// The client's address: the peer's, or the one its PROXY header named.
    peer: SocketAddr,
    /// The address it connected to, when a PROXY header named it.
    local: Option<SocketAddr>,
    scratch: Option<Scratch>,
    /// The backend connection kept for this client alone: one that began with a PROXY header
    /// naming this client (see [`connect_some_target`]); closed with the client connection.
    private: Option<BackendConn>,
}

impl Client {
    fn addrs(&self) -> ClientAddrs {
        ClientAddrs { peer: self.peer, local: self.local }
    }

    /// The PROXY header a new connection to `group`'s targets begins with, when the group
    /// sends one: it names this client.
    fn preface(&self, group: &GroupRuntime, listener: &ListenerRuntime) -> Option<crate::proxy_protocol::Encoded> {
        let version = group.config.proxy_protocol?;
        Some(self.addrs().proxy_header(version, listener, self.stream.tcp()))
    }

    /// Gives the scratch back when no pipelined byte is waiting in it.
    fn release_if_idle(&mut self, shard: &HttpContext) {
        if self.scratch.as_ref().is_some_and(|s| s.client_in.is_empty()) {
            shard.http.scratch.give_back(self.scratch.take().expect("checked"));
        }
    }

    /// Sends a response spillway made itself, counts it, and tells the caller to close. The
    /// close goes in stages (`closing.rs`): the client may still be sending, and closing with
    /// its input unread would reset the connection and lose the answer.
    async fn reject(&self, listener: &ListenerRuntime, status: u16) -> After {
        listener.counters.count_elb_response(status);
        let deadline = Instant::now() + listener.idle_timeout;
        if self.stream.write_all(errors::response(status), Some(deadline)).await.is_ok() {
            closing::close_in_stages(&self.stream).await;
        }
        After::Close
    }
}

impl Client {
    /// Evaluates `rules` on the request whose head was parsed into the scratch.
    fn evaluate<'r>(&self, rules: &'r RuleSet, listener: &ListenerRuntime, head: &RequestHead) -> Outcome<'r> {
        let scratch = self.scratch.as_ref().expect("a request head was parsed into it");
        let fields = HeadFields { buf: scratch.client_in.bytes(), headers: &scratch.request_headers };
        rules.evaluate(&routing::request_view(&fields, head, self.peer, listener, self.stream.is_tls()))
    }

    /// Sends a response a rule made (a redirect, a fixed response). The connection stays open
    /// when the request was read whole and both sides keep alive; else it closes.
    async fn answer(
        &mut self,
        shard: &HttpContext,
        listener: &ListenerRuntime,
        head: &RequestHead,
        answer: Answer<'_>,
        read_whole: bool,
    ) -> After {
        let keep = read_whole && head.keep_alive && head.version == codec::Version::Http11 && !shard.draining();
        // A monitor-uri says the node is going away while it drains.
        let answer = match answer {
            Answer::Fixed(f) if f.monitor && shard.draining() => Answer::Fixed(routing::monitor_down()),
            other => other,
        };
        let scratch = self.scratch.as_mut().expect("a request head was parsed into it");
        {
            let fields = HeadFields { buf: scratch.client_in.bytes(), headers: &scratch.request_headers };
            let view = routing::request_view(&fields, head, self.peer, listener, self.stream.is_tls());
            routing::write_answer(&mut scratch.out, answer, &view, head.method, keep);
        }
        listener.counters.count_elb_response(answer.status());
        let deadline = Instant::now() + listener.idle_timeout;
        if self.stream.write_all(&scratch.out, Some(deadline)).await.is_err() {
            return After::Close;
        }
        if !keep {
            // The body may still be arriving: see `reject`.
            closing::close_in_stages(&self.stream).await;
            return After::Close;
        }
        let body = match head.framing {
            BodyFraming::Length(n) => n as usize,
            _ => 0,
        };
        scratch.client_in.consume(head.head_len + body);
        After::KeepAlive
    }

    /// Answers 503 to a request that got no target. When the request was read whole (its body,
    /// if any, is in the buffer) its framing is intact, so the connection stays open for the
    /// next request: during a surge, closing every refused connection would add a connection
    /// setup per refused request to the overload. Otherwise the connection is closed.
    async fn refuse_whole_request(
        &mut self,
        shard: &HttpContext,
        listener: &ListenerRuntime,
        head: &RequestHead,
        read_whole: bool,
    ) -> After {
        let keep = read_whole && head.keep_alive && head.method != codec::Method::Head && !shard.draining();
        if !keep {
            return self.reject(listener, 503).await;
        }
        let body = match head.framing {
            BodyFraming::Length(n) => n as usize,
            _ => 0,
        };
        if let Some(s) = self.scratch.as_mut() {
            s.client_in.consume(head.head_len + body);
        }
        listener.counters.count_elb_response(503);
        let deadline = Instant::now() + listener.idle_timeout;
        match self.stream.write_all(errors::response_keep_alive(503), Some(deadline)).await {
            Ok(()) => After::KeepAlive,
            Err(_) => After::Close,
        }
    }
}

/// Serves one client connection of an HTTP listener to its end, or until it has idled long
/// enough to be parked: then the socket is handed back with the moment its idle time runs out
/// (the caller parks it, see `park.rs`).
pub async fn serve(
    shard: Rc<HttpContext>,
    listener: Rc<ListenerRuntime>,
    stream: Stream,
    addrs: ClientAddrs,
) -> Option<(monoio::net::TcpStream, Instant)> {
    let mut client = Client { stream, peer: addrs.peer, local: addrs.local, scratch: None, private: None };
    loop {
        let head = match next_request(&shard, &listener, &mut client).await {
            Ok(Next::Request(head)) => head,
            Ok(Next::Close) => break,
            Ok(Next::Park(deadline)) => match client.stream {
                Stream::Plain(tcp) => return Some((tcp, deadline)),
                // Its receive leaves the kernel first; bytes that arrived meanwhile are served.
                Stream::Ring(ring) => match ring.into_tcp().await {
                    Ok(tcp) => return Some((tcp, deadline)),
                    Err(ring) => {
                        client.stream = Stream::Ring(ring);
                        continue;
                    }
                },
                Stream::Tls(_) => break, // never asked for: TLS connections do not park
            },
            Err(e) => {
                client.reject(&listener, e.status).await;
                break;
            }
        };
        listener.counters.requests.add(1);
        // Boxed: the exchange's state (request and response relays, a possible tunnel) is
        // large, and the task of a connection waiting for its next request would otherwise
        // carry it all the time — kilobytes per idle keep-alive connection.
        match Box::pin(exchange(&shard, &listener, &mut client, head)).await {
            // Even when a drain began meanwhile: the response promised keep-alive, so the client
            // may be sending its next request already; closing now would race it (a reset).
            // That request is answered with `Connection: close` (see `next_request`).
            After::KeepAlive => client.release_if_idle(&shard),
            After::Close => break,
        }
    }
    if let Some(s) = client.scratch.take() {
        shard.http.scratch.give_back(s);
    }
    if client.stream.is_tls() {
        // A clean end for the client's TLS library (close_notify), if the socket takes it now.
        client.stream.shutdown_write(Some(Instant::now() + CLOSE_NOTIFY_WAIT)).await;
    }
    None
}

/// What waiting for the next request gave.
enum Next {
    Request(RequestHead),
    /// The client closed, or stayed idle past `idle_timeout` (closed silently, as ELB does).
    Close,
    /// Idle for `PARK_AFTER` with nothing buffered: park it, to be closed at this deadline if
    /// still idle then.
    Park(Instant),
}

/// How long a closing HTTPS connection waits to send its `close_notify`.
const CLOSE_NOTIFY_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// Waits for and parses the next request head. `Err`: the status to answer.
async fn next_request(shard: &HttpContext, listener: &ListenerRuntime, client: &mut Client) -> Result<Next, HttpError> {
    let limits = &shard.http.limits;
    let mut deadline = None;
    // Bytes present at the last parse: a head arriving a byte at a time is parsed again only
    // when a line may have ended (or every REPARSE_EVERY bytes, so that over-long lines are
    // refused while still arriving), not on every read (quadratic).
    let mut parsed_len: Option<usize> = None;
    loop {
        if let Some(s) = client.scratch.as_mut().filter(|s| !s.client_in.is_empty()) {
            let bytes = s.client_in.bytes();
            let worth_parsing = match parsed_len {
                None => true,
                Some(n) => bytes[n.min(bytes.len())..].contains(&b'\n') || bytes.len() >= n + REPARSE_EVERY,
            };
            if worth_parsing {
                parsed_len = Some(bytes.len());
                match codec::parse_request(bytes, limits, &mut s.request_headers)? {
                    Parsed::Complete(head) => return Ok(Next::Request(head)),
                    Parsed::Partial => {}
                }
            }
            deadline.get_or_insert_with(|| Instant::now() + listener.request_timeout);
        } else {
            // Between requests: hold no buffer while waiting for the next one. While draining,
            // a client gets a short grace for its next request (answered with `close`).
            client.release_if_idle(shard);
            let idle =
                if shard.draining() { listener.idle_timeout.min(DRAIN_IDLE_GRACE) } else { listener.idle_timeout };
            // A plain connection with nothing held that stays idle past PARK_AFTER is parked
            // rather than kept as a waiting task (see park.rs); a busy one never gets there.
            let idle_since = Instant::now();
            let parks = !client.stream.is_tls()
                && client.scratch.is_none()
                && !shard.draining()
                && idle > PARK_AFTER
                && shard.http.parking.enabled();
            let wait = if parks { PARK_AFTER } else { idle };
            match client.stream.readable(Some(idle_since + wait)).await {
                Ok(()) => deadline = Some(Instant::now() + listener.request_timeout),
                Err(IoError::TimedOut) if parks => return Ok(Next::Park(idle_since + idle)),
                Err(_) => return Ok(Next::Close),
            }
        }
        let stream = &client.stream;
        let scratch = client.scratch.get_or_insert_with(|| shard.http.scratch.take());
        match scratch.client_in.fill(stream, shard.http.buffer_limit, deadline).await {
            Ok(0) => return Ok(Next::Close),
            Ok(_) => {}
            Err(IoError::TimedOut) if !scratch.client_in.is_empty() => {
                return Err(HttpError { status: 408, reason: "request head not complete within request_timeout" })
            }
            Err(_) => return Ok(Next::Close),
        }
    }
}

/// While draining, how long a keep-alive connection waits for its next request before it is
/// closed (the request, if it comes, is answered with `Connection: close`).
pub(crate) const DRAIN_IDLE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Body bytes sent together with a response head at most (the rest is relayed after).
const COALESCE_MAX: usize = 64 * 1024;

/// See `next_request`: at most one parse per this many bytes of a head without a line end.
const REPARSE_EVERY: usize = 4096;

/// One request and its response.
async fn exchange(shard: &HttpContext, listener: &ListenerRuntime, client: &mut Client, head: RequestHead) -> After {
    // Can the request be answered, or sent again if a pooled connection dies under it? (Its
    // body, if any, is all in the buffer.)
    let read_whole = {
        let scratch = client.scratch.as_ref().expect("a request head was parsed into it");
        match head.framing {
            BodyFraming::None => true,
            BodyFraming::Length(n) => {
                (head.head_len as u64).saturating_add(n) <= scratch.client_in.bytes().len() as u64
            }
            BodyFraming::Chunked | BodyFraming::UntilClose => false,
        }
    };
    // The listener's rules, then the chosen group's, decide where the request goes (or answer
    // it themselves) before anything is sent or a target picked.
    let listener_rules = listener.rules();
    let mut route = Route::to(listener.group.get());
    if !listener_rules.is_empty() {
        let outcome = client.evaluate(&listener_rules, listener, &head);
        route.edits[0] = outcome.edits;
        match outcome.decision {
            Decision::Default => {}
            Decision::Forward { group, set_cookie } => {
                route.group = group;
                route.set_cookie = set_cookie;
            }
            Decision::Redirect(plan) => {
                return client.answer(shard, listener, &head, Answer::Redirect(plan), read_whole).await
            }
            Decision::Fixed(fixed) => {
                return client.answer(shard, listener, &head, Answer::Fixed(fixed), read_whole).await
            }
        }
    }
    let Some(group) = shard.find_group(route.group) else {
        return client.refuse_whole_request(shard, listener, &head, read_whole).await;
    };
    if !group.rules.is_empty() {
        let outcome = client.evaluate(&group.rules, listener, &head);
        route.edits[1] = outcome.edits;
        match outcome.decision {
            // A group's rules cannot forward (validation refuses it).
            Decision::Default | Decision::Forward { .. } => {}
            Decision::Redirect(plan) => {
                return client.answer(shard, listener, &head, Answer::Redirect(plan), read_whole).await
            }
            Decision::Fixed(fixed) => {
                return client.answer(shard, listener, &head, Answer::Fixed(fixed), read_whole).await
            }
        }
    }
    if let Some(sticky) = &group.sticky {
        let scratch = client.scratch.as_ref().expect("a request head was parsed into it");
        route.sticky = sticky.find(&HeadFields { buf: scratch.client_in.bytes(), headers: &scratch.request_headers });
    }
    if head.expect_continue && !matches!(head.framing, BodyFraming::None | BodyFraming::Length(0)) {
        let deadline = Some(Instant::now() + listener.idle_timeout);
        if client.stream.write_all(errors::CONTINUE, deadline).await.is_err() {
            return After::Close;
        }
    }
    let can_retry = read_whole;
    let (upstream, slot, index) =
        match connect_some_target(shard, listener, &group, client, can_retry, route.sticky.target).await {
            Ok(found) => found,
            Err(Refusal::ClientGone) => return After::Close,
            // No target, spilled over, or waited too long in the surge queue.
            Err(Refusal::NoTarget | Refusal::Spilled | Refusal::QueueTimeout) => {
                return client.refuse_whole_request(shard, listener, &head, can_retry).await
            }
        };
    let target = upstream.target.clone();
    target.counters.requests.add(1);
    target.counters.active.add(1);
    let rule_sets = [&*listener_rules, &group.rules];
    let after = forward(shard, listener, &group, client, head, (upstream, index), &route, rule_sets).await;
    target.counters.active.sub(1);
    // The target's slot (if the group limits targets) is free again: the oldest waiter gets it.
    drop(slot);
    after
}

/// Tries targets in the balancer's order: a pooled connection, else a new one within
/// `connect_timeout`. Nothing has been sent yet, so moving to the next target is safe for any
/// method. When the group limits targets and every one is at its cap, the request waits in the
/// surge queue first; the slot it gets is held until the exchange ends. `named`: the target a
/// stickiness cookie names, tried first when it may take the request (else, or when it fails
/// to connect, the algorithm picks: HAProxy's `option redispatch`).
///
/// With the group's `proxy_protocol`, connections are the client's own instead of the pool's:
/// the header they began with names this client, so another client's request must never
/// travel on one (HAProxy keys reusable connections by their PROXY header, which holds the
/// client's address and port: in effect the same rule). The client's private connection is
/// reused when the pick lands on its target, else replaced by a new one.
async fn connect_some_target(
    shard: &HttpContext,
    listener: &ListenerRuntime,
    group: &GroupRuntime,
    client: &mut Client,
    can_retry: bool,
    named: Option<usize>,
) -> Result<(BackendConn, Option<SlotGuard>, usize), Refusal> {
    let ctx = PickContext { client: client.peer };
    let epoch = &shard.health().epoch;
    let mut failed = Vec::new();
    loop {
        let sticky = named.and_then(|i| group.pick_named(epoch, i, &failed));
        let (index, slot) = match sticky.unwrap_or_else(|| group.pick_slot(epoch, &ctx, &failed, false)) {
            Pick::Got(index, slot) => (index, slot),
            Pick::NoTarget => return Err(Refusal::NoTarget),
            Pick::AllFull => group.wait_for_slot(epoch, &ctx, &failed, client.stream.tcp()).await?,
        };
        let target = &group.targets[index];
        let header = match group.config.proxy_protocol {
            None => {
                let tls = crate::pool::tls_identity(group.tls.as_ref());
                if let Some(conn) = shard.http.pool.take(target.addr, tls, can_retry) {
                    return Ok((conn, slot, index));
                }
                None
            }
            Some(_) => {
                let mine = client.private.take().filter(|c| Rc::ptr_eq(&c.target, target) && c.is_idle_and_open());
                if let Some(mut conn) = mine {
                    conn.reused = true;
                    return Ok((conn, slot, index));
                }
                client.preface(group, listener)
            }
        };
        let preface = header.as_ref().map(|h| h.as_bytes());
        match BackendConn::connect(target.clone(), group.config.connect_timeout, group.target_tls(target), preface)
            .await
        {
            Ok(conn) => return Ok((conn, slot, index)),
            Err(e) => {
                debug!(target = %target.addr, error = %e, "connect failed");
                group.connect_failed(shard.health(), target, &crate::health::tcp::describe(&e));
                // Only a failure records the target (no allocation on the common path).
                failed.push(index);
            }
        }
    }
}

/// Sends the request on `upstream` and relays the response back.
#[allow(clippy::too_many_arguments)]
async fn forward(
    shard: &HttpContext,
    listener: &ListenerRuntime,
    group: &GroupRuntime,
    client: &mut Client,
    head: RequestHead,
    (mut upstream, index): (BackendConn, usize),
    route: &Route<'_>,
    rule_sets: [&RuleSet; 2],
) -> After {
    let scratch = client.scratch.as_mut().expect("a request head was parsed into it");
    {
        let fields = HeadFields { buf: scratch.client_in.bytes(), headers: &scratch.request_headers };
        let view = routing::request_view(&fields, &head, client.peer, listener, client.stream.is_tls());
        let strip_cookie = group.sticky.as_ref().filter(|s| s.strips(&route.sticky)).map(|s| s.name());
        let edits = RequestEdits { edits: &route.edits, request: &view, strip_cookie };
        let ctx = ForwardContext {
            client_ip: client.peer.ip(),
            listener_port: listener.port,
            proto: listener.scheme,
            listener_host: &listener.host,
            edits: (!edits.is_empty()).then_some(&edits as &dyn headers::EditHook),
        };
        headers::write_request_head(&mut scratch.out, fields.buf, &head, fields.headers, &ctx);
    }
    // ProcessedBytes counts heads as well as bodies (as ELB's does): the head as sent.
    let head_bytes = scratch.out.len() as u64;
    listener.counters.bytes_in.add(head_bytes);
    upstream.target.counters.bytes_in.add(head_bytes);
    scratch.client_in.consume(head.head_len);
    // The whole body already read? Then it goes out with the head in one send, and a failed
    // reused connection can be retried by sending `out` again.
    let replayable = body_in_buffer(&head, &scratch.client_in);
    if let (true, BodyFraming::Length(n)) = (replayable, head.framing) {
        scratch.out.extend_from_slice(&scratch.client_in.bytes()[..n as usize]);
        listener.counters.bytes_in.add(n);
        upstream.target.counters.bytes_in.add(n);
    }
    let mut attempt_fresh = false;
    loop {
        let sent_at = Instant::now();
        let sent = send_request(shard, listener, client, &head, &upstream, replayable).await;
        let scratch = client.scratch.as_mut().expect("held during the exchange");
        let outcome = match sent {
            Ok(()) => {
                let deadline = Instant::now() + group.config.response_timeout;
                let response = read_response_head(shard, &upstream, scratch, head.method, deadline).await;
                if response.is_ok() {
                    group.record_latency(sent_at.elapsed());
                }
                response
            }
            Err(Failure::Client) => return After::Close,
            Err(Failure::Answer(status)) => return client.reject(listener, status).await,
            Err(other) => Err(other),
        };
        match outcome {
            // A switch of protocols nobody asked for: the connection is no longer HTTP.
            Ok(response) if response.status == 101 && !head.upgrade => {
                upstream.target.counters.response_errors.add(1);
                return client.reject(listener, 502).await;
            }
            Ok(response) => {
                let sticky = group.sticky.as_ref().map(|s| (s, index));
                let exchange = Exchange { request: &head, sent_from_buffer: replayable, route, rule_sets, sticky };
                return respond(shard, listener, client, exchange, response, upstream).await;
            }
            Err(Failure::TargetSilent) if upstream.reused && replayable && !attempt_fresh => {
                // The pooled connection died under us: once more on a fresh one.
                attempt_fresh = true;
                let target = upstream.target.clone();
                let header = client.preface(group, listener);
                let preface = header.as_ref().map(|h| h.as_bytes());
                match BackendConn::connect(
                    target.clone(),
                    group.config.connect_timeout,
                    group.target_tls(&target),
                    preface,
                )
                .await
                {
                    Ok(fresh) => upstream = fresh,
                    Err(e) => {
                        group.connect_failed(shard.health(), &target, &crate::health::tcp::describe(&e));
                        target.counters.response_errors.add(1);
                        return client.reject(listener, 502).await;
                    }
                }
            }
            Err(Failure::TargetSilent) | Err(Failure::TargetBroken) => {
                upstream.target.counters.response_errors.add(1);
                return client.reject(listener, 502).await;
            }
            Err(Failure::TimedOut) => {
                upstream.target.counters.response_errors.add(1);
                return client.reject(listener, 504).await;
            }
            Err(Failure::Answer(status)) => return client.reject(listener, status).await,
            Err(Failure::Client) => return After::Close,
        }
    }
}

/// How an exchange went wrong, and so what the client gets.
enum Failure {
    /// The client went away or broke the body framing beyond an answer.
    Client,
    /// Answer the client with this status (spillway's own response).
    Answer(u16),
    /// The target closed or reset before any response byte.
    TargetSilent,
    /// The target answered something that is not a valid response.
    TargetBroken,
    /// No response byte within `response_timeout`.
    TimedOut,
}

/// Whether the request's whole body (if any) is already in the client buffer.
fn body_in_buffer(head: &RequestHead, input: &InBuf) -> bool {
    match head.framing {
        BodyFraming::None => true,
        BodyFraming::Length(n) => n <= input.bytes().len() as u64,
        BodyFraming::Chunked | BodyFraming::UntilClose => false,
    }
}

/// Writes the rewritten head and relays the body to the target.
async fn send_request(
    shard: &HttpContext,
    listener: &ListenerRuntime,
    client: &mut Client,
    head: &RequestHead,
    upstream: &BackendConn,
    replayable: bool,
) -> Result<(), Failure> {
    let scratch = client.scratch.as_mut().expect("held during the exchange");
    let deadline = Some(Instant::now() + listener.idle_timeout);
    if upstream.stream.write_all(&scratch.out, deadline).await.is_err() {
        return Err(Failure::TargetSilent);
    }
    if replayable {
        return Ok(()); // the body went out with the head
    }
    let Some(mut framer) = Framer::for_framing(head.framing) else { return Ok(()) };
    let target = &upstream.target;
    let counters = [&listener.counters.bytes_in, &target.counters.bytes_in];
    let limit = shard.http.buffer_limit;
    match relay_body(
        &client.stream,
        &mut scratch.client_in,
        &upstream.stream,
        &mut framer,
        listener.idle_timeout,
        limit,
        counters,
    )
    .await
    {
        Ok(()) => Ok(()),
        Err(RelayError::Framing(e)) => Err(Failure::Answer(e.status)),
        Err(RelayError::Source(IoError::TimedOut)) => Err(Failure::Answer(408)),
        Err(RelayError::Source(_)) | Err(RelayError::Truncated) => Err(Failure::Client),
        Err(RelayError::Destination(_)) => Err(Failure::TargetBroken),
    }
}

/// Reads the target's response head, skipping interim (1xx) responses other than 101.
async fn read_response_head(
    shard: &HttpContext,
    upstream: &BackendConn,
    scratch: &mut Scratch,
    method: codec::Method,
    deadline: Instant,
) -> Result<ResponseHead, Failure> {
    let limits = &shard.http.limits;
    loop {
        if !scratch.target_in.is_empty() {
            match codec::parse_response(scratch.target_in.bytes(), limits, method, &mut scratch.response_headers) {
                Ok(Parsed::Complete(r)) if (100..200).contains(&r.status) && r.status != 101 => {
                    // 100 Continue (spillway answered Expect itself) and other interim answers.
                    scratch.target_in.consume(r.head_len);
                    continue;
                }
                Ok(Parsed::Complete(r)) => return Ok(r),
                Ok(Parsed::Partial) => {}
                Err(_) => return Err(Failure::TargetBroken),
            }
        }
        let got_something = !scratch.target_in.is_empty();
        if !got_something {
            // The answer cannot be there yet (the request just left): wait for readiness
            // first instead of paying a read that says EAGAIN.
            match upstream.stream.readable(Some(deadline)).await {
                Ok(()) => {}
                Err(IoError::TimedOut) => return Err(Failure::TimedOut),
                Err(_) => return Err(Failure::TargetSilent),
            }
        }
        match scratch.target_in.fill(&upstream.stream, shard.http.buffer_limit, Some(deadline)).await {
            Ok(0) if got_something => return Err(Failure::TargetBroken),
            Ok(0) => return Err(Failure::TargetSilent),
            Ok(_) => {}
            Err(IoError::TimedOut) => return Err(Failure::TimedOut),
            Err(_) if got_something => return Err(Failure::TargetBroken),
            Err(_) => return Err(Failure::TargetSilent),
        }
    }
}
