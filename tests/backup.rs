//! Backup targets (HAProxy's `server ... backup`, `option allbackups`): traffic reaches them
//! only while no primary target is healthy, and goes back to the primaries when one recovers.
//! Real loopback backends whose `/health` the test turns on and off.

mod common;

use std::{sync::atomic::Ordering, time::Duration};

use common::{http_backend::*, *};
use spillway::{
    config::{HealthProtocol, Protocol, Target},
    Server, StartOptions,
};

/// Requests (not checks) each backend has received.
fn served(backends: &[&HttpBackend]) -> Vec<usize> {
    backends.iter().map(|b| b.seen.heads.lock().unwrap().len()).collect()
}

/// Sends `n` requests through `server`, each on its own connection, all answered 200.
fn send(server: &Server, n: usize) {
    let addr = server.listener_addr("l4").unwrap();
    for _ in 0..n {
        let answer =
            raw_exchange(addr, b"GET /who HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", Duration::from_secs(5));
        assert!(answer.starts_with(b"HTTP/1.1 200"), "{:?}", String::from_utf8_lossy(&answer));
    }
}

/// Two primaries and two backups, checked over HTTP every 50 ms, one check to flip.
fn start(primaries: &[&HttpBackend], backups: &[&HttpBackend], all_backups: bool) -> Server {
    let mut c = tcp_config(&[], 1, spillway::config::Driver::Auto);
    c.listeners[0].protocol = Protocol::Http;
    let g = &mut c.target_groups[0];
    g.fail_open = false;
    g.all_backups = all_backups;
    g.targets = primaries.iter().map(|b| Target::new(b.addr)).collect();
    g.targets.extend(backups.iter().map(|b| Target { backup: true, ..Target::new(b.addr) }));
    let hc = &mut g.health_check;
    hc.enabled = true;
    hc.protocol = HealthProtocol::Http;
    hc.path = "/health".into();
    hc.interval = Duration::from_millis(50);
    hc.timeout = Duration::from_millis(40);
    hc.healthy_threshold = 1;
    hc.unhealthy_threshold = 1;
    Server::start(c, StartOptions::default()).unwrap()
}

fn set_healthy(backends: &[&HttpBackend], healthy: bool) {
    for b in backends {
        b.seen.unhealthy.store(!healthy, Ordering::SeqCst);
    }
}

/// Sends one request at a time until `f` holds of the counts, within 5 s.
fn until(server: &Server, backends: &[&HttpBackend], f: impl Fn(&[usize]) -> bool) -> bool {
    wait_until(Duration::from_secs(5), || {
        send(server, 1);
        f(&served(backends))
    })
}

#[test]
fn the_first_backup_takes_over_when_every_primary_fails_and_hands_back_when_one_recovers() {
    let (p1, p2, b1, b2) = (http_backend(), http_backend(), http_backend(), http_backend());
    let all = [&p1, &p2, &b1, &b2];
    let server = start(&[&p1, &p2], &[&b1, &b2], false);
    send(&server, 6);
    assert_eq!(served(&all), vec![3, 3, 0, 0], "backups took traffic while the primaries were healthy");

    set_healthy(&[&p1, &p2], false);
    assert!(until(&server, &all, |s| s[2] > 0), "the first backup never took over: {:?}", served(&all));
    let before = served(&all);
    send(&server, 6);
    let after = served(&all);
    assert_eq!(after[2] - before[2], 6, "only the first backup serves (no allbackups): {before:?} → {after:?}");
    assert_eq!((after[0], after[1], after[3]), (before[0], before[1], 0));

    set_healthy(&[&p2], true);
    assert!(until(&server, &all, |s| s[1] > before[1]), "the primary never got its traffic back");
    let before = served(&all);
    send(&server, 4);
    let after = served(&all);
    assert_eq!(after[1] - before[1], 4, "a healthy primary takes it all back: {before:?} → {after:?}");
}

#[test]
fn with_allbackups_every_healthy_backup_shares_the_traffic() {
    let (p1, b1, b2, b3) = (http_backend(), http_backend(), http_backend(), http_backend());
    let all = [&p1, &b1, &b2, &b3];
    let server = start(&[&p1], &[&b1, &b2, &b3], true);
    set_healthy(&[&b2], false);
    set_healthy(&[&p1], false);
    assert!(until(&server, &all, |s| s[1] + s[3] > 0), "no backup took over: {:?}", served(&all));
    // b2's own check may come a moment later than p1's: rounds of 8 until it has.
    let mut got = Vec::new();
    let shared = wait_until(Duration::from_secs(5), || {
        let before = served(&all);
        send(&server, 8);
        got = served(&all).iter().zip(&before).map(|(a, b)| a - b).collect();
        got == [0, 4, 0, 4]
    });
    assert!(shared, "the healthy backups share by round robin, the unhealthy one gets none: {got:?}");
}

/// A primary that takes no traffic (weight 0: haproxy.cfg's `disabled`) does not keep the
/// backups out: with the only other primary down, the backup serves instead of a 503.
#[test]
fn a_primary_of_weight_zero_does_not_keep_the_backup_out() {
    let (p1, p2, b1) = (http_backend(), http_backend(), http_backend());
    let all = [&p1, &p2, &b1];
    let mut c = tcp_config(&[], 1, spillway::config::Driver::Auto);
    c.listeners[0].protocol = Protocol::Http;
    let g = &mut c.target_groups[0];
    g.fail_open = false;
    g.targets = vec![
        Target { weight: 0, ..Target::new(p1.addr) },
        Target::new(p2.addr),
        Target { backup: true, ..Target::new(b1.addr) },
    ];
    let hc = &mut g.health_check;
    hc.enabled = true;
    hc.protocol = HealthProtocol::Http;
    hc.path = "/health".into();
    hc.interval = Duration::from_millis(50);
    hc.timeout = Duration::from_millis(40);
    hc.healthy_threshold = 1;
    hc.unhealthy_threshold = 1;
    let server = Server::start(c, StartOptions::default()).unwrap();
    send(&server, 4);
    assert_eq!(served(&all), vec![0, 4, 0]);
    set_healthy(&[&p2], false);
    assert!(until(&server, &all, |s| s[2] > 0), "the backup never took over: {:?}", served(&all));
    assert_eq!(served(&all)[0], 0, "the weight-0 primary took traffic");
}
