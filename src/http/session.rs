//! Starting an HTTP client session: the task that serves a plain connection (and parks it when
//! it idles, `park.rs`), and the TLS handshake in front of an HTTPS one.
//!
//! The listener's accept loop hands every connection of an HTTP or HTTPS listener here with its
//! [`SessionGuard`]; the parking lot hands a woken connection back here the same way. Each
//! session ends by itself, or when the shard closes (its future, and with it the sockets and
//! buffers it holds, is dropped there).

use std::{rc::Rc, time::Instant};

use tracing::debug;

use super::{proxy, resources::HttpContext};
use crate::{
    context::{ClientAddrs, SessionGuard},
    stream::Stream,
};

/// Serves a plain HTTP connection in a task of its own; when the connection has idled long
/// enough, it is parked in the shard's lot with its guard (`park.rs`), which starts a new
/// session task here when it becomes readable.
pub fn spawn_plain(http: Rc<HttpContext>, guard: SessionGuard, stream: monoio::net::TcpStream, peer: ClientAddrs) {
    monoio::spawn(async move {
        let listener = guard.listener.clone();
        let parked = monoio::select! {
            p = proxy::serve(http.clone(), listener, Stream::plain(stream), peer) => p,
            _ = http.closing() => None,
        };
        match parked {
            Some((stream, deadline)) => http.http.parking.park(stream, peer, guard, deadline),
            None => drop(guard),
        }
    });
}

/// Serves an HTTPS connection in a task of its own: the handshake, then HTTP over it.
pub fn spawn_tls(http: Rc<HttpContext>, guard: SessionGuard, stream: monoio::net::TcpStream, peer: ClientAddrs) {
    monoio::spawn(async move {
        let listener = guard.listener.clone();
        monoio::select! {
            _ = serve_https(http.clone(), listener, stream, peer) => {}
            _ = http.closing() => {}
        }
        drop(guard);
    });
}

/// Completes the TLS handshake (within `request_timeout`), then serves HTTP over it. A failed
/// handshake closes this connection only; it is counted in `ClientTLSNegotiationErrorCount`
/// when the client sent anything at all (a connect-and-close, as a TCP check does, is no TLS
/// negotiation) or let the handshake time out.
async fn serve_https(
    http: Rc<HttpContext>,
    listener: Rc<crate::context::ListenerRuntime>,
    stream: monoio::net::TcpStream,
    peer: ClientAddrs,
) {
    let Some(config) = http.control.tls().listener(listener.index) else { return };
    let deadline = Instant::now() + listener.request_timeout;
    match crate::tls::TlsStream::accept(stream, config, deadline).await {
        Ok(tls) => {
            // TLS connections never park (serve answers None for them).
            let _ = proxy::serve(http, listener, Stream::Tls(Box::new(tls)), peer).await;
        }
        Err((error, received)) => {
            let counted = received > 0 || matches!(error, crate::tls::HandshakeError::TimedOut);
            if counted {
                listener.counters.tls_negotiation_errors.add(1);
            }
            debug!(listener = %listener.name, client = %peer.peer, %error, "TLS handshake failed");
        }
    }
}
