//! The haproxy.cfg files of tests/haproxy/drop-in/, written the way real ones are (a benchmark,
//! the Debian default, docker-compose with host names, a contest entry, environment variables,
//! `.if` blocks, named defaults, two servers on one address, the keywords that change nothing,
//! the syntax seen in the wild, a stats listener), each `haproxy -c`-valid and started here for
//! real: the file's ports are replaced in its text (19xxx: one test backend per port; 18xxx: port
//! 0, read back from the running server), and requests assert which server answered.

mod common;

use std::{
    collections::{BTreeSet, HashMap},
    io::{BufReader, Write},
    net::{SocketAddr, TcpStream},
    path::PathBuf,
    sync::atomic::Ordering,
    time::Duration,
};

use common::http_backend::*;
use spillway::{
    config::{haproxy, Algorithm, Config, Protocol},
    Server, StartOptions,
};

struct Run {
    server: Server,
    config: Config,
    /// The file's server port → the test backend that stands for it.
    backends: HashMap<u16, HttpBackend>,
    notes: Vec<String>,
}

fn corpus(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/haproxy/drop-in").join(file)
}

/// The file with its ports replaced (`common::drop_in_corpus`), one test backend per server
/// port, written to a scratch file of the same name.
fn substituted(file: &str) -> (PathBuf, HashMap<u16, HttpBackend>) {
    let mut backends = HashMap::new();
    let text = common::drop_in_corpus(file, |port| backends.entry(port).or_insert_with(http_backend).addr.port());
    (common::scratch_file(file, &text), backends)
}

fn start(file: &str) -> Run {
    start_with(file, |_| {})
}

fn start_with(file: &str, edit: impl FnOnce(&mut Config)) -> Run {
    let (path, backends) = substituted(file);
    let (mut config, notes) =
        Config::load_files_with(&[path], haproxy::Options::default()).unwrap_or_else(|e| panic!("{file}:\n{e}"));
    config.runtime.pin = false;
    config.runtime.upgrade_socket = None;
    if config.runtime.threads == 0 {
        config.runtime.threads = 2;
    }
    edit(&mut config);
    let server = Server::start(config.clone(), StartOptions::default()).unwrap_or_else(|e| panic!("{file}: {e}"));
    let notes = notes.iter().map(|n| format!("{}: {}", n.line, n.message)).collect();
    Run { server, config, backends, notes }
}

impl Run {
    fn counts(&self) -> HashMap<u16, usize> {
        self.backends.iter().map(|(p, b)| (*p, b.seen.requests.load(Ordering::SeqCst))).collect()
    }

    /// One request on a new connection to `listener`: the file's port of the server that
    /// answered (None: spillway answered itself).
    fn went(&self, listener: &str) -> Option<u16> {
        let before = self.counts();
        let addr = self.server.listener_addr(listener).unwrap_or_else(|| panic!("no listener {listener}"));
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        s.write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").unwrap();
        let (status, head, _) = read_response(&mut r).unwrap();
        assert_eq!(status, 200, "{listener}: {head}");
        let after = self.counts();
        after.iter().find(|(p, n)| **n > before[p]).map(|(p, _)| *p)
    }

    /// The servers `n` sequential requests reached, in order.
    fn spread(&self, listener: &str, n: usize) -> Vec<u16> {
        (0..n).map(|_| self.went(listener).expect("a server answered")).collect()
    }

    fn has_note(&self, fragment: &str) {
        assert!(
            self.notes.iter().any(|n| n.contains(fragment)),
            "no note with {fragment:?} in\n{}",
            self.notes.join("\n")
        );
    }
}

fn distinct(v: &[u16]) -> BTreeSet<u16> {
    v.iter().copied().collect()
}

#[test]
fn the_debian_default_with_a_frontend_added_starts_and_balances() {
    let r = start("debian-default.cfg");
    assert_eq!(distinct(&r.spread("main", 4)), BTreeSet::from([19101, 19102]));
    assert!(r.server.admin_addr().is_none(), "the file names no stats listener");
    r.has_note("errorfile: not served");
    r.has_note("chroot: no effect");
    r.has_note("ca-base: no effect");
    assert_eq!(r.notes.iter().filter(|n| n.contains("errorfile")).count(), 7, "one warning per line");
}

