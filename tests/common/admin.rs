//! A blocking client for the admin API, independent of spillway's code.
#![allow(dead_code)]

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::Duration,
};

use spillway::Server;

/// Sends one request to the admin API and returns (status, body).
pub fn admin(server: &Server, method: &str, path: &str, body: Option<&str>, token: Option<&str>) -> (u16, String) {
    let addr = server.admin_addr().expect("the admin API runs");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: admin\r\n");
    if let Some(t) = token {
        request.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || method == "POST" {
        request.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    s.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// `GET /stats`, parsed.
pub fn stats(server: &Server) -> serde_json::Value {
    let (status, body) = admin(server, "GET", "/stats", None, None);
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// The state of one target of group `g` in `/stats`, or None when it is not listed.
pub fn target_state(server: &Server, addr: std::net::SocketAddr) -> Option<String> {
    let s = stats(server);
    s["target_groups"]["g"]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["addr"] == addr.to_string())
        .map(|t| t["state"].as_str().unwrap().to_string())
}
