//! The health-check lines of a `defaults` or proxy section: `option httpchk`, `http-check
//! send|expect|connect`, `option tcp-check` with its `tcp-check` rules, `option mysql-check`,
//! `pgsql-check`, `redis-check`, `smtpchk`, `ssl-hello-chk`. They are collected into
//! [`CheckLines`] while reading and turned into the group's `HealthCheck` by `build.rs`.
//!
//! As in HAProxy, the last `option` naming a check type decides the type; `tcp-check` rules
//! count only with `option tcp-check` (HAProxy ignores them otherwise, and so does spillway,
//! with a warning). Every refusal names what is not supported, at the line.

use super::{number, validate, ServerOptions};
use crate::config::{CheckStep, ExpectPattern, HealthProtocol, HttpCheck, HttpExpect, HttpMatch, StatusMatcher};

/// What a section's check lines said.
#[derive(Debug, Clone, Default)]
pub(super) struct CheckLines {
    /// The check type of the last `option` naming one (`None`: a TCP handshake).
    pub kind: Option<HealthProtocol>,
    /// `option tcp-check` was given (its rules are the script).
    pub tcp_check: bool,
    /// The HTTP check's path (`option httpchk`, `http-check send uri`).
    pub path: Option<String>,
    pub http: HttpCheck,
    /// `http-check expect status N` (not negated): the matcher.
    pub status: Option<StatusMatcher>,
    /// The `tcp-check` rules in order.
    pub script: Vec<CheckStep>,
    pub user: String,
    pub smtp_hello: Option<String>,
    /// The line of the first `tcp-check` rule, for the warning when no `option tcp-check`.
    pub script_line: Option<usize>,
}

