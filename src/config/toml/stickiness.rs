//! `stickiness = { type = "lb_cookie" | "app_cookie", duration = "1d", cookie = "NAME" }` in a
//! `[[target_group]]`: Elastic Load Balancing's target stickiness, read into the model's
//! [`Stickiness`].
//!
//! As ALB does: `lb_cookie` sets `AWSALB` (naming the target) on every response, renewing its
//! expiry; `app_cookie` sets `AWSALBAPP-0` on the responses whose target sets the application
//! cookie `NAME`, and routes by it. The duration is 1 second to 7 days (ELB's range; default
//! 1 day), written with a unit (`ms s m h d`). `enabled = false` turns it off, as ELB's
//! attribute does.

use std::time::Duration;

use serde::Deserialize;

use super::{parse_duration, Leaf, Reader};
use crate::config::{validate::Site, Stickiness};

/// ELB's default stickiness duration (the range is `config::defaults::STICKINESS`).
const DEFAULT_DURATION: Duration = Duration::from_secs(24 * 3600);

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawStickiness {
    #[serde(rename = "type")]
    kind: Leaf<String>,
    duration: Leaf<toml::Value>,
    cookie: Leaf<String>,
    enabled: Leaf<bool>,
}

/// A duration with `d` (days) accepted beside `parse_duration`'s units: ELB's examples say `1d`.
fn days_or_duration(text: &str) -> Result<Duration, String> {
    match text.strip_suffix('d').map(str::parse::<u64>) {
        Some(Ok(days)) if days <= 7 => Ok(Duration::from_secs(days * 24 * 3600)),
        Some(_) => Err(format!("invalid duration \"{text}\": at most 7 days (\"7d\")")),
        None => parse_duration(text),
    }
}

impl Reader<'_> {
    /// Reads a group's `stickiness` table; `None` when it is off or could not be read (reported).
    pub(super) fn target_stickiness(&mut self, g: usize, raw: RawStickiness, entry: usize) -> Option<Stickiness> {
        let at = |field| Site::Group(g, field);
        let enabled = self.value(at("stickiness.enabled"), raw.enabled, true);
        let kind = self.leaf(at("stickiness.type"), raw.kind);
        let duration = match self.leaf(at("stickiness.duration"), raw.duration) {
            None => Some(DEFAULT_DURATION),
            Some((value, line)) => {
                let site = at("stickiness.duration");
                let parsed = match value {
                    toml::Value::String(text) => days_or_duration(&text),
                    other => Err(format!("invalid duration {other}: expected a string like \"1d\"")),
                }
                .and_then(|d| {
                    if (crate::config::defaults::STICKINESS.0..=crate::config::defaults::STICKINESS.1).contains(&d) {
                        Ok(d)
                    } else {
                        Err(format!("{d:?} is out of range (1s to 7 days, \"7d\")"))
                    }
                });
                match parsed {
                    Ok(d) => Some(d),
                    Err(message) => {
                        self.fail(site, line, format!("{site}: {message}"));
                        None
                    }
                }
            }
        };
        let cookie = self.leaf(at("stickiness.cookie"), raw.cookie);
        let Some((kind, kind_line)) = kind else {
            self.fail(at("stickiness.type"), entry, format!("missing key {}", at("stickiness.type")));
            return None;
        };
        let app_cookie = match (kind.as_str(), cookie) {
            ("lb_cookie", None) => None,
            ("lb_cookie", Some((_, line))) => {
                let site = at("stickiness.cookie");
                self.fail(
                    site,
                    line,
                    format!("{site}: lb_cookie stickiness uses ELB's own cookie (AWSALB); cookie is for app_cookie"),
                );
                return None;
            }
            ("app_cookie", Some((name, line))) => {
                let site = at("stickiness.cookie");
                if let Err(message) = check_app_cookie(&name) {
                    self.fail(site, line, format!("{site}: {message}"));
                    return None;
                }
                Some(name)
            }
            ("app_cookie", None) => {
                let site = at("stickiness.cookie");
                self.fail(site, kind_line, format!("missing key {site} (the application's cookie, for app_cookie)"));
                return None;
            }
            (other, _) => {
                let site = at("stickiness.type");
                let message = format!("{site}: unknown value \"{other}\": expected one of lb_cookie, app_cookie");
                self.fail(site, kind_line, message);
                return None;
            }
        };
        let duration = duration?;
        if !enabled {
            return None;
        }
        Some(Stickiness::elb(app_cookie, duration))
    }
}

