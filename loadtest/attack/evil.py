"""Malicious upstreams for the attack suite: h2c servers that misbehave towards the gateway, one mode
per port, each connection in its own thread, all in one child process. What the gateway did to them
(GOAWAY code, RST_STREAM codes, closing) goes back to the runner through a queue.

Modes:
  flood        acknowledges the gateway's SETTINGS, then sends PING and SETTINGS frames without end
               and never reads (the gateway's ACKs pile up)
  window-lie   answers each request, then sends WINDOW_UPDATE increments that overflow 2^31-1
  big-headers  answers each request with a 1 MiB header block (HEADERS + CONTINUATION)
  continuation answers each request with HEADERS without END_HEADERS and zero-length CONTINUATION
               frames without end
  data-flood   answers each request with DATA far beyond the gateway's window
  no-read      advertises a 2^31-1 window, acknowledges SETTINGS, then never reads a byte
"""

import multiprocessing as mp
import socket
import struct
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import h2raw  # noqa: E402
from h2raw import frame, settings  # noqa: E402

MODES = ["flood", "window-lie", "big-headers", "continuation", "data-flood", "no-read"]
LIFETIME = 60.0  # no connection is served longer than this


def _report(q, mode, t0, what):
    q.put((mode, round(time.monotonic() - t0, 3), what))


def _drain_reactions(conn, q, mode, t0):
    """Reads what the gateway sent until it closes; reports GOAWAY and RST_STREAM codes."""
    rst = {}
    while True:
        try:
            fr = conn.read_frame(1.0)
        except h2raw.Closed:
            break
        if fr is None:
            if time.monotonic() - t0 > LIFETIME:
                break
            continue
        t, f, sid, p = fr
        if t == h2raw.GOAWAY:
            _report(q, mode, t0, f"GOAWAY {h2raw.err_name(struct.unpack('>I', p[4:8])[0])}")
        elif t == h2raw.RST_STREAM:
            code = h2raw.err_name(struct.unpack(">I", p[:4])[0])
            rst[code] = rst.get(code, 0) + 1
    for code, n in rst.items():
        _report(q, mode, t0, f"RST_STREAM {code} x{n}")
    _report(q, mode, t0, f"closed ({conn.closed})")


def _serve(sock, mode, q):
    t0 = time.monotonic()
    conn = h2raw.Conn(sock)
    try:
        if mode in ("flood", "no-read"):
            hello = settings([(h2raw.INITIAL_WINDOW_SIZE, 0x7FFFFFFF), (h2raw.MAX_CONCURRENT_STREAMS, 1000)]) + \
                settings(ack=True) + h2raw.window_update(0, 0x7FFFFFFF - 65535)
            conn.send(hello, timeout=2)
            if mode == "no-read":
                # Never reads; holds the socket until the gateway closes it or the lifetime ends.
                while time.monotonic() - t0 < LIFETIME:
                    try:
                        sock.settimeout(1.0)
                        if sock.recv(1, socket.MSG_PEEK) == b"":
                            break
                    except socket.timeout:
                        continue
                    except OSError:
                        break
                    time.sleep(0.5)  # data waits unread; the peek only notices a close
                _report(q, mode, t0, "closed" if time.monotonic() - t0 < LIFETIME else "held to the end")
                return
            batch = (h2raw.ping(b"evilping") + settings([(h2raw.MAX_CONCURRENT_STREAMS, 1000)])) * 200
            sent = 0
            while time.monotonic() - t0 < 20:
                if not conn.send(batch, timeout=2.0):
                    break
                sent += 400
            _report(q, mode, t0, f"flood stopped after {sent} frames ({conn.closed or 'gateway stopped reading'})")
            conn.closed = None
            _drain_reactions(conn, q, mode, t0)
            return
        # Modes that read: the preface, then frames.
        pre = b""
        sock.settimeout(5)
        while len(pre) < 24:
            chunk = sock.recv(24 - len(pre))
            if not chunk:
                return
            pre += chunk
        conn.send(settings([(h2raw.MAX_CONCURRENT_STREAMS, 1000)]), timeout=2)
        hblock = None
        rst = {}
        while time.monotonic() - t0 < LIFETIME:
            try:
                fr = conn.read_frame(1.0)
            except h2raw.Closed:
                break
            if fr is None:
                continue
            t, f, sid, p = fr
            if t == h2raw.SETTINGS and not f & h2raw.ACK:
                conn.send(settings(ack=True), timeout=2)
            elif t == h2raw.PING and not f & h2raw.ACK:
                conn.send(h2raw.ping(p, ack=True), timeout=2)
            elif t == h2raw.GOAWAY:
                _report(q, mode, t0, f"GOAWAY {h2raw.err_name(struct.unpack('>I', p[4:8])[0])}")
            elif t == h2raw.RST_STREAM:
                code = h2raw.err_name(struct.unpack(">I", p[:4])[0])
                rst[code] = rst.get(code, 0) + 1
            elif t == h2raw.HEADERS:
                hblock = sid
                if f & h2raw.END_HEADERS:
                    _answer(conn, mode, sid)
            elif t == h2raw.CONTINUATION and f & h2raw.END_HEADERS and hblock:
                _answer(conn, mode, hblock)
        for code, n in rst.items():
            _report(q, mode, t0, f"RST_STREAM {code} x{n}")
        _report(q, mode, t0, f"closed ({conn.closed})")
    except OSError as e:
        _report(q, mode, t0, f"closed ({e.__class__.__name__})")
    finally:
        conn.close()


