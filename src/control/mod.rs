//! The control plane: the one place that changes what the shards route to.
//!
//! Registration, deregistration, zonal shift (admin API) and reloads (SIGHUP) all come here.
//! Each builds a new [`TargetSet`] from the current one, publishes it (an `ArcSwap` here, and a
//! bump of the health table's epoch), and sends it to every shard's [`mailbox`], which rebuilds its balancers from it. Changes are
//! serialised by one mutex (a few per second at most, never on the request path), and mailboxes
//! are FIFO, so every shard applies them in the same order.
//!
//! Deregistration is two steps, as Elastic Load Balancing does it:
//! 1. the target's health slot is marked `draining` (an atomic bit, seen by every shard at its
//!    next pick through the health epoch): no new request or session goes to it, while the ones
//!    in flight finish;
//! 2. [`Control::remove_drained`], run about once a second by shard 0, removes it once no
//!    shard reports work in flight on it, or once `deregistration_delay` has passed.
//!
//! A reload is applied the same way: targets the new file lacks drain (they are not dropped),
//! new ones start `initial`, targets that stay keep their verdict and counters. The file is
//! the source of truth at each reload: targets registered through the API and absent from the
//! file drain too.
//!
//! The control plane also carries the surge queues' cross-shard hand-off: a shard that frees a
//! slot while another shard holds the group's oldest waiter asks for it here
//! ([`crate::surge::WakeShard`]), and the message goes through that shard's mailbox.

pub mod mailbox;
pub mod resolver;
pub mod set;

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, MutexGuard,
    },
    time::{Duration, Instant},
};

use arc_swap::ArcSwap;
use tracing::info;

use crate::{
    config::{Config, Target},
    health::{HealthTable, TargetHealth},
    metrics::ShardSnapshot,
    surge::{SurgeShared, WakeShard},
    tls::TlsContexts,
};
use mailbox::{MailboxSender, Message};
pub use set::{SharedTarget, TargetSet};

/// Why a reload was not applied (the running configuration stays in force).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("listener {0} changed: listener changes need a restart or a -sf reload; nothing was applied")]
    ListenerChanged(String),
    #[error(
        "the listeners are not the same set: listener changes need a restart or a -sf reload; nothing was applied"
    )]
    ListenersDiffer,
    #[error("listener {listener} names target group {group}, which the new configuration lacks; nothing was applied")]
    MissingGroup { listener: String, group: String },
    #[error("{0}; nothing was applied")]
    Tls(#[from] crate::tls::TlsError),
}

/// Why an admin change was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChangeError {
    #[error("no target group named {0:?}")]
    UnknownGroup(String),
    #[error("target group {group:?} has no target {addr}")]
    UnknownTarget { group: String, addr: SocketAddr },
}

/// What a registration did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    /// A new target, starting `initial`.
    Added,
    /// The target was there already (its weight and zone are updated; a draining target is
    /// back in service).
    Updated,
}

/// A target being drained: since when, and the latest moment it is removed.
#[derive(Debug, Clone, Copy)]
struct Drain {
    since: Instant,
    deadline: Instant,
}

/// A drain must have been visible to every shard for this long before "nothing in flight"
/// may end it: a shard that picked the target just before the draining bit landed has counted
/// its request in flight by then.
const DRAIN_SETTLE: Duration = Duration::from_millis(500);

pub struct Control {
    table: Arc<HealthTable>,
    /// The target set in force.
    set: ArcSwap<TargetSet>,
    mailboxes: Vec<MailboxSender>,
    /// Draining targets by health-slot id. The mutex also serialises every change.
    draining: Mutex<HashMap<u64, Drain>>,
    /// The process is draining (SIGUSR1): `/healthz` answers 503.
    stopping: AtomicBool,
    /// The listening sockets were handed to a new process (`-sf`): when this one drains, the
    /// new one serves the admin API too.
    handed_over: Arc<AtomicBool>,
    /// Certificates and TLS configs of the listeners and groups (re-read on reload).
    tls: TlsContexts,
}