/// ELB's rules for an application cookie's name: a cookie name, not one of ELB's own.
fn check_app_cookie(name: &str) -> Result<(), String> {
    if name.is_empty() || name.bytes().any(|b| b <= b' ' || b"=;,\"\\()<>@:/[]?{}".contains(&b) || b >= 0x7f) {
        return Err(format!("\"{name}\" is not a valid cookie name"));
    }
    if ["AWSALB", "AWSALBAPP", "AWSALBTG"].iter().any(|p| name.starts_with(p)) {
        return Err(format!("\"{name}\": the names AWSALB, AWSALBAPP and AWSALBTG are reserved for the load balancer"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use std::time::Duration;

    const GROUP: &str = "[[target_group]]\nname = \"g\"\ntargets = [{ addr = \"127.0.0.1:9001\" }]\n";

    fn read(line: &str) -> Result<Option<crate::config::Stickiness>, Vec<String>> {
        let text = format!("{GROUP}stickiness = {line}\n");
        parse(&text, "t.toml")
            .map(|c| c.target_groups[0].stickiness.clone())
            .map_err(|e| e.problems.iter().map(|p| format!("{}: {}", p.line, p.message)).collect())
    }

    #[test]
    fn lb_and_app_cookies() {
        let s = read(r#"{ type = "lb_cookie", duration = "1d" }"#).unwrap().unwrap();
        assert_eq!(
            (s.cookie.as_str(), s.max_age, s.renew, s.derive_values),
            ("AWSALB", Some(Duration::from_secs(86_400)), true, true)
        );
        assert_eq!(s.app_cookie, None);
        let s = read(r#"{ type = "app_cookie", cookie = "JSESSIONID", duration = "30m" }"#).unwrap().unwrap();
        assert_eq!((s.cookie.as_str(), s.app_cookie.as_deref()), ("AWSALBAPP-0", Some("JSESSIONID")));
        assert_eq!(s.max_age, Some(Duration::from_secs(1800)));
        assert_eq!(read(r#"{ type = "lb_cookie" }"#).unwrap().unwrap().max_age, Some(Duration::from_secs(86_400)));
        assert_eq!(read(r#"{ type = "lb_cookie", enabled = false }"#).unwrap(), None);
    }

    #[test]
    fn problems_name_the_key() {
        let cases = [
            (r#"{ type = "source_ip" }"#, "4: target_group[0].stickiness.type: unknown value \"source_ip\": expected one of lb_cookie, app_cookie"),
            (r#"{ type = "app_cookie" }"#, "4: missing key target_group[0].stickiness.cookie (the application's cookie, for app_cookie)"),
            (r#"{ type = "app_cookie", cookie = "AWSALBX" }"#, "4: target_group[0].stickiness.cookie: \"AWSALBX\": the names AWSALB, AWSALBAPP and AWSALBTG are reserved for the load balancer"),
            (r#"{ type = "lb_cookie", cookie = "X" }"#, "4: target_group[0].stickiness.cookie: lb_cookie stickiness uses ELB's own cookie (AWSALB); cookie is for app_cookie"),
            (r#"{ type = "lb_cookie", duration = "8d" }"#, "4: target_group[0].stickiness.duration: invalid duration \"8d\": at most 7 days (\"7d\")"),
            (r#"{ type = "lb_cookie", duration = "500ms" }"#, "4: target_group[0].stickiness.duration: 500ms is out of range (1s to 7 days, \"7d\")"),
            (r#"{ duration = "1h" }"#, "1: missing key target_group[0].stickiness.type"),
        ];
        for (line, expected) in cases {
            assert_eq!(read(line).unwrap_err(), [expected], "{line}");
        }
        let unknown = read(r#"{ type = "lb_cookie", name = "x" }"#).unwrap_err();
        assert!(unknown[0].contains("unknown key target_group[0].stickiness.name"), "{unknown:?}");
    }
}