STATUS_200 = b"\x88"


def _answer(conn, mode, sid):
    if mode == "window-lie":
        conn.send(frame(h2raw.HEADERS, h2raw.END_HEADERS, sid, STATUS_200)
                  + h2raw.window_update(0, 0x7FFFFFFF) + h2raw.window_update(0, 0x7FFFFFFF)
                  + h2raw.window_update(sid, 0x7FFFFFFF) + h2raw.window_update(sid, 0x7FFFFFFF), timeout=2)
    elif mode == "big-headers":
        block = STATUS_200 + b"".join(h2raw.lit(f"x-big-{i}", "v" * 1000) for i in range(1024))
        out = frame(h2raw.HEADERS, 0, sid, block[:16384])
        rest = block[16384:]
        while rest:
            chunk, rest = rest[:16384], rest[16384:]
            out += frame(h2raw.CONTINUATION, 0 if rest else h2raw.END_HEADERS, sid, chunk)
        conn.send(out + h2raw.data(sid, b"x", end_stream=True), timeout=5)
    elif mode == "continuation":
        conn.send(frame(h2raw.HEADERS, 0, sid, STATUS_200), timeout=2)
        t0 = time.monotonic()
        batch = frame(h2raw.CONTINUATION, 0, sid) * 1000
        while time.monotonic() - t0 < 10 and conn.send(batch, timeout=2):
            pass
    elif mode == "data-flood":
        conn.send(frame(h2raw.HEADERS, h2raw.END_HEADERS, sid, STATUS_200), timeout=2)
        chunk = h2raw.data(sid, b"z" * 16384) * 16
        for _ in range(256):  # 64 MiB, far beyond any window the gateway gives
            if not conn.send(chunk, timeout=2):
                break


def _listen(port, mode, q, stop):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(128)
    ls.settimeout(0.2)
    while not stop.is_set():
        try:
            s, _ = ls.accept()
        except socket.timeout:
            continue
        q.put((mode, 0.0, "connection"))
        threading.Thread(target=_serve, args=(s, mode, q), daemon=True).start()
    ls.close()


def _main(ports, q, stop):
    for mode, port in ports.items():
        threading.Thread(target=_listen, args=(port, mode, q, stop), daemon=True).start()
    stop.wait()


class Evil:
    """The malicious upstreams as a child process: `Evil({mode: port})`, `.events(mode)`, `.stop()`."""

    def __init__(self, ports):
        ctx = mp.get_context("fork")
        self.q, self.stop_ev = ctx.Queue(), ctx.Event()
        self.p = ctx.Process(target=_main, args=(ports, self.q, self.stop_ev), daemon=True)
        self.p.start()
        self.seen = []

    def collect(self):
        while True:
            try:
                self.seen.append(self.q.get_nowait())
            except Exception:
                return self.seen

    def clear(self):
        self.collect()
        self.seen = []

    def stop(self):
        self.stop_ev.set()
        self.p.join(2)
        if self.p.is_alive():
            self.p.kill()
