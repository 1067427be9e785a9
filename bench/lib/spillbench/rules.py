"""Mode rules of bench/compare.sh: the configurations it runs and the request it sends.

The mode measures the cost of listener rules on an HTTP keep-alive listener (issue 17,
"Performance"), four targets alternated in every round:

    spillway              (a) one HTTP listener, no rules: the listener's target_group takes
                          every request (the configuration of mode l7)
    spillway-rules        (b) N `[[listener.rule]]`, rule i a host_header `hI.example` +
                          path_pattern `/pI/*` condition forwarding to its own group gI
    haproxy-rules         (c) HAProxy with the same N ACL pairs (`hdr(host) -i hI.example`,
                          `path_beg /pI/`) and `use_backend bI if hostI pathI` lines
    spillway-haproxy-cfg  (d) spillway started on that very haproxy.cfg (the drop-in case)

The request (`request(n)`) matches only the last rule (Host hN.example, path /pN/x), so every
rule before it is evaluated and fails. Every rule's group or backend points at the same backend
nginx, so only the rules' cost differs. The default (the listener's target_group, HAProxy's
default_backend) points at another server of the backend nginx that answers 421: a request the
rules fail to route shows as a non-2xx answer in the client's counts.
"""

# How many rules the mode compares (the "20 host+path rules").
DEFAULT_RULES = 20


def host(i):
    """The Host of rule I (1-based)."""
    return "h%d.example" % i


def path_prefix(i):
    """The path prefix of rule I: path_pattern `/pI/*`, HAProxy's `path_beg /pI/`."""
    return "/p%d/" % i


def request(n):
    """(Host header, path) of the measured request with N rules: it matches rule N only."""
    return host(n), path_prefix(n) + "x"


def _check(n):
    if not 1 <= n <= 100:
        # 100: spillway's rules per listener
        raise ValueError("the number of rules must be 1 to 100, not %d" % n)


def toml_config(n, port, admin_port, backend, miss, runtime_extra="", group_extra=""):
    """Target (b): spillway's TOML with N rules on one HTTP listener on 127.0.0.1:PORT (admin API
    on 127.0.0.1:ADMIN_PORT). Rule i (priority i) forwards Host hI.example + path /pI/* to group
    gI; every gI has the one target BACKEND ("127.0.0.1:PORT"); the listener's target_group,
    "miss", has MISS. RUNTIME_EXTRA and GROUP_EXTRA are lines added to [runtime] and to every
    [[target_group]] (compare.sh's SPILLWAY_RUNTIME_EXTRA, SPILLWAY_GROUP_EXTRA)."""
    _check(n)
    out = ["# bench/compare.sh rules, target spillway-rules: %d host+path rules, the request matches the last" % n,
           "[runtime]", "threads = 1", "pin = false"]
    if runtime_extra:
        out.append(runtime_extra)
    out += ["", "[admin]", 'listen = "127.0.0.1:%d"' % admin_port, "",
            "[[listener]]", 'name = "rules"', 'bind = "127.0.0.1:%d"' % port, 'protocol = "http"',
            'target_group = "miss"']
    for i in range(1, n + 1):
        out += ["", "[[listener.rule]]", "priority = %d" % i,
                'conditions = { host_header = ["%s"], path_pattern = ["%s*"] }' % (host(i), path_prefix(i)),
                'action = { type = "forward", target_group = "g%d" }' % i]
    groups = [("g%d" % i, backend) for i in range(1, n + 1)] + [("miss", miss)]
    for name, addr in groups:
        out += ["", "[[target_group]]", 'name = "%s"' % name, 'targets = [ { addr = "%s" } ]' % addr]
        if group_extra:
            out.append(group_extra)
    return "\n".join(out) + "\n"


def haproxy_config(n, port, stats_port, backend, miss, proxy_cpu=0, maxconn=12000):
    """Targets (c) and (d): HAProxy's configuration with the same N rules, as mode l7's HAProxy
    (one thread on PROXY_CPU, mode http, keep-alive, http-reuse always) plus: `acl hostI
    hdr(host) -i hI.example`, `acl pathI path_beg /pI/`, `use_backend bI if hostI pathI`, each
    backend bI with the one server BACKEND, default_backend miss (MISS). A `listen stats` on
    127.0.0.1:STATS_PORT gives both HAProxy and spillway (its admin API, which would otherwise
    take 127.0.0.1:9900) a port of their own."""
    _check(n)
    out = ["# bench/compare.sh rules, targets haproxy-rules and spillway-haproxy-cfg:",
           "# %d ACL pairs + use_backend, the request matches the last" % n,
           "global", "    nbthread 1", "    cpu-map 1/1 %d" % proxy_cpu, "    maxconn %d" % maxconn, "",
           "defaults", "    mode http", "    option http-keep-alive", "    http-reuse always",
           "    timeout connect 2s", "    timeout client 60s", "    timeout server 60s",
           "    timeout http-request 10s", "    timeout http-keep-alive 60s", "",
           "frontend rules", "    bind 127.0.0.1:%d" % port]
    for i in range(1, n + 1):
        out += ["    acl host%d hdr(host) -i %s" % (i, host(i)), "    acl path%d path_beg %s" % (i, path_prefix(i))]
    for i in range(1, n + 1):
        out.append("    use_backend b%d if host%d path%d" % (i, i, i))
    out.append("    default_backend miss")
    for i in range(1, n + 1):
        out += ["", "backend b%d" % i, "    server nginx %s" % backend]
    out += ["", "backend miss", "    server miss %s" % miss,
            "", "listen stats", "    bind 127.0.0.1:%d" % stats_port, "    stats enable", "    stats uri /stats"]
    return "\n".join(out) + "\n"
