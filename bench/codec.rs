//! Criterion micro-benchmarks of the HTTP codec: parsing a typical browser request head,
//! writing the head forwarded to the target, parsing a typical response head, and validating
//! a chunked body. Run with `cargo bench --bench codec`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spillway::http::{
    body::ChunkedState,
    codec::{parse_request, parse_response, Limits, Method, Parsed},
    headers::{write_request_head, ForwardContext},
};

/// A Chrome-like navigation request: about 500 bytes, 12 header fields.
const BROWSER_GET: &[u8] = b"GET /articles/2024/io-uring-load-balancing?ref=home&utm_source=news HTTP/1.1\r\n\
Host: www.example.com\r\n\
Connection: keep-alive\r\n\
Cache-Control: max-age=0\r\n\
Upgrade-Insecure-Requests: 1\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n\
Sec-Fetch-Site: same-origin\r\n\
Sec-Fetch-Mode: navigate\r\n\
Sec-Fetch-Dest: document\r\n\
Referer: https://www.example.com/\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Accept-Language: en-US,en;q=0.9\r\n\r\n";

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\n\
Server: nginx/1.22.1\r\n\
Date: Sat, 23 Nov 2024 16:00:00 GMT\r\n\
Content-Type: text/html; charset=utf-8\r\n\
Content-Length: 5120\r\n\
Last-Modified: Fri, 22 Nov 2024 10:00:00 GMT\r\n\
Connection: keep-alive\r\n\
ETag: \"6740560a-1400\"\r\n\
Cache-Control: max-age=60\r\n\
Accept-Ranges: bytes\r\n\r\n";

fn codec(c: &mut Criterion) {
    let limits = Limits::default();
    let mut headers = Vec::with_capacity(limits.max_headers);

    let mut group = c.benchmark_group("request_head");
    group.throughput(Throughput::Bytes(BROWSER_GET.len() as u64));
    group.bench_function("parse_request/browser_get", |b| {
        b.iter(|| parse_request(black_box(BROWSER_GET), &limits, &mut headers))
    });
    let Ok(Parsed::Complete(head)) = parse_request(BROWSER_GET, &limits, &mut headers) else {
        panic!("the benchmark request does not parse");
    };
    let ctx = ForwardContext {
        client_ip: [192, 0, 2, 7].into(),
        listener_port: 8080,
        proto: "http",
        listener_host: "127.0.0.1:8080",
        edits: None,
    };
    let mut out = Vec::with_capacity(1024);
    group.bench_function("write_request_head/browser_get", |b| {
        b.iter(|| write_request_head(&mut out, black_box(BROWSER_GET), &head, &headers, &ctx))
    });
    group.bench_function("parse_and_write/browser_get", |b| {
        b.iter(|| {
            if let Ok(Parsed::Complete(head)) = parse_request(black_box(BROWSER_GET), &limits, &mut headers) {
                write_request_head(&mut out, BROWSER_GET, &head, &headers, &ctx);
            }
        })
    });
    group.finish();

    let mut group = c.benchmark_group("response_head");
    group.throughput(Throughput::Bytes(RESPONSE.len() as u64));
    group.bench_function("parse_response/nginx_200", |b| {
        b.iter(|| parse_response(black_box(RESPONSE), &limits, Method::Get, &mut headers))
    });
    group.finish();

    let mut body = Vec::new();
    for _ in 0..16 {
        body.extend_from_slice(b"1000;name=value\r\n");
        body.extend_from_slice(&[b'x'; 0x1000]);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let mut group = c.benchmark_group("chunked");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("advance/16x4KiB", |b| b.iter(|| ChunkedState::new().advance(black_box(&body))));
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
