//! Target stickiness by cookie, as a shard runs it (the model is [`config::Stickiness`]).
//!
//! Built once per group version (`GroupRuntime::new`), with every target's cookie value and
//! its whole `Set-Cookie` line prepared, so a request pays a scan of its `Cookie` fields for
//! the one name and a compare per target, and a response copies a prepared line: no
//! allocation. A group without stickiness has none of this (`Option` on the group).
//!
//! The flow, per request: [`Sticky::find`] reads the client's cookie (which target it names,
//! if any); the group tries that target first when it is routable (`GroupRuntime::pick_named`,
//! else the algorithm picks: HAProxy's `option redispatch` and ELB both fall back so);
//! [`Sticky::strips`] says whether the request's cookie must be removed on the way (HAProxy
//! `indirect`, written by [`write_request_cookies`]); [`Sticky::response`] gives the lines to
//! add to the response.
//!
//! [`config::Stickiness`]: crate::config::Stickiness

use crate::{
    config::{Stickiness, TargetGroup},
    rules::Fields,
};

#[derive(Debug)]
pub struct Sticky {
    name: Box<[u8]>,
    app_cookie: Option<Box<[u8]>>,
    insert: bool,
    renew: bool,
    indirect: bool,
    nocache: bool,
    postonly: bool,
    /// Per target (the group's order): its value, `None` when it is never sticky.
    values: Vec<Option<Box<[u8]>>>,
    /// Per target: `Set-Cookie: NAME=VALUE; ...\r\n` (a deletion for a target without value).
    lines: Vec<Box<[u8]>>,
}

/// What the request's cookie said.
#[derive(Debug, Clone, Copy, Default)]
pub struct Found {
    /// The request carried the cookie (whatever its value).
    pub carried: bool,
    /// The target its value names.
    pub target: Option<usize>,
}

/// What a response gets.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResponseCookie<'s> {
    /// The `Set-Cookie` line (CRLF included).
    pub set_cookie: Option<&'s [u8]>,
    /// Add `Cache-Control: private` (HAProxy `nocache`, on a cacheable response).
    pub cache_private: bool,
}

impl Sticky {
    /// The stickiness of `group`, if it has one.
    pub fn build(group: &TargetGroup) -> Option<Sticky> {
        let s = group.stickiness.as_ref()?;
        let values: Vec<Option<Box<[u8]>>> = group
            .targets
            .iter()
            .map(|t| {
                if !t.cookie.is_empty() {
                    Some(t.cookie.as_bytes().into())
                } else if s.derive_values {
                    Some(crate::cookie::opaque_value(&t.addr.to_string()).into_bytes().into())
                } else {
                    None
                }
            })
            .collect();
        let lines = values.iter().map(|v| set_cookie_line(s, v.as_deref()).into_boxed_slice()).collect();
        Some(Sticky {
            name: s.cookie.as_bytes().into(),
            app_cookie: s.app_cookie.as_ref().map(|a| a.as_bytes().into()),
            insert: s.insert,
            renew: s.renew,
            indirect: s.indirect,
            nocache: s.nocache,
            postonly: s.postonly,
            values,
            lines,
        })
    }

    /// Reads the request's cookie: whether it has one and which target it names.
    pub fn find<'a>(&self, fields: &dyn Fields<'a>) -> Found {
        let mut found = Found::default();
        fields.any(&mut |name, value| {
            if !name.eq_ignore_ascii_case(b"cookie") {
                return false;
            }
            let Some(v) = crate::cookie::value_in(value, &self.name) else { return false };
            found.carried = true;
            found.target = self.values.iter().position(|t| t.as_deref() == Some(v));
            true
        });
        found
    }

    /// The request's `Cookie` fields are rewritten without the stickiness cookie (HAProxy
    /// `indirect` in insert mode).
    pub fn strips(&self, found: &Found) -> bool {
        self.indirect && self.insert && found.carried
    }

    /// The cookie's name.
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    /// What the response of target `chosen` gets. `post`: the request was a POST; `response`:
    /// the response's fields.
    pub fn response<'a>(
        &self,
        chosen: usize,
        found: &Found,
        post: bool,
        response: &dyn Fields<'a>,
    ) -> ResponseCookie<'_> {
        if !self.insert || (self.postonly && !post) {
            return ResponseCookie::default();
        }
        // HAProxy leaves a client whose cookie already names the server alone; ELB renews.
        if !self.renew && found.target == Some(chosen) {
            return ResponseCookie::default();
        }
        if let Some(app) = &self.app_cookie {
            let sets_app = response.any(&mut |name, value| {
                name.eq_ignore_ascii_case(b"set-cookie") && set_cookie_name(value) == Some(&app[..])
            });
            if !sets_app {
                return ResponseCookie::default();
            }
        }
        let Some(line) = self.lines.get(chosen) else { return ResponseCookie::default() };
        ResponseCookie { set_cookie: Some(line), cache_private: self.nocache && cacheable(response) }
    }
}

