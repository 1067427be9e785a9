//! The options of a `server` (and `default-server`) line.

use super::{
    words::{number, parse_time},
    ServerOptions,
};

/// `check inter T rise N fall N weight W maxconn N maxqueue N disabled port N`.
pub(super) fn server_options(o: &mut ServerOptions, w: &[String]) -> Result<(), String> {
    let mut i = 0;
    while i < w.len() {
        let value = w.get(i + 1);
        match w[i].as_str() {
            "check" => o.check = true,
            "no-check" => o.check = false,
            "disabled" => o.disabled = true,
            "enabled" => o.disabled = false,
            flag => {
                match flag {
                    "inter" => o.inter = Some(parse_time(value.ok_or("inter needs a time")?)?),
                    "rise" => o.rise = Some(number(value, "rise")?),
                    "fall" => o.fall = Some(number(value, "fall")?),
                    "weight" => o.weight = Some(number(value, "weight")?),
                    "maxconn" => o.maxconn = Some(number(value, "maxconn")?),
                    "maxqueue" => o.maxqueue = Some(number(value, "maxqueue")?),
                    "port" => o.port = Some(number(value, "port")?),
                    other => {
                        return Err(format!(
                            "option \"{other}\" is not supported (supported: check inter rise fall weight maxconn maxqueue disabled port)"
                        ))
                    }
                }
                i += 1;
            }
        }
        i += 1;
    }
    Ok(())
}
