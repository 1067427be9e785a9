//! The settings valid in `defaults` and in proxies alike (`mode`, `balance`, `timeout`,
//! `option`, the check lines, `cookie`, `default-server`, `http-reuse`, ...), applied to a
//! section's [`Common`] block.

use super::{
    checks, cookie,
    keywords::{option_note, NO_EFFECT, NO_EFFECT_OPTIONS, WARNED},
    parse_time, server_options, Algorithm, Common, Mode, Reader,
};

impl Reader {
    /// Settings valid in `defaults` and in proxies. `Ok(())` when handled; `proxy` is None in
    /// `defaults`.
    pub(super) fn common(
        &mut self,
        c: &mut Common,
        w: &[String],
        line: usize,
        proxy: Option<&str>,
    ) -> Result<(), String> {
        let arg = |i: usize| w.get(i).map(String::as_str);
        match w[0].as_str() {
            "mode" => {
                c.mode = Some(match arg(1) {
                    Some("tcp") => Mode::Tcp,
                    Some("http") => Mode::Http,
                    other => return Err(format!("mode {}: expected tcp or http", other.unwrap_or(""))),
                })
            }
            "balance" => {
                c.balance = Some(match arg(1) {
                    Some("roundrobin") | Some("static-rr") => Algorithm::RoundRobin,
                    Some("leastconn") => Algorithm::LeastConnections,
                    Some("source") => Algorithm::FlowHash,
                    Some("random") | Some("random(2)") => Algorithm::RandomTwo,
                    other => {
                        return Err(format!(
                            "balance {}: supported are roundrobin, static-rr, leastconn, source, random",
                            other.unwrap_or("")
                        ))
                    }
                })
            }
            "timeout" => {
                let value = parse_time(arg(2).ok_or("timeout needs a value")?)?;
                let t = &mut c.timeouts;
                let slot = match arg(1).unwrap_or("") {
                    "connect" => &mut t.connect,
                    "client" => &mut t.client,
                    "server" => &mut t.server,
                    "queue" => &mut t.queue,
                    "check" => &mut t.check,
                    "http-request" => &mut t.http_request,
                    "http-keep-alive" => &mut t.http_keep_alive,
                    "tunnel" => &mut t.tunnel,
                    "client-fin" | "server-fin" | "tarpit" => {
                        self.note(line, format!("timeout {}: no effect", arg(1).unwrap_or("")));
                        return Ok(());
                    }
                    other => return Err(format!("timeout {other}: unsupported")),
                };
                if value.is_zero() {
                    return Err(format!("timeout {} must be greater than 0", arg(1).unwrap_or("")));
                }
                *slot = Some(value);
            }
            "option" => match arg(1) {
                Some("allbackups") => c.all_backups = true,
                Some(_) if checks::option(&mut c.checks, w)? => {}
                Some(o) if NO_EFFECT_OPTIONS.contains(&o) => self.note(line, option_note(o, w)),
                Some(o) => return Err(format!("option {o}: unsupported")),
                None => return Err("option needs a name".into()),
            },
            "http-check" => {
                if let Some(n) = checks::http_check(&mut c.checks, w)? {
                    self.note(line, n);
                }
            }
            "tcp-check" => checks::tcp_check(&mut c.checks, w, line)?,
            "no" if arg(1) == Some("option") && arg(2) == Some("allbackups") => c.all_backups = false,
            "monitor-uri" => {
                let uri = arg(1).ok_or("monitor-uri needs a URI")?;
                if arg(2).is_some() {
                    return Err(format!("monitor-uri {uri}: unexpected \"{}\"", w[2]));
                }
                c.monitor_uri = Some((uri.to_string(), line));
            }
            "cookie" => c.cookie = Some(cookie::cookie_line(w, line)?),
            "default-server" => {
                let mut options = c.default_server.clone();
                for n in server_options(&mut options, &w[1..])? {
                    self.note(line, format!("default-server {n}"));
                }
                c.default_server = options;
            }
            d if WARNED.iter().any(|(k, _)| *k == d) => self.warned(d, line),
            d if NO_EFFECT.contains(&d) => self.note(line, format!("{d}: no effect")),
            old @ ("contimeout" | "clitimeout" | "srvtimeout") => {
                let new = match old {
                    "contimeout" => "connect",
                    "clitimeout" => "client",
                    _ => "server",
                };
                return Err(format!("{old} was removed from HAProxy (2.1): write \"timeout {new}\""));
            }
            "maxconn" if proxy.is_none() => self
                .note(line, "maxconn in defaults (a frontend limit): no effect; the global maxconn caps connections"),
            d => return Err(format!("unsupported directive \"{d}\"")),
        }
        Ok(())
    }
}
