//! Target stickiness, the stats page and monitor-uri, started for real: haproxy.cfg's
//! `cookie SERVERID insert indirect nocache` with `server ... cookie sN`, ELB's `lb_cookie` from
//! TOML, HAProxy's stats page (HTML and `;csv`, behind `stats auth`) and a `monitor-uri` that
//! answers 503 once the process drains.

mod common;

use std::{
    io::{BufReader, Write},
    net::{SocketAddr, TcpStream},
    path::PathBuf,
    sync::atomic::Ordering,
    time::Duration,
};

use common::{http_backend::*, on_loopback_ports, wait_until};
use spillway::{config::Config, Server, StartOptions};

struct Setup {
    server: Server,
    backends: Vec<HttpBackend>,
}

/// Starts `config` on loopback ports of its own, the targets of its first group replaced by
/// test backends (their cookie values kept).
fn start(mut config: Config) -> Setup {
    on_loopback_ports(&mut config);
    let mut backends = Vec::new();
    for t in &mut config.target_groups[0].targets {
        let b = http_backend();
        t.addr = b.addr;
        backends.push(b);
    }
    Setup { server: Server::start(config, StartOptions::default()).unwrap(), backends }
}

fn haproxy(file: &str) -> Config {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/haproxy").join(file);
    Config::load_files(&[path]).unwrap_or_else(|e| panic!("{file}:\n{e}")).0
}

struct Answer {
    status: u16,
    head: String,
    body: String,
    /// Index of the backend that answered.
    went: Option<usize>,
    /// The head that backend received.
    seen: String,
}

impl Answer {
    fn header(&self, name: &str) -> Vec<&str> {
        self.head.lines().filter_map(|l| l.strip_prefix(&format!("{name}: "))).collect()
    }
}

impl Setup {
    fn counts(&self) -> Vec<usize> {
        self.backends.iter().map(|b| b.seen.requests.load(Ordering::SeqCst)).collect()
    }

    fn get(&self, cookie: Option<&str>) -> Answer {
        let extra = cookie.map_or(String::new(), |c| format!("Cookie: {c}\r\n"));
        let addr = self.server.listener_addr("web").unwrap();
        self.send(addr, &format!("GET / HTTP/1.1\r\nHost: x\r\n{extra}\r\n"))
    }

    fn send(&self, addr: SocketAddr, request: &str) -> Answer {
        let before = self.counts();
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        s.write_all(request.as_bytes()).unwrap();
        let (status, head, body) = read_response(&mut r).unwrap();
        let after = self.counts();
        let went = (0..after.len()).find(|&i| after[i] > before[i]);
        let seen = went.map_or(String::new(), |i| self.backends[i].seen.heads.lock().unwrap().last().cloned().unwrap());
        Answer {
            status,
            head: head.to_ascii_lowercase(),
            body: String::from_utf8_lossy(&body).into_owned(),
            went,
            seen,
        }
    }

    fn state(&self, i: usize) -> Option<String> {
        let set = self.server.control().current();
        let addr = self.backends[i].addr;
        set.slot("app", addr).map(|s| s.load().state().as_str().to_string())
    }
}

#[test]
fn haproxy_insert_indirect_nocache_sticks_and_falls_back() {
    let s = start(haproxy("sticky-cookie.cfg"));
    // Both servers up (checked every 100 ms, rise 1).
    assert!(wait_until(Duration::from_secs(5), || (0..2).all(|i| s.state(i).as_deref() == Some("healthy"))));

    // A first visit: the answering server's cookie, as HAProxy writes it; not cacheable, so no
    // Cache-Control.
    let a = s.get(None);
    assert_eq!(a.status, 200);
    let first = a.went.unwrap();
    assert_eq!(a.header("set-cookie"), [format!("serverid=s{}; path=/", first + 1)], "{}", a.head);
    assert!(a.header("cache-control").is_empty());

    // With the cookie: always that server, no new cookie, and (indirect) the server never sees
    // the cookie while the client's other cookies pass.
    for name in ["s1", "s2"] {
        let want = if name == "s1" { 0 } else { 1 };
        for _ in 0..6 {
            let a = s.get(Some(&format!("a=1; SERVERID={name}; b=2")));
            assert_eq!((a.status, a.went), (200, Some(want)), "{name}");
            assert!(a.header("set-cookie").is_empty(), "{}", a.head);
            let seen = a.seen.to_ascii_lowercase();
            assert!(seen.contains("\r\ncookie: a=1; b=2\r\n") && !seen.contains("serverid"), "{seen}");
        }
    }
    // Only our cookie: the Cookie field goes away entirely.
    let a = s.get(Some("SERVERID=s1"));
    assert!(!a.seen.to_ascii_lowercase().contains("cookie"), "{}", a.seen);
    // An unknown value: the algorithm picks, and the cookie is set again.
    let a = s.get(Some("SERVERID=nope"));
    assert_eq!(a.header("set-cookie").len(), 1, "{}", a.head);

    // s2 unhealthy: its clients fall back to s1 and get s1's cookie.
    s.backends[1].seen.unhealthy.store(true, Ordering::SeqCst);
    assert!(wait_until(Duration::from_secs(5), || s.state(1).as_deref() == Some("unhealthy")));
    for _ in 0..3 {
        let a = s.get(Some("SERVERID=s2"));
        assert_eq!((a.status, a.went), (200, Some(0)));
        assert_eq!(a.header("set-cookie"), ["serverid=s1; path=/"]);
    }
    s.backends[1].seen.unhealthy.store(false, Ordering::SeqCst);
    assert!(wait_until(Duration::from_secs(5), || s.state(1).as_deref() == Some("healthy")));
    assert_eq!(s.get(Some("SERVERID=s2")).went, Some(1));

    // s1 draining: no new request reaches it, sticky or not.
    s.server.control().deregister("app", s.backends[0].addr).unwrap();
    for _ in 0..3 {
        let a = s.get(Some("SERVERID=s1"));
        assert_eq!((a.status, a.went), (200, Some(1)));
        assert_eq!(a.header("set-cookie"), ["serverid=s2; path=/"]);
    }
}

