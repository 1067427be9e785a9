//! The control mailbox of one shard: messages in a crossbeam channel, and a wake-up byte on a
//! socket pair so that the shard's runtime can *wait* for mail instead of polling for it.
//!
//! Control is messages, data never is: stop, drain, snapshot and target-set messages come this
//! way, a few per second at most. The one that can come once per request is a surge queue's
//! cross-shard hand-off ([`Message::SurgeWake`], only while requests wait in a queue and the
//! oldest waiter is on another shard): it carries a group index and allocates nothing of its
//! own (the channel itself allocates one block per 31 messages).
//!
//! No lost wake-up: a sender pushes the message first and writes the wake byte after; the
//! shard empties the wake socket first and the channel after, and only waits when both were
//! empty. A message pushed after the shard looked at the channel is followed by a byte that
//! makes the socket readable again.

use std::{
    io::{self, Read, Write},
    os::unix::net::UnixStream as StdUnixStream,
    time::Instant,
};

use crossbeam_channel::{Receiver, Sender};

use crate::metrics::ShardSnapshot;

/// What the control thread asks of a shard.
#[derive(Debug)]
pub enum Message {
    /// Stop accepting; let sessions finish until `deadline`; then end the shard.
    Drain { deadline: Instant },
    /// End the shard now: open sessions are closed.
    Stop,
    /// Apply this target set (registration, drain removal, zonal shift, reload).
    UpdateGroups(std::sync::Arc<super::TargetSet>),
    /// A slot of target group `group` (its index in the target set in force) was freed on
    /// another shard, and this shard holds the group's oldest waiter: wake it (surge queue).
    SurgeWake { group: usize },
    /// Send this shard's figures back.
    Snapshot(futures_channel::oneshot::Sender<ShardSnapshot>),
}

/// The sending half, kept by the control thread.
#[derive(Debug)]
pub struct MailboxSender {
    tx: Sender<Message>,
    wake: StdUnixStream,
}

/// The receiving half, moved into the shard thread.
#[derive(Debug)]
pub struct MailboxReceiver {
    rx: Receiver<Message>,
    wake: StdUnixStream,
}

/// A new mailbox.
pub fn mailbox() -> io::Result<(MailboxSender, MailboxReceiver)> {
    let (tx, rx) = crossbeam_channel::unbounded();
    let (wake_tx, wake_rx) = StdUnixStream::pair()?;
    wake_tx.set_nonblocking(true)?;
    wake_rx.set_nonblocking(true)?;
    Ok((MailboxSender { tx, wake: wake_tx }, MailboxReceiver { rx, wake: wake_rx }))
}

impl MailboxSender {
    /// Delivers `message`; fails only when the shard has ended.
    pub fn send(&self, message: Message) -> Result<(), ShardGone> {
        self.tx.send(message).map_err(|_| ShardGone)?;
        // A full socket buffer means wake-ups are already pending: nothing is lost.
        let _ = (&self.wake).write(&[1]);
        Ok(())
    }
}

/// The shard this mailbox belongs to has ended.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the shard has ended")]
pub struct ShardGone;

/// The receiving half as the shard's runtime uses it.
pub struct Mailbox {
    rx: Receiver<Message>,
    wake_raw: StdUnixStream,
    wake: monoio::net::UnixStream,
}

impl Mailbox {
    /// Registers the wake socket with the current runtime (call on the shard thread).
    pub fn open(receiver: MailboxReceiver) -> io::Result<Mailbox> {
        let raw = receiver.wake.try_clone()?;
        let wake = monoio::net::UnixStream::from_std(receiver.wake)?;
        Ok(Mailbox { rx: receiver.rx, wake_raw: raw, wake })
    }

    /// Waits for and returns the next batch of messages (never empty). When the control side
    /// is gone (its end of the wake socket closed), the shard is told to stop.
    pub async fn recv(&self) -> Vec<Message> {
        loop {
            let mut sink = [0u8; 64];
            let mut control_gone = false;
            loop {
                match (&self.wake_raw).read(&mut sink) {
                    Ok(0) => {
                        control_gone = true;
                        break;
                    }
                    Ok(_) => continue,
                    Err(_) => break,
                }
            }
            let batch: Vec<Message> = self.rx.try_iter().collect();
            if !batch.is_empty() {
                return batch;
            }
            if control_gone {
                return vec![Message::Stop];
            }
            if self.wake.readable(false).await.is_err() {
                // The wake socket failed (should not happen): fall back to polling.
                monoio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}
