//! Background re-resolution of targets named by host (HAProxy's `server ... resolvers R`):
//! one thread per process, off the shards, asking the system resolver.
//!
//! Why: in a docker-compose or Kubernetes set-up a container that restarts comes back on a new
//! address, and one that was not up yet when the proxy started has none; HAProxy follows both
//! through its `resolvers`. Here every [`NamedTarget`] of the configuration in force is resolved
//! every `every`; when the answer differs from the address the name holds now, the new address
//! is registered and the old one deregistered (it drains: requests in flight finish), through
//! [`Control::register`] and [`Control::deregister`], the admin API's own path. A name that
//! stops resolving keeps its last address (as HAProxy does for its `hold valid` time; spillway
//! keeps it until the name resolves again, and its health check judges it meanwhile).
//!
//! A reload re-reads the file, which resolves every name again, and the thread then works from
//! the new configuration. The cost on the request path is none: shards see a new target set,
//! as after any registration.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::Arc,
    thread::JoinHandle,
    time::{Duration, Instant},
};

use tracing::{info, warn};

use super::Control;
use crate::config::{validate::resolve_host, NamedTarget, Target};

/// How often the thread looks at the configuration for names that are due, at most.
const TICK: Duration = Duration::from_millis(250);

/// The re-resolution thread; dropping it stops the thread.
pub struct Resolver {
    stop: Option<crossbeam_channel::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Resolver {
    /// Starts the thread (it sleeps while the configuration names no target by host).
    pub fn start(control: Arc<Control>) -> std::io::Result<Resolver> {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let thread = std::thread::Builder::new().name("spillway-resolver".into()).spawn(move || {
            let mut names = Names::default();
            while let Err(crossbeam_channel::RecvTimeoutError::Timeout) = stopped.recv_timeout(TICK) {
                names.tick(&control, Instant::now());
            }
        })?;
        Ok(Resolver { stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for Resolver {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A name as the thread follows it: (group, host, port).
type Key = (String, String, u16);

#[derive(Default)]
struct Names {
    /// The address each name holds now (registered by this thread), and when it is due next.
    held: HashMap<Key, (Option<SocketAddr>, Instant)>,
}

impl Names {
    fn tick(&mut self, control: &Control, now: Instant) {
        let set = control.current();
        for group in &set.config.target_groups {
            for name in &group.names {
                let key = (group.name.clone(), name.host.clone(), name.port);
                // The address in force: the one this thread registered while the group still
                // holds it, else what the file's read resolved (a reload starts afresh).
                let in_group = |a: &SocketAddr| group.targets.iter().any(|t| t.addr == *a);
                let (held, due) = match self.held.get(&key) {
                    Some(&(held, due)) if held.is_none_or(|a| in_group(&a)) => (held, due),
                    _ => (name.resolved.then_some(name.target.addr).filter(in_group), now),
                };
                if now < due {
                    continue;
                }
                let next = now + name.every;
                let Ok(addr) = resolve_host(&name.host, name.port, name.prefer) else {
                    self.held.insert(key, (held, next));
                    continue;
                };
                if held != Some(addr) {
                    move_target(control, &group.name, name, held, addr);
                }
                self.held.insert(key, (Some(addr), next));
            }
        }
        // Names the configuration no longer has are forgotten.
        self.held.retain(|(g, h, p), _| {
            set.config
                .target_groups
                .iter()
                .any(|group| &group.name == g && group.names.iter().any(|n| &n.host == h && n.port == *p))
        });
    }
}

/// Registers `addr` for `name` in `group`, then deregisters `old` (it drains).
fn move_target(control: &Control, group: &str, name: &NamedTarget, old: Option<SocketAddr>, addr: SocketAddr) {
    let target = Target { addr, ..name.target.clone() };
    match control.register(group, target) {
        Ok(_) => info!(group, host = %name.host, ?old, new = %addr, "re-resolved: the name's address changed"),
        Err(e) => {
            warn!(group, host = %name.host, new = %addr, error = %e, "re-resolved, but the new address was not registered");
            return;
        }
    }
    if let Some(old) = old {
        // Another server of the group may stand on the old address too: left alone then.
        let shared = control.current().config.target_groups.iter().any(|g| {
            g.name == group && g.names.iter().any(|n| n.host != name.host && n.resolved && n.target.addr == old)
        });
        if !shared {
            if let Err(e) = control.deregister(group, old) {
                warn!(group, host = %name.host, %old, error = %e, "the name's old address was not deregistered");
            }
        }
    }
}
