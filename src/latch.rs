//! A one-way, shard-local signal: once set, every waiter (now or later) completes.
//!
//! Used to wake accept loops when a drain begins, and to end every session when a shard
//! closes. Shard-local (`Cell`/`RefCell`, no atomics): set and awaited on the same thread.
//!
//! Every session waits on the `closing` latch for its whole life, so registration must cost
//! O(1) and must be undone when the waiting future is dropped: each waiter gets a slot, freed
//! by the future's `Drop`. (A first version kept wakers in a list that only `set` emptied: a
//! monoio waker keeps its task alive, so every finished session stayed allocated — about 5 KiB
//! per connection ever accepted — and the de-duplication scan grew with them.)

use std::{
    cell::{Cell, RefCell},
    future::Future,
    pin::Pin,
    task::{Context, Poll, Waker},
};

#[derive(Default)]
pub struct Latch {
    set: Cell<bool>,
    /// Waker slots; `None` slots are free and listed in `free`.
    slots: RefCell<Vec<Option<Waker>>>,
    free: RefCell<Vec<usize>>,
}

impl Latch {
    pub fn is_set(&self) -> bool {
        self.set.get()
    }

    pub fn set(&self) {
        self.set.set(true);
        let wakers: Vec<Waker> = self.slots.borrow_mut().iter_mut().filter_map(Option::take).collect();
        for w in wakers {
            w.wake();
        }
    }

    /// Completes once the latch is set.
    pub fn wait(&self) -> LatchWait<'_> {
        LatchWait { latch: self, slot: None }
    }

    /// Registered waiters (for tests).
    #[cfg(test)]
    pub fn waiters(&self) -> usize {
        self.slots.borrow().iter().filter(|s| s.is_some()).count()
    }

    fn register(&self, slot: &mut Option<usize>, waker: &Waker) {
        let mut slots = self.slots.borrow_mut();
        match *slot {
            Some(i) => match &mut slots[i] {
                Some(w) if w.will_wake(waker) => {}
                entry => *entry = Some(waker.clone()),
            },
            None => {
                let i = match self.free.borrow_mut().pop() {
                    Some(i) => {
                        slots[i] = Some(waker.clone());
                        i
                    }
                    None => {
                        slots.push(Some(waker.clone()));
                        slots.len() - 1
                    }
                };
                *slot = Some(i);
            }
        }
    }

    fn unregister(&self, slot: usize) {
        self.slots.borrow_mut()[slot] = None;
        self.free.borrow_mut().push(slot);
    }
}

/// The future of [`Latch::wait`]; dropping it frees its slot.
pub struct LatchWait<'a> {
    latch: &'a Latch,
    slot: Option<usize>,
}

impl Future for LatchWait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.latch.is_set() {
            return Poll::Ready(());
        }
        let latch = self.latch;
        latch.register(&mut self.slot, cx.waker());
        Poll::Pending
    }
}

impl Drop for LatchWait<'_> {
    fn drop(&mut self) {
        if let Some(i) = self.slot.take() {
            self.latch.unregister(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_waiter_leaves_nothing_behind_and_set_wakes_the_rest() {
        let latch = Latch::default();
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        for _ in 0..1000 {
            let mut w = Box::pin(latch.wait());
            assert!(w.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(latch.waiters(), 0, "finished waiters must not accumulate");
        let mut kept = Box::pin(latch.wait());
        assert!(kept.as_mut().poll(&mut cx).is_pending());
        assert!(kept.as_mut().poll(&mut cx).is_pending());
        assert_eq!(latch.waiters(), 1);
        latch.set();
        assert!(kept.as_mut().poll(&mut cx).is_ready());
        assert!(Box::pin(latch.wait()).as_mut().poll(&mut cx).is_ready());
    }
}
