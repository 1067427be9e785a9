//! What the surge queue's tests share: a runtime of each driver, a client connection on
//! loopback, a yield, and a target whose slot counter a [`SlotGuard`](super::SlotGuard) can hold.

use std::{
    future::Future,
    net::{TcpListener, TcpStream},
    task::Poll,
};

use monoio::{IoUringDriver, LegacyDriver, RuntimeBuilder};

use super::{SlotCounter, SlotOwner};

/// Runs `scenario` on an epoll runtime, then on an io_uring one where the kernel offers it
/// (both with monoio's timer, as a shard has).
pub(super) fn on_both_drivers<Fut: Future<Output = ()>>(scenario: impl Fn() -> Fut) {
    RuntimeBuilder::<LegacyDriver>::new().enable_timer().build().expect("an epoll runtime").block_on(scenario());
    match RuntimeBuilder::<IoUringDriver>::new().enable_timer().build() {
        Ok(mut rt) => rt.block_on(scenario()),
        Err(e) => eprintln!("no io_uring runtime here ({e}): ran on epoll only"),
    }
}

/// A client connection as a shard holds it (`.0`, non-blocking, on the running runtime) and
/// the client's own end (`.1`), on 127.0.0.1.
pub(super) fn client() -> (monoio::net::TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (accepted, _) = listener.accept().unwrap();
    accepted.set_nonblocking(true).unwrap();
    (monoio::net::TcpStream::from_std(accepted).unwrap(), peer)
}

/// Lets the runtime's other tasks run once.
pub(super) async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}

/// A target: its slot counter.
#[derive(Default)]
pub(super) struct Target(pub(super) std::sync::Arc<SlotCounter>);

impl SlotOwner for Target {
    fn slot_counter(&self) -> &SlotCounter {
        &self.0
    }
}
