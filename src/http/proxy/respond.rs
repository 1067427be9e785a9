//! The response side of an exchange: the head and body relayed to the client (with the
//! response rules' edits and the stickiness cookie), the backend connection pooled, kept for
//! its client or closed, a 101 turned into a tunnel, and a response the client cut short
//! drained within a bound so that its connection can be kept.

use std::time::Instant;

use tracing::debug;

use super::{After, Client, COALESCE_MAX};
use crate::{
    context::ListenerRuntime,
    http::{
        buffer::InBuf,
        codec::{self, BodyFraming, RequestHead, ResponseHead},
        headers,
        relay::{self, relay_body, Framer, RelayError},
        resources::HttpContext,
        routing::{self, HeadFields, ResponseHook, Route},
        tunnel,
    },
    pool::BackendConn,
    rules::RuleSet,
    sticky::Sticky,
};

/// What `respond` needs of the request side of an exchange.
pub(super) struct Exchange<'x, 'r> {
    pub(super) request: &'x RequestHead,
    /// The request's body was sent from the buffer without consuming it (see `forward`).
    pub(super) sent_from_buffer: bool,
    pub(super) route: &'x Route<'r>,
    /// The listener's and the group's rules (their response rules apply).
    pub(super) rule_sets: [&'x RuleSet; 2],
    /// The group's target stickiness and the target that answered.
    pub(super) sticky: Option<(&'x Sticky, usize)>,
}

/// Sends the response head and body to the client; pools the backend connection when both
/// sides allow; turns a 101 into a tunnel.
pub(super) async fn respond(
    shard: &HttpContext,
    listener: &ListenerRuntime,
    client: &mut Client,
    exchange: Exchange<'_, '_>,
    response: ResponseHead,
    upstream: BackendConn,
) -> After {
    let Exchange { request, sent_from_buffer, route, rule_sets, sticky } = exchange;
    let scratch = client.scratch.as_mut().expect("held during the exchange");
    // A body sent from the buffer without consuming it (so that a retry could send it again)
    // is consumed now. Decided before sending: afterwards the buffer may hold the next
    // pipelined request, which must not be mistaken for this body.
    if let (true, BodyFraming::Length(n)) = (sent_from_buffer, request.framing) {
        scratch.client_in.consume(n as usize);
    }
    let upgrade = response.status == 101 && request.upgrade;
    let until_close = matches!(response.framing, BodyFraming::UntilClose);
    let close_client = !request.keep_alive || until_close || shard.draining();
    let fields = HeadFields { buf: scratch.target_in.bytes(), headers: &scratch.response_headers };
    let tls = client.stream.is_tls();
    let target_cookie = match sticky {
        Some((s, index)) => s.response(index, &route.sticky, request.method == codec::Method::Post, &fields),
        None => Default::default(),
    };
    let hook = ResponseHook {
        edits: routing::response_edits(rule_sets, response.status, &fields, client.peer, tls),
        set_cookie: route.set_cookie,
        target_cookie,
        peer: client.peer,
        local: listener.local,
        tls,
    };
    let close = close_client && !upgrade;
    let edits = (!hook.is_empty()).then_some(&hook as &dyn headers::EditHook);
    let (buf, fields) = (fields.buf, fields.headers);
    headers::write_response_head_edited(&mut scratch.out, buf, &response, fields, request.version, close, edits);
    scratch.target_in.consume(response.head_len);
    let head_bytes = scratch.out.len() as u64;
    listener.counters.bytes_out.add(head_bytes);
    upstream.target.counters.bytes_out.add(head_bytes);
    // The body bytes already read go out with the head, in one send (one segment for a small
    // response instead of two); the rest, if any, is relayed after.
    let mut framer = if upgrade { None } else { Framer::for_framing(response.framing) };
    let mut body_done = framer.is_none();
    if let Some(f) = framer.as_mut() {
        let buffered = scratch.target_in.bytes();
        match f.advance(&buffered[..buffered.len().min(COALESCE_MAX)]) {
            Ok((take, done)) => {
                scratch.out.extend_from_slice(&buffered[..take]);
                scratch.target_in.consume(take);
                listener.counters.bytes_out.add(take as u64);
                upstream.target.counters.bytes_out.add(take as u64);
                body_done = done;
            }
            // The target's body framing is broken and nothing was sent yet: 502.
            Err(_) => {
                upstream.target.counters.response_errors.add(1);
                return client.reject(listener, 502).await;
            }
        }
    }
    listener.counters.count_backend_response(response.status);
    let deadline = Some(Instant::now() + listener.idle_timeout);
    if client.stream.write_all(&scratch.out, deadline).await.is_err() {
        if !upgrade && response.keep_alive && !until_close {
            let rest = if body_done { None } else { framer };
            keep_after_cut(shard, upstream, &mut scratch.target_in, rest).await;
        }
        return After::Close;
    }
    if upgrade {
        let scratch = client.scratch.as_mut().expect("held during the exchange");
        let buffered =
            tunnel::Buffered { from_client: scratch.client_in.bytes(), from_target: scratch.target_in.bytes() };
        tunnel::run(shard, listener, &client.stream, &upstream, buffered).await;
        return After::Close;
    }
    if let (false, Some(mut framer)) = (body_done, framer) {
        let counters = [&listener.counters.bytes_out, &upstream.target.counters.bytes_out];
        let limit = shard.http.buffer_limit;
        let relayed = relay_body(
            &upstream.stream,
            &mut scratch.target_in,
            &client.stream,
            &mut framer,
            listener.idle_timeout,
            limit,
            counters,
        )
        .await;
        if let Err(e) = relayed {
            // The head is out: the only honest signal left is closing the connection.
            debug!(error = %e, "response body cut");
            if matches!(e, RelayError::Destination(_)) && response.keep_alive && !until_close {
                keep_after_cut(shard, upstream, &mut scratch.target_in, Some(framer)).await;
            }
            return After::Close;
        }
    }
    if upstream.reused {
        upstream.target.counters.reused.add(1);
    }
    // Reuse the backend connection only when its framing is intact and nothing extra came
    // (not even plaintext a TLS connection decrypted and holds: the next request on this
    // connection would read it as its answer).
    let clean = scratch.target_in.is_empty() && !upstream.stream.has_buffered_input();
    if response.keep_alive && !until_close && clean {
        if upstream.private {
            client.private = Some(upstream);
        } else {
            shard.http.pool.put(upstream);
        }
    }
    scratch.target_in.clear();
    if close_client {
        After::Close
    } else {
        After::KeepAlive
    }
}

/// The most of a cut response's body read and thrown away to keep its backend connection.
const CUT_DRAIN_MAX: usize = 64 * 1024;
/// How long the rest of a cut response may take to arrive for its connection to be kept.
const CUT_DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(1);

/// The client went away in the middle of a response (`rest`: the body's framer, None when the
/// body is all read). The backend connection still carries the rest of it: when little is
/// left it is read and thrown away within a short bound and the connection pooled, else the
/// connection is closed now. Never held: a connection kept per client that leaves early would
/// pile up at the target.
async fn keep_after_cut(shard: &HttpContext, upstream: BackendConn, input: &mut InBuf, rest: Option<Framer>) {
    if upstream.private {
        // The client is gone, and the connection names it: nobody else may have it.
        return;
    }
    let ended = match rest {
        None => true,
        Some(mut framer) => {
            let deadline = Instant::now() + CUT_DRAIN_TIME;
            let limit = shard.http.buffer_limit;
            relay::discard_rest(&upstream.stream, input, &mut framer, CUT_DRAIN_MAX, deadline, limit).await
        }
    };
    if ended && input.is_empty() && !upstream.stream.has_buffered_input() {
        shard.http.pool.put(upstream);
    }
    input.clear();
}
