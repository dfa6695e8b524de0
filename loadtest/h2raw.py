"""A small raw HTTP/2 toolkit for the attack and fault suites (Python standard library only).

Frames are built byte by byte, so a test can send exactly what it wants (malformed, oversized,
floods); the client side decodes what comes back far enough to report reactions (GOAWAY codes,
RST_STREAM codes, :status, grpc-status). The HPACK decoder is complete (static and dynamic table,
Huffman), the encoder only writes literals (and, for the HPACK bomb, indexed references).
"""

import select
import socket
import ssl
import struct
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
FRAME_NAMES = ["DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE", "PING", "GOAWAY",
               "WINDOW_UPDATE", "CONTINUATION"]
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
# SETTINGS identifiers
HEADER_TABLE_SIZE, ENABLE_PUSH, MAX_CONCURRENT_STREAMS, INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE, MAX_HEADER_LIST_SIZE = range(1, 7)
ERRORS = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",
          "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR",
          "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"]
CANCEL, ENHANCE_YOUR_CALM, NO_ERROR, PROTOCOL_ERROR, FLOW_CONTROL_ERROR = 8, 11, 0, 1, 3


def err_name(code):
    return ERRORS[code] if 0 <= code < len(ERRORS) else f"0x{code:x}"


# ---------------------------------------------------------------------------------------------
# Frames


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid & 0x7FFFFFFF) + payload


