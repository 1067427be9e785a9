"""The soak's own clients and side backend, on one asyncio loop in one thread.

loadgen carries the measured load; these are the misbehaving and long-lived clients around it,
each recording every outcome with its time (seconds since the soak's start) so the account can
place it inside or outside a reload window:

- slowloris: N connections sending a header line every few seconds, never finishing the head
  (spillway should answer 408 at `request_timeout`); each reconnects when closed.
- malformed: 1% of the load rate: ambiguous framing, bad bytes, obs-fold, oversize line and
  headers; each must get a 4xx answer, not a reset.
- closers: 10% of the load rate: `Connection: close` requests read once (4 KiB of a 32 KiB
  response) and closed: the defect-2 pattern.
- tunnel: one WebSocket upgrade through the proxy, echoing a message every 200 ms, reopened when
  it ends; each end is recorded (an end is expected only when the process carrying the tunnel
  finished draining).
- upload: 50 MiB POSTs, paced to last ~25 s each (so they cross reloads), one after another.
- side backend: answers the tunnel (101, then echo) and the uploads (reads the body, says how
  many bytes arrived).
"""

import asyncio
import random
import threading
import time

SLOW_HEADER_EVERY_S = 3.0
SLOW_RAMP_S = 10.0
UPLOAD_BYTES = 50 * 1024 * 1024
UPLOAD_SECONDS = 25.0
TUNNEL_EVERY_S = 0.2

MALFORMED = [
    ("cl+te", b"POST / HTTP/1.1\r\nHost: s\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("two-cl", b"POST / HTTP/1.1\r\nHost: s\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: s\r\nX-A: a\r\n b\r\n\r\n"),
    ("bad-name", b"GET / HTTP/1.1\r\nHost: s\r\nBad Name: x\r\n\r\n"),
    ("bad-chunk", b"POST / HTTP/1.1\r\nHost: s\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"),
    ("long-line", b"GET /" + b"a" * (17 * 1024) + b" HTTP/1.1\r\nHost: s\r\n\r\n"),
    ("big-headers", b"GET / HTTP/1.1\r\nHost: s\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 1000) for i in range(72)) + b"\r\n"),
]


class Record:
    """Outcomes by client kind: [(t, outcome, detail)]; `t0` is the soak's time origin."""

    def __init__(self, t0):
        self.t0 = t0
        self.by_kind = {k: [] for k in ("slowloris", "malformed", "closers", "tunnel", "upload")}

    def now(self):
        return time.monotonic() - self.t0

    def add(self, kind, outcome, detail=None, t=None):
        self.by_kind[kind].append((round(self.now() if t is None else t, 3), outcome, detail))


def status_of(head):
    """The status code of a response head's first line, or None."""
    line = head.split(b"\r\n", 1)[0]
    parts = line.split(b" ", 2)
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/1.") and parts[1].isdigit():
        return int(parts[1])
    return None


def failure(e):
    """What a client saw, named for the summary: the status of a partial answer, a close, a
    timeout, a reset, or another socket error. (asyncio's TimeoutError is an OSError on
    Python 3.11+, and resets are OSErrors too: the order of the tests matters.)"""
    if isinstance(e, asyncio.IncompleteReadError):
        return status_of(e.partial) if e.partial else "closed"
    if isinstance(e, asyncio.TimeoutError):
        return "timeout"
    if isinstance(e, (ConnectionResetError, BrokenPipeError)):
        return "reset"
    return f"error: {e}"


FAILURES = (asyncio.IncompleteReadError, asyncio.TimeoutError, OSError)


async def _connect(addr):
    host, port = addr.rsplit(":", 1)
    return await asyncio.open_connection(host, int(port))


def _closed(w):
    try:
        w.close()
    except Exception:
        pass


async def _read_head(r, limit):
    return await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), limit)


