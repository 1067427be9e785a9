//! The haproxy.cfg files of tests/haproxy/rules/ started for real: spillway reads each file
//! unchanged, every backend's servers are replaced by one test backend of its own (so the
//! backend that counts a request says which HAProxy backend it went to), and requests are
//! asserted to reach the right backend, get the right status, carry the right headers.

mod common;

use std::{
    io::{BufReader, Write},
    net::TcpStream,
    path::PathBuf,
    sync::atomic::Ordering,
    time::Duration,
};

use common::{http_backend::*, on_loopback_ports};
use spillway::{
    config::{Config, Target},
    Server, StartOptions,
};

struct Setup {
    server: Server,
    backends: Vec<(String, HttpBackend)>,
}

fn start(file: &str) -> Setup {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/haproxy/rules").join(file);
    let (mut config, _) = Config::load_files(&[path]).unwrap_or_else(|e| panic!("{file}:\n{e}"));
    on_loopback_ports(&mut config);
    let mut backends = Vec::new();
    for g in &mut config.target_groups {
        let b = http_backend();
        g.targets = vec![Target::new(b.addr)];
        g.health_check.enabled = false;
        backends.push((g.name.clone(), b));
    }
    Setup { server: Server::start(config, StartOptions::default()).unwrap(), backends }
}

struct Answer {
    status: u16,
    head: String,
    body: String,
    /// The backend that took the request (None: answered by spillway itself).
    went: Option<String>,
    /// The head that backend received.
    seen: Option<String>,
}

impl Setup {
    fn counts(&self) -> Vec<usize> {
        self.backends.iter().map(|(_, b)| b.seen.requests.load(Ordering::SeqCst)).collect()
    }

