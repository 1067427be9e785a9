//! Criterion benchmarks of a balancer pick, per algorithm, over 10 and 100 targets.
//!
//! Run: `cargo bench --bench balance`. A pick happens once per TCP session and once per HTTP
//! request, on the shard thread; these figures say what that costs without any I/O around it.

use std::{hint::black_box, net::SocketAddr, rc::Rc};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use spillway::{
    balance::{Balancer, PickContext},
    config::{Algorithm, Target},
    metrics::TargetCounters,
    shard::TargetRuntime,
};

fn targets(n: usize) -> (Vec<Target>, Vec<Rc<TargetRuntime>>) {
    let cfg: Vec<Target> =
        (0..n).map(|i| Target::new(SocketAddr::from(([10, 0, (i / 250) as u8, (i % 250) as u8 + 1], 80)))).collect();
    let rts = cfg
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let rt = Rc::new(TargetRuntime { addr: t.addr, counters: TargetCounters::default() });
            // Some load, so the load-aware algorithms have something to compare.
            rt.counters.active.add((i % 7) as u64);
            rt.counters.connections.add((i % 5) as u64);
            rt
        })
        .collect();
    (cfg, rts)
}

fn pick(c: &mut Criterion) {
    let algorithms = [
        ("round_robin", Algorithm::RoundRobin),
        ("least_outstanding_requests", Algorithm::LeastOutstandingRequests),
        ("least_connections", Algorithm::LeastConnections),
        ("flow_hash", Algorithm::FlowHash),
        ("random_two", Algorithm::RandomTwo),
    ];
    let mut group = c.benchmark_group("pick");
    for n in [10, 100] {
        let (cfg, rts) = targets(n);
        for (name, algorithm) in algorithms {
            let mut balancer = Balancer::new(algorithm, &cfg, 42);
            let mut port = 0u16;
            group.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter(|| {
                    port = port.wrapping_add(1);
                    let ctx = PickContext { client: SocketAddr::from(([192, 168, 1, 2], port)) };
                    black_box(balancer.pick(&ctx, &[], &rts))
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, pick);
criterion_main!(benches);