class Clients:
    def __init__(self, record, proxy, rate, slowloris, stop):
        self.rec, self.proxy, self.rate, self.slowloris, self.stop = record, proxy, rate, slowloris, stop

    async def run(self):
        tasks = [asyncio.create_task(self._slow(i)) for i in range(self.slowloris)]
        tasks += [
            asyncio.create_task(self._paced(self.rate / 100.0, self._malformed)),
            asyncio.create_task(self._paced(self.rate / 10.0, self._closer)),
            asyncio.create_task(self._tunnel()),
            asyncio.create_task(self._upload()),
        ]
        while not self.stop.is_set():
            await asyncio.sleep(0.2)
        # Each client notices `stop` within a few seconds and records how it ended; the rest
        # (a request still in flight) are cancelled unrecorded.
        _, pending = await asyncio.wait(tasks, timeout=SLOW_HEADER_EVERY_S + 2)
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _paced(self, rate, one):
        """Starts `one()` `rate` times a second on a fixed plan (open loop), at most 500 at once."""
        if rate <= 0:
            return
        gate, start, k, running = asyncio.Semaphore(500), time.monotonic(), 0, set()

        async def guarded():
            async with gate:
                await one()

        while not self.stop.is_set():
            k += 1
            delay = start + k / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            t = asyncio.create_task(guarded())
            running.add(t)
            t.add_done_callback(running.discard)
        if running:
            await asyncio.wait(list(running), timeout=6.0)

    async def _slow(self, i):
        # Spread over request_timeout: started together, they would all time out together
        # and reconnect in waves, and the proxy's memory would step with each wave.
        await asyncio.sleep(SLOW_RAMP_S * i / max(1, self.slowloris))
        while not self.stop.is_set():
            try:
                r, w = await _connect(self.proxy)
            except OSError as e:
                self.rec.add("slowloris", "refused", str(e))
                await asyncio.sleep(1.0)
                continue
            outcome = "closed"
            try:
                w.write(b"GET /slow HTTP/1.1\r\nHost: soak\r\n")
                while not self.stop.is_set():
                    try:
                        data = await asyncio.wait_for(r.read(4096), SLOW_HEADER_EVERY_S + random.random())
                    except asyncio.TimeoutError:
                        w.write(b"X-Slow: 1\r\n")
                        continue
                    outcome = status_of(data) if data else "closed"
                    break
                else:
                    outcome = None  # the soak ended it
            except OSError as e:
                outcome = failure(e)
            _closed(w)
            if outcome is not None:
                self.rec.add("slowloris", outcome)
            await asyncio.sleep(0.2 + random.random() * 0.3)

    async def _malformed(self):
        name, request = random.choice(MALFORMED)
        try:
            r, w = await _connect(self.proxy)
        except OSError as e:
            self.rec.add("malformed", "refused", f"{name}: {e}")
            return
        outcome = None
        try:
            w.write(request)
            try:
                await asyncio.wait_for(w.drain(), 5.0)
            except (ConnectionResetError, BrokenPipeError, asyncio.TimeoutError):
                pass  # the answer may already be waiting: read it
            head = await _read_head(r, 5.0)
            outcome = status_of(head)
        except FAILURES as e:
            outcome = failure(e)
        _closed(w)
        self.rec.add("malformed", outcome, name)

    async def _closer(self):
        try:
            r, w = await _connect(self.proxy)
        except OSError as e:
            self.rec.add("closers", "refused", str(e))
            return
        outcome = None
        try:
            w.write(b"GET /close HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n")
            data = await asyncio.wait_for(r.read(4096), 5.0)
            outcome = status_of(data) if data else "closed"
        except FAILURES as e:
            outcome = failure(e)
        _closed(w)
        self.rec.add("closers", outcome)

    async def _tunnel(self):
        n = 0
        while not self.stop.is_set():
            n += 1
            opened, echoed, reason = self.rec.now(), 0, None
            try:
                r, w = await _connect(self.proxy)
                w.write(
                    b"GET /ws/%d HTTP/1.1\r\nHost: soak\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: c29hay1zb2FrLXNvYWshIQ==\r\nSec-WebSocket-Version: 13\r\n\r\n" % n
                )
                status = status_of(await _read_head(r, 5.0))
                if status != 101:
                    reason = f"status {status}"
                while reason is None and not self.stop.is_set():
                    msg = b"soak-%08d-%08d\n" % (n, echoed)
                    w.write(msg)
                    got = await asyncio.wait_for(r.readexactly(len(msg)), 5.0)
                    if got != msg:
                        reason = "mismatch"
                        break
                    echoed += 1
                    await asyncio.sleep(TUNNEL_EVERY_S)
            except FAILURES as e:
                reason = "closed" if isinstance(e, asyncio.IncompleteReadError) else failure(e)
            try:
                _closed(w)
            except UnboundLocalError:
                pass
            self.rec.add("tunnel", reason or "ended by the soak", {"opened": round(opened, 3), "echoed": echoed})
            await asyncio.sleep(0.2)

    async def _upload(self):
        n, chunk = 0, b"u" * (256 * 1024)
        per_second = UPLOAD_BYTES / UPLOAD_SECONDS
        while not self.stop.is_set():
            n += 1
            started, sent, outcome = self.rec.now(), 0, None
            try:
                r, w = await _connect(self.proxy)
                w.write(b"POST /upload/%d HTTP/1.1\r\nHost: soak\r\nContent-Length: %d\r\n\r\n" % (n, UPLOAD_BYTES))
                t_start = time.monotonic()
                while sent < UPLOAD_BYTES:
                    if self.stop.is_set():
                        outcome = None
                        break
                    part = chunk[: min(len(chunk), UPLOAD_BYTES - sent)]
                    w.write(part)
                    await asyncio.wait_for(w.drain(), 30.0)
                    sent += len(part)
                    ahead = t_start + sent / per_second - time.monotonic()
                    if ahead > 0:
                        await asyncio.sleep(ahead)
                else:
                    head = await _read_head(r, 30.0)
                    status = status_of(head)
                    length = 0
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":")[1])
                    body = await asyncio.wait_for(r.readexactly(length), 10.0)
                    ok = status == 200 and body.strip() == b"got %d" % UPLOAD_BYTES
                    outcome = "ok" if ok else f"status {status}: {body[:60]!r}"
            except FAILURES as e:
                outcome = "closed" if isinstance(e, asyncio.IncompleteReadError) else failure(e)
            try:
                _closed(w)
            except UnboundLocalError:
                pass
            if outcome is not None:
                self.rec.add("upload", outcome, {"started": round(started, 3), "sent": sent})
            await asyncio.sleep(0.5)