impl Control {
    /// The control plane of `config`, run by one shard per mailbox; every target starts new.
    pub fn new(config: Arc<Config>, mailboxes: Vec<MailboxSender>, tls: TlsContexts) -> Self {
        let table = Arc::new(HealthTable::default());
        let set = ArcSwap::from_pointee(TargetSet::initial(config, &table, mailboxes.len()));
        Control {
            table,
            set,
            mailboxes,
            draining: Mutex::new(HashMap::new()),
            stopping: AtomicBool::new(false),
            handed_over: Arc::default(),
            tls,
        }
    }

    /// The TLS contexts in force.
    pub fn tls(&self) -> &TlsContexts {
        &self.tls
    }

    pub fn table(&self) -> &Arc<HealthTable> {
        &self.table
    }

    /// The target set in force.
    pub fn current(&self) -> Arc<TargetSet> {
        self.set.load_full()
    }

    pub fn shard_count(&self) -> usize {
        self.mailboxes.len()
    }

    pub fn mailboxes(&self) -> &[MailboxSender] {
        &self.mailboxes
    }

    pub fn set_stopping(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Set by the upgrade offer when a new process took the sockets.
    pub fn handed_over_flag(&self) -> Arc<AtomicBool> {
        self.handed_over.clone()
    }

    pub fn handed_over(&self) -> bool {
        self.handed_over.load(Ordering::Acquire)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Drain>> {
        // A panic while holding the lock is a bug elsewhere; the map itself stays consistent.
        self.draining.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Makes `set` the one in force and sends it to every shard.
    fn publish(&self, set: TargetSet) {
        let set = Arc::new(set);
        self.set.store(set.clone());
        self.table.epoch.bump();
        for m in &self.mailboxes {
            let _ = m.send(Message::UpdateGroups(set.clone()));
        }
    }

    /// Adds `target` to `group` (201), or updates it when present (200; a draining target
    /// returns to service).
    pub fn register(&self, group: &str, target: Target) -> Result<Registered, ChangeError> {
        let mut draining = self.lock();
        let cur = self.current();
        let g = cur.config.group_index(group).ok_or_else(|| ChangeError::UnknownGroup(group.to_string()))?;
        let mut config = (*cur.config).clone();
        let mut shared = cur.targets.clone();
        let targets = &mut config.target_groups[g].targets;
        let outcome = match targets.iter().position(|t| t.addr == target.addr) {
            Some(i) => {
                let slot = &shared[g][i].health;
                if slot.set_draining(false) {
                    draining.remove(&slot.id);
                    self.table.epoch.bump();
                    info!(group, target = %target.addr, "registered again: draining cancelled");
                }
                if targets[i] == target {
                    return Ok(Registered::Updated);
                }
                targets[i] = target;
                Registered::Updated
            }
            None => {
                info!(group, target = %target.addr, "target registered");
                targets.push(target);
                shared[g].push(SharedTarget::new(&self.table, config.target_groups[g].health_check.enabled));
                Registered::Added
            }
        };
        self.publish(TargetSet {
            config: Arc::new(config),
            targets: shared,
            shifted_zones: cur.shifted_zones.clone(),
            surge: cur.surge.clone(),
        });
        Ok(outcome)
    }

    /// Starts draining `addr` of `group`: no new work goes to it; it is removed once idle or
    /// after the group's `deregistration_delay`.
    pub fn deregister(&self, group: &str, addr: SocketAddr) -> Result<(), ChangeError> {
        let mut draining = self.lock();
        let cur = self.current();
        let slot = match cur.slot(group, addr) {
            Some(slot) => slot.clone(),
            None if cur.config.group_index(group).is_none() => return Err(ChangeError::UnknownGroup(group.into())),
            None => return Err(ChangeError::UnknownTarget { group: group.into(), addr }),
        };
        let g = cur.config.group_index(group).expect("slot found in it");
        let delay = cur.config.target_groups[g].deregistration_delay;
        self.start_drain(&mut draining, &slot, delay);
        info!(group, target = %addr, delay = ?delay, "target deregistered: draining");
        Ok(())
    }

    fn start_drain(&self, draining: &mut HashMap<u64, Drain>, slot: &TargetHealth, delay: Duration) {
        if slot.set_draining(true) {
            let now = Instant::now();
            draining.insert(slot.id, Drain { since: now, deadline: now + delay });
            self.table.epoch.bump();
        }
    }

    /// Stops routing to targets in `zone` (every group) until [`Control::clear_zonal_shift`].
    pub fn shift_zone(&self, zone: &str) {
        let _guard = self.lock();
        let cur = self.current();
        if cur.shifted_zones.iter().any(|z| z == zone) {
            return;
        }
        let mut shifted_zones = cur.shifted_zones.clone();
        shifted_zones.push(zone.to_string());
        info!(zone, "zonal shift: traffic moved away from the zone");
        self.publish(TargetSet {
            config: cur.config.clone(),
            targets: cur.targets.clone(),
            shifted_zones,
            surge: cur.surge.clone(),
        });
    }

    pub fn clear_zonal_shift(&self) {
        let _guard = self.lock();
        let cur = self.current();
        if !cur.shifted_zones.is_empty() {
            info!(zones = ?cur.shifted_zones, "zonal shift ended");
            self.publish(TargetSet {
                config: cur.config.clone(),
                targets: cur.targets.clone(),
                shifted_zones: Vec::new(),
                surge: cur.surge.clone(),
            });
        }
    }

    /// Applies the target groups of a re-read file. Listeners must be unchanged but for their rules; `[runtime]`
    /// and `[admin]` keep their running values.
    pub fn reload(&self, new: Config) -> Result<(), ReloadError> {
        let mut draining = self.lock();
        let cur = self.current();
        if new.listeners.len() != cur.config.listeners.len() {
            return Err(ReloadError::ListenersDiffer);
        }
        // A listener's rules may change on reload (the shards recompile them); its socket and
        // protocol settings may not.
        let socket_part = |l: &crate::config::Listener| crate::config::Listener {
            rules: Default::default(),
            trusted_proxies: Vec::new(),
            ..l.clone()
        };
        for (old, new) in cur.config.listeners.iter().zip(&new.listeners) {
            if socket_part(old) != socket_part(new) {
                return Err(ReloadError::ListenerChanged(new.name.clone()));
            }
        }
        for l in &new.listeners {
            if new.group_index(&l.target_group).is_none() {
                return Err(ReloadError::MissingGroup { listener: l.name.clone(), group: l.target_group.clone() });
            }
        }
        // Certificates and CA files are re-read now; a bad one refuses the whole reload.
        self.tls.reload(&new)?;
        let mut config = new;
        config.runtime = cur.config.runtime.clone();
        config.admin = cur.config.admin.clone();
        let mut shared = Vec::with_capacity(config.target_groups.len());
        // A group keeps its queue figures (and waiters) across a reload, by name.
        let surge = config
            .target_groups
            .iter()
            .map(|g| {
                let kept = cur.config.group_index(&g.name).map(|i| cur.surge[i].clone());
                kept.unwrap_or_else(|| Arc::new(SurgeShared::new(self.shard_count())))
            })
            .collect();
        for group in &mut config.target_groups {
            let old = cur.config.group_index(&group.name).map(|g| (&cur.config.target_groups[g], &cur.targets[g]));
            let keeps_slots = old.is_some_and(|(o, _)| o.health_check.enabled == group.health_check.enabled);
            let mut slots = Vec::with_capacity(group.targets.len());
            for t in &group.targets {
                let kept = old
                    .filter(|_| keeps_slots)
                    .and_then(|(o, s)| o.targets.iter().position(|ot| ot.addr == t.addr).map(|i| s[i].clone()));
                let slot = match kept {
                    Some(slot) => {
                        if slot.health.set_draining(false) {
                            draining.remove(&slot.health.id);
                            self.table.epoch.bump();
                        }
                        slot
                    }
                    None => SharedTarget::new(&self.table, group.health_check.enabled),
                };
                slots.push(slot);
            }
            // Targets the file dropped drain instead of vanishing with requests in flight.
            if let Some((o, s)) = old {
                for (ot, slot) in o.targets.iter().zip(s) {
                    if !group.targets.iter().any(|t| t.addr == ot.addr) {
                        self.start_drain(&mut draining, &slot.health, group.deregistration_delay);
                        group.targets.push(ot.clone());
                        slots.push(slot.clone());
                    }
                }
            }
            shared.push(slots);
        }
        let live: Vec<u64> = shared.iter().flatten().map(|s| s.health.id).collect();
        draining.retain(|id, _| live.contains(id));
        let shifted_zones = cur.shifted_zones.clone();
        self.publish(TargetSet { config: Arc::new(config), targets: shared, shifted_zones, surge });
        Ok(())
    }

    /// Whether any target is draining (the sweep has work).
    pub fn has_draining(&self) -> bool {
        !self.lock().is_empty()
    }

    /// Removes the draining targets that are done: nothing in flight on any shard (per
    /// `figures`, taken after the drain began), or past their deadline. Returns how many.
    pub fn remove_drained(&self, figures: &ShardSnapshot) -> usize {
        let mut draining = self.lock();
        let cur = self.current();
        let now = Instant::now();
        let mut config = (*cur.config).clone();
        let mut shared = cur.targets.clone();
        let mut removed = 0;
        for (g, group) in config.target_groups.iter_mut().enumerate() {
            let mut i = 0;
            while i < group.targets.len() {
                let slot = &shared[g][i].health;
                let done = draining.get(&slot.id).is_some_and(|d| {
                    let in_flight = figures.target_in(&group.name, group.targets[i].addr).map_or(0, |t| t.active);
                    now >= d.deadline || (in_flight == 0 && now.duration_since(d.since) >= DRAIN_SETTLE)
                });
                if done {
                    draining.remove(&slot.id);
                    info!(group = %group.name, target = %group.targets[i].addr, "drained target removed");
                    group.targets.remove(i);
                    shared[g].remove(i);
                    removed += 1;
                } else {
                    i += 1;
                }
            }
        }
        if removed > 0 {
            self.publish(TargetSet {
                config: Arc::new(config),
                targets: shared,
                shifted_zones: cur.shifted_zones.clone(),
                surge: cur.surge.clone(),
            });
        }
        removed
    }

    /// Asks every shard for its figures; the replies arrive on the returned receivers.
    pub fn ask_snapshots(&self) -> Vec<futures_channel::oneshot::Receiver<ShardSnapshot>> {
        self.mailboxes
            .iter()
            .filter_map(|m| {
                let (tx, rx) = futures_channel::oneshot::channel();
                m.send(Message::Snapshot(tx)).ok().map(|_| rx)
            })
            .collect()
    }
}

/// A freed slot for a waiter on another shard: a message through that shard's mailbox (no
/// allocation: the group travels as its index in the target set in force).
impl WakeShard for Control {
    fn wake(&self, shard: usize, group: usize) {
        if let Some(m) = self.mailboxes.get(shard) {
            let _ = m.send(Message::SurgeWake { group });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        config::TargetGroup,
        health::HealthState,
        metrics::{ShardSnapshot, TargetSnapshot},
    };

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// A control plane over one group `g` with these target ports, and one (unread) mailbox.
    fn control(ports: &[u16], delay: Duration) -> (Control, mailbox::MailboxReceiver) {
        let mut group = TargetGroup::with_defaults("g", ports.iter().map(|&p| Target::new(addr(p))).collect());
        group.deregistration_delay = delay;
        let config = Config {
            runtime: Default::default(),
            admin: Default::default(),
            listeners: Vec::new(),
            target_groups: vec![group],
        };
        let (tx, rx) = mailbox::mailbox().unwrap();
        let tls = TlsContexts::load(&config).expect("no TLS files in the test configuration");
        (Control::new(Arc::new(config), vec![tx], tls), rx)
    }

    fn in_flight(port: u16, active: u64) -> ShardSnapshot {
        ShardSnapshot {
            targets: vec![TargetSnapshot { group: "g".into(), addr: Some(addr(port)), active, ..Default::default() }],
            ..Default::default()
        }
    }

    fn state(c: &Control, port: u16) -> Option<HealthState> {
        c.current().slot("g", addr(port)).map(|s| s.load().state())
    }

    #[test]
    fn a_drained_target_goes_when_idle_after_the_settle_time_or_at_its_deadline() {
        let (c, _rx) = control(&[1, 2], Duration::from_millis(900));
        c.deregister("g", addr(1)).unwrap();
        assert_eq!(state(&c, 1), Some(HealthState::Draining));
        assert!(c.has_draining());
        assert_eq!(c.remove_drained(&in_flight(1, 0)), 0, "removed before every shard could see the drain");
        std::thread::sleep(DRAIN_SETTLE);
        assert_eq!(c.remove_drained(&in_flight(1, 3)), 0, "removed with requests in flight");
        std::thread::sleep(Duration::from_millis(450));
        assert_eq!(c.remove_drained(&in_flight(1, 3)), 1, "kept past its deregistration delay");
        assert_eq!(state(&c, 1), None);
        assert_eq!(state(&c, 2), Some(HealthState::Initial));
        assert!(!c.has_draining());
    }

    #[test]
    fn registering_a_draining_target_brings_it_back_with_its_slot() {
        let (c, _rx) = control(&[1], Duration::from_secs(300));
        let slot = c.current().slot("g", addr(1)).unwrap().clone();
        c.deregister("g", addr(1)).unwrap();
        assert_eq!(c.register("g", Target::new(addr(1))), Ok(Registered::Updated));
        assert_eq!(state(&c, 1), Some(HealthState::Initial));
        assert!(Arc::ptr_eq(&slot, c.current().slot("g", addr(1)).unwrap()), "a new slot loses the verdict");
        assert!(!c.has_draining());
        assert_eq!(c.register("g", Target::new(addr(2))), Ok(Registered::Added));
        assert_eq!(c.register("h", Target::new(addr(2))), Err(ChangeError::UnknownGroup("h".into())));
        assert_eq!(c.deregister("g", addr(3)), Err(ChangeError::UnknownTarget { group: "g".into(), addr: addr(3) }));
    }

    #[test]
    fn a_reload_keeps_slots_drains_dropped_targets_and_adds_new_ones() {
        let (c, _rx) = control(&[1, 2], Duration::from_secs(300));
        let kept = c.current().slot("g", addr(1)).unwrap().clone();
        let mut next = (*c.current().config).clone();
        next.target_groups[0].targets = vec![Target::new(addr(1)), Target::new(addr(3))];
        c.reload(next).unwrap();
        let set = c.current();
        let listed: Vec<SocketAddr> = set.config.target_groups[0].targets.iter().map(|t| t.addr).collect();
        assert_eq!(listed, vec![addr(1), addr(3), addr(2)], "the dropped target stays listed while it drains");
        assert!(Arc::ptr_eq(&kept, set.slot("g", addr(1)).unwrap()));
        assert_eq!(state(&c, 2), Some(HealthState::Draining));
        assert_eq!(state(&c, 3), Some(HealthState::Initial));
    }
}
