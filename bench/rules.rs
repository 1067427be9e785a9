//! Criterion micro-benchmarks of listener-rule evaluation on a browser-like request head: the
//! cost the rules add to a request, next to what the request path costs as a whole (~15-20 µs
//! of CPU per keep-alive request, docs/benchmarks.md). Cases: no rules; 20 host + path rules
//! where the last matches (the issue's benchmark shape, read from TOML as a user writes them);
//! the same 20 read from haproxy.cfg `acl` + `use_backend` lines. Run with
//! `cargo bench --bench rules`; the end-to-end comparison with HAProxy is `bench/compare.sh rules`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use spillway::{
    config::Config,
    rules::{Fields, Request, RuleSet},
};

struct Head(Vec<(&'static [u8], &'static [u8])>);

impl<'a> Fields<'a> for Head {
    fn any(&self, f: &mut dyn FnMut(&'a [u8], &'a [u8]) -> bool) -> bool {
        self.0.iter().any(|(n, v)| f(n, v))
    }
}

fn browser_head(host: &'static [u8]) -> Head {
    Head(vec![
        (b"Host", host),
        (b"Connection", b"keep-alive"),
        (b"User-Agent", b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"),
        (b"Accept", b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
        (b"Accept-Encoding", b"gzip, deflate, br"),
        (b"Accept-Language", b"en-US,en;q=0.9"),
        (b"Cookie", b"session=abc123; theme=dark"),
    ])
}

fn toml_rules(n: usize) -> String {
    let mut text = String::from("[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:8080\"\ntarget_group = \"g0\"\n");
    for i in 1..=n {
        text += &format!(
            "[[listener.rule]]\npriority = {i}\nconditions = {{ host_header = [\"h{i}.example\"], path_pattern = [\"/p{i}/*\"] }}\n\
             action = {{ type = \"forward\", target_group = \"g{i}\" }}\n"
        );
    }
    for i in 0..=n {
        text += &format!("[[target_group]]\nname = \"g{i}\"\ntargets = [{{ addr = \"127.0.0.1:{}\" }}]\n", 9000 + i);
    }
    text
}

fn haproxy_rules(n: usize) -> String {
    let mut text = String::from("defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\nfrontend web\n  bind 127.0.0.1:8080\n");
    for i in 1..=n {
        text += &format!("  acl host{i} hdr(host) -i h{i}.example\n  acl path{i} path_beg /p{i}/\n");
    }
    for i in 1..=n {
        text += &format!("  use_backend g{i} if host{i} path{i}\n");
    }
    text += "  default_backend g0\n";
    for i in 0..=n {
        text += &format!("backend g{i}\n  server s{i} 127.0.0.1:{}\n", 9000 + i);
    }
    text
}

fn rule_set(config: &Config) -> RuleSet {
    let l = &config.listeners[0];
    RuleSet::compile(&l.rules, &l.trusted_proxies, config)
}

fn rules(c: &mut Criterion) {
    let toml = spillway::config::toml::parse_text(&toml_rules(20), "bench.toml").expect("the TOML rules load");
    let haproxy =
        spillway::config::haproxy::parse(&haproxy_rules(20), "bench.cfg").expect("the haproxy.cfg loads").config;
    let none = spillway::config::toml::parse_text(&toml_rules(0), "bench.toml").expect("no rules load");
    let head = browser_head(b"h20.example");
    let peer = "192.0.2.7:40000".parse().unwrap();
    let local = "127.0.0.1:8080".parse().unwrap();
    let request =
        || Request::new(b"GET", b"/p20/articles/2024?ref=home", "1.1", &head, peer, local, false, "127.0.0.1:8080");
    let mut group = c.benchmark_group("rules");
    for (name, config) in [("none", &none), ("toml_20_last_matches", &toml), ("haproxy_20_last_matches", &haproxy)] {
        let set = rule_set(config);
        group.bench_function(name, |b| {
            b.iter(|| {
                if set.is_empty() {
                    return 0;
                }
                match set.evaluate(black_box(&request())).decision {
                    spillway::rules::Decision::Forward { group, .. } => group,
                    _ => usize::MAX,
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, rules);
criterion_main!(benches);
