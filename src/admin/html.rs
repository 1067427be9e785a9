//! HAProxy's stats page (`stats enable` / `stats uri` in a haproxy.cfg proxy), served by the
//! admin API on that proxy's address: `GET <uri>` answers an HTML table per proxy of the same
//! rows as the CSV (`csv.rs`), `GET <uri>;csv` the CSV itself. `stats auth` is enforced as
//! Basic authentication on every request to that address; `stats refresh` sends `Refresh`;
//! `stats hide-version` leaves the version out. The page is read-only (`stats admin` has no
//! forms here).

use super::{csv, Reply, Request};
use crate::{config::StatsPage, control::TargetSet, metrics::ShardSnapshot};

/// The columns shown, with their headings (HAProxy's groups: queue, sessions, bytes, errors,
/// server).
const SHOWN: [(&str, &str); 17] = [
    ("svname", "Name"),
    ("qcur", "Queue cur"),
    ("qmax", "Queue max"),
    ("scur", "Sessions cur"),
    ("stot", "Sessions total"),
    ("bin", "Bytes in"),
    ("bout", "Bytes out"),
    ("ereq", "Errors req"),
    ("econ", "Errors conn"),
    ("eresp", "Errors resp"),
    ("hrsp_2xx", "2xx"),
    ("hrsp_3xx", "3xx"),
    ("hrsp_4xx", "4xx"),
    ("hrsp_5xx", "5xx"),
    ("rtime", "Resp time (ms)"),
    ("status", "Status"),
    ("weight", "Weight"),
];

/// `Err`: the 401 to answer, when the page has `stats auth` and the request lacks credentials.
pub fn authorize(page: &StatsPage, req: &Request<'_>) -> Result<(), Reply> {
    if page.auth.is_empty() {
        return Ok(());
    }
    let given = req.authorization.and_then(|v| {
        let (scheme, token) = v.trim_ascii().split_at(v.trim_ascii().iter().position(|&b| b == b' ')?);
        scheme.eq_ignore_ascii_case(b"basic").then(|| token.trim_ascii())
    });
    if let Some(token) = given {
        if page.auth.iter().any(|pair| base64(pair.as_bytes()).as_bytes() == token) {
            return Ok(());
        }
    }
    let mut reply = Reply {
        status: 401,
        content_type: "text/html",
        body: "<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n".into(),
        headers: String::new(),
    };
    reply.headers = format!("WWW-Authenticate: Basic realm=\"{}\"\r\n", page.realm.replace(['"', '\\'], ""));
    Err(reply)
}

/// The HTML page.
pub fn render(page: &StatsPage, set: &TargetSet, figures: &ShardSnapshot) -> Reply {
    let mut body =
        String::from("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Statistics Report</title>\n");
    body.push_str(
        "<style>body{font-family:sans-serif;font-size:13px}table{border-collapse:collapse;margin-bottom:1.5em}\
         th,td{border:1px solid #999;padding:2px 6px;text-align:right}th{background:#ddd}\
         td:first-child{text-align:left}tr.total{background:#eef;font-weight:bold}</style>\n</head><body>\n",
    );
    body.push_str("<h1>Statistics Report</h1>\n");
    if !page.hide_version {
        body.push_str(&format!("<p>spillway {}</p>\n", env!("CARGO_PKG_VERSION")));
    }
    body.push_str(&format!(
        "<p>Read-only: this page has no admin forms. <a href=\"{}\">CSV export</a></p>\n",
        escape(&csv_link(&page.uri))
    ));
    let rows = csv::rows(set, figures);
    let mut proxies: Vec<&str> = Vec::new();
    for r in &rows {
        if !proxies.contains(&r.get("pxname")) {
            proxies.push(r.get("pxname"));
        }
    }
    for px in proxies {
        body.push_str(&format!("<table class=\"proxy\" id=\"{0}\">\n<caption>{0}</caption>\n<tr>", escape(px)));
        for (_, heading) in SHOWN {
            body.push_str(&format!("<th>{heading}</th>"));
        }
        body.push_str("</tr>\n");
        for r in rows.iter().filter(|r| r.get("pxname") == px) {
            let total = matches!(r.get("svname"), "FRONTEND" | "BACKEND");
            body.push_str(if total { "<tr class=\"total\">" } else { "<tr>" });
            for (column, _) in SHOWN {
                body.push_str(&format!("<td>{}</td>", escape(r.get(column))));
            }
            body.push_str("</tr>\n");
        }
        body.push_str("</table>\n");
    }
    body.push_str("</body></html>\n");
    let headers = page.refresh.map_or_else(String::new, |r| format!("Refresh: {}\r\n", r.as_secs().max(1)));
    Reply { status: 200, content_type: "text/html", body, headers }
}

/// The CSV's address: the URI with `;csv` (before a query, as HAProxy's links are).
fn csv_link(uri: &str) -> String {
    format!("{uri};csv")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Standard base64 with padding (what Basic credentials are sent as).
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::codec::Method;

    fn req<'a>(target: &'a str, authorization: Option<&'a [u8]>) -> Request<'a> {
        let path = target.split('?').next().unwrap();
        Request { method: Method::Get, path, target, authorization, wants_html: true, body: b"" }
    }

    #[test]
    fn base64_as_rfc_4648() {
        for (plain, encoded) in
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("admin:s3cret", "YWRtaW46czNjcmV0")]
        {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn basic_auth_is_enforced() {
        let page = StatsPage { auth: vec!["admin:s3cret".into()], realm: "Stats".into(), ..StatsPage::default() };
        assert!(authorize(&page, &req("/", Some(b"Basic YWRtaW46czNjcmV0"))).is_ok());
        assert!(authorize(&page, &req("/", Some(b"basic  YWRtaW46czNjcmV0 "))).is_ok());
        let denied = authorize(&page, &req("/", Some(b"Basic YWRtaW46d3Jvbmc="))).unwrap_err();
        assert_eq!((denied.status, denied.headers.as_str()), (401, "WWW-Authenticate: Basic realm=\"Stats\"\r\n"));
        assert!(authorize(&page, &req("/", None)).is_err());
        assert!(authorize(&StatsPage::default(), &req("/", None)).is_ok());
    }
}