/// `option NAME ARGS` for the check options; `Ok(false)` when `NAME` is not one.
pub(super) fn option(c: &mut CheckLines, w: &[String]) -> Result<bool, String> {
    let arg = |i: usize| w.get(i).map(String::as_str);
    match arg(1).unwrap_or("") {
        "httpchk" => httpchk(c, &w[2..])?,
        "tcp-check" => {
            c.kind = Some(HealthProtocol::Tcp);
            c.tcp_check = true;
        }
        "mysql-check" => {
            c.kind = Some(HealthProtocol::Mysql);
            c.user = match (arg(2), arg(3), arg(4)) {
                (None, ..) => String::new(),
                (Some("user"), Some(u), None | Some("post-41")) => u.to_string(),
                (Some("user"), Some(_), Some("pre-41")) => {
                    return Err("option mysql-check ... pre-41: only the post-4.1 exchange is supported".into())
                }
                _ => return Err("option mysql-check: expected [user NAME [post-41]]".into()),
            };
        }
        "pgsql-check" => {
            c.kind = Some(HealthProtocol::Pgsql);
            c.user = match (arg(2), arg(3), arg(4)) {
                (Some("user"), Some(u), None) => u.to_string(),
                _ => return Err("option pgsql-check: expected user NAME".into()),
            };
        }
        "redis-check" => {
            c.kind = Some(HealthProtocol::Redis);
            no_more(w, 2)?;
        }
        "ssl-hello-chk" => {
            c.kind = Some(HealthProtocol::SslHello);
            no_more(w, 2)?;
        }
        "smtpchk" => {
            c.kind = Some(HealthProtocol::Smtp);
            // HAProxy: `HELO|EHLO domain`; anything else falls back to `HELO localhost`.
            c.smtp_hello = match (arg(2), arg(3)) {
                (Some(cmd @ ("HELO" | "EHLO")), Some(domain)) => Some(format!("{cmd} {domain}")),
                _ => None,
            };
        }
        o @ ("ldap-check" | "spop-check" | "external-check" | "lb-agent-chk") => {
            return Err(format!("option {o}: not supported (supported checks: httpchk, tcp-check, mysql-check, pgsql-check, redis-check, smtpchk, ssl-hello-chk)"))
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn no_more(w: &[String], from: usize) -> Result<(), String> {
    match w.get(from) {
        Some(x) => Err(format!("option {}: unexpected \"{x}\"", w[1])),
        None => Ok(()),
    }
}

/// `option httpchk`, `option httpchk URI`, `option httpchk METH URI [VER]`. HAProxy's
/// defaults: `OPTIONS / HTTP/1.0`. A version written with headers after it
/// (`HTTP/1.1\r\nHost:\ www`, the 1.x idiom) gives those headers.
fn httpchk(c: &mut CheckLines, args: &[String]) -> Result<(), String> {
    c.kind = Some(HealthProtocol::Http);
    c.http.method = "OPTIONS".into();
    c.http.version = "HTTP/1.0".into();
    let (method, uri, version) = match args {
        [] => (None, None, None),
        [u] => (None, Some(u), None),
        [m, u] => (Some(m), Some(u), None),
        [m, u, v] => (Some(m), Some(u), Some(v)),
        _ => return Err("option httpchk: expected [METHOD] [URI] [VERSION]".into()),
    };
    if let Some(m) = method {
        c.http.method = token(m, "method")?;
    }
    c.path = Some(uri.cloned().unwrap_or_else(|| "/".into()));
    if let Some(v) = version {
        let mut lines = v.split("\r\n").filter(|l| !l.is_empty());
        c.http.version = version_word(lines.next().unwrap_or(""))?;
        for l in lines {
            let (name, value) =
                l.split_once(':').ok_or_else(|| format!("option httpchk: header \"{l}\" has no ':'"))?;
            c.http.headers.push((token(name.trim(), "header name")?, value.trim().to_string()));
        }
    }
    Ok(())
}

fn version_word(v: &str) -> Result<String, String> {
    match v {
        "HTTP/1.0" | "HTTP/1.1" => Ok(v.to_string()),
        _ => Err(format!("http check version \"{v}\": HTTP/1.0 or HTTP/1.1 (checks are HTTP/1)")),
    }
}

/// An HTTP token (a method or a header name).
fn token(t: &str, what: &str) -> Result<String, String> {
    let ok = !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if ok {
        Ok(t.to_string())
    } else {
        Err(format!("http check {what} \"{t}\" is not an HTTP token"))
    }
}

/// `http-check ...`: `send`, `expect`, `connect` (no options), `comment`, and the 1.x
/// `disable-on-404`/`send-state` (accepted: notes). Answers a note to print, if any.
pub(super) fn http_check(c: &mut CheckLines, w: &[String]) -> Result<Option<String>, String> {
    match w.get(1).map(String::as_str) {
        Some("send") => send(c, &w[2..]).map(|_| None),
        Some("expect") => expect(c, &w[2..]).map(|_| None),
        Some("connect") if w.len() == 2 || w[2..].iter().all(|x| x == "default" || x == "linger") => Ok(None),
        Some("connect") => Err(format!("http-check connect {}: options are not supported", w[2..].join(" "))),
        Some("comment") => Ok(None),
        Some(o @ ("disable-on-404" | "send-state")) => {
            Ok(Some(format!("http-check {o}: no effect (a 404 is judged by the expect rule like any status)")))
        }
        Some(o) => Err(format!("http-check {o}: unsupported (supported: send, expect, connect, comment)")),
        None => Err("http-check needs an action".into()),
    }
}

/// `http-check send [meth M] [uri U] [ver V] [hdr NAME VALUE]...`.
fn send(c: &mut CheckLines, w: &[String]) -> Result<(), String> {
    if c.kind.is_none() {
        c.kind = Some(HealthProtocol::Http);
    }
    // `http-check send` alone (HAProxy 2.2+) sends HAProxy 2.x's defaults, which are also
    // those of a bare `option httpchk`, except when that option named them.
    let mut i = 0;
    while i < w.len() {
        let value = w.get(i + 1).ok_or_else(|| format!("http-check send {}: needs a value", w[i]))?;
        match w[i].as_str() {
            "meth" => c.http.method = token(value, "method")?,
            "uri" => c.path = Some(value.clone()),
            "ver" => c.http.version = version_word(value)?,
            "hdr" => {
                let v = w.get(i + 2).ok_or("http-check send hdr: needs a name and a value")?;
                c.http.headers.push((token(value, "header name")?, v.clone()));
                i += 1;
            }
            "comment" => {}
            o @ ("uri-lf" | "body" | "body-lf") => {
                return Err(format!("http-check send {o}: not supported (meth, uri, ver, hdr are)"))
            }
            o => return Err(format!("http-check send: unknown option \"{o}\"")),
        }
        i += 2;
    }
    if c.path.is_none() {
        c.path = Some("/".into());
    }
    Ok(())
}

/// Options of an `expect` rule that take a value and change nothing here.
const EXPECT_OPTIONS: &[&str] =
    &["min-recv", "ok-status", "error-status", "tout-status", "on-success", "on-error", "status-code", "comment"];

/// `http-check expect [OPTIONS] [!] status|rstatus|string|rstring VALUE`.
fn expect(c: &mut CheckLines, w: &[String]) -> Result<(), String> {
    let (negate, kind, value) = expect_words(w, "http-check expect")?;
    let what = match kind {
        "status" => HttpMatch::Status(validate::parse_matcher(value)?),
        "rstatus" => HttpMatch::RStatus(regex(value)?),
        "string" => HttpMatch::String(value.to_string()),
        "rstring" => HttpMatch::RString(regex(value)?),
        k => return Err(format!("http-check expect {k}: not supported (status, rstatus, string, rstring are)")),
    };
    match what {
        HttpMatch::Status(m) if !negate => {
            c.status = Some(m);
            c.http.expect = None;
        }
        what => c.http.expect = Some(HttpExpect { negate, what }),
    }
    Ok(())
}

/// The `!`, the pattern kind and the pattern of an `expect` rule, its options skipped.
fn expect_words<'w>(w: &'w [String], what: &str) -> Result<(bool, &'w str, &'w str), String> {
    let mut negate = false;
    let mut i = 0;
    while i < w.len() {
        match w[i].as_str() {
            "!" => negate = true,
            o if EXPECT_OPTIONS.contains(&o) => i += 1,
            kind => {
                let value = w.get(i + 1).ok_or_else(|| format!("{what} {kind}: needs a pattern"))?;
                // Options may also follow the pattern.
                let mut j = i + 2;
                while j < w.len() {
                    if !EXPECT_OPTIONS.contains(&w[j].as_str()) {
                        return Err(format!("{what}: unexpected \"{}\"", w[j]));
                    }
                    j += 2;
                }
                return Ok((negate, kind, value));
            }
        }
        i += 1;
    }
    Err(format!("{what}: needs a pattern"))
}

fn regex(re: &str) -> Result<String, String> {
    regex::bytes::Regex::new(re).map(|_| re.to_string()).map_err(|e| format!("invalid regular expression {re:?}: {e}"))
}

/// `tcp-check connect|send|send-binary|expect|comment ...`.
pub(super) fn tcp_check(c: &mut CheckLines, w: &[String], line: usize) -> Result<(), String> {
    c.script_line.get_or_insert(line);
    let arg = |i: usize| w.get(i).map(String::as_str);
    let step = match arg(1).unwrap_or("") {
        "connect" => {
            let mut port = 0;
            let mut i = 2;
            while i < w.len() {
                match w[i].as_str() {
                    "port" => {
                        port = number(w.get(i + 1), "tcp-check connect port")?;
                        i += 1;
                    }
                    "comment" => i += 1,
                    "default" | "linger" => {}
                    o => {
                        return Err(format!(
                            "tcp-check connect {o}: not supported (port, default, linger, comment are)"
                        ))
                    }
                }
                i += 1;
            }
            CheckStep::Connect { port }
        }
        "send" => CheckStep::Send(payload(w, "tcp-check send")?.as_bytes().to_vec()),
        "send-binary" => CheckStep::Send(hex(payload(w, "tcp-check send-binary")?)?),
        "expect" => {
            let (negate, kind, value) = expect_words(&w[2..], "tcp-check expect")?;
            let pattern = match kind {
                "string" => ExpectPattern::Bytes(value.as_bytes().to_vec()),
                "rstring" => ExpectPattern::Regex(regex(value)?),
                "binary" => ExpectPattern::Bytes(hex(value)?),
                k => return Err(format!("tcp-check expect {k}: not supported (string, rstring, binary are)")),
            };
            CheckStep::Expect { negate, pattern }
        }
        "comment" => return Ok(()),
        o => return Err(format!("tcp-check {o}: not supported (connect, send, send-binary, expect, comment are)")),
    };
    c.script.push(step);
    Ok(())
}

/// The data of a `send`: one word, an optional `comment TEXT` after it.
fn payload<'w>(w: &'w [String], what: &str) -> Result<&'w str, String> {
    match &w[2..] {
        [data] => Ok(data),
        [data, c, _] if c == "comment" => Ok(data),
        [] => Err(format!("{what}: needs data")),
        _ => Err(format!("{what}: one word of data (quote it when it has spaces)")),
    }
}