def settings(pairs=(), ack=False):
    return frame(SETTINGS, ACK if ack else 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


def window_update(sid, inc):
    return frame(WINDOW_UPDATE, 0, sid, struct.pack(">I", inc & 0x7FFFFFFF))


def rst_stream(sid, code):
    return frame(RST_STREAM, 0, sid, struct.pack(">I", code))


def ping(data=b"\0" * 8, ack=False):
    return frame(PING, ACK if ack else 0, 0, data)


def goaway(last, code, debug=b""):
    return frame(GOAWAY, 0, 0, struct.pack(">II", last, code) + debug)


def priority(sid, dep=0, weight=16):
    return frame(PRIORITY, 0, sid, struct.pack(">IB", dep, weight))


def headers(sid, block, end_stream=False, end_headers=True):
    return frame(HEADERS, (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0), sid, block)


def data(sid, payload, end_stream=False):
    return frame(DATA, END_STREAM if end_stream else 0, sid, payload)


# ---------------------------------------------------------------------------------------------
# HPACK (RFC 7541)


def hpack_int(value, prefix, first=0):
    limit = (1 << prefix) - 1
    if value < limit:
        return bytes([first | value])
    out = bytearray([first | limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hstr(b):
    if isinstance(b, str):
        b = b.encode()
    return hpack_int(len(b), 7) + b


def lit(name, value, index=False):
    """A literal field with a literal name, without (or with) indexing, no Huffman."""
    return (b"\x40" if index else b"\x00") + hstr(name) + hstr(value)


STATIC = [None, (":authority", ""), (":method", "GET"), (":method", "POST"), (":path", "/"),
          (":path", "/index.html"), (":scheme", "http"), (":scheme", "https"), (":status", "200"),
          (":status", "204"), (":status", "206"), (":status", "304"), (":status", "400"),
          (":status", "404"), (":status", "500")] + [(n, "") for n in (
    "accept-charset accept-encoding accept-language accept-ranges accept access-control-allow-origin age "
    "allow authorization cache-control content-disposition content-encoding content-language "
    "content-length content-location content-range content-type cookie date etag expect expires from "
    "host if-match if-modified-since if-none-match if-range if-unmodified-since last-modified link "
    "location max-forwards proxy-authenticate proxy-authorization range referer refresh retry-after "
    "server set-cookie strict-transport-security transfer-encoding user-agent via vary "
    "www-authenticate").split()]
STATIC[16] = ("accept-encoding", "gzip, deflate")


def request_block(path, method="GET", authority="localhost", scheme="http", extra=()):
    """A request head: :method, :scheme and :path by static name index, no Huffman, no indexing."""
    out = bytearray()
    out += b"\x82" if method == "GET" else b"\x83" if method == "POST" else b"\x02" + hstr(method)
    out += b"\x87" if scheme == "https" else b"\x86"
    out += b"\x04" + hstr(path)
    out += b"\x01" + hstr(authority)
    for n, v in extra:
        out += lit(n, v)
    return bytes(out)


# Huffman code lengths of the 257 symbols (RFC 7541 Appendix B; the code is canonical): one
# character each, "0"-"f" for 5-20 bits, "g".. for 21 bits and up.
_HLENS = ("8innnnnnnjpnnpnnnnnnnnpnnnnnnnnn1557813655363111000111111123a1758122222222222222222222223238e891a"
          "01010111022111012100122222a698nfhffhhhihiiiiijijjhijiiiighihiijhgfhhiigihhjghiigghgihiifhhhihhill"
          "fehihklllmmljkeglmmlmjggllnmmmfjfghggihhkkjjlilmllmmmmmnmmmmmlp")


def _huffman_table():
    lens = [int(c, 16) + 5 if c in "0123456789abcdef" else ord(c) - ord("g") + 21 for c in _HLENS]
    order = sorted(range(257), key=lambda s: (lens[s], s))
    table, code, prev = {}, 0, lens[order[0]]
    for i, s in enumerate(order):
        if i:
            code = (code + 1) << (lens[s] - prev)
        prev = lens[s]
        table[(lens[s], code)] = s
    return table


_HUFF = _huffman_table()


def huffman_decode(b):
    out, code, n = bytearray(), 0, 0
    for byte in b:
        for i in range(7, -1, -1):
            code = (code << 1) | ((byte >> i) & 1)
            n += 1
            s = _HUFF.get((n, code))
            if s is not None:
                if s == 256:
                    raise ValueError("EOS in Huffman string")
                out.append(s)
                code, n = 0, 0
    if n > 7 or code != (1 << n) - 1:
        raise ValueError("bad Huffman padding")
    return bytes(out)


class Decoder:
    def __init__(self, max_size=4096):
        self.table, self.size, self.max = [], 0, max_size

    def _int(self, b, i, prefix):
        v = b[i] & ((1 << prefix) - 1)
        i += 1
        if v < (1 << prefix) - 1:
            return v, i
        m = 0
        while True:
            c = b[i]
            i += 1
            v += (c & 0x7F) << m
            m += 7
            if not c & 0x80:
                return v, i

    def _str(self, b, i):
        huff = b[i] & 0x80
        n, i = self._int(b, i, 7)
        s = bytes(b[i:i + n])
        return (huffman_decode(s) if huff else s).decode("latin-1"), i + n

    def _get(self, idx):
        if 0 < idx < len(STATIC):
            return STATIC[idx]
        j = idx - len(STATIC)
        if 0 <= j < len(self.table):
            return self.table[j]
        raise ValueError(f"bad HPACK index {idx}")

    def _add(self, n, v):
        self.table.insert(0, (n, v))
        self.size += len(n) + len(v) + 32
        self._evict()

    def _evict(self):
        while self.size > self.max and self.table:
            n, v = self.table.pop()
            self.size -= len(n) + len(v) + 32

    def decode(self, b):
        out, i = [], 0
        while i < len(b):
            c = b[i]
            if c & 0x80:
                idx, i = self._int(b, i, 7)
                out.append(self._get(idx))
            elif c & 0xC0 == 0x40 or c & 0xF0 in (0x00, 0x10):
                prefix = 6 if c & 0x40 else 4
                idx, i = self._int(b, i, prefix)
                name = self._get(idx)[0] if idx else None
                if name is None:
                    name, i = self._str(b, i)
                value, i = self._str(b, i)
                out.append((name, value))
                if prefix == 6:
                    self._add(name, value)
            else:  # 001xxxxx: dynamic table size update
                self.max, i = self._int(b, i, 5)
                self._evict()
        return out


# ---------------------------------------------------------------------------------------------
# Connections


class Closed(Exception):
    pass


def connect(host, port, tls=False, timeout=5.0, server_name="localhost"):
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2"])
        sock = ctx.wrap_socket(sock, server_hostname=server_name)
    return sock


class Conn:
    """One HTTP/2 connection, either role, over a connected socket: send bytes, read frames."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.pos = 0
        self.closed = None  # why the peer closed, once it did

    def send(self, b, timeout=None):
        """Sends all of b; False if the peer stopped reading for `timeout` seconds (or is gone)."""
        try:
            self.sock.settimeout(timeout)
            self.sock.sendall(b)
            return True
        except (socket.timeout, ssl.SSLWantWriteError, TimeoutError):
            return False
        except (OSError, ssl.SSLError) as e:
            self.closed = self.closed or f"send: {e.__class__.__name__}"
            return False

    def _fill(self, timeout):
        if self.closed:
            raise Closed(self.closed)
        pending = isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()
        if not pending:
            r, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
            if not r:
                return False
        try:
            self.sock.settimeout(0.5)
            chunk = self.sock.recv(1 << 16)
        except (socket.timeout, ssl.SSLWantReadError, BlockingIOError):
            return False
        except ConnectionResetError:
            self.closed = "reset"
            raise Closed("reset")
        except (OSError, ssl.SSLError) as e:
            self.closed = f"{e.__class__.__name__}"
            raise Closed(self.closed)
        if not chunk:
            self.closed = "close"
            raise Closed("close")
        self.buf += chunk
        return True

    def read_frame(self, timeout):
        """The next frame as (type, flags, stream id, payload), or None after `timeout` seconds.
        Raises Closed when the peer closed the connection (after its last complete frame)."""
        deadline = time.monotonic() + timeout
        while True:
            buf, pos = self.buf, self.pos
            if len(buf) - pos >= 9:
                n = int.from_bytes(buf[pos:pos + 3], "big")
                if len(buf) - pos >= 9 + n:
                    t, f = buf[pos + 3], buf[pos + 4]
                    sid = int.from_bytes(buf[pos + 5:pos + 9], "big") & 0x7FFFFFFF
                    payload = bytes(buf[pos + 9:pos + 9 + n])
                    self.pos = pos + 9 + n
                    if self.pos > (1 << 16):
                        del buf[:self.pos]
                        self.pos = 0
                    return t, f, sid, payload
            left = deadline - time.monotonic()
            if left <= 0 and not self._fill(0):
                return None
            if left > 0:
                self._fill(left)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Stream:
    __slots__ = ("sid", "status", "grpc_status", "body", "ended", "reset", "started", "done_at", "head")

    def __init__(self, sid):
        self.sid, self.status, self.grpc_status, self.body = sid, None, None, 0
        self.ended, self.reset, self.started, self.done_at, self.head = False, None, time.monotonic(), None, None


class Client(Conn):
    """The client role: the preface, requests, and the frames that come back, decoded into streams.

    `auto_window`: give back connection and stream window for every DATA received (an honest client);
    otherwise the window is never opened (a slow reader). Header table size 4096 by default."""

    def __init__(self, sock, auto_window=True, window=1 << 20, extra_settings=(), send_preface=True):
        super().__init__(sock)
        self.auto_window = auto_window
        self.dec = Decoder()
        self.streams = {}
        self.next_sid = 1
        self.goaway = None  # (last stream id, code, debug, time)
        self.events = []  # (time, "GOAWAY CODE" | "RST_STREAM CODE" | ...)
        self.peer_settings = {}
        self._hblock = None
        # What we may send: the peer's connection window and each stream's.
        self.out_conn, self.out_init, self.out_stream = 65535, 65535, {}
        if send_preface:
            self.send(PREFACE + settings([(ENABLE_PUSH, 0), (INITIAL_WINDOW_SIZE, window), *extra_settings])
                      + (window_update(0, window) if window > 65535 else b""), timeout=5)

    def request(self, path, method="GET", body=None, extra=(), authority="localhost", scheme="http",
                end=True, send=True):
        sid = self.next_sid
        self.next_sid += 2
        blk = request_block(path, method, authority, scheme, extra)
        out = headers(sid, blk, end_stream=end and not body)
        if body:
            for i in range(0, len(body), 16384):
                out += data(sid, body[i:i + 16384], end_stream=end and i + 16384 >= len(body))
        self.streams[sid] = Stream(sid)
        self.out_stream[sid] = self.out_init
        if send:
            self.send(out, timeout=5)
        return sid

    def handle(self, fr):
        t, f, sid, p = fr
        now = time.monotonic()
        if t == SETTINGS and not f & ACK:
            for i in range(0, len(p) - 5, 6):
                k, v = struct.unpack(">HI", p[i:i + 6])
                self.peer_settings[k] = v
                if k == INITIAL_WINDOW_SIZE:
                    for w in self.out_stream:
                        self.out_stream[w] += v - self.out_init
                    self.out_init = v
            self.send(settings(ack=True), timeout=2)
        elif t == PING and not f & ACK:
            self.send(ping(p, ack=True), timeout=2)
        elif t == WINDOW_UPDATE and len(p) == 4:
            inc = struct.unpack(">I", p)[0] & 0x7FFFFFFF
            if sid == 0:
                self.out_conn += inc
            elif sid in self.out_stream:
                self.out_stream[sid] += inc
        elif t == GOAWAY:
            last, code = struct.unpack(">II", p[:8])
            self.goaway = (last & 0x7FFFFFFF, code, p[8:], now)
            self.events.append((now, f"GOAWAY {err_name(code)}"))
        elif t == RST_STREAM:
            code = struct.unpack(">I", p[:4])[0]
            s = self.streams.get(sid)
            if s:
                s.reset, s.done_at = code, now
            self.events.append((now, f"RST_STREAM {err_name(code)}"))
        elif t in (HEADERS, CONTINUATION):
            if t == HEADERS:
                if f & PADDED:
                    p = p[1:len(p) - p[0]]
                if f & PRIORITY_FLAG:
                    p = p[5:]
                self._hblock = (sid, bytearray(p), f & END_STREAM)
            elif self._hblock:
                self._hblock[1].extend(p)
            if f & END_HEADERS and self._hblock:
                hsid, blk, es = self._hblock
                self._hblock = None
                fields = self.dec.decode(bytes(blk))
                s = self.streams.get(hsid)
                for n, v in fields:
                    if n == ":status":
                        if v.startswith("4") or v.startswith("5"):
                            self.events.append((now, v))
                        if s:
                            s.status = int(v)
                    elif n == "grpc-status" and s:
                        s.grpc_status = int(v)
                if s:
                    if s.head is None:
                        s.head = fields
                    if es:
                        s.ended, s.done_at = True, now
        elif t == DATA:
            n = len(p)
            if f & PADDED and p:
                n = len(p) - 1 - p[0]
            s = self.streams.get(sid)
            if s:
                s.body += n
                if f & END_STREAM:
                    s.ended, s.done_at = True, now
            if self.auto_window and len(p):
                wu = window_update(0, len(p))
                if s and not s.ended:
                    wu += window_update(sid, len(p))
                self.send(wu, timeout=2)
        return fr

    def send_body(self, sid, remaining, end=True):
        """Sends up to `remaining` bytes of body on `sid` as both windows allow (END_STREAM with the
        last byte when `end`); returns how many it sent."""
        n = min(remaining, self.out_conn, self.out_stream.get(sid, 0))
        if n <= 0:
            return 0
        out, left = bytearray(), n
        while left:
            k = min(left, 16384)
            left -= k
            out += data(sid, b"u" * k, end_stream=end and left == 0 and n == remaining)
        self.out_conn -= n
        self.out_stream[sid] -= n
        return n if self.send(bytes(out), timeout=1.0) else 0

    def pump(self, timeout, until=None):
        """Handles frames for up to `timeout` seconds, or until `until()` holds. Returns False if
        the connection closed."""
        deadline = time.monotonic() + timeout
        while True:
            if until and until():
                return True
            left = deadline - time.monotonic()
            try:
                fr = self.read_frame(max(0.0, left))
            except Closed:
                self.events.append((time.monotonic(), f"close ({self.closed})"))
                return False
            if fr is None:
                return True
            self.handle(fr)


def h2_client(host, port, tls=False, timeout=5.0, **kw):
    return Client(connect(host, port, tls, timeout), **kw)
