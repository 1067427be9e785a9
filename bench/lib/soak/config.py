"""The spillway configuration the soak writes, and rewrites before each reload and SIGHUP.

Group `app`: the 4 load targets, plus an extra one that SIGHUPs add and remove. HTTP health
checks every second (so a killed or stalled target leaves the rotation within ~2 s) and a
`response_timeout` well under the client's timeout (so a stalled target costs 504s, which are
counted and explained, rather than client timeouts, which are not). Group `side`: the Python
backend of the WebSocket tunnel and the upload, reached by a rule, never killed. Rule `/rule`
answers a fixed body whose version the SIGHUPs change, so the soak can see a rule change land.
"""

from dataclasses import dataclass

RESPONSE_TIMEOUT_S = 2.0
DRAIN_TIMEOUT_S = 40.0
REQUEST_TIMEOUT_S = 10.0


@dataclass
class Layout:
    port: int
    admin: int
    targets: list  # the 4 load targets, "127.0.0.1:P"
    extra: str  # the target SIGHUPs add and remove
    side: str  # the WebSocket/upload backend
    upgrade_socket: str
    threads: int = 2


def render(layout, upgrade, with_extra, rule_version):
    """The TOML text: `upgrade` = set `upgrade_socket`; `with_extra` = list the extra target."""
    targets = list(layout.targets) + ([layout.extra] if with_extra else [])
    target_lines = ",\n".join(f'  {{ addr = "{t}" }}' for t in targets)
    socket = layout.upgrade_socket if upgrade else ""
    return f"""# Written by bench/soak; rewritten before every reload and SIGHUP.
[runtime]
threads = {layout.threads}
pin = false
drain_timeout = "{int(DRAIN_TIMEOUT_S)}s"
upgrade_socket = "{socket}"

[admin]
listen = "127.0.0.1:{layout.admin}"

[[listener]]
name = "web"
bind = "127.0.0.1:{layout.port}"
protocol = "http"
target_group = "app"
request_timeout = "{int(REQUEST_TIMEOUT_S)}s"
idle_timeout = "60s"
tunnel_timeout = "600s"

[[listener.rule]]
priority = 10
conditions = {{ path_pattern = ["/ws/*", "/upload/*"] }}
action = {{ type = "forward", target_group = "side" }}

[[listener.rule]]
priority = 20
conditions = {{ path_pattern = ["/rule"] }}
action = {{ type = "fixed_response", status = 200, content_type = "text/plain", body = "rule-v{rule_version}" }}

[[target_group]]
name = "app"
algorithm = "round_robin"
connect_timeout = "1s"
response_timeout = "{int(RESPONSE_TIMEOUT_S)}s"
deregistration_delay = "2s"
targets = [
{target_lines}
]

[target_group.health_check]
protocol = "http"
path = "/health"
interval = "1s"
timeout = "500ms"
healthy_threshold = 2
unhealthy_threshold = 2
matcher = "200"

[[target_group]]
name = "side"
response_timeout = "120s"
targets = [ {{ addr = "{layout.side}" }} ]

[target_group.health_check]
enabled = false
"""
