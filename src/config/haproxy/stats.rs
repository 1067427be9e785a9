//! A proxy's `stats ...` lines: HAProxy's stats page, which spillway's admin API serves on that
//! proxy's address (`build.rs`, `stats_page`; the page itself is `admin/html.rs`).
//!
//! `enable`, `uri`, `realm`, `auth`, `refresh`, `hide-version` are mapped; `admin if COND` is
//! accepted read-only (the page has no forms); `show-legends`, `show-node`, `show-desc`,
//! `scope` and `http-request` are accepted without effect. Each of them implies `stats enable`,
//! as in HAProxy.

use std::time::Duration;

use super::{words::parse_time, Reader};

impl Reader {
    pub(super) fn stats_line(&mut self, p: usize, w: &[String], line: usize) -> Result<(), String> {
        let arg = |i: usize| w.get(i).map(String::as_str);
        let name = self.proxies[p].name.clone();
        let page = &mut self.proxies[p].stats_page;
        match arg(1) {
            Some("enable") => {}
            Some("uri") => page.uri = arg(2).ok_or("stats uri needs a URI")?.to_string(),
            Some("realm") => page.realm = arg(2).ok_or("stats realm needs a name")?.to_string(),
            Some("auth") => {
                let pair = arg(2).ok_or("stats auth needs user:password")?;
                if !pair.contains(':') {
                    return Err(format!("stats auth {pair}: expected user:password"));
                }
                page.auth.push(pair.to_string());
            }
            Some("refresh") => {
                let t = parse_time(arg(2).ok_or("stats refresh needs a time")?)?;
                page.refresh = Some(t.max(Duration::from_secs(1)));
            }
            Some("hide-version") => page.hide_version = true,
            Some("admin") => {
                self.note(line, format!("{name}: stats admin: the stats page is read-only here (no admin forms)"))
            }
            Some(k @ ("show-legends" | "show-node" | "show-desc" | "show-modules" | "scope" | "http-request")) => {
                self.note(line, format!("{name}: stats {k}: no effect"))
            }
            Some("disable") => {
                self.proxies[p].stats = false;
                return Ok(());
            }
            Some(other) => {
                return Err(format!(
                    "stats {other}: unsupported (supported: enable, uri, realm, auth, refresh, hide-version, admin)"
                ))
            }
            None => return Err("stats needs a keyword".into()),
        }
        self.proxies[p].stats = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use crate::config::StatsPage;
    use std::time::Duration;

    #[test]
    fn the_page_settings_are_read() {
        let text = "listen stats\n  bind 127.0.0.1:8404\n  mode http\n  stats enable\n  stats uri /monitor\n  \
                    stats realm HAProxy\\ Statistics\n  stats auth admin:s3cret\n  stats auth ops:pw\n  \
                    stats refresh 10s\n  stats hide-version\n  stats admin if TRUE\n";
        let parsed = parse(text, "s.cfg").unwrap();
        let page = parsed.config.admin.stats_page.unwrap();
        assert_eq!(
            page,
            StatsPage {
                uri: "/monitor".into(),
                realm: "HAProxy Statistics".into(),
                refresh: Some(Duration::from_secs(10)),
                auth: vec!["admin:s3cret".into(), "ops:pw".into()],
                hide_version: true,
            }
        );
        assert!(parsed.notes.iter().any(|n| n.line == 11 && n.message.contains("read-only")), "{:?}", parsed.notes);
        let defaults = parse("listen stats\n  bind 127.0.0.1:8404\n  mode http\n  stats enable\n", "s.cfg").unwrap();
        assert_eq!(defaults.config.admin.stats_page.unwrap().uri, "/haproxy?stats");
        let bad = parse("listen stats\n  bind 127.0.0.1:8404\n  stats auth nocolon\n", "s.cfg").unwrap_err();
        assert_eq!(bad.problems[0].to_string(), "s.cfg:3: stats auth nocolon: expected user:password");
    }
}