/// Hex digits to bytes.
pub fn hex(text: &str) -> Result<Vec<u8>, String> {
    if text.len() % 2 != 0 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("\"{text}\" is not an even number of hex digits"));
    }
    Ok((0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap_or(0)).collect())
}

/// The check of a `server` line's options on the group's check: where its checks go (`addr`,
/// `port`) — kept for `build.rs`.
pub(super) fn check_target(o: &ServerOptions, addr: std::net::SocketAddr) -> Option<std::net::SocketAddr> {
    if o.port.is_none() && o.check_addr.is_none() {
        return None;
    }
    Some(std::net::SocketAddr::new(o.check_addr.unwrap_or(addr.ip()), o.port.unwrap_or(addr.port())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(line: &str) -> Vec<String> {
        super::super::words(line).unwrap()
    }

    #[test]
    fn httpchk_takes_haproxy_defaults_and_the_1x_header_idiom() {
        let mut c = CheckLines::default();
        option(&mut c, &w("option httpchk")).unwrap();
        assert_eq!(
            (c.http.method.as_str(), c.path.as_deref(), c.http.version.as_str()),
            ("OPTIONS", Some("/"), "HTTP/1.0")
        );
        option(&mut c, &w("option httpchk /health")).unwrap();
        assert_eq!((c.http.method.as_str(), c.path.as_deref()), ("OPTIONS", Some("/health")));
        option(&mut c, &w(r"option httpchk GET /ping HTTP/1.1\r\nHost:\ www.example.com")).unwrap();
        assert_eq!(c.http.version, "HTTP/1.1");
        assert_eq!(c.http.headers, vec![("Host".to_string(), "www.example.com".to_string())]);
        assert!(option(&mut c, &w("option httpchk G@T /")).is_err());
    }

    #[test]
    fn http_check_send_and_expect() {
        let mut c = CheckLines::default();
        http_check(&mut c, &w("http-check send meth HEAD uri /hc ver HTTP/1.1 hdr Host www hdr X-A 1")).unwrap();
        assert_eq!((c.http.method.as_str(), c.path.as_deref()), ("HEAD", Some("/hc")));
        assert_eq!(c.http.headers.len(), 2);
        http_check(&mut c, &w("http-check expect status 200-299")).unwrap();
        assert_eq!(c.status, Some(StatusMatcher { ranges: vec![(200, 299)] }));
        http_check(&mut c, &w("http-check expect ! string maintenance")).unwrap();
        assert_eq!(c.http.expect, Some(HttpExpect { negate: true, what: HttpMatch::String("maintenance".into()) }));
        http_check(&mut c, &w("http-check expect comment up rstatus ^2")).unwrap();
        assert!(http_check(&mut c, &w("http-check expect fhdr name")).unwrap_err().contains("not supported"));
        assert!(http_check(&mut c, &w("http-check expect rstring (")).unwrap_err().contains("invalid regular"));
        assert!(http_check(&mut c, &w("http-check send body x")).is_err());
    }

    #[test]
    fn tcp_check_rules_become_steps() {
        let mut c = CheckLines::default();
        for l in [
            "tcp-check connect port 6379",
            r"tcp-check send PING\r\n",
            "tcp-check expect string +PONG",
            "tcp-check send-binary 0a0B",
            "tcp-check expect ! rstring ^-ERR",
            "tcp-check expect binary ff",
            "tcp-check comment hi",
        ] {
            tcp_check(&mut c, &w(l), 1).unwrap();
        }
        assert_eq!(
            c.script,
            vec![
                CheckStep::Connect { port: 6379 },
                CheckStep::Send(b"PING\r\n".to_vec()),
                CheckStep::Expect { negate: false, pattern: ExpectPattern::Bytes(b"+PONG".to_vec()) },
                CheckStep::Send(vec![0x0a, 0x0b]),
                CheckStep::Expect { negate: true, pattern: ExpectPattern::Regex("^-ERR".into()) },
                CheckStep::Expect { negate: false, pattern: ExpectPattern::Bytes(vec![0xff]) },
            ]
        );
        for bad in [
            "tcp-check send-binary 0g",
            "tcp-check expect rbinary ^ff",
            "tcp-check connect ssl",
            "tcp-check set-var(a) b",
        ] {
            assert!(tcp_check(&mut c, &w(bad), 1).is_err(), "{bad}");
        }
    }

    #[test]
    fn protocol_options_take_their_arguments() {
        let mut c = CheckLines::default();
        option(&mut c, &w("option mysql-check user haproxy post-41")).unwrap();
        assert_eq!((c.kind, c.user.as_str()), (Some(HealthProtocol::Mysql), "haproxy"));
        assert!(option(&mut c, &w("option mysql-check user h pre-41")).is_err());
        assert!(option(&mut c, &w("option pgsql-check")).is_err());
        option(&mut c, &w("option smtpchk EHLO lb.example.com")).unwrap();
        assert_eq!(c.smtp_hello.as_deref(), Some("EHLO lb.example.com"));
        option(&mut c, &w("option smtpchk")).unwrap();
        assert_eq!(c.smtp_hello, None);
        assert!(option(&mut c, &w("option redis-check now")).is_err());
        assert!(option(&mut c, &w("option ldap-check")).is_err());
        assert!(!option(&mut c, &w("option forwardfor")).unwrap());
    }
}
