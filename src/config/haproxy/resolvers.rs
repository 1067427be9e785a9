//! `resolvers NAME` sections: how often the servers that name the section (`server ...
//! resolvers NAME`) are resolved again.
//!
//! spillway resolves through the system resolver (`/etc/hosts`, then the DNS servers of
//! `/etc/resolv.conf`), off the shards, on a thread of its own (`control::resolver`), and
//! registers a changed address through the admin API's path. So of a section's lines, the
//! interval (`timeout resolve`, HAProxy's default 1 s) is used; `nameserver` lines are accepted
//! with one warning (a container's resolver is the system's anyway: Docker's 127.0.0.11 is in
//! its `/etc/resolv.conf`), and the tuning lines (`hold`, `resolve_retries`, `timeout retry`,
//! `accepted_payload_size`, `parse-resolv-conf`) change nothing here.

use std::time::Duration;

use super::words::parse_time;

/// HAProxy's `timeout resolve` default.
pub(super) const DEFAULT_EVERY: Duration = Duration::from_secs(1);

/// One `resolvers` section.
#[derive(Debug, Clone)]
pub(super) struct Resolvers {
    pub name: String,
    pub every: Duration,
}

/// Reads one line of a `resolvers` section into `r`; answers a warning for a line that
/// changes nothing here.
pub(super) fn line(r: &mut Resolvers, w: &[String]) -> Result<Option<String>, String> {
    let arg = |i: usize| w.get(i).map(String::as_str);
    match (w[0].as_str(), arg(1)) {
        ("timeout", Some("resolve")) => {
            let d = parse_time(arg(2).ok_or("timeout resolve needs a time")?)?;
            if d.is_zero() {
                return Err("timeout resolve must be greater than 0".into());
            }
            r.every = d;
            Ok(None)
        }
        ("nameserver", Some(ns)) => Ok(Some(format!(
            "resolvers {}: nameserver {ns}: names are resolved by the system resolver (/etc/hosts, /etc/resolv.conf), not by this server",
            r.name
        ))),
        ("nameserver", None) => Err("nameserver needs a name and an address".into()),
        ("timeout", Some("retry")) | ("hold" | "resolve_retries" | "accepted_payload_size", _) | ("parse-resolv-conf", None) => {
            Ok(Some(format!("resolvers {}: {}: no effect here", r.name, w.join(" "))))
        }
        (other, _) => Err(format!(
            "resolvers {}: \"{other}\" is not supported (supported: nameserver, timeout resolve, and hold, resolve_retries, timeout retry, accepted_payload_size, parse-resolv-conf without effect)",
            r.name
        )),
    }
}
