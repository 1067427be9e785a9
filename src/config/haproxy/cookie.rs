//! Cookie stickiness: a backend's `cookie NAME ...` line and the servers' `cookie VALUE`, read
//! into the model's [`Stickiness`] and [`super::Target::cookie`].
//!
//! Mapped as HAProxy 2.6 behaves (checked against it): `insert` sets `NAME=VALUE; path=/`
//! (then `domain=D`, `HttpOnly`, `Secure`, `attr` values) on a response whose request did not
//! already name the server that answered; `indirect` also removes the cookie from the request
//! sent to the server; `nocache` adds `Cache-Control: private` to a cacheable response that
//! sets the cookie; `postonly` sets it on POST responses only. Without a mode the cookie is only
//! read (the application sets it). A server without `cookie` is never sticky and a response
//! from it deletes the cookie. `rewrite` and `prefix` (which edit the application's own cookie)
//! and `dynamic` are refused; `preserve`, `maxidle` and `maxlife` are accepted with a note.

use super::{words::parse_time, Reader, Stickiness};

/// A `cookie` line as read: the stickiness and the notes to report once the proxy is known
/// to be a backend.
#[derive(Debug, Clone)]
pub(super) struct CookieLine {
    pub stickiness: Stickiness,
    pub notes: Vec<String>,
    pub line: usize,
}

/// `cookie NAME [insert] [indirect] [nocache] [postonly] [preserve] [httponly] [secure]
/// [domain D]... [maxidle T] [maxlife T] [attr A]...`.
pub(super) fn cookie_line(w: &[String], line: usize) -> Result<CookieLine, String> {
    let name = w.get(1).ok_or("cookie needs a name")?;
    if name.is_empty() || name.bytes().any(|b| b <= b' ' || b"=;,\"\\".contains(&b) || b >= 0x7f) {
        return Err(format!("cookie \"{name}\": not a valid cookie name"));
    }
    let mut s = Stickiness {
        cookie: name.clone(),
        insert: false,
        app_cookie: None,
        max_age: None,
        renew: false,
        indirect: false,
        nocache: false,
        postonly: false,
        attributes: Vec::new(),
        derive_values: false,
    };
    let mut notes = Vec::new();
    let (mut httponly, mut secure, mut domains, mut attrs) = (false, false, Vec::new(), Vec::new());
    let mut i = 2;
    while i < w.len() {
        let value = |what: &str| w.get(i + 1).cloned().ok_or(format!("cookie {name}: {} needs {what}", w[i]));
        match w[i].as_str() {
            "insert" => s.insert = true,
            mode @ ("rewrite" | "prefix") => {
                return Err(format!(
                    "cookie {name} {mode}: only insert mode is supported (spillway does not edit the application's own cookie); write \"cookie {name} insert indirect nocache\""
                ))
            }
            "indirect" => s.indirect = true,
            "nocache" => s.nocache = true,
            "postonly" => s.postonly = true,
            "httponly" => httponly = true,
            "secure" => secure = true,
            "preserve" => notes.push(format!("cookie {name} preserve: no effect (spillway never removes the application's cookie)")),
            "domain" => {
                domains.push(value("a domain")?);
                i += 1;
            }
            "attr" => {
                attrs.push(value("a value")?);
                i += 1;
            }
            opt @ ("maxidle" | "maxlife") => {
                parse_time(&value("a time")?).map_err(|e| format!("cookie {name} {opt}: {e}"))?;
                notes.push(format!(
                    "cookie {name} {opt}: the cookie's age is not tracked (it stays valid while the client keeps it)"
                ));
                i += 1;
            }
            "dynamic" => return Err(format!("cookie {name} dynamic: not supported; give each server a cookie value")),
            other => {
                return Err(format!(
                    "cookie {name}: option \"{other}\" is not supported (supported: insert indirect nocache postonly preserve httponly secure domain maxidle maxlife attr)"
                ))
            }
        }
        i += 1;
    }
    if !s.insert && (s.indirect || s.nocache || s.postonly) {
        notes.push(format!("cookie {name}: indirect, nocache and postonly act in insert mode only"));
        (s.indirect, s.nocache, s.postonly) = (false, false, false);
    }
    s.attributes.extend(domains.into_iter().map(|d| format!("domain={d}")));
    if httponly {
        s.attributes.push("HttpOnly".into());
    }
    if secure {
        s.attributes.push("Secure".into());
    }
    s.attributes.extend(attrs);
    Ok(CookieLine { stickiness: s, notes, line })
}

/// Takes `cookie VALUE` out of a server line's options (the other options are read by
/// `server_options`): answers the value and the remaining words.
pub(super) fn split_server_words(w: &[String]) -> Result<(Option<String>, Vec<String>), String> {
    let mut rest = Vec::with_capacity(w.len());
    let mut cookie = None;
    let mut i = 0;
    while i < w.len() {
        if w[i] == "cookie" {
            let v = w.get(i + 1).ok_or("cookie needs a value")?;
            if v.is_empty() || v.bytes().any(|b| b <= b' ' || b";,\"\\".contains(&b) || b >= 0x7f) {
                return Err(format!("cookie \"{v}\": not a valid cookie value"));
            }
            cookie = Some(v.clone());
            i += 2;
            continue;
        }
        rest.push(w[i].clone());
        i += 1;
    }
    Ok((cookie, rest))
}

impl Reader {
    /// The stickiness of a backend (or listen) whose `cookie` line is `c`, its notes reported.
    pub(super) fn stickiness(&mut self, c: Option<&CookieLine>) -> Option<Stickiness> {
        let c = c?;
        for n in &c.notes {
            self.note(c.line, n.clone());
        }
        Some(c.stickiness.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn insert_indirect_nocache_reads_as_haproxy_means_it() {
        let c = cookie_line(&words("cookie SERVERID insert indirect nocache httponly secure domain .a.b"), 3).unwrap();
        let s = c.stickiness;
        assert_eq!(s.cookie, "SERVERID");
        assert!(s.insert && s.indirect && s.nocache && !s.renew && !s.derive_values && s.max_age.is_none());
        assert_eq!(s.attributes, ["domain=.a.b", "HttpOnly", "Secure"]);
        assert!(c.notes.is_empty());
        let passive = cookie_line(&words("cookie JSESSIONID"), 1).unwrap().stickiness;
        assert!(!passive.insert);
    }

    #[test]
    fn refusals_and_notes() {
        let err = |l: &str| cookie_line(&words(l), 1).unwrap_err();
        assert!(err("cookie S rewrite").contains("only insert mode is supported"));
        assert!(err("cookie S prefix").contains("only insert mode is supported"));
        assert!(err("cookie S insert dynamic").contains("dynamic"));
        assert!(err("cookie S insert bogus").contains("\"bogus\" is not supported"));
        assert!(err("cookie").contains("needs a name"));
        assert!(err("cookie S insert maxidle").contains("needs a time"));
        let c = cookie_line(&words("cookie S insert maxidle 30m maxlife 8h preserve"), 1).unwrap();
        assert_eq!(c.notes.len(), 3);
    }

    #[test]
    fn a_server_cookie_is_taken_out_of_its_options() {
        let (v, rest) = split_server_words(&words("check cookie s1 weight 2")).unwrap();
        assert_eq!(v.as_deref(), Some("s1"));
        assert_eq!(rest, ["check", "weight", "2"]);
        assert!(split_server_words(&words("check cookie")).is_err());
    }
}