    fn send_to(&self, listener: &str, request: &str) -> Answer {
        let before = self.counts();
        let mut s = TcpStream::connect(self.server.listener_addr(listener).unwrap()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        s.write_all(request.as_bytes()).unwrap();
        let (status, head, body) = read_response(&mut r).unwrap();
        let after = self.counts();
        let i = (0..after.len()).find(|&i| after[i] > before[i]);
        Answer {
            status,
            head: head.to_ascii_lowercase(),
            body: String::from_utf8_lossy(&body).into_owned(),
            went: i.map(|i| self.backends[i].0.clone()),
            seen: i.map(|i| self.backends[i].1.seen.heads.lock().unwrap().last().cloned().unwrap_or_default()),
        }
    }

    fn send(&self, request: &str) -> Answer {
        self.send_to("web", request)
    }

    /// The backend a `GET path` with `Host: host` and the extra header lines reaches.
    fn backend(&self, method: &str, path: &str, host: &str, extra: &str) -> Option<String> {
        let a = self.send(&format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n"));
        assert_eq!(a.status, 200, "{method} {path} {host}: {}", a.head);
        a.went
    }
}

fn get(path: &str, host: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n")
}

#[test]
fn host_path_cfg_routes_by_host_and_path() {
    let s = start("host-path.cfg");
    let go = |path: &str, host: &str, extra: &str| s.backend("GET", path, host, extra);
    assert_eq!(go("/api/x", "A.EXAMPLE", "").as_deref(), Some("api"), "hdr(host) -i");
    assert_eq!(go("/v2/x", "a.example:28080", "").as_deref(), Some("api"), "the host with its port, as HAProxy");
    assert_eq!(go("/api/x", "b.example", "").as_deref(), Some("api"));
    assert_eq!(go("/v2/x", "C.example", "").as_deref(), Some("api"));
    assert_eq!(go("/img/logo.png", "z", "").as_deref(), Some("static"));
    assert_eq!(go("/a/static/b.css", "z", "").as_deref(), Some("static"));
    assert_eq!(go("/x/admin/y", "z", "").as_deref(), Some("admin"));
    assert_eq!(go("/", "z", "X-Beta: \r\n").as_deref(), Some("beta"), "-m found");
    assert_eq!(go("/item/42", "z", "").as_deref(), Some("items"));
    assert_eq!(go("/item/42x", "z", "").as_deref(), Some("app"));
    assert_eq!(go("/", "www.shop.example", "").as_deref(), Some("orgs"), "hdr_dom");
    assert_eq!(go("/", "x.org", "").as_deref(), Some("orgs"));
    assert_eq!(go("/", "v12.example", "").as_deref(), Some("orgs"), "hdr_reg");
    assert_eq!(go("/", "z", "User-Agent: my/bot/1\r\n").as_deref(), Some("bots"), "hdr_dir");
    assert_eq!(go("/", "z", "X-Full: a,b\r\n").as_deref(), Some("bots"), "req.fhdr: the whole line");
    assert_eq!(go("/", "z", "").as_deref(), Some("app"), "default_backend");
}

#[test]
fn fetches_cfg_routes_by_url_query_method_address_and_version() {
    let s = start("fetches.cfg");
    let go = |method: &str, path: &str| s.backend(method, path, "h", "");
    assert_eq!(go("GET", "/u?a=1").as_deref(), Some("u"));
    assert_eq!(go("GET", "/ub/x").as_deref(), Some("u"));
    assert_eq!(go("GET", "/UR/abc").as_deref(), Some("u"), "url_reg -i");
    assert_eq!(go("GET", "/x?lang=de").as_deref(), Some("params"));
    assert_eq!(go("GET", "/x?page=12").as_deref(), Some("params"), "urlp -m int ge 10");
    assert_eq!(go("GET", "/x?debug=1").as_deref(), Some("params"));
    assert_eq!(go("PATCH", "/x").as_deref(), Some("meth"));
    assert_eq!(go("POST", "/x").as_deref(), Some("meth"));
    // From 127.0.0.1 without TLS: LOCALHOST !tls takes the rest.
    assert_eq!(go("GET", "/x?page=3").as_deref(), Some("net"));
}

#[test]
fn redirects_cfg_answers_redirects() {
    let s = start("redirects.cfg");
    let location = |a: &Answer| a.head.lines().find_map(|l| l.strip_prefix("location: ")).map(str::to_string);
    let a = s.send(&get("/p?q=1", "secure.example"));
    assert_eq!((a.status, location(&a).as_deref()), (301, Some("https://secure.example/p?q=1")), "{}", a.head);
    let a = s.send(&get("/old", "new.example"));
    assert_eq!((a.status, location(&a).as_deref()), (302, Some("/moved")));
    let a = s.send(&get("/v1/x?q=1", "new.example"));
    assert_eq!((a.status, location(&a).as_deref()), (308, Some("/v2/v1/x")), "prefix, drop-query");
    let a = s.send(&get("/elsewhere", "new.example"));
    assert_eq!((a.status, location(&a).as_deref()), (303, Some("http://other.example/")));
    let a = s.send(&get("/a?b=c", "old.example"));
    assert_eq!((a.status, location(&a).as_deref()), (307, Some("https://new.example/a?b=c")));
    let a = s.send(&get("/a", "new.example"));
    assert_eq!((a.status, a.went.as_deref()), (200, Some("app")));
}

#[test]
fn responses_cfg_answers_allows_and_edits_headers() {
    let s = start("responses.cfg");
    let a = s.send(&get("/alive", "h"));
    assert_eq!((a.status, a.went.as_deref()), (200, None));
    assert_eq!(a.body, "<html><body><h1>200 OK</h1>\nService ready.\n</body></html>\n");
    // The client is 127.0.0.1, trusted: allow stops every later http-request line.
    let a = s.send(&get("/internal/x", "h"));
    assert_eq!((a.status, a.went.as_deref()), (200, Some("app")));
    let seen = a.seen.unwrap().to_ascii_lowercase();
    assert!(!seen.contains("x-client-ip"), "{seen}");
    let a = s.send(&get("/slow", "h"));
    assert_eq!((a.status, a.went.as_deref()), (429, None));
    assert!(a.body.contains("429 Too Many Requests"));
    let a = s.send(&get("/maint/x", "h"));
    assert_eq!((a.status, a.body.as_str()), (503, "down for maintenance"));
    assert!(a.head.contains("content-type: text/plain"), "{}", a.head);
    let a = s.send(&get("/empty", "h"));
    assert_eq!((a.status, a.body.as_str(), a.went), (200, "", None));
    let a = s.send(&get("/gone", "h"));
    assert_eq!(a.status, 404);
    // Forwarded: request edits seen by the backend, response edits seen by the client.
    let a = s.send("GET /page HTTP/1.1\r\nHost: h\r\nX-Debug: 1\r\n\r\n");
    assert_eq!((a.status, a.went.as_deref()), (200, Some("app")));
    let seen = a.seen.unwrap().to_ascii_lowercase();
    assert!(seen.contains("x-client-ip: 127.0.0.1"), "{seen}");
    assert!(seen.contains("x-via: spillway 1.1"), "{seen}");
    assert!(seen.contains("x-debug: 1"), "trusted: X-Debug kept: {seen}");
    assert!(seen.contains("x-backend: app"), "the backend's own rules: {seen}");
    assert!(a.head.contains("x-frame-options: deny"), "{}", a.head);
    assert!(a.head.contains("strict-transport-security: max-age=31536000"), "{}", a.head);
    // The backend's rules: only GET and HEAD.
    let a = s.send("DELETE /page HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!((a.status, a.went), (405, None));
    // A response condition: the status.
    let a = s.send(&get("/status?code=500", "h"));
    assert_eq!(a.status, 500);
    assert!(a.head.contains("x-error: yes"), "{}", a.head);
}

#[test]
fn no_default_cfg_answers_503_when_no_use_backend_holds() {
    let s = start("no-default.cfg");
    assert_eq!(s.backend("GET", "/api/x", "h", "").as_deref(), Some("api"));
    assert_eq!(s.backend("GET", "/", "APP.example", "").as_deref(), Some("app"));
    let a = s.send(&get("/", "other"));
    assert_eq!((a.status, a.went), (503, None));
    assert_eq!(a.body, "<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n");
    // The listen section: its own group by default, use_backend to another.
    let a = s.send_to("both", &get("/", "h"));
    assert_eq!((a.status, a.went.as_deref()), (200, Some("both")));
    assert!(a.seen.unwrap().to_ascii_lowercase().contains("x-listen: both"));
    let a = s.send_to("both", &get("/api/y", "h"));
    assert_eq!(a.went.as_deref(), Some("api"));
}
