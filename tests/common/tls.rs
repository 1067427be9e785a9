//! TLS for the tests: certificates made on the spot (rcgen), a blocking rustls client, and a
//! small HTTPS target. Independent of spillway's TLS code apart from rustls itself.
#![allow(dead_code)]

use std::{
    io::{BufReader, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use rustls::{
    pki_types::{CertificateDer, PrivateKeyDer, ServerName},
    ClientConfig, ClientConnection, RootCertStore, ServerConfig, StreamOwned,
};

/// A self-signed certificate (ECDSA P-256) and its key, written as PEM files.
pub struct TestCert {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub der: CertificateDer<'static>,
    key_pem: String,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A folder of this test process for its files.
pub fn scratch_dir() -> PathBuf {
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("spillway-test-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A certificate for `names` (DNS names or IP addresses).
pub fn cert_for(names: &[&str]) -> TestCert {
    let made = rcgen::generate_simple_self_signed(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let dir = scratch_dir();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    let key_pem = made.signing_key.serialize_pem();
    std::fs::write(&key, &key_pem).unwrap();
    TestCert { cert, key, der: made.cert.der().clone(), key_pem }
}

impl TestCert {
    /// One PEM with the certificate and then the key (HAProxy's `crt FILE`).
    pub fn combined_pem(&self) -> PathBuf {
        let path = self.cert.with_file_name("combined.pem");
        let text = std::fs::read_to_string(&self.cert).unwrap() + &self.key_pem;
        std::fs::write(&path, text).unwrap();
        path
    }

    fn server_config(&self) -> Arc<ServerConfig> {
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).unwrap();
        let mut c = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![self.der.clone()], key)
            .unwrap();
        c.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(c)
    }
}

use rustls::pki_types::pem::PemObject;

/// A client that trusts `roots` and offers `alpn` (TLS 1.3 and 1.2).
pub fn client_config(roots: &[&TestCert], alpn: &[&[u8]]) -> Arc<ClientConfig> {
    client_config_for(roots, alpn, rustls::DEFAULT_VERSIONS)
}

/// [`client_config`] speaking only `versions`.
pub fn client_config_for(
    roots: &[&TestCert],
    alpn: &[&[u8]],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let mut store = RootCertStore::empty();
    for r in roots {
        store.add(r.der.clone()).unwrap();
    }
    let mut c = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(store)
        .with_no_client_auth();
    c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(c)
}

/// A client that accepts any certificate (to see which one a server picks). spillway's own
/// (`tls = { verify = false }`): it checks nothing these tests measure.
pub fn any_cert_client() -> Arc<ClientConfig> {
    spillway::tls::client::unverified(&spillway::tls::provider()).unwrap()
}

pub type TlsClient = StreamOwned<ClientConnection, TcpStream>;

/// Connects to `addr` with SNI `name` and completes the handshake.
pub fn tls_connect(addr: SocketAddr, name: &str, config: &Arc<ClientConfig>) -> std::io::Result<TlsClient> {
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let server_name = ServerName::try_from(name.to_string()).unwrap();
    let conn = ClientConnection::new(config.clone(), server_name).unwrap();
    let mut s = StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock)?;
    }
    Ok(s)
}

/// One GET over an established TLS client, read whole: (status, head, body).
pub fn tls_get(s: &mut TlsClient, path: &str) -> std::io::Result<(u16, String, Vec<u8>)> {
    write!(s, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n")?;
    s.flush()?;
    super::http_backend::read_response(&mut BufReader::new(s))
}

/// An HTTPS target: `/health` answers 200 (503 once `unhealthy` is set), `/extra` a 200 `ok`
/// followed by a second, unasked-for response, anything else 200 `secure`; keep-alive; counts
/// completed handshakes and requests.
pub struct HttpsBackend {
    pub addr: SocketAddr,
    pub handshakes: Arc<AtomicUsize>,
    pub requests: Arc<AtomicUsize>,
    pub unhealthy: Arc<AtomicBool>,
}

pub fn https_backend(cert: &TestCert) -> HttpsBackend {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = cert.server_config();
    let (handshakes, requests) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let unhealthy = Arc::new(AtomicBool::new(false));
    let (h, r, u) = (Arc::clone(&handshakes), Arc::clone(&requests), Arc::clone(&unhealthy));
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let (config, h, r, u) = (config.clone(), h.clone(), r.clone(), u.clone());
            std::thread::spawn(move || {
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(20)));
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut s = StreamOwned::new(conn, tcp);
                while s.conn.is_handshaking() {
                    if s.conn.complete_io(&mut s.sock).is_err() {
                        return;
                    }
                }
                h.fetch_add(1, Ordering::SeqCst);
                let _ = serve_https(&mut s, &r, &u);
            });
        }
    });
    HttpsBackend { addr, handshakes, requests, unhealthy }
}

fn serve_https(
    s: &mut StreamOwned<rustls::ServerConnection, TcpStream>,
    requests: &AtomicUsize,
    unhealthy: &AtomicBool,
) -> std::io::Result<()> {
    loop {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if s.read(&mut byte)? == 0 {
                return Ok(());
            }
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).to_string();
        let path = head.split(' ').nth(1).unwrap_or("/");
        if path == "/health" {
            let status = if unhealthy.load(Ordering::SeqCst) { "503 Down" } else { "200 OK" };
            write!(s, "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
            s.flush()?;
            s.conn.send_close_notify();
            let _ = s.conn.complete_io(&mut s.sock);
            return Ok(());
        }
        requests.fetch_add(1, Ordering::SeqCst);
        if path == "/extra" {
            // A response followed by bytes nobody asked for, in the same TLS record.
            write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale"
            )?;
        } else {
            write!(s, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecure")?;
        }
        s.flush()?;
    }
}

/// Reads whatever comes back on a plain socket until it closes or `limit` passes.
pub fn plain_exchange(addr: SocketAddr, bytes: &[u8], limit: Duration) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(limit)).unwrap();
    let _ = s.write_all(bytes);
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    got
}