#[test]
fn round_robin_spreads_a_short_run_over_the_shards() {
    // nbthread 4, 8 servers: shard i starts its rotation at server 2i. Whatever shards the
    // kernel hands the first 8 sequential connections to, they reach at least 5 servers (the
    // worst case: 5 on one shard, 3 on the next). The rotations start there at start and at
    // every change of the group (a reload); later runs start wherever each shard's rotation is.
    for _ in 0..4 {
        let r = start("bench-minimal.cfg");
        assert_eq!(r.config.runtime.threads, 4);
        let run = r.spread("bench", 8);
        assert!(distinct(&run).len() >= 5, "8 sequential requests reached {run:?}");
        // Over whole rotations every server takes its share.
        r.spread("bench", 56);
        assert!(r.counts().values().all(|&n| n > 0), "every server took traffic: {:?}", r.counts());
    }
}

#[test]
fn compose_host_names_resolve_and_an_unresolved_replica_starts_without_an_address() {
    let r = start("compose-hostnames.cfg");
    let g = &r.config.target_groups[0];
    assert_eq!(g.targets.len(), 2, "api03 does not resolve: init-addr none leaves it out");
    assert!(g.targets.iter().all(|t| t.addr.ip().is_loopback()));
    assert_eq!(distinct(&r.spread("http-in", 4)), BTreeSet::from([19121, 19122]));
    r.has_note(
        r#"server api03: cannot resolve "api03.spillway-test.invalid": started without an address (init-addr none)"#,
    );
    r.has_note("resolvers docker: nameserver dns1: names are resolved by the system resolver");
    // Every server names `resolvers docker` (default-server): followed every `timeout resolve`,
    // api03 included, which joins once its name resolves.
    assert_eq!(g.names.len(), 3);
    assert!(g.names.iter().all(|n| n.every == Duration::from_secs(1)));
    assert_eq!(
        g.names.iter().filter(|n| !n.resolved).map(|n| n.host.as_str()).collect::<Vec<_>>(),
        ["api03.spillway-test.invalid"]
    );
}

#[test]
fn a_contest_tcp_entry_maps_use_backend_without_condition_to_the_default() {
    let r = start("contest-tcp.cfg");
    let l = &r.config.listeners[0];
    assert_eq!((l.protocol, l.target_group.as_str()), (Protocol::Tcp, "api"));
    assert!(l.rules.request.is_empty());
    assert_eq!(r.config.runtime.drain_timeout, Duration::from_secs(5), "hard-stop-after");
    assert_eq!(distinct(&r.spread("rinha", 4)), BTreeSet::from([19131, 19132]));
    for n in [
        "strict-limits: no effect",
        "option tcpka: no effect",
        "option clitcpka",
        "option srvtcpka",
        "minconn 10: no effect",
        "fullconn: no effect",
    ] {
        r.has_note(n);
    }
}

#[test]
fn env_vars_expand_in_double_quotes_from_setenv_and_presetenv() {
    let r = start("env-vars.cfg");
    let g = &r.config.target_groups[0];
    assert_eq!(g.targets.iter().map(|t| t.weight).collect::<Vec<_>>(), vec![1, 0], "b is disabled");
    assert_eq!(r.spread("web", 3), vec![19141; 3]);
}

#[test]
fn conditional_blocks_choose_as_haproxy_2_6_does() {
    let r = start("conditional.cfg");
    assert_eq!(r.config.listeners.len(), 1, "the QUIC bind is in a block HAProxy 2.6 without QUIC skips");
    assert_eq!(r.spread("web", 2), vec![19151; 2]);
}

#[test]
fn named_defaults_and_from_give_each_proxy_its_family() {
    let r = start("named-defaults.cfg");
    let db = r.config.listeners.iter().find(|l| l.name == "db").unwrap();
    assert_eq!(db.protocol, Protocol::Tcp);
    assert_eq!(r.config.target_groups.iter().find(|g| g.name == "db").unwrap().algorithm, Algorithm::LeastConnections);
    assert_eq!(r.config.target_groups.iter().find(|g| g.name == "app").unwrap().algorithm, Algorithm::RoundRobin);
    assert_eq!(r.went("web"), Some(19161));
    assert_eq!(r.went("db"), Some(19162));
}

