"""A gRPC echo backend (h2c, Python standard library) that sends GOAWAY every `period` seconds on each
connection, as a pod being rolled or an upstream with max-connection-age does: GOAWAY(NO_ERROR) with
the last stream it will process, finishes those streams, then closes the connection. Streams above
the last id are not answered (the gateway must replay them, RFC 9113 8.7).

    python3 loadtest/faults/goaway_backend.py PORT [PERIOD]
"""

import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import h2raw  # noqa: E402
from h2raw import frame  # noqa: E402

HEAD = b"\x88" + h2raw.lit("content-type", "application/grpc") + h2raw.lit("x-backend", "goaway")
TRAILERS = h2raw.lit("grpc-status", "0")


def serve(sock, period, counts=None):
    conn = h2raw.Conn(sock)
    sock.settimeout(5)
    pre = b""
    while len(pre) < 24:
        chunk = sock.recv(24 - len(pre))
        if not chunk:
            return
        pre += chunk
    conn.send(h2raw.settings([(h2raw.MAX_CONCURRENT_STREAMS, 1000)]), timeout=2)
    bodies, last_seen, goaway_at, last_ok = {}, 0, time.monotonic() + period, None
    try:
        while True:
            now = time.monotonic()
            if last_ok is None and now >= goaway_at:
                last_ok = last_seen
                conn.send(h2raw.goaway(last_ok, h2raw.NO_ERROR, b"rolling"), timeout=2)
                if counts is not None:
                    counts[1] += 1
            if last_ok is not None and not any(s <= last_ok for s in bodies):
                break  # every stream it promised is answered
            fr = conn.read_frame(0.05)
            if fr is None:
                continue
            t, f, sid, p = fr
            if t == h2raw.SETTINGS and not f & h2raw.ACK:
                conn.send(h2raw.settings(ack=True), timeout=2)
            elif t == h2raw.PING and not f & h2raw.ACK:
                conn.send(h2raw.ping(p, ack=True), timeout=2)
            elif t == h2raw.HEADERS:
                last_seen = max(last_seen, sid)
                if last_ok is not None and sid > last_ok:
                    continue  # above the GOAWAY's last stream: ignored
                bodies[sid] = bytearray()
                if f & h2raw.END_STREAM:
                    answer(conn, sid, bodies.pop(sid), counts)
            elif t == h2raw.DATA and sid in bodies:
                bodies[sid] += p
                if p:
                    conn.send(h2raw.window_update(0, len(p)) + h2raw.window_update(sid, len(p)), timeout=2)
                if f & h2raw.END_STREAM:
                    answer(conn, sid, bodies.pop(sid), counts)
            elif t == h2raw.RST_STREAM:
                bodies.pop(sid, None)
            elif t == h2raw.GOAWAY:
                break
    except (h2raw.Closed, OSError):
        pass
    finally:
        time.sleep(0.05)
        conn.close()


def answer(conn, sid, body, counts=None):
    out = frame(h2raw.HEADERS, h2raw.END_HEADERS, sid, HEAD)
    if body:
        out += h2raw.data(sid, bytes(body))
    out += frame(h2raw.HEADERS, h2raw.END_HEADERS | h2raw.END_STREAM, sid, TRAILERS)
    conn.send(out, timeout=2)
    if counts is not None:
        counts[0] += 1


def main(port, period=2.0, stop=None, counts=None):
    """Serves until `stop` is set; `counts` (a shared array of 2, optional) counts the calls
    answered and the GOAWAYs sent."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(128)
    ls.settimeout(0.2)
    while stop is None or not stop.is_set():
        try:
            s, _ = ls.accept()
        except socket.timeout:
            continue
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve, args=(s, period, counts), daemon=True).start()
    ls.close()


if __name__ == "__main__":
    main(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 2.0)
