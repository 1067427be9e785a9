//! The directives, options and server keywords that are accepted without effect, and the
//! warning each gives: the table the reader consults before refusing a word (and that
//! docs/configuration.md's compatibility table states).

/// Directives accepted with no effect: they tune HAProxy itself (logging, its own buffers and
/// processes, connection reuse it does its own way).
pub(super) const NO_EFFECT: &[&str] = &[
    "log",
    "log-send-hostname",
    "log-tag",
    "user",
    "group",
    "uid",
    "gid",
    "chroot",
    "ulimit-n",
    "spread-checks",
    "master-worker",
    "http-reuse",
    "retries",
    "redispatch",
    "description",
    "ssl-default-bind-ciphers",
    "ssl-default-bind-ciphersuites",
    "ssl-default-bind-options",
    "ssl-default-server-ciphers",
    "ssl-default-server-options",
    "ssl-server-verify",
    "maxconnrate",
    "maxsessrate",
    "server-state-file",
    "zero-warning",
    "log-format-sd",
    "error-log-format",
    "unique-id-format",
    "unique-id-header",
    "capture",
    "declare",
    "email-alert",
    "node",
    "localpeer",
    "busy-polling",
    "max-spread-checks",
    "noepoll",
    "nopoll",
    "nosplice",
    "nogetaddrinfo",
    "noreuseport",
    "set-dumpable",
    "insecure-fork-wanted",
    "insecure-setuid-wanted",
    "numa-cpu-mapping",
    "issuers-chain-path",
    "ssl-dh-param-file",
    "ssl-load-extra-files",
    "ssl-load-extra-del-ext",
    "ssl-mode-async",
    "ssl-engine",
    "ssl-propquery",
    "ssl-provider",
    "ssl-provider-path",
];

/// Directives accepted with a warning of their own: what they do in HAProxy that spillway
/// does not do.
pub(super) const WARNED: &[(&str, &str)] = &[
    ("log-format", "no effect (spillway writes no access log)"),
    ("errorfile", "not served: spillway answers its own (HAProxy's default) error pages"),
    ("errorloc", "not served: spillway answers its own (HAProxy's default) error pages"),
    ("errorloc302", "not served: spillway answers its own (HAProxy's default) error pages"),
    ("errorloc303", "not served: spillway answers its own (HAProxy's default) error pages"),
    ("compression", "no effect: responses are not compressed"),
    ("fullconn", "no effect: spillway has no dynamic maxconn (minconn); server maxconn is the cap"),
    ("strict-limits", "no effect: spillway does not raise RLIMIT_NOFILE; a failed accept is retried"),
    ("ca-base", "no effect: spillway reads no ca-file"),
    ("backlog", "no effect: listening sockets use the system's somaxconn"),
    ("rate-limit", "no effect: sessions are not rate limited"),
    ("ignore-persist", "no effect"),
    ("persist", "no effect"),
];

/// `option X` values accepted with no effect.
pub(super) const NO_EFFECT_OPTIONS: &[&str] = &[
    "splice-auto",
    "splice-request",
    "splice-response",
    "httplog",
    "tcplog",
    "dontlognull",
    "dontlog-normal",
    "log-health-checks",
    "redispatch",
    "http-keep-alive",
    "http-server-close",
    "tcp-smart-accept",
    "tcp-smart-connect",
    "abortonclose",
    "forwardfor",
    "http-buffer-request",
    "socket-stats",
    "http-ignore-probes",
    "prefer-last-server",
    "httpclose",
    "http-no-delay",
    "http-pretend-keepalive",
    "tcpka",
    "clitcpka",
    "srvtcpka",
    "nolinger",
    "log-separate-errors",
    "logasap",
    "independent-streams",
    "accept-invalid-http-request",
    "accept-invalid-http-response",
    "disable-h2-upgrade",
    "http-use-htx",
    "idle-close-on-response",
    "h1-case-adjust-bogus-client",
    "h1-case-adjust-bogus-server",
];

/// Why an `option` is accepted without effect: said in its warning.
pub(super) fn option_note(o: &str, w: &[String]) -> String {
    let why = match o {
        "forwardfor" if w.len() > 2 => {
            " (spillway always appends X-Forwarded-For; except/header/if-none are not honoured)"
        }
        "forwardfor" => " (spillway always adds X-Forwarded-For)",
        "tcpka" | "clitcpka" | "srvtcpka" => " (SO_KEEPALIVE is not set; idle sessions end at timeout client/server)",
        "httpclose" => " (spillway keeps client and backend connections alive unless a side sends Connection: close)",
        "http-server-close" | "http-keep-alive" => {
            " (spillway keeps client connections alive and pools backend connections)"
        }
        "prefer-last-server" => " (each request is balanced on its own)",
        "socket-stats" => " (statistics are per listener and group)",
        "http-ignore-probes" => " (a connection closed without a request is not logged in any case)",
        _ => "",
    };
    format!("option {o}: no effect{why}")
}
