//! Criterion benchmarks of a balancer pick, per algorithm, over 10 and 100 targets — and the
//! cost of routing by health on top of it.
//!
//! Run: `cargo bench --bench balance`. A pick happens once per TCP session and once per HTTP
//! request, on the shard thread; these figures say what that costs without any I/O around it.
//!
//! `pick/ALGORITHM/N` is the balancer alone (every target usable, no health table);
//! `pick_with_health/ALGORITHM/N` is what the request path does: `GroupRuntime::pick`, which
//! loads the shared health epoch and filters by the group's routable set. The goal is
//! the second within 1.2× of the first at 100 targets.

use std::{hint::black_box, net::SocketAddr, rc::Rc, sync::Arc};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use spillway::{
    balance::{Balancer, Eligible, PickContext},
    config::{Algorithm, Config, Target, TargetGroup},
    control::TargetSet,
    group::{GroupRuntime, TargetRuntime},
    health::HealthTable,
    surge::SurgeLocal,
};

const ALGORITHMS: [(&str, Algorithm); 5] = [
    ("round_robin", Algorithm::RoundRobin),
    ("least_outstanding_requests", Algorithm::LeastOutstandingRequests),
    ("least_connections", Algorithm::LeastConnections),
    ("flow_hash", Algorithm::FlowHash),
    ("random_two", Algorithm::RandomTwo),
];

fn target_list(n: usize) -> Vec<Target> {
    (0..n).map(|i| Target::new(SocketAddr::from(([10, 0, (i / 250) as u8, (i % 250) as u8 + 1], 80)))).collect()
}

/// Some load, so the load-aware algorithms have something to compare.
fn load(targets: &[Rc<TargetRuntime>]) {
    for (i, rt) in targets.iter().enumerate() {
        rt.counters.active.add((i % 7) as u64);
        rt.counters.connections.add((i % 5) as u64);
    }
}

/// Client addresses, built before the timed loop: in the proxy the peer address is stored when
/// the connection is accepted, long before a pick reads it. (Building it in the loop measures a
/// store-forwarding stall whose size depends on what the compiler chose to inline.)
fn contexts() -> Vec<PickContext> {
    (0..4096u16).map(|port| PickContext { client: SocketAddr::from(([192, 168, 1, 2], port)) }).collect()
}

fn pick(c: &mut Criterion) {
    let mut group = c.benchmark_group("pick");
    for n in [10, 100] {
        let cfg = target_list(n);
        let table = HealthTable::default();
        let set = TargetSet::initial(Arc::new(config(Algorithm::RoundRobin, &cfg)), &table, 1);
        let rts: Vec<Rc<TargetRuntime>> =
            cfg.iter().zip(&set.targets[0]).map(|(t, shared)| Rc::new(TargetRuntime::new(t.addr, shared))).collect();
        load(&rts);
        let usable = vec![true; n];
        for (name, algorithm) in ALGORITHMS {
            let mut balancer = Balancer::new(algorithm, &cfg, 42);
            let (ctxs, mut i) = (contexts(), 0usize);
            group.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter(|| {
                    i = (i + 1) & 4095;
                    black_box(balancer.pick(&ctxs[i], &Eligible { usable: &usable, tried: &[] }, &rts))
                })
            });
        }
    }
    group.finish();
}

fn config(algorithm: Algorithm, targets: &[Target]) -> Config {
    let mut group = TargetGroup::with_defaults("g", targets.to_vec());
    group.algorithm = algorithm;
    Config { runtime: Default::default(), admin: Default::default(), listeners: Vec::new(), target_groups: vec![group] }
}

fn pick_with_health(c: &mut Criterion) {
    let mut group = c.benchmark_group("pick_with_health");
    for n in [10, 100] {
        let cfg = target_list(n);
        for (name, algorithm) in ALGORITHMS {
            let table = HealthTable::default();
            let set = TargetSet::initial(Arc::new(config(algorithm, &cfg)), &table, 1);
            let surge = Rc::new(SurgeLocal::new(0, "g", 0, set.surge[0].clone(), None));
            let runtime = GroupRuntime::new(&set, 0, None, 42, surge, None);
            load(&runtime.targets);
            let (ctxs, mut i) = (contexts(), 0usize);
            group.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter(|| {
                    i = (i + 1) & 4095;
                    black_box(runtime.pick(&table.epoch, &ctxs[i], &[]))
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, pick, pick_with_health);
criterion_main!(benches);
