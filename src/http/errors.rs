//! The responses spillway makes itself, pre-rendered at compile time.
//!
//! Each is a complete `HTTP/1.1` message: status line, `Content-Type: text/plain`, a
//! `Content-Length` matching the one-line body (`"503 Service Unavailable\n"`), and
//! `Connection: close` ([`response`]) or `Connection: keep-alive` ([`response_keep_alive`],
//! for answers after which the request's framing is still known, such as a 503 for a request
//! that was read whole). Writing one is a single `&'static [u8]`: no formatting, no allocation.
//!
//! The same table is spillway's one list of reason phrases ([`reason`]): the admin API (above
//! `http` in the layering map) writes its status lines with it too.
//!
//! Invariants: every canned entry is a well-formed response whose Content-Length equals its
//! body length (checked by the tests, which parse each one with the codec); an unknown status
//! gets the 500 response, and the reason phrase "Internal Server Error".

macro_rules! canned {
    ($code:literal, $reason:literal, $len:literal, $conn:literal) => {
        concat!(
            "HTTP/1.1 ",
            $code,
            " ",
            $reason,
            "\r\nContent-Type: text/plain\r\nContent-Length: ",
            $len,
            "\r\nConnection: ",
            $conn,
            "\r\n\r\n",
            $code,
            " ",
            $reason,
            "\n"
        )
        .as_bytes()
    };
}

macro_rules! table {
    (
        canned: $($code:literal $reason:literal $len:literal),* ;
        phrase_only: $($p_code:literal $p_reason:literal),* $(,)?
    ) => {
        /// `(status, reason phrase, close response, keep-alive response)`.
        const TABLE: &[(u16, &str, &[u8], &[u8])] = &[
            $(($code, $reason, canned!($code, $reason, $len, "close"), canned!($code, $reason, $len, "keep-alive")),)*
        ];
        /// `(status, reason phrase)` of every status spillway writes: the canned ones first.
        const REASONS: &[(u16, &str)] = &[$(($code, $reason),)* $(($p_code, $p_reason),)*];
    };
}

// Canned: the answers spillway makes itself as a proxy; the third column is the body length:
// "NNN " + reason + "\n". Phrase only: the other statuses spillway writes (the admin API's,
// whose bodies are JSON made per reply).
table! {
    canned:
    400 "Bad Request" 16,
    408 "Request Timeout" 20,
    413 "Content Too Large" 22,
    414 "URI Too Long" 17,
    417 "Expectation Failed" 23,
    431 "Request Header Fields Too Large" 36,
    500 "Internal Server Error" 26,
    501 "Not Implemented" 20,
    502 "Bad Gateway" 16,
    503 "Service Unavailable" 24,
    504 "Gateway Timeout" 20,
    505 "HTTP Version Not Supported" 31;
    phrase_only:
    200 "OK",
    201 "Created",
    202 "Accepted",
    204 "No Content",
    301 "Moved Permanently",
    302 "Found",
    303 "See Other",
    307 "Temporary Redirect",
    308 "Permanent Redirect",
    401 "Unauthorized",
    403 "Forbidden",
    404 "Not Found",
    405 "Method Not Allowed",
    409 "Conflict",
    410 "Gone",
    411 "Length Required",
    422 "Unprocessable Content",
    429 "Too Many Requests",
}

/// The interim response spillway sends for `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

fn entry(status: u16) -> &'static (u16, &'static str, &'static [u8], &'static [u8]) {
    TABLE.iter().find(|e| e.0 == status).unwrap_or(&TABLE[6])
}

/// The complete response for `status`, closing the connection; an unknown status gets 500's.
pub fn response(status: u16) -> &'static [u8] {
    entry(status).2
}

/// The same response with `Connection: keep-alive`, for when the connection stays usable.
pub fn response_keep_alive(status: u16) -> &'static [u8] {
    entry(status).3
}

/// The head of [`response`] alone (an answer to a HEAD request carries no body).
pub fn head_only(status: u16) -> &'static [u8] {
    let full = response(status);
    let body = 5 + entry(status).1.len();
    &full[..full.len() - body]
}

/// The reason phrase spillway uses for `status` ("Internal Server Error" if unknown), in its
/// own answers and the admin API's.
pub fn reason(status: u16) -> &'static str {
    REASONS.iter().find(|e| e.0 == status).map_or(entry(500).1, |e| e.1)
}

/// The reason phrase for `status`, or "" when the table has none (a status line may carry an
/// empty reason: RFC 9112 4), for the responses rules make with any status.
pub fn reason_if_known(status: u16) -> &'static str {
    REASONS.iter().find(|e| e.0 == status).map_or("", |e| e.1)
}

/// The statuses spillway can answer itself.
pub fn statuses() -> impl Iterator<Item = u16> {
    TABLE.iter().map(|e| e.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::codec::{parse_response, BodyFraming, Limits, Method, Parsed};

    #[test]
    fn every_response_is_well_formed_with_a_matching_content_length() {
        let mut headers = Vec::new();
        for status in statuses() {
            for (bytes, keep_alive) in [(response(status), false), (response_keep_alive(status), true)] {
                let Ok(Parsed::Complete(head)) = parse_response(bytes, &Limits::default(), Method::Get, &mut headers)
                else {
                    panic!("{status}: not a complete response");
                };
                let body = &bytes[head.head_len..];
                assert_eq!(head.status, status);
                assert_eq!(head.framing, BodyFraming::Length(body.len() as u64), "{status}");
                assert_eq!(body, format!("{status} {}\n", reason(status)).as_bytes());
                assert_eq!(head.keep_alive, keep_alive);
            }
        }
    }

    #[test]
    fn the_400_response_byte_for_byte() {
        assert_eq!(
            response(400),
            b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n\
              Connection: close\r\n\r\n400 Bad Request\n"
        );
    }

    #[test]
    fn every_status_the_contract_needs_is_there_and_unknown_ones_get_500() {
        for s in [400, 408, 413, 414, 417, 431, 500, 501, 502, 503, 504, 505] {
            assert!(response(s).starts_with(format!("HTTP/1.1 {s} ").as_bytes()));
        }
        assert_eq!(response(418), response(500));
        assert_eq!(response(0), response(500));
    }

    #[test]
    fn one_phrase_per_status_for_the_proxy_and_the_admin_api() {
        let mut codes: Vec<u16> = REASONS.iter().map(|e| e.0).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), REASONS.len(), "a status listed twice");
        for (status, phrase) in
            [(200, "OK"), (201, "Created"), (202, "Accepted"), (404, "Not Found"), (503, "Service Unavailable")]
        {
            assert_eq!(reason(status), phrase);
        }
        assert_eq!(reason(418), "Internal Server Error");
        // The canned statuses keep their canned response; the others are not canned.
        assert_eq!(response(404), response(500));
    }

    #[test]
    fn head_only_is_the_response_without_its_body() {
        for s in statuses() {
            assert!(head_only(s).ends_with(b"\r\n\r\n"));
            assert_eq!(&response(s)[..head_only(s).len()], head_only(s));
        }
    }

    #[test]
    fn continue_is_an_interim_response() {
        let mut headers = Vec::new();
        let parsed = parse_response(CONTINUE, &Limits::default(), Method::Post, &mut headers);
        assert!(matches!(parsed, Ok(Parsed::Complete(h)) if h.status == 100 && h.framing == BodyFraming::None));
    }
}
