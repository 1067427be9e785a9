//! The words of a haproxy.cfg line, and the values inside them: times and endpoints.

use std::{net::SocketAddr, time::Duration};

use super::defaults;

/// Splits a line into words as HAProxy does; `Ok(vec![])` for a blank or comment line.
/// `"$VAR"` and `"${VAR}"` inside double quotes expand from the process environment.
pub fn words(line: &str) -> Result<Vec<String>, String> {
    words_env(line, &|name| std::env::var(name).ok())
}

/// [`words`] with the environment given: `env` answers a variable's value (the reader's
/// `setenv`/`presetenv` lines over the process environment). Only inside double quotes, as
/// HAProxy: `$NAME` or `${NAME}`, an undefined variable expands to nothing, `\$` is a dollar.
pub(super) fn words_env(line: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '#' => break,
            ' ' | '\t' | '\r' => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        None => return Err("unterminated double quote".into()),
                        Some('"') => break,
                        Some('$') => {
                            let braced = chars.peek() == Some(&'{');
                            if braced {
                                chars.next();
                            }
                            let mut name = String::new();
                            while let Some(&c) = chars.peek() {
                                if c.is_ascii_alphanumeric() || c == '_' {
                                    name.push(c);
                                    chars.next();
                                } else {
                                    break;
                                }
                            }
                            if braced && chars.next() != Some('}') {
                                return Err(format!("\"${{{name}\": missing '}}'"));
                            }
                            if name.is_empty() && !braced {
                                word.push('$');
                            } else {
                                word.push_str(&env(&name).unwrap_or_default());
                            }
                        }
                        Some('\\') => match chars.next() {
                            Some(e) => escaped(e, &mut chars, &mut word)?,
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(c) => word.push(c),
                    }
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        None => return Err("unterminated single quote".into()),
                        Some('\'') => break,
                        Some(c) => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(e) => escaped(e, &mut chars, &mut word)?,
                    None => return Err("a line may not end with a backslash".into()),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        out.push(word);
    }
    Ok(out)
}

/// The character after a `\\`: `\\r`, `\\n`, `\\t` and `\\xHH` are CR, LF, TAB and the byte HH, as
/// HAProxy reads them (`tcp-check send PING\\r\\n`, `http-check send hdr ...`); any other
/// character stands for itself.
fn escaped(e: char, chars: &mut std::iter::Peekable<std::str::Chars<'_>>, word: &mut String) -> Result<(), String> {
    match e {
        'r' => word.push('\r'),
        'n' => word.push('\n'),
        't' => word.push('\t'),
        'x' => {
            let hex: String = [chars.next(), chars.next()].into_iter().flatten().collect();
            let byte = u8::from_str_radix(&hex, 16).ok().filter(|_| hex.len() == 2);
            match byte {
                // Bytes past ASCII would not survive as one char of a String: refused.
                Some(b) if b.is_ascii() => word.push(char::from(b)),
                _ => return Err(format!("\"\\x{hex}\": expected two hex digits of an ASCII byte")),
            }
        }
        e => word.push(e),
    }
    Ok(())
}

/// A HAProxy time: a number with `us ms s m h d`, milliseconds without a unit.
pub fn parse_time(text: &str) -> Result<Duration, String> {
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let n: u64 = number.parse().map_err(|_| format!("invalid time \"{text}\": expected a number and a unit"))?;
    let d = match unit {
        "us" => Duration::from_micros(n),
        "" | "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        "d" => Duration::from_secs(n.saturating_mul(86_400)),
        _ => return Err(format!("invalid time \"{text}\": units are us, ms, s, m, h, d")),
    };
    if d > defaults::MAX_DURATION {
        return Err(format!("time \"{text}\" is longer than the maximum of 30 days"));
    }
    Ok(d)
}

/// A `bind` or `server` address as written: an IP address or a host name to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Endpoint {
    Addr(SocketAddr),
    /// A host name and its port: resolved by the reader (`init-addr`, `-dr`).
    Name(String, u16),
}

/// A `bind` or `server` address: `IP:PORT`, `:PORT` or `*:PORT` (every IPv4 address),
/// `[IPv6]:PORT`, `HOST:PORT`, or an `ipv4@`/`ipv6@` prefixed form.
pub(super) fn parse_endpoint(text: &str, what: &str) -> Result<Endpoint, String> {
    let t = text.strip_prefix("ipv4@").or_else(|| text.strip_prefix("ipv6@")).unwrap_or(text);
    let t = match t.strip_prefix('*') {
        Some(rest) => format!("0.0.0.0{rest}"),
        None if t.starts_with(':') => format!("0.0.0.0{t}"),
        None => t.to_string(),
    };
    if let Ok(a) = t.parse::<SocketAddr>() {
        return Ok(Endpoint::Addr(a));
    }
    if let Some((host, port)) = t.rsplit_once(':') {
        if let Ok(port) = port.parse::<u16>() {
            // A bare IPv6 address with its port after the last colon, as HAProxy also accepts.
            if let Ok(ip) = host.parse::<std::net::Ipv6Addr>() {
                return Ok(Endpoint::Addr(SocketAddr::from((ip, port))));
            }
            if is_host_name(host) {
                return Ok(Endpoint::Name(host.to_string(), port));
            }
        }
    }
    Err(format!("{what} address \"{text}\" is not IP:PORT or HOST:PORT (a port is required)"))
}

/// Letters, digits, `-`, `_` and dots: what a resolver may be asked for.
pub(super) fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !host.starts_with(['-', '.'])
}

pub(super) fn number<T: std::str::FromStr>(text: Option<&String>, what: &str) -> Result<T, String> {
    let text = text.ok_or_else(|| format!("{what} needs a value"))?;
    text.parse().map_err(|_| format!("{what} \"{text}\" is not a valid number"))
}
