//! TLS on loopback, both ends real: a self-signed certificate made at test time (rcgen; SAN
//! `localhost` and IP 127.0.0.1), `loadgen serve --tls-cert/--tls-key`, and the `https://` client:
//! verified against `--ca` (by IP and by name, with `--sni`), `--insecure`, `--new-conn` (one
//! handshake per request, all but each connection's first resumed unless `--no-resume`), and a
//! wrong CA, which must end as counted connect errors and leave the server serving. The server is
//! also checked with a plain rustls client (ALPN http/1.1), so neither end is only tested against
//! the other.

mod common;
use common::*;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

/// A self-signed certificate for `localhost` and 127.0.0.1: (cert.pem, key.pem) in `dir`.
fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("generate a certificate");
    let (cert, key) = (dir.join(format!("{name}-cert.pem")), dir.join(format!("{name}-key.pem")));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

fn start_https(cert: &Path, key: &Path) -> Serve {
    Serve::start(&["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()])
}

fn port(serve: &Serve) -> &str {
    serve.addr.rsplit_once(':').map(|(_, p)| p).unwrap()
}

fn n(j: &serde_json::Value, path: &[&str]) -> u64 {
    let v = path.iter().fold(j, |v, k| &v[*k]);
    v.as_u64().unwrap_or_else(|| panic!("{path:?} missing in {j}"))
}

/// No error of any kind, every response a 200.
fn all_ok(j: &serde_json::Value) {
    for k in ["connect", "read", "write", "timeout", "protocol"] {
        assert_eq!(n(j, &["errors", k]), 0, "errors.{k}: {j}");
    }
    assert_eq!(n(j, &["status", "200"]), n(j, &["requests"]), "{j}");
    assert_eq!(n(j, &["tls", "failed"]), 0, "{j}");
}

#[test]
fn https_closed_loop_verified_by_ca_and_insecure() {
    let dir = tmp_dir("tls-ca");
    let (cert, key) = self_signed(&dir, "a");
    let serve = start_https(&cert, &key);
    let ca = cert.to_str().unwrap();

    // By IP (the certificate names 127.0.0.1; no SNI is sent for an IP).
    let url = format!("https://{}/", serve.addr);
    let j = run_json(&dir, &[url.as_str(), "-c", "4", "-t", "1", "-d", "1s", "--ca", ca]);
    all_ok(&j);
    assert!(n(&j, &["requests"]) > 100, "{j}");
    // Keep-alive: one handshake per connection, all of them counted.
    assert_eq!(n(&j, &["tls", "handshakes"]), 4, "{j}");
    assert_eq!(n(&j, &["connections_opened"]), 4, "{j}");
    assert_eq!(n(&j, &["tls", "full"]) + n(&j, &["tls", "resumed"]), 4, "{j}");

    // By name, and by IP with --sni naming the host.
    let by_name = format!("https://localhost:{}/", port(&serve));
    let j = run_json(&dir, &[by_name.as_str(), "-c", "2", "-t", "1", "-d", "500ms", "--ca", ca]);
    all_ok(&j);
    let j = run_json(&dir, &[url.as_str(), "-c", "2", "-t", "1", "-d", "500ms", "--ca", ca, "--sni", "localhost"]);
    all_ok(&j);
    assert!(n(&j, &["requests"]) > 50, "{j}");

    // --insecure: no CA needed.
    let j = run_json(&dir, &[url.as_str(), "-c", "2", "-t", "1", "-d", "500ms", "--insecure"]);
    all_ok(&j);
    assert!(n(&j, &["requests"]) > 50, "{j}");
}

#[test]
fn new_conn_does_one_handshake_per_request_resumed_unless_no_resume() {
    let dir = tmp_dir("tls-new-conn");
    let (cert, key) = self_signed(&dir, "a");
    let serve = start_https(&cert, &key);
    let url = format!("https://{}/", serve.addr);
    let ca = cert.to_str().unwrap();

    let j = run_json(&dir, &[url.as_str(), "-c", "16", "-t", "1", "-d", "1s", "--ca", ca, "--new-conn"]);
    all_ok(&j);
    let (requests, handshakes) = (n(&j, &["requests"]), n(&j, &["tls", "handshakes"]));
    assert!(requests > 50, "{j}");
    // One connection per request; a connection opened just before the end sends nothing.
    assert!((requests..=requests + 16).contains(&handshakes), "{j}");
    assert_eq!(n(&j, &["connections_opened"]), handshakes, "{j}");
    // The 16 first connections do a full handshake; each handshake brings two tickets and takes
    // one, so every later one resumes (rustls' own cache, 8 tickets, would leave about half of
    // 16 simultaneous reconnects without one).
    let full = n(&j, &["tls", "full"]);
    assert!((1..=16).contains(&full), "{j}");
    assert_eq!(n(&j, &["tls", "resumed"]), handshakes - full, "{j}");

    let j =
        run_json(&dir, &[url.as_str(), "-c", "2", "-t", "1", "-d", "500ms", "--ca", ca, "--new-conn", "--no-resume"]);
    all_ok(&j);
    assert!(n(&j, &["requests"]) > 20, "{j}");
    assert_eq!(n(&j, &["tls", "resumed"]), 0, "{j}");
    assert_eq!(n(&j, &["tls", "full"]), n(&j, &["tls", "handshakes"]), "{j}");

    // --new-conn works for http:// too (and there is no "tls" section then).
    let plain = Serve::start(&[]);
    let j = run_json(&dir, &[plain.url("/").as_str(), "-c", "2", "-t", "1", "-d", "500ms", "--new-conn"]);
    let requests = n(&j, &["requests"]);
    assert!(requests > 50, "{j}");
    assert!((requests..=requests + 2).contains(&n(&j, &["connections_opened"])), "{j}");
    assert!(j.get("tls").is_none(), "{j}");
}

#[test]
fn a_wrong_ca_gives_counted_connect_errors_and_the_server_keeps_serving() {
    let dir = tmp_dir("tls-wrong-ca");
    let (cert, key) = self_signed(&dir, "served");
    let (other, _) = self_signed(&dir, "other");
    let serve = start_https(&cert, &key);
    let url = format!("https://{}/", serve.addr);

    let started = std::time::Instant::now();
    let j = run_json(&dir, &[url.as_str(), "-c", "2", "-t", "1", "-d", "1s", "--ca", other.to_str().unwrap()]);
    assert!(started.elapsed() < Duration::from_secs(10), "the run must end by itself");
    assert_eq!(n(&j, &["requests"]), 0, "{j}");
    let connect = n(&j, &["errors", "connect"]);
    assert!(connect >= 2, "{j}");
    assert_eq!(n(&j, &["tls", "failed"]), connect, "{j}");
    assert_eq!(n(&j, &["tls", "handshakes"]), 0, "{j}");
    let why = j["tls"]["first_error"].as_str().unwrap_or_default();
    assert!(why.contains("certificate"), "first_error: {j}");

    // Those failed handshakes closed their own connections only.
    let j = run_json(&dir, &[url.as_str(), "-c", "2", "-t", "1", "-d", "300ms", "--insecure"]);
    all_ok(&j);
    assert!(n(&j, &["requests"]) > 10, "{j}");
}

#[test]
fn serve_speaks_alpn_http1_to_a_plain_rustls_client_and_refuses_bad_files() {
    let dir = tmp_dir("tls-serve");
    let (cert, key) = self_signed(&dir, "a");
    let serve = start_https(&cert, &key);

    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(&cert).unwrap();
    use rustls::pki_types::pem::PemObject;
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(c.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = std::net::TcpStream::connect(&serve.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = Vec::new();
    // The server sends close_notify after `Connection: close`: a clean end of stream.
    tls.read_to_end(&mut out).expect("response, then close_notify");
    assert_eq!(tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");

    // A missing key file: exit status 1 and a message naming the file, no panic.
    let missing = dir.join("missing-key.pem");
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--duration", "5s", "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing-key.pem"), "{err}");
}
