#!/usr/bin/env python3
"""Open N keep-alive HTTP connections to 127.0.0.1:PORT, send one GET on each and
read its whole response, then hold them all idle for HOLD seconds, close them
and exit. Used by `bench/compare.sh idle` to measure a proxy's memory per idle
client connection.

    idle_conns.py --port P --conns N [--path /small.txt] [--hold 5] [--ready FILE]
                  [--concurrency 200] [--deadline 90]

When every connection is idle (or the deadline is near) it writes one line to
FILE (and stdout): "ready ok=N failed=F", then holds. At the end it prints
"done ok=N failed=F closed_by_peer=C". Exit status 0 only if all N succeeded
and none was closed by the proxy while idle. Bounded: it exits by itself after
at most --deadline seconds (connect phase) + --hold.
"""
import argparse
import errno
import selectors
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--conns", type=int, required=True)
    ap.add_argument("--path", default="/small.txt")
    ap.add_argument("--hold", type=float, default=5.0)
    ap.add_argument("--ready", default="")
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--deadline", type=float, default=90.0)
    a = ap.parse_args()

    req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: idle_conns\r\n\r\n" % (a.path, a.port)).encode()
    sel = selectors.DefaultSelector()
    state = {}  # sock -> [phase, buffer]
    idle = []
    failed = 0
    started = 0
    in_flight = 0
    t_end = time.monotonic() + a.deadline
    errors = {}
    closed = 0

    def fail(s, why):
        nonlocal failed, in_flight
        failed += 1
        in_flight -= 1
        errors[why] = errors.get(why, 0) + 1
        try:
            sel.unregister(s)
        except Exception:
            pass
        s.close()
        state.pop(s, None)

    while (len(idle) + failed) < a.conns and time.monotonic() < t_end:
        while started < a.conns and in_flight < a.concurrency:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            rc = s.connect_ex(("127.0.0.1", a.port))
            started += 1
            in_flight += 1
            if rc not in (0, errno.EINPROGRESS):
                state[s] = None
                sel.register(s, selectors.EVENT_WRITE)
                fail(s, "connect:%s" % errno.errorcode.get(rc, rc))
                continue
            state[s] = ["connect", b""]
            sel.register(s, selectors.EVENT_WRITE)
        for key, ev in sel.select(timeout=0.5):
            s = key.fileobj
            st = state.get(s)
            if st is None:
                continue
            if st[0] == "connect":
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    fail(s, "connect:%s" % errno.errorcode.get(err, err))
                    continue
                try:
                    s.send(req)  # small: fits the send buffer in one go
                except OSError as e:
                    fail(s, "send:%s" % e.__class__.__name__)
                    continue
                st[0] = "read"
                sel.modify(s, selectors.EVENT_READ)
            elif st[0] == "read":
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError as e:
                    fail(s, "recv:%s" % e.__class__.__name__)
                    continue
                if not data:
                    fail(s, "eof-before-response")
                    continue
                st[1] += data
                head_end = st[1].find(b"\r\n\r\n")
                if head_end < 0:
                    continue
                head = st[1][:head_end].decode("latin-1")
                lines = head.split("\r\n")
                if not lines[0].startswith("HTTP/1.1 200"):
                    fail(s, "status:%s" % lines[0][:20])
                    continue
                clen = 0
                for ln in lines[1:]:
                    k, _, v = ln.partition(":")
                    if k.strip().lower() == "content-length":
                        clen = int(v.strip())
                    if k.strip().lower() == "connection" and "close" in v.lower():
                        fail(s, "connection-close")
                        break
                if s not in state:
                    continue
                if len(st[1]) - head_end - 4 < clen:
                    continue
                # complete: idle from now on; watch only for the proxy closing it
                st[0] = "idle"
                st[1] = b""
                in_flight -= 1
                idle.append(s)
            elif st[0] == "idle":
                closed += 1  # the proxy closed (or wrote to) an idle connection
                st[0] = "closed"
                sel.unregister(s)

    ok = len(idle)
    line = "ready ok=%d failed=%d errors=%s" % (ok, failed + (a.conns - ok - failed), errors or "{}")
    print(line, flush=True)
    if a.ready:
        with open(a.ready, "w") as f:
            f.write(line + "\n")

    # hold: any readable idle socket means the proxy closed it (or sent something)
    t_hold = time.monotonic() + a.hold
    while time.monotonic() < t_hold:
        for key, ev in sel.select(timeout=max(0.0, min(0.5, t_hold - time.monotonic()))):
            s = key.fileobj
            if state.get(s, [None])[0] == "idle":
                closed += 1
                state[s][0] = "closed"
                sel.unregister(s)
    for s in list(state):
        try:
            s.close()
        except Exception:
            pass
    print("done ok=%d failed=%d closed_by_peer=%d" % (ok, a.conns - ok, closed), flush=True)
    sys.exit(0 if ok == a.conns and closed == 0 else 1)


if __name__ == "__main__":
    main()