/// The name of the cookie a `Set-Cookie` value sets.
fn set_cookie_name(value: &[u8]) -> Option<&[u8]> {
    let eq = value.iter().position(|&b| b == b'=')?;
    Some(value[..eq].trim_ascii())
}

/// Writes the request's `Cookie` fields as one, without cookie `name` (nothing when no other
/// cookie is left). The caller drops the received `Cookie` fields.
pub fn write_request_cookies<'a>(fields: &dyn Fields<'a>, name: &[u8], out: &mut Vec<u8>) {
    let mut first = true;
    fields.any(&mut |field, value| {
        if !field.eq_ignore_ascii_case(b"cookie") {
            return false;
        }
        for pair in value.split(|&b| b == b';') {
            let pair = pair.trim_ascii();
            let ours = pair.strip_prefix(name).is_some_and(|rest| rest.first() == Some(&b'='));
            if pair.is_empty() || ours {
                continue;
            }
            out.extend_from_slice(if first { b"Cookie: " as &[u8] } else { b"; " });
            out.extend_from_slice(pair);
            first = false;
        }
        false
    });
    if !first {
        out.extend_from_slice(b"\r\n");
    }
}

/// Whether HAProxy would find the response cacheable (and so `nocache` adds
/// `Cache-Control: private`): a status cacheable by default, no `Cache-Control` forbidding it,
/// and some freshness or validator (`max-age`, `s-maxage`, `Expires`, `Last-Modified`, `ETag`).
/// Responses without any of these are not cached by HAProxy's rules and get nothing.
fn cacheable<'a>(response: &dyn Fields<'a>) -> bool {
    let (mut forbidden, mut fresh) = (false, false);
    response.any(&mut |name, value| {
        if name.eq_ignore_ascii_case(b"cache-control") {
            let starts = |d: &[u8], p: &[u8]| d.len() >= p.len() && d[..p.len()].eq_ignore_ascii_case(p);
            for d in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                let is = |p: &[u8]| d.eq_ignore_ascii_case(p);
                if is(b"private")
                    || is(b"no-cache")
                    || is(b"no-store")
                    || is(b"max-age=0")
                    || is(b"s-maxage=0")
                    || starts(d, b"private=")
                    || starts(d, b"no-cache=")
                {
                    forbidden = true;
                } else if starts(d, b"max-age=") || starts(d, b"s-maxage=") {
                    fresh = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"expires")
            || name.eq_ignore_ascii_case(b"last-modified")
            || name.eq_ignore_ascii_case(b"etag")
        {
            fresh = true;
        }
        false
    });
    fresh && !forbidden
}

/// `Set-Cookie: ...\r\n` for a target with `value` (or the deletion HAProxy sends for a server
/// without one).
fn set_cookie_line(s: &Stickiness, value: Option<&[u8]>) -> Vec<u8> {
    let mut line = format!("Set-Cookie: {}=", s.cookie);
    match value {
        Some(v) => {
            line.push_str(&String::from_utf8_lossy(v));
            if let Some(age) = s.max_age {
                line.push_str(&format!("; Max-Age={}; Path=/", age.as_secs().max(1)));
            } else {
                line.push_str("; path=/");
            }
        }
        None => line.push_str("; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/"),
    }
    for a in &s.attributes {
        line.push_str("; ");
        line.push_str(a);
    }
    line.push_str("\r\n");
    line.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Target;

    struct F(Vec<(&'static str, &'static str)>);

    impl<'a> Fields<'a> for F {
        fn any(&self, f: &mut dyn FnMut(&'a [u8], &'a [u8]) -> bool) -> bool {
            self.0.iter().any(|(n, v)| f(n.as_bytes(), v.as_bytes()))
        }
    }

    fn haproxy() -> TargetGroup {
        let t =
            |port: u16, cookie: &str| Target { cookie: cookie.into(), ..Target::new(([127, 0, 0, 1], port).into()) };
        let mut g = TargetGroup::with_defaults("b", vec![t(1, "s1"), t(2, "s2"), t(3, "")]);
        g.stickiness = Some(Stickiness {
            cookie: "SERVERID".into(),
            insert: true,
            app_cookie: None,
            max_age: None,
            renew: false,
            indirect: true,
            nocache: true,
            postonly: false,
            attributes: vec!["HttpOnly".into()],
            derive_values: false,
        });
        g
    }

    #[test]
    fn haproxy_insert_indirect() {
        let s = Sticky::build(&haproxy()).unwrap();
        let found = s.find(&F(vec![("Host", "x"), ("Cookie", "a=1; SERVERID=s2; b=2")]));
        assert_eq!((found.carried, found.target), (true, Some(1)));
        assert!(s.strips(&found));
        let none = F(vec![]);
        // The client named the server that answered: nothing to set.
        assert!(s.response(1, &found, false, &none).set_cookie.is_none());
        let r = s.response(0, &found, false, &none);
        assert_eq!(r.set_cookie, Some(&b"Set-Cookie: SERVERID=s1; path=/; HttpOnly\r\n"[..]));
        assert!(!r.cache_private, "not cacheable: no freshness, no validator");
        let cacheable = F(vec![("Cache-Control", "max-age=60")]);
        assert!(s.response(0, &found, false, &cacheable).cache_private);
        let private = F(vec![("Cache-Control", "Private"), ("ETag", "x")]);
        assert!(!s.response(0, &found, false, &private).cache_private);
        let r = s.response(2, &Found::default(), false, &none);
        assert_eq!(
            r.set_cookie,
            Some(&b"Set-Cookie: SERVERID=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/; HttpOnly\r\n"[..])
        );
        let unknown = s.find(&F(vec![("cookie", "SERVERID=zz")]));
        assert_eq!((unknown.carried, unknown.target), (true, None));
        let other = s.find(&F(vec![("cookie", "SERVERIDX=s1; XSERVERID=s1")]));
        assert!(!other.carried);
    }

    #[test]
    fn the_request_cookie_is_rewritten_without_ours() {
        let mut out = Vec::new();
        let f = F(vec![("Cookie", "a=1; SERVERID=s2"), ("X", "y"), ("cookie", "SERVERID=s1;b=2")]);
        write_request_cookies(&f, b"SERVERID", &mut out);
        assert_eq!(out, b"Cookie: a=1; b=2\r\n");
        out.clear();
        write_request_cookies(&F(vec![("Cookie", "SERVERID=s2")]), b"SERVERID", &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn elb_cookies_renew_and_app_cookie_follows_the_application() {
        let mut g = haproxy();
        g.targets.iter_mut().for_each(|t| t.cookie.clear());
        g.stickiness = Some(Stickiness::elb(None, std::time::Duration::from_secs(86_400)));
        let s = Sticky::build(&g).unwrap();
        let line = String::from_utf8(s.lines[0].to_vec()).unwrap();
        assert!(line.starts_with("Set-Cookie: AWSALB=") && line.ends_with("; Max-Age=86400; Path=/\r\n"), "{line}");
        let value = &line["Set-Cookie: AWSALB=".len()..line.find(';').unwrap()];
        let cookie: &'static str = Box::leak(format!("AWSALB={value}").into_boxed_str());
        let found = s.find(&F(vec![("Cookie", cookie)]));
        assert_eq!(found.target, Some(0));
        assert!(!s.strips(&found));
        assert!(s.response(0, &found, false, &F(vec![])).set_cookie.is_some(), "ELB renews every response");
        g.stickiness.as_mut().unwrap().app_cookie = Some("JSESSIONID".into());
        let s = Sticky::build(&g).unwrap();
        assert!(s.response(0, &found, false, &F(vec![])).set_cookie.is_none());
        let sets = F(vec![("Set-Cookie", "JSESSIONID=abc; Path=/")]);
        assert!(s.response(0, &found, false, &sets).set_cookie.is_some());
    }
}