#[test]
fn elb_lb_cookie_from_toml_sticks_renews_and_falls_back() {
    let text = r#"
[[listener]]
name = "web"
bind = "127.0.0.1:0"
target_group = "app"
[[target_group]]
name = "app"
targets = [{ addr = "127.0.0.1:1" }, { addr = "127.0.0.1:2" }]
stickiness = { type = "lb_cookie", duration = "1d" }
health_check.enabled = false
"#;
    let s = start(spillway::config::toml::parse(text, "t.toml").unwrap());
    let a = s.get(None);
    let cookie = a.header("set-cookie");
    assert_eq!(cookie.len(), 1, "{}", a.head);
    assert!(cookie[0].starts_with("awsalb=") && cookie[0].ends_with("; max-age=86400; path=/"), "{}", cookie[0]);
    // The head was lower-cased: take the value from the raw cookie's case-insensitive hex.
    let value = cookie[0]["awsalb=".len()..cookie[0].find(';').unwrap()].to_string();
    let first = a.went.unwrap();
    for _ in 0..6 {
        let a = s.get(Some(&format!("AWSALB={value}")));
        assert_eq!(a.went, Some(first));
        // ELB renews the cookie on every response; the target sees it (no indirect in ELB).
        assert_eq!(a.header("set-cookie").len(), 1);
        assert!(a.seen.contains(&format!("AWSALB={value}")), "{}", a.seen);
    }
    // Without the cookie, round robin spreads.
    let spread: std::collections::HashSet<_> = (0..4).map(|_| s.get(None).went).collect();
    assert_eq!(spread.len(), 2);
    // Its target draining: the other one, with a new cookie.
    s.server.control().deregister("app", s.backends[first].addr).unwrap();
    let a = s.get(Some(&format!("AWSALB={value}")));
    assert_eq!(a.went, Some(1 - first));
    assert!(!a.header("set-cookie")[0].contains(&value));
}

#[test]
fn the_stats_page_serves_html_and_csv_behind_basic_auth() {
    let s = start(haproxy("sticky-cookie.cfg"));
    let admin = s.server.admin_addr().unwrap();
    let get = |target: &str, auth: Option<&str>| {
        let auth = auth.map_or(String::new(), |a| format!("Authorization: Basic {a}\r\n"));
        s.send(admin, &format!("GET {target} HTTP/1.1\r\nHost: x\r\n{auth}\r\n"))
    };
    let denied = get("/haproxy?stats", None);
    assert_eq!(denied.status, 401);
    assert_eq!(denied.header("www-authenticate"), ["basic realm=\"haproxy statistics\""]);
    assert_eq!(get("/haproxy?stats", Some("YWRtaW46d3Jvbmc=")).status, 401, "a wrong password");
    // admin:s3cret
    let ok = "YWRtaW46czNjcmV0";
    let page = get("/haproxy?stats", Some(ok));
    assert_eq!(page.status, 200, "{}", page.head);
    assert_eq!(page.header("content-type"), ["text/html"]);
    assert_eq!(page.header("refresh"), ["10"]);
    for needle in ["<caption>web</caption>", "<caption>app</caption>", "FRONTEND", "BACKEND", "Read-only"] {
        assert!(page.body.contains(needle), "{needle}: {}", page.body);
    }
    let csv = get("/haproxy?stats;csv", Some(ok));
    assert_eq!(csv.status, 200);
    assert!(csv.body.starts_with("# pxname,svname,qcur,qmax,"), "{}", csv.body);
    assert!(csv.body.lines().any(|l| l.starts_with("app,BACKEND,")), "{}", csv.body);
    assert_eq!(
        s.send(
            admin,
            &format!(
                "POST /haproxy?stats HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nAuthorization: Basic {ok}\r\n\r\n"
            )
        )
        .status,
        405
    );
    // The admin API beside it, behind the same credentials; its paths are not the page's,
    // whoever asks.
    let browser = s.send(
        admin,
        &format!("GET /stats HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\nAuthorization: Basic {ok}\r\n\r\n"),
    );
    assert!(browser.body.contains("\"target_groups\""), "{}", browser.body);
    assert_eq!(get("/metrics", Some(ok)).status, 200);
    assert_eq!(get("/stats", Some(ok)).status, 200);
    assert_eq!(get("/metrics", None).status, 401);
    assert_eq!(get("/healthz", None).status, 200, "the liveness probe stays open");
}

#[test]
fn monitor_uri_answers_200_then_503_while_draining() {
    let mut s = start(haproxy("sticky-cookie.cfg"));
    let addr = s.server.listener_addr("web").unwrap();
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(conn.try_clone().unwrap());
    conn.write_all(b"GET /up HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let (status, _, body) = read_response(&mut r).unwrap();
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("Service ready."));
    assert_eq!(s.counts(), [0, 0], "answered by spillway itself");
    s.server.begin_drain(Duration::from_secs(10));
    // The drain has begun once the listener refuses new clients.
    assert!(wait_until(Duration::from_secs(5), || TcpStream::connect(addr).is_err()));
    conn.write_all(b"GET /up HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let (status, head, _) = read_response(&mut r).unwrap();
    assert_eq!(status, 503, "{head}");
    assert!(head.to_ascii_lowercase().contains("connection: close"), "{head}");
}