async def _side_conn(r, w):
    """The side backend: WebSocket echo after a 101, upload sink, or a plain 200."""
    try:
        while True:
            head = await r.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1]
            if path.startswith(b"/ws/"):
                w.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
                while True:
                    data = await r.read(65536)
                    if not data:
                        return
                    w.write(data)
                    await w.drain()
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            got = 0
            while got < length:
                data = await r.read(min(1 << 20, length - got))
                if not data:
                    return
                got += len(data)
            body = b"got %d\n" % got
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            await w.drain()
    except (asyncio.IncompleteReadError, asyncio.CancelledError, ConnectionError, OSError, IndexError):
        pass
    finally:
        _closed(w)


class SidePort:
    """The side backend's port, bound as 0 and read back; `up` is set once it listens."""

    def __init__(self):
        self.port = None
        self.up = threading.Event()


def run_loop(record, layout, side, rate, slowloris, stop, go):
    """The thread body: the side backend (its port into `side`, then `side.up` is set), and
    from `go` on the clients against the proxy's port in `layout`, until `stop`."""

    async def main():
        server = await asyncio.start_server(_side_conn, "127.0.0.1", 0)
        side.port = server.sockets[0].getsockname()[1]
        side.up.set()
        while not go.is_set() and not stop.is_set():
            await asyncio.sleep(0.05)
        await Clients(record, f"127.0.0.1:{layout.port}", rate, slowloris, stop).run()
        server.close()

    asyncio.run(main())