#[test]
fn two_servers_on_one_address_are_one_target_with_both_weights() {
    let r = start_with("duplicate-servers.cfg", |c| c.runtime.threads = 1);
    let weights: Vec<u32> = r.config.target_groups[0].targets.iter().map(|t| t.weight).collect();
    assert_eq!(weights, vec![2, 1]);
    r.has_note("server big-b has the address of server big-a (line 14)");
    let run = r.spread("web", 6);
    assert_eq!(run.iter().filter(|&&p| p == 19171).count(), 4, "{run:?}");
    assert_eq!(run.iter().filter(|&&p| p == 19172).count(), 2, "{run:?}");
}

#[test]
fn keywords_that_change_nothing_here_are_accepted_with_one_warning_each() {
    let r = start("keywords.cfg");
    assert_eq!(distinct(&r.spread("web", 4)), BTreeSet::from([19181, 19182]));
    assert_eq!(r.went("closing"), Some(19183));
    for n in [
        "5: hard-stop-after",
        "profiling.tasks: no effect",
        "log-format: no effect",
        "option http-server-close: no effect",
        "option forwardfor: no effect (spillway always appends X-Forwarded-For; except",
        "option socket-stats: no effect",
        "option http-ignore-probes: no effect",
        "option prefer-last-server: no effect",
        "option httpclose: no effect",
        "errorfile: not served",
        "compression: no effect: responses are not compressed",
        "default-server slowstart 10s: no effect",
        "fullconn: no effect",
        "server s1: minconn 5: no effect",
    ] {
        if n.starts_with("5: hard-stop-after") {
            assert_eq!(r.config.runtime.drain_timeout, Duration::from_secs(30), "hard-stop-after is the drain timeout");
            continue;
        }
        r.has_note(n);
    }
    // Mapped now (tests/haproxy_checks.rs and tests/health_protocols.rs run them).
    assert!(!r
        .notes
        .iter()
        .any(|n| n.contains("downinter") || n.contains("fastinter") || n.contains("on-marked-down")));
    let hc = &r.config.target_groups.iter().find(|g| g.name == "app").unwrap().health_check;
    assert_eq!((hc.fast_interval, hc.down_interval), (Some(Duration::from_secs(1)), Some(Duration::from_secs(5))));
    assert!(hc.shutdown_sessions);
}

#[test]
fn syntax_seen_in_the_wild_reads_as_haproxy_reads_it() {
    let r = start("syntax.cfg");
    assert_eq!(r.config.runtime.max_connections, 1000, "a # glued to a word starts a comment");
    assert_eq!(r.spread("web", 2), vec![19191; 2]);
}

