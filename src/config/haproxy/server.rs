//! The options of a `server` (and `default-server`) line.

use super::{
    words::{number, parse_time},
    IpFamily, ProxyVersion, ServerOptions,
};

/// Server options accepted with no effect, with their warning; they take a value.
const NO_EFFECT: &[(&str, &str)] = &[
    ("minconn", "no effect: spillway has no dynamic maxconn; maxconn is the cap"),
    ("slowstart", "no effect: a server takes its full weight at once"),
    ("on-marked-up", "no effect"),
    ("on-error", "no effect: only health checks mark a server down"),
    ("error-limit", "no effect: only health checks mark a server down"),
    ("observe", "no effect: only health checks mark a server down"),
    ("resolve-opts", "no effect"),
    ("resolve-net", "no effect"),
    ("id", "no effect"),
    ("pool-max-conn", "no effect: backend connections are pooled per shard"),
    ("pool-purge-delay", "no effect: backend connections are pooled per shard"),
    ("max-reuse", "no effect"),
    ("proxy-v2-options", "no effect: the v2 header carries the addresses only, no TLV"),
];

/// `check inter T fastinter T downinter T rise N fall N weight W maxconn N maxqueue N disabled
/// backup send-proxy send-proxy-v2 check-send-proxy port N addr A init-addr L resolve-prefer F
/// resolvers R on-marked-down shutdown-sessions`, and those of [`NO_EFFECT`]: answers their
/// warnings.
pub(super) fn server_options(o: &mut ServerOptions, w: &[String]) -> Result<Vec<String>, String> {
    let mut notes = Vec::new();
    let mut i = 0;
    while i < w.len() {
        let value = w.get(i + 1);
        match w[i].as_str() {
            "check" => o.check = true,
            "no-check" => o.check = false,
            "disabled" => o.disabled = true,
            "enabled" => o.disabled = false,
            "backup" => o.backup = true,
            "no-backup" => o.backup = false,
            "send-proxy" => o.send_proxy = Some(ProxyVersion::V1),
            "send-proxy-v2" => o.send_proxy = Some(ProxyVersion::V2),
            ssl @ ("send-proxy-v2-ssl" | "send-proxy-v2-ssl-cn") => {
                o.send_proxy = Some(ProxyVersion::V2);
                notes.push(format!("{ssl}: sends send-proxy-v2's header, without the SSL TLVs"));
            }
            "no-send-proxy" | "no-send-proxy-v2" | "no-send-proxy-v2-ssl" | "no-send-proxy-v2-ssl-cn" => {
                o.send_proxy = None
            }
            "check-send-proxy" => o.check_send_proxy = true,
            flag => {
                match flag {
                    "inter" => o.inter = Some(parse_time(value.ok_or("inter needs a time")?)?),
                    "rise" => o.rise = Some(number(value, "rise")?),
                    "fall" => o.fall = Some(number(value, "fall")?),
                    "weight" => o.weight = Some(number(value, "weight")?),
                    "maxconn" => o.maxconn = Some(number(value, "maxconn")?),
                    "maxqueue" => o.maxqueue = Some(number(value, "maxqueue")?),
                    "port" => o.port = Some(number(value, "port")?),
                    "addr" => {
                        let a = value.ok_or("addr needs an IP address")?;
                        o.check_addr = Some(a.parse().map_err(|_| format!("addr \"{a}\": expected an IP address"))?);
                    }
                    "fastinter" => o.fast_inter = Some(positive(value, "fastinter")?),
                    "downinter" => o.down_inter = Some(positive(value, "downinter")?),
                    "on-marked-down" => match value.map(String::as_str) {
                        Some("shutdown-sessions") => o.shutdown_sessions = true,
                        Some("shutdown-backup-sessions") => notes.push(
                            "on-marked-down shutdown-backup-sessions: no effect (a backup marked down keeps its pooled connections)".into(),
                        ),
                        _ => return Err("on-marked-down: expected shutdown-sessions or shutdown-backup-sessions".into()),
                    },
                    "init-addr" => {
                        let list = value.ok_or("init-addr needs a list of methods")?;
                        o.init_addr = Some(list.split(',').map(String::from).collect());
                    }
                    "resolve-prefer" => {
                        o.prefer = Some(match value.map(String::as_str) {
                            Some("ipv4") => IpFamily::V4,
                            Some("ipv6") => IpFamily::V6,
                            _ => return Err("resolve-prefer: expected ipv4 or ipv6".into()),
                        })
                    }
                    "resolvers" => o.resolvers = Some(value.ok_or("resolvers needs a section name")?.clone()),
                    flag if NO_EFFECT.iter().any(|(k, _)| *k == flag) => {
                        let why = NO_EFFECT.iter().find(|(k, _)| *k == flag).map_or("", |(_, why)| why);
                        notes.push(format!("{flag} {}: {why}", value.map_or("", String::as_str)));
                    }
                    other => {
                        return Err(format!(
                            "option \"{other}\" is not supported (supported: check inter fastinter downinter rise fall weight maxconn maxqueue disabled backup send-proxy send-proxy-v2 check-send-proxy port addr init-addr resolve-prefer resolvers on-marked-down, and minconn slowstart without effect)"
                        ))
                    }
                }
                i += 1;
            }
        }
        i += 1;
    }
    Ok(notes)
}

/// A check interval: a time greater than 0.
fn positive(value: Option<&String>, what: &str) -> Result<std::time::Duration, String> {
    let d = parse_time(value.ok_or_else(|| format!("{what} needs a time"))?)?;
    if d.is_zero() {
        return Err(format!("{what} must be greater than 0"));
    }
    Ok(d)
}
