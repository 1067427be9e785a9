//! A worker's TLS client session cache: the rustls `ClientSessionStore` that the connections of
//! one worker share, so that a reconnecting connection resumes a session of its worker.
//!
//! Why not rustls' own `ClientSessionMemoryCache`: it keeps at most 8 TLS 1.3 tickets per server.
//! A load generator reconnects many connections to one server at once (`--new-conn`, or after the
//! server restarts): with 64 connections per worker, most would find no ticket and do a full
//! handshake, and the figures would measure the cache rather than the server. This cache keeps
//! up to a number of tickets given by the worker (twice its connections), per server name.
//!
//! Invariants: tickets are single use (taken out when offered), newest first, the oldest dropped
//! beyond the limit; at most [`MAX_SERVERS`] server names are remembered (a run talks to one);
//! the lock is only shared by the connections of one worker (one thread), so it never contends;
//! a poisoned lock is recovered, never a panic.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use rustls::client::{ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::pki_types::ServerName;
use rustls::NamedGroup;

/// Server names remembered (the oldest is forgotten beyond this).
const MAX_SERVERS: usize = 16;

#[derive(Debug)]
struct Server {
    name: ServerName<'static>,
    kx_hint: Option<NamedGroup>,
    tls12: Option<Tls12ClientSessionValue>,
    /// Oldest first.
    tls13: VecDeque<Tls13ClientSessionValue>,
}

/// The session cache of one worker.
#[derive(Debug)]
pub struct SessionCache {
    servers: Mutex<Vec<Server>>,
    max_tickets: usize,
}

impl SessionCache {
    /// Keep up to `max_tickets` TLS 1.3 tickets per server (at least 8, as rustls does).
    pub fn new(max_tickets: usize) -> SessionCache {
        SessionCache { servers: Mutex::new(Vec::new()), max_tickets: max_tickets.max(8) }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Server>> {
        self.servers.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Run `f` on the entry of `name`, creating it if needed.
    fn edit(&self, name: ServerName<'static>, f: impl FnOnce(&mut Server)) {
        let mut servers = self.lock();
        let i = match servers.iter().position(|s| s.name == name) {
            Some(i) => i,
            None => {
                if servers.len() >= MAX_SERVERS {
                    servers.remove(0);
                }
                servers.push(Server { name, kx_hint: None, tls12: None, tls13: VecDeque::new() });
                servers.len() - 1
            }
        };
        f(&mut servers[i]);
    }

    /// Run `f` on the entry of `name`, if there is one.
    fn with<T>(&self, name: &ServerName<'_>, f: impl FnOnce(&mut Server) -> Option<T>) -> Option<T> {
        let mut servers = self.lock();
        servers.iter_mut().find(|s| s.name == *name).and_then(f)
    }
}

impl ClientSessionStore for SessionCache {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.edit(server_name, |s| s.kx_hint = Some(group));
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.with(server_name, |s| s.kx_hint)
    }

    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.edit(server_name, |s| s.tls12 = Some(value));
    }

    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.with(server_name, |s| s.tls12.clone())
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.with(server_name, |s| s.tls12.take());
    }

    fn insert_tls13_ticket(&self, server_name: ServerName<'static>, value: Tls13ClientSessionValue) {
        let max = self.max_tickets;
        self.edit(server_name, |s| {
            if s.tls13.len() >= max {
                s.tls13.pop_front();
            }
            s.tls13.push_back(value);
        });
    }

    fn take_tls13_ticket(&self, server_name: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        self.with(server_name, |s| s.tls13.pop_back())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_are_kept_per_server_name_and_bounded() {
        let c = SessionCache::new(0);
        let a = ServerName::try_from("a.example").unwrap();
        c.set_kx_hint(a.clone(), NamedGroup::X25519);
        assert_eq!(c.kx_hint(&a), Some(NamedGroup::X25519));
        assert_eq!(c.kx_hint(&ServerName::try_from("b.example").unwrap()), None);
        for i in 0..MAX_SERVERS {
            c.set_kx_hint(ServerName::try_from(format!("s{i}.example")).unwrap(), NamedGroup::secp256r1);
        }
        // The oldest server name was forgotten to make room.
        assert_eq!(c.kx_hint(&a), None);
        assert_eq!(c.lock().len(), MAX_SERVERS);
        assert!(c.take_tls13_ticket(&a).is_none());
    }
}