#[test]
fn only_a_stats_listener_opens_the_admin_api_so_two_files_run_side_by_side() {
    let stats = start("stats-listener.cfg");
    // The stats listener's bind (port 0 here) became the admin API's.
    assert_eq!(stats.config.admin.listen, Some("127.0.0.1:0".parse().unwrap()));
    assert!(stats.server.admin_addr().is_some_and(|a| a.ip().is_loopback()));
    assert_eq!(stats.went("web"), Some(19201));
    // `stats uri /stats`, an admin API path: a browser gets the page there, a script the
    // API's JSON, and `;csv` the CSV (all behind `stats auth admin:secret`).
    let admin = stats.server.admin_addr().unwrap();
    const AUTH: &str = "Authorization: Basic YWRtaW46c2VjcmV0\r\n";
    let ask = |target: &str, accept: &str| {
        let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\n{accept}{AUTH}Connection: close\r\n\r\n");
        String::from_utf8_lossy(&raw_exchange(admin, request.as_bytes(), Duration::from_secs(5))).into_owned()
    };
    let browser = ask("/stats", "Accept: text/html,application/xhtml+xml\r\n");
    assert!(browser.starts_with("HTTP/1.1 200") && browser.contains("Statistics Report"), "{browser}");
    let script = ask("/stats", "");
    assert!(script.contains("\"target_groups\""), "{script}");
    let csv = ask("/stats;csv", "");
    assert!(csv.contains("# pxname,svname"), "{csv}");
    // Outside the stats URI, the section has no server: HAProxy's 503, no credentials asked.
    let other =
        String::from_utf8_lossy(&raw_exchange(admin, b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n", Duration::from_secs(5)))
            .into_owned();
    assert!(other.starts_with("HTTP/1.1 503") && other.contains("No server is available"), "{other}");
    let unauthorized = String::from_utf8_lossy(&raw_exchange(
        admin,
        b"GET /stats HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(5),
    ))
    .into_owned();
    assert!(unauthorized.starts_with("HTTP/1.1 401"), "{unauthorized}");
    let post = raw_exchange(
        admin,
        format!("POST /stats HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nAccept: text/html\r\n{AUTH}\r\n").as_bytes(),
        Duration::from_secs(5),
    );
    assert!(post.starts_with(b"HTTP/1.1 405"), "{}", String::from_utf8_lossy(&post));
    // Two files without a stats listener: neither opens 127.0.0.1:9900, both start.
    let a = start("syntax.cfg");
    let b = start("named-defaults.cfg");
    assert!(a.server.admin_addr().is_none() && b.server.admin_addr().is_none());
    assert_eq!(a.went("web"), Some(19191));
    assert_eq!(b.went("web"), Some(19161));
}

#[test]
fn every_corpus_file_is_valid_for_haproxy_where_it_is_installed() {
    if !std::path::Path::new("/usr/sbin/haproxy").exists() {
        return;
    }
    for entry in std::fs::read_dir(corpus("")).unwrap() {
        let path = entry.unwrap().path();
        let out = std::process::Command::new("/usr/sbin/haproxy").arg("-c").arg("-f").arg(&path).output().unwrap();
        assert!(out.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    }
}

fn problems(text: &str, options: haproxy::Options) -> Result<Vec<String>, Vec<String>> {
    let fmt = |p: &spillway::config::Problem| format!("{}:{}: {}", p.file, p.line, p.message);
    haproxy::parse_files_with(&[(text.to_string(), "x.cfg".to_string())], options)
        .map(|p| p.notes.iter().map(fmt).collect())
        .map_err(|e| e.problems.iter().map(fmt).collect())
}

const HEAD: &str = "defaults\n  mode http\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\nfrontend f\n  bind 127.0.0.1:18001\n  default_backend b\nbackend b\n";

#[test]
fn a_name_that_does_not_resolve_fails_unless_dash_dr() {
    let text = format!("{HEAD}  server api01 api01.spillway-test.invalid:9090\n  server ok localhost:9091\n");
    let err = problems(&text, haproxy::Options::default()).unwrap_err();
    assert_eq!(err, vec![r#"x.cfg:10: server api01: cannot resolve "api01.spillway-test.invalid""#]);
    let notes = problems(&text, haproxy::Options { unresolved_down: true }).unwrap();
    assert!(
        notes.iter().any(|n| n.starts_with("x.cfg:10: server api01: cannot resolve") && n.contains("(-dr)")),
        "{notes:?}"
    );
    let parsed =
        haproxy::parse_files_with(&[(text, "x.cfg".into())], haproxy::Options { unresolved_down: true }).unwrap();
    let addrs: Vec<SocketAddr> = parsed.config.target_groups[0].targets.iter().map(|t| t.addr).collect();
    assert_eq!(addrs, vec!["127.0.0.1:9091".parse().unwrap()]);
    // init-addr with an IP: that address when the name does not resolve.
    let text = format!("{HEAD}  server api01 api01.spillway-test.invalid:9090 init-addr libc,127.0.0.2\n");
    let parsed = haproxy::parse(&text, "x.cfg").unwrap();
    assert_eq!(parsed.config.target_groups[0].targets[0].addr, "127.0.0.2:9090".parse().unwrap());
}

#[test]
fn a_resolvers_section_is_read_and_a_server_naming_none_is_refused_at_its_line() {
    let section = "resolvers dns\n  nameserver d 127.0.0.11:53\n  timeout resolve 250ms\n  hold valid 10s\n";
    let text = format!("{section}{HEAD}  server app localhost:9090 resolvers dns\n");
    let notes = problems(&text, haproxy::Options::default()).unwrap();
    assert!(notes.iter().any(|n| n.starts_with("x.cfg:2: resolvers dns: nameserver d:")), "{notes:?}");
    assert!(notes.iter().any(|n| n == "x.cfg:4: resolvers dns: hold valid 10s: no effect here"), "{notes:?}");
    let parsed = haproxy::parse(&text, "x.cfg").unwrap();
    let names = &parsed.config.target_groups[0].names;
    assert_eq!((names.len(), names[0].every, names[0].resolved), (1, Duration::from_millis(250), true));
    let err = problems(&format!("{HEAD}  server app localhost:9090 resolvers nope\n"), haproxy::Options::default())
        .unwrap_err();
    assert_eq!(err, vec!["x.cfg:10: server app: resolvers nope: no such section"]);
    let err = problems(&format!("resolvers dns\n  frobnicate 1\n{HEAD}"), haproxy::Options::default()).unwrap_err();
    assert!(err[0].starts_with("x.cfg:2: resolvers dns: \"frobnicate\" is not supported"), "{err:?}");
}

#[test]
fn toml_targets_and_binds_take_host_names() {
    let text = "[[listener]]\nname = \"web\"\nbind = \"localhost:18002\"\ntarget_group = \"app\"\n\n\
                [[target_group]]\nname = \"app\"\ntargets = [{ addr = \"localhost:9001\" }]\n";
    let c = spillway::config::toml::parse(text, "t.toml").unwrap();
    assert_eq!(c.listeners[0].bind, "127.0.0.1:18002".parse().unwrap());
    assert_eq!(c.target_groups[0].targets[0].addr, "127.0.0.1:9001".parse().unwrap());
    let bad = text.replace("localhost:9001", "nowhere.spillway-test.invalid:9001");
    let err = spillway::config::toml::parse(&bad, "t.toml").unwrap_err().to_string();
    assert!(err.contains(r#"cannot resolve "nowhere.spillway-test.invalid""#), "{err}");
}

#[test]
fn keywords_on_bind_and_syntax_edges() {
    let notes =
        problems(&format!("{HEAD}  server s 127.0.0.1:9\nfrontend g\n  bind 127.0.0.1:18003 alpn h2,http/1.1 allow-0rtt\n  default_backend b"), haproxy::Options::default())
            .unwrap();
    for n in [
        "x.cfg:12: bind ... alpn h2,http/1.1: no effect",
        "x.cfg:12: bind ... allow-0rtt: no effect",
        "x.cfg:13: the file does not end with a newline (HAProxy 2.3+ refuses it",
    ] {
        assert!(notes.iter().any(|x| x.starts_with(n)), "missing {n:?} in {notes:?}");
    }
    // Still refused, at their line.
    let err =
        problems(&format!("{HEAD}  server s 127.0.0.1:9 send-proxy-v3\n"), haproxy::Options::default()).unwrap_err();
    assert!(err[0].starts_with("x.cfg:10: server s: option \"send-proxy-v3\" is not supported"), "{err:?}");
    let err = problems(&format!(".if feature(OPENSSL)\n{HEAD}  server s 127.0.0.1:9\n"), haproxy::Options::default())
        .unwrap_err();
    assert_eq!(err, vec!["x.cfg:11: .if at line 1 has no .endif"]);
    let err =
        problems(&format!("{HEAD}  server s 127.0.0.1:9\nfrontend g from nowhere\n"), haproxy::Options::default())
            .unwrap_err();
    assert!(
        err.iter().any(|e| e == "x.cfg:11: from nowhere: no defaults section of that name before this line"),
        "{err:?}"
    );
}

#[test]
fn backup_servers_take_over_only_when_every_primary_fails_its_check_and_hand_back() {
    let r = start("backup-servers.cfg");
    let g = &r.config.target_groups[0];
    let backups: Vec<bool> = g.targets.iter().map(|t| t.backup).collect();
    assert_eq!((backups, g.all_backups), (vec![false, false, true, true], false));
    assert_eq!(distinct(&r.spread("www", 4)), BTreeSet::from([19161, 19162]), "backups idle while primaries are up");
    for p in [19161, 19162] {
        r.backends[&p].seen.unhealthy.store(true, Ordering::SeqCst);
    }
    assert!(
        common::wait_until(Duration::from_secs(5), || r.went("www") == Some(19163)),
        "the first backup never took over"
    );
    assert_eq!(r.spread("www", 4), vec![19163; 4], "only the first backup, without option allbackups");
    r.backends[&19162].seen.unhealthy.store(false, Ordering::SeqCst);
    assert!(
        common::wait_until(Duration::from_secs(5), || r.went("www") == Some(19162)),
        "the recovered primary never got its traffic back"
    );
    assert_eq!(r.spread("www", 3), vec![19162; 3]);
}

#[test]
fn proxy_protocol_backup_and_unix_server_keywords_map_or_are_refused_at_their_line() {
    let ok = |text: &str| haproxy::parse(text, "x.cfg").unwrap_or_else(|e| panic!("{e}")).config;
    let c = ok(&format!(
        "{HEAD}  option allbackups\n  server a 127.0.0.1:9 send-proxy-v2 check\n  server b 127.0.0.1:10 send-proxy-v2 backup\n"
    ));
    let g = &c.target_groups[0];
    assert_eq!(g.proxy_protocol, Some(spillway::config::ProxyVersion::V2));
    assert_eq!(g.health_check.proxy_protocol, Some(spillway::config::ProxyVersion::V2), "checks send it without port");
    assert!(g.all_backups && !g.targets[0].backup && g.targets[1].backup);
    // A check port of its own: the check sends no header unless check-send-proxy.
    let c = ok(&format!("{HEAD}  server a 127.0.0.1:9 send-proxy check port 80\n"));
    assert_eq!(c.target_groups[0].health_check.proxy_protocol, None);
    let c = ok(&format!("{HEAD}  default-server send-proxy check-send-proxy\n  server a 127.0.0.1:9 check port 80\n"));
    assert_eq!(c.target_groups[0].proxy_protocol, Some(spillway::config::ProxyVersion::V1));
    assert_eq!(c.target_groups[0].health_check.proxy_protocol, Some(spillway::config::ProxyVersion::V1));
    let c = ok(&format!(
        "{HEAD}  server a 127.0.0.1:9\nfrontend g\n  bind 127.0.0.1:18004 accept-proxy\n  default_backend b\n"
    ));
    assert_eq!(c.listeners.iter().map(|l| l.accept_proxy).collect::<Vec<_>>(), vec![false, true]);
    // Servers that differ in send-proxy: refused at the second one's line.
    let err = problems(
        &format!("{HEAD}  server a 127.0.0.1:9 send-proxy\n  server b 127.0.0.1:10\n"),
        haproxy::Options::default(),
    )
    .unwrap_err();
    assert!(err[0].starts_with("x.cfg:11: server b: no send-proxy but server a (line 10) has send-proxy"), "{err:?}");
    // Unix-socket addresses: refused with the reason, both spellings.
    for addr in ["unix@/run/app.sock", "/run/app.sock"] {
        let err = problems(&format!("{HEAD}  server s {addr}\n"), haproxy::Options::default()).unwrap_err();
        assert!(err[0].starts_with("x.cfg:10: server s: unix-socket addresses are not supported"), "{err:?}");
    }
    let toml = "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:18005\"\ntarget_group = \"app\"\n\n\
                [[target_group]]\nname = \"app\"\ntargets = [{ addr = \"unix:/run/app.sock\" }]\n";
    let err = spillway::config::toml::parse(toml, "t.toml").unwrap_err().to_string();
    assert!(err.starts_with("t.toml:8: target_group[0].targets[0].addr: \"unix:/run/app.sock\": unix-socket"), "{err}");
}
