#!/usr/bin/env python3
"""Writes the checked-in seed corpora under fuzz/corpus/<target>/ (see docs/fuzzing.md).

Deterministic and dependency-free: `python3 fuzz/seeds.py` rewrites the same files. It carries a small
HPACK encoder (static + dynamic table, optional Huffman) that is checked against the RFC 7541
Appendix C examples before anything is written, and builds HTTP/2 frames by hand.
"""

import os
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

# RFC 7541 Appendix B: (code, bit length) for symbols 0..=256 (256 is EOS).
HUFFMAN = [
    (0x1ff8, 13), (0x7fffd8, 23), (0xfffffe2, 28), (0xfffffe3, 28), (0xfffffe4, 28),
    (0xfffffe5, 28), (0xfffffe6, 28), (0xfffffe7, 28), (0xfffffe8, 28), (0xffffea, 24),
    (0x3ffffffc, 30), (0xfffffe9, 28), (0xfffffea, 28), (0x3ffffffd, 30), (0xfffffeb, 28),
    (0xfffffec, 28), (0xfffffed, 28), (0xfffffee, 28), (0xfffffef, 28), (0xffffff0, 28),
    (0xffffff1, 28), (0xffffff2, 28), (0x3ffffffe, 30), (0xffffff3, 28), (0xffffff4, 28),
    (0xffffff5, 28), (0xffffff6, 28), (0xffffff7, 28), (0xffffff8, 28), (0xffffff9, 28),
    (0xffffffa, 28), (0xffffffb, 28), (0x14, 6), (0x3f8, 10), (0x3f9, 10), (0xffa, 12),
    (0x1ff9, 13), (0x15, 6), (0xf8, 8), (0x7fa, 11), (0x3fa, 10), (0x3fb, 10), (0xf9, 8),
    (0x7fb, 11), (0xfa, 8), (0x16, 6), (0x17, 6), (0x18, 6), (0x0, 5), (0x1, 5), (0x2, 5),
    (0x19, 6), (0x1a, 6), (0x1b, 6), (0x1c, 6), (0x1d, 6), (0x1e, 6), (0x1f, 6), (0x5c, 7),
    (0xfb, 8), (0x7ffc, 15), (0x20, 6), (0xffb, 12), (0x3fc, 10), (0x1ffa, 13), (0x21, 6),
    (0x5d, 7), (0x5e, 7), (0x5f, 7), (0x60, 7), (0x61, 7), (0x62, 7), (0x63, 7), (0x64, 7),
    (0x65, 7), (0x66, 7), (0x67, 7), (0x68, 7), (0x69, 7), (0x6a, 7), (0x6b, 7), (0x6c, 7),
    (0x6d, 7), (0x6e, 7), (0x6f, 7), (0x70, 7), (0x71, 7), (0x72, 7), (0xfc, 8), (0x73, 7),
    (0xfd, 8), (0x1ffb, 13), (0x7fff0, 19), (0x1ffc, 13), (0x3ffc, 14), (0x22, 6), (0x7ffd, 15),
    (0x3, 5), (0x23, 6), (0x4, 5), (0x24, 6), (0x5, 5), (0x25, 6), (0x26, 6), (0x27, 6), (0x6, 5),
    (0x74, 7), (0x75, 7), (0x28, 6), (0x29, 6), (0x2a, 6), (0x7, 5), (0x2b, 6), (0x76, 7),
    (0x2c, 6), (0x8, 5), (0x9, 5), (0x2d, 6), (0x77, 7), (0x78, 7), (0x79, 7), (0x7a, 7),
    (0x7b, 7), (0x7ffe, 15), (0x7fc, 11), (0x3ffd, 14), (0x1ffd, 13), (0xffffffc, 28),
    (0xfffe6, 20), (0x3fffd2, 22), (0xfffe7, 20), (0xfffe8, 20), (0x3fffd3, 22), (0x3fffd4, 22),
    (0x3fffd5, 22), (0x7fffd9, 23), (0x3fffd6, 22), (0x7fffda, 23), (0x7fffdb, 23), (0x7fffdc, 23),
    (0x7fffdd, 23), (0x7fffde, 23), (0xffffeb, 24), (0x7fffdf, 23), (0xffffec, 24), (0xffffed, 24),
    (0x3fffd7, 22), (0x7fffe0, 23), (0xffffee, 24), (0x7fffe1, 23), (0x7fffe2, 23), (0x7fffe3, 23),
    (0x7fffe4, 23), (0x1fffdc, 21), (0x3fffd8, 22), (0x7fffe5, 23), (0x3fffd9, 22), (0x7fffe6, 23),
    (0x7fffe7, 23), (0xffffef, 24), (0x3fffda, 22), (0x1fffdd, 21), (0xfffe9, 20), (0x3fffdb, 22),
    (0x3fffdc, 22), (0x7fffe8, 23), (0x7fffe9, 23), (0x1fffde, 21), (0x7fffea, 23), (0x3fffdd, 22),
    (0x3fffde, 22), (0xfffff0, 24), (0x1fffdf, 21), (0x3fffdf, 22), (0x7fffeb, 23), (0x7fffec, 23),
    (0x1fffe0, 21), (0x1fffe1, 21), (0x3fffe0, 22), (0x1fffe2, 21), (0x7fffed, 23), (0x3fffe1, 22),
    (0x7fffee, 23), (0x7fffef, 23), (0xfffea, 20), (0x3fffe2, 22), (0x3fffe3, 22), (0x3fffe4, 22),
    (0x7ffff0, 23), (0x3fffe5, 22), (0x3fffe6, 22), (0x7ffff1, 23), (0x3ffffe0, 26),
    (0x3ffffe1, 26), (0xfffeb, 20), (0x7fff1, 19), (0x3fffe7, 22), (0x7ffff2, 23), (0x3fffe8, 22),
    (0x1ffffec, 25), (0x3ffffe2, 26), (0x3ffffe3, 26), (0x3ffffe4, 26), (0x7ffffde, 27),
    (0x7ffffdf, 27), (0x3ffffe5, 26), (0xfffff1, 24), (0x1ffffed, 25), (0x7fff2, 19),
    (0x1fffe3, 21), (0x3ffffe6, 26), (0x7ffffe0, 27), (0x7ffffe1, 27), (0x3ffffe7, 26),
    (0x7ffffe2, 27), (0xfffff2, 24), (0x1fffe4, 21), (0x1fffe5, 21), (0x3ffffe8, 26),
    (0x3ffffe9, 26), (0xffffffd, 28), (0x7ffffe3, 27), (0x7ffffe4, 27), (0x7ffffe5, 27),
    (0xfffec, 20), (0xfffff3, 24), (0xfffed, 20), (0x1fffe6, 21), (0x3fffe9, 22), (0x1fffe7, 21),
    (0x1fffe8, 21), (0x7ffff3, 23), (0x3fffea, 22), (0x3fffeb, 22), (0x1ffffee, 25),
    (0x1ffffef, 25), (0xfffff4, 24), (0xfffff5, 24), (0x3ffffea, 26), (0x7ffff4, 23),
    (0x3ffffeb, 26), (0x7ffffe6, 27), (0x3ffffec, 26), (0x3ffffed, 26), (0x7ffffe7, 27),
    (0x7ffffe8, 27), (0x7ffffe9, 27), (0x7ffffea, 27), (0x7ffffeb, 27), (0xffffffe, 28),
    (0x7ffffec, 27), (0x7ffffed, 27), (0x7ffffee, 27), (0x7ffffef, 27), (0x7fffff0, 27),
    (0x3ffffee, 26), (0x3fffffff, 30),
]

# RFC 7541 Appendix A.
STATIC = [
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
]



# --- HPACK ------------------------------------------------------------------------------------------

def hp_int(value, prefix_bits, first=0):
    """RFC 7541 §5.1: `value` with an N-bit prefix; `first` holds the representation's high bits."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    out.append(value)
    return bytes(out)


def huffman(data):
    bits, nbits = 0, 0
    for b in data:
        code, length = HUFFMAN[b]
        bits = (bits << length) | code
        nbits += length
    pad = (8 - nbits % 8) % 8
    bits = (bits << pad) | ((1 << pad) - 1)
    nbits += pad
    return (bits.to_bytes(nbits // 8, "big")) if nbits else b""


def hp_str(data, huff):
    if huff:
        h = huffman(data)
        return hp_int(len(h), 7, 0x80) + h
    return hp_int(len(data), 7) + data


class Encoder:
    """Indexes everything it can (static table first, as the RFC examples do)."""

    def __init__(self, max_size=4096, huff=False):
        self.max_size = max_size
        self.table = []  # newest first
        self.huff = huff

    def size(self):
        return sum(len(n) + len(v) + 32 for n, v in self.table)

    def add(self, name, value):
        self.table.insert(0, (name, value))
        while self.size() > self.max_size:
            self.table.pop()

    def find(self, name, value):
        full = name_idx = None
        for i, (n, v) in enumerate(STATIC + self.table):
            if n == name and v == value and full is None:
                full = i + 1
            if n == name and name_idx is None:
                name_idx = i + 1
        return full, name_idx

    def size_update(self, size):
        self.max_size = size
        while self.size() > self.max_size:
            self.table.pop()
        return hp_int(size, 5, 0x20)

    def field(self, name, value, index=True, never=False):
        full, name_idx = self.find(name, value)
        if full is not None and not never:
            return hp_int(full, 7, 0x80)
        if never:
            first, bits = 0x10, 4
        elif index:
            first, bits = 0x40, 6
        else:
            first, bits = 0x00, 4
        if name_idx is not None:
            out = hp_int(name_idx, bits, first)
        else:
            out = hp_int(0, bits, first) + hp_str(name, self.huff)
        out += hp_str(value, self.huff)
        if index and not never:
            self.add(name, value)
        return out

    def block(self, fields, **kw):
        return b"".join(self.field(n, v, **kw) for n, v in fields)


def check_rfc_examples():
    """RFC 7541 Appendix C.3-C.6: the encoder above must reproduce them byte for byte."""
    h = bytes.fromhex
    reqs = [
        [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"),
         (b":authority", b"www.example.com")],
        [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"),
         (b":authority", b"www.example.com"), (b"cache-control", b"no-cache")],
        [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/index.html"),
         (b":authority", b"www.example.com"), (b"custom-key", b"custom-value")],
    ]
    want_c3 = ["828684410f7777772e6578616d706c652e636f6d",
               "828684be58086e6f2d6361636865",
               "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565"]
    want_c4 = ["828684418cf1e3c2e5f23a6ba0ab90f4ff",
               "828684be5886a8eb10649cbf",
               "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf"]
    resps = [
        [(b":status", b"302"), (b"cache-control", b"private"),
         (b"date", b"Mon, 21 Oct 2013 20:13:21 GMT"), (b"location", b"https://www.example.com")],
        [(b":status", b"307"), (b"cache-control", b"private"),
         (b"date", b"Mon, 21 Oct 2013 20:13:21 GMT"), (b"location", b"https://www.example.com")],
        [(b":status", b"200"), (b"cache-control", b"private"),
         (b"date", b"Mon, 21 Oct 2013 20:13:22 GMT"), (b"location", b"https://www.example.com"),
         (b"content-encoding", b"gzip"),
         (b"set-cookie", b"foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1")],
    ]
    want_c5 = [
        "4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d54"
        "6e1768747470733a2f2f7777772e6578616d706c652e636f6d",
        "4803333037c1c0bf",
        "88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f"
        "6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b"
        "2076657273696f6e3d31",
    ]
    want_c6 = [
        "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c7"
        "8f0b97c8e9ae82ae43d3",
        "4883640effc1c0bf",
        "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335"
        "dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
    ]
    out = {}
    for name, lists, wants, size, huff in [
        ("c3", reqs, want_c3, 4096, False), ("c4", reqs, want_c4, 4096, True),
        ("c5", resps, want_c5, 256, False), ("c6", resps, want_c6, 256, True),
    ]:
        enc = Encoder(size, huff)
        blocks = []
        for fields, want in zip(lists, wants):
            got = enc.block(fields)
            if got != h(want):
                sys.exit("RFC 7541 %s mismatch:\n got  %s\n want %s" % (name, got.hex(), want))
            blocks.append(got)
        out[name] = (size, blocks)
    return out


# --- HTTP/2 frames ---------------------------------------------------------------------------------

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST, SETTINGS, PUSH, PING, GOAWAY, WINUP, CONT = range(10)
END_STREAM = ACK = 0x1
END_HEADERS, PADDED, PRIO = 0x4, 0x8, 0x20


def frame(kind, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) \
        + payload


def settings(*pairs, ack=False):
    return frame(SETTINGS, ACK if ack else 0, 0, b"".join(struct.pack(">HI", i, v) for i, v in pairs))


def window_update(stream, inc):
    return frame(WINUP, 0, stream, struct.pack(">I", inc))


def grpc_message(n=64):
    return b"\x00" + struct.pack(">I", n) + bytes((i * 7 + 3) % 256 for i in range(n))


GRPC_REQUEST = [
    (b":method", b"POST"), (b":scheme", b"https"), (b":path", b"/product.ProductService/GetProduct"),
    (b":authority", b"product.example.com"), (b"content-type", b"application/grpc"),
    (b"te", b"trailers"), (b"grpc-timeout", b"1S"),
    (b"grpc-accept-encoding", b"identity,deflate,gzip"), (b"user-agent", b"grpc-go/1.60.0"),
    (b"x-request-id", b"7f3c2a9e-5b1d-4c8e-9a6f-0d2e4b8c1a3f"), (b"x-tenant", b"acme"),
]
GRPC_RESPONSE = [(b":status", b"200"), (b"content-type", b"application/grpc")]
GRPC_TRAILERS = [(b"grpc-status", b"0"), (b"grpc-message", b"")]


def client_stream(n_requests=3, huff=True, extra=b"", trailers=False, split=0, first_id=1):
    """A client connection: preface, SETTINGS, a connection WINDOW_UPDATE, then gRPC calls."""
    enc = Encoder(4096, huff)
    out = PREFACE + settings((2, 0), (4, 4194304), (6, 16384)) + window_update(0, 983041)
    for i in range(n_requests):
        sid = first_id + 2 * i
        block = enc.block(GRPC_REQUEST)
        if split and len(block) > split:
            out += frame(HEADERS, 0, sid, block[:split])
            rest = block[split:]
            while len(rest) > split:
                out += frame(CONT, 0, sid, rest[:split])
                rest = rest[split:]
            out += frame(CONT, END_HEADERS, sid, rest)
        else:
            out += frame(HEADERS, END_HEADERS, sid, block)
        if trailers:
            out += frame(DATA, 0, sid, grpc_message())
            out += frame(HEADERS, END_HEADERS | END_STREAM, sid, enc.block([(b"x-checksum", b"1")]))
        else:
            out += frame(DATA, END_STREAM, sid, grpc_message())
    return out + extra


# --- corpora ---------------------------------------------------------------------------------------

def frame_decode_seeds(rfc):
    max16k = b"\x00\x40\x00"
    block = Encoder(4096, True).block(GRPC_REQUEST)
    s = {
        "grpc_client": max16k + client_stream(3)[len(PREFACE):],
        "grpc_server": max16k + settings((3, 100)) + settings(ack=True)
        + frame(HEADERS, END_HEADERS, 1, Encoder().block(GRPC_RESPONSE))
        + frame(DATA, 0, 1, grpc_message()) + frame(HEADERS, END_HEADERS | END_STREAM, 1,
                                                    Encoder().block(GRPC_TRAILERS)),
        "settings_all": max16k + settings((1, 4096), (2, 0), (3, 100), (4, 65535), (5, 16384),
                                          (6, 8192), (8, 1), (0x99, 7)),
        "settings_ack": max16k + settings(ack=True),
        "data_padded": max16k + frame(DATA, PADDED | END_STREAM, 3, b"\x05hello\0\0\0\0\0"),
        "headers_padded_prio": max16k + frame(
            HEADERS, PADDED | PRIO | END_HEADERS, 5, b"\x03" + b"\x80\x00\x00\x03\x10" + block
            + b"\0\0\0"),
        "headers_continuation": max16k + frame(HEADERS, 0, 1, block[:10])
        + frame(CONT, 0, 1, block[10:20]) + frame(CONT, END_HEADERS, 1, block[20:]),
        "priority": max16k + frame(PRIORITY, 0, 3, b"\x00\x00\x00\x01\xff"),
        "rst_stream": max16k + frame(RST, 0, 1, b"\x00\x00\x00\x08"),
        "push_promise": max16k + frame(PUSH, END_HEADERS | PADDED, 1, b"\x02\x00\x00\x00\x02"
                                       + block + b"\0\0"),
        "ping": max16k + frame(PING, 0, 0, b"12345678") + frame(PING, ACK, 0, b"12345678"),
        "goaway": max16k + frame(GOAWAY, 0, 0, b"\x00\x00\x00\x07\x00\x00\x00\x0bcalm down"),
        "window_update": max16k + window_update(0, 65535) + window_update(7, 0x7fffffff),
        "unknown_type": max16k + frame(0xfa, 0xff, 9, b"anything") + frame(0x10, 0, 0, b""),
        "big_data_1m": b"\x10\x00\x00" + frame(DATA, 0, 1, bytes(20000)),
        # Errors, one each: connection errors first, then stream errors that are skipped.
        "err_data_stream0": max16k + frame(DATA, 0, 0, b"x"),
        "err_bad_padding": max16k + frame(DATA, PADDED, 1, b"\x09abc"),
        "err_settings_len": max16k + frame(SETTINGS, 0, 0, b"\x00\x01\x00"),
        "err_settings_values": max16k + settings((2, 2)) + settings((4, 0x80000000))
        + settings((5, 100)),
        "err_ack_payload": max16k + frame(SETTINGS, ACK, 0, b"\x00\x01\x00\x00\x00\x00"),
        "err_too_big": max16k + frame(DATA, 0, 1, bytes(16385)),
        "err_window_update_zero": max16k + window_update(3, 0) + window_update(0, 0),
        "err_priority_self": max16k + frame(PRIORITY, 0, 3, b"\x00\x00\x00\x03\x10")
        + frame(PRIORITY, 0, 3, b"\x00\x00\x00\x01"),
        "err_ping_len": max16k + frame(PING, 0, 0, b"1234567"),
        "err_goaway_short": max16k + frame(GOAWAY, 0, 0, b"\x00\x00\x00\x01"),
        "err_headers_prio_pad": max16k + frame(HEADERS, PADDED | PRIO, 1, b"\x02\x00\x00\x00"),
        "truncated": max16k + frame(DATA, 0, 1, b"0123456789")[:12],
    }
    return s


def hpack_decode_seeds(rfc):
    def blocks(size, bs, ctls=None):
        out = struct.pack(">H", size)
        for i, b in enumerate(bs):
            ctl = ctls[i] if ctls else 0
            out += bytes([ctl]) + struct.pack(">H", len(b)) + b
        return out

    # The top bit of the size asks for hpack-patched as a second oracle.
    s = {}
    for name, (size, bs) in rfc.items():
        s["rfc7541_" + name] = blocks(size | 0x8000, bs)
        s["rfc7541_" + name + "_first"] = blocks(size, bs[:1])
    # C.2: single representations.
    s["rfc7541_c2_1"] = blocks(4096, [bytes.fromhex(
        "400a637573746f6d2d6b65790d637573746f6d2d686561646572")])
    s["rfc7541_c2_2"] = blocks(4096, [bytes.fromhex("040c2f73616d706c652f70617468")])
    s["rfc7541_c2_3"] = blocks(4096, [bytes.fromhex("100870617373776f726406736563726574")])
    s["rfc7541_c2_4"] = blocks(4096, [bytes.fromhex("82")])
    cold, warm = Encoder(4096, True), None
    b1 = cold.block(GRPC_REQUEST)
    b2 = cold.block(GRPC_REQUEST)
    s["grpc_request_cold_warm"] = blocks(4096 | 0x8000, [b1, b2, b2])
    s["grpc_request_plain"] = blocks(4096, [Encoder(4096, False).block(GRPC_REQUEST)])
    resp = Encoder(4096, True)
    s["grpc_response"] = blocks(4096, [resp.block(GRPC_RESPONSE), resp.block(GRPC_TRAILERS),
                                       resp.block(GRPC_RESPONSE), resp.block(GRPC_TRAILERS)])
    # Size updates: at the start, after lowering (ctl 0x80 | 2 -> 256 bytes), to zero, and twice.
    e = Encoder(4096, True)
    s["size_update_start"] = blocks(4096, [e.size_update(1024) + e.block(GRPC_REQUEST)])
    e = Encoder(4096, False)
    first = e.block(GRPC_REQUEST)
    s["size_update_after_lowering"] = blocks(
        4096, [first, e.size_update(256) + e.block(GRPC_REQUEST)], [0, 0x82])
    s["size_update_missing"] = blocks(4096, [first, e.block(GRPC_REQUEST)], [0, 0x82])
    s["size_update_zero_twice"] = blocks(4096, [b"\x20\x3f\xe1\x1f" + b1])
    s["size_update_mid_block"] = blocks(4096, [b"\x82\x20"])
    s["size_update_too_large"] = blocks(256, [b"\x3f\xe1\x1f"])
    s["size_update_only"] = blocks(4096, [b"\x3f\xe1\x07"])
    s["never_indexed_huffman"] = blocks(4096, [b"\x10" + hp_str(b"authorization", True)
                                               + hp_str(b"Bearer abc.def", True)])
    s["literal_not_indexed_idx_name"] = blocks(4096, [b"\x0f\x2b" + hp_str(b"gzip", False)])
    s["empty_block"] = blocks(4096, [b""])
    s["big_table_evict"] = blocks(64, [b"\x40" + hp_str(b"k" * 20, False) + hp_str(b"v" * 20, False)
                                       + b"\xbe"])
    s["err_index_zero"] = blocks(4096, [b"\x80"])
    s["err_index_past_end"] = blocks(4096, [b"\xbe"])
    s["err_huffman_eos"] = blocks(4096, [b"\x00\x84\xff\xff\xff\xff\x00"])
    s["err_huffman_padding_zeros"] = blocks(4096, [b"\x00\x81\x00\x00"])
    s["err_huffman_padding_long"] = blocks(4096, [b"\x00\x82\x1f\xff\x00"])
    s["int_4_continuations"] = blocks(4096, [b"\x3f\xe1\x80\x80\x00"])
    s["int_5_continuations"] = blocks(4096, [b"\x3f\xe1\x80\x80\x80\x00"])
    s["int_6_continuations"] = blocks(4096, [b"\x3f\xe1\x80\x80\x80\x80\x00"])
    s["int_overflow_u32"] = blocks(4096, [b"\xff\xff\xff\xff\xff\x7f"])
    s["err_truncated_string"] = blocks(4096, [b"\x00\x05ab"])
    return s


def hpack_roundtrip_seeds():
    def field(name, value, never=False, lit_name=True, lit_value=True):
        k = (1 if never else 0) | (2 if lit_name else 0) | (4 if lit_value else 0)
        out = bytes([k])
        out += bytes([len(name)]) + name if lit_name else bytes([name])
        out += bytes([len(value)]) + value if lit_value else bytes([value])
        return out

    def block(fields):
        assert len(fields) < 32
        return bytes([len(fields) << 3]) + b"".join(fields)

    req = block([field(n, v) for n, v in GRPC_REQUEST])
    resp = block([field(n, v) for n, v in GRPC_RESPONSE])
    trl = block([field(n, v) for n, v in GRPC_TRAILERS])
    pooled = block([field(i, i, lit_name=False, lit_value=False) for i in range(16)])
    # 0xf000: table size 4096 (low 13 bits) and the loona-hpack cross-check (top 3 bits set).
    s = {
        "grpc_req_x3": b"\xf0\x00" + req * 3,
        "grpc_resp_trailers": b"\xf0\x00" + (resp + trl) * 3,
        "pooled": b"\x10\x00" + pooled + pooled,
        "never_index": b"\xf0\x00" + block([field(b"authorization", b"secret", never=True),
                                            field(b"cookie", b"a=b", never=True)]) * 2,
        "size_changes": b"\xf0\x00" + req + b"\x07\x00\x00" + req + b"\x07\x01\x00" + b"\x07\x10\x00"
        + req + b"\x07\x00\x40\x07\x00\x20" + req,
        "table_zero": b"\x00\x00" + req + req,
        "big_value": b"\x10\x00" + block([field(5, 16, lit_name=False, lit_value=False)]) + req,
        "empty_names_values": b"\x10\x00" + block([field(b"", b""), field(b"x", b"")]),
        "binary_value": b"\x10\x00" + block([field(b"x-bin", bytes(range(256))[:200])]),
        "many_blocks": b"\x01\x00" + (req + resp) * 4,
    }
    return s


def server_conn_seeds():
    # [flags][seed x3] + client bytes. flags: 1 auto preface, 2..6 chunking, 8 slow writer,
    # 16 lazy release.
    grpc = client_stream(4)
    enc = Encoder(4096, True)
    get = [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"),
           (b":authority", b"example.com")]
    rapid_reset = b"".join(frame(HEADERS, END_HEADERS, 2 * i + 1, enc.block(get))
                           + frame(RST, 0, 2 * i + 1, b"\x00\x00\x00\x08") for i in range(20))
    bad = Encoder(4096, False)
    s = {
        "grpc_whole": b"\x06\x00\x00\x01" + grpc,
        "grpc_small_chunks": b"\x00\x12\x34\x56" + grpc,
        "grpc_medium_chunks_slow": b"\x0a\xab\xcd\xef" + grpc,
        "grpc_lazy_release": b"\x16\x00\x00\x07" + client_stream(6),
        "grpc_trailers": b"\x06\x00\x00\x02" + client_stream(2, trailers=True),
        "grpc_continuation": b"\x06\x00\x00\x03" + client_stream(2, split=16),
        "grpc_plain_hpack": b"\x06\x00\x00\x04" + client_stream(2, huff=False),
        "auto_preface_get": b"\x07\x00\x00\x05" + frame(HEADERS, END_HEADERS | END_STREAM, 1,
                                                        enc.block(get)),
        "ping_settings": b"\x06\x00\x00\x06" + PREFACE + settings((1, 0), (5, 65536))
        + frame(PING, 0, 0, b"abcdefgh") + settings(ack=True) + settings((4, 0))
        + frame(PING, ACK, 0, b"abcdefgh"),
        "rapid_reset": b"\x07\x00\x00\x08" + rapid_reset,
        "window_overflow": b"\x06\x00\x00\x09" + client_stream(1) + window_update(0, 0x7fffffff)
        + window_update(1, 0x7fffffff),
        "client_goaway": b"\x06\x00\x00\x0a" + client_stream(1)
        + frame(GOAWAY, 0, 0, b"\x00\x00\x00\x01\x00\x00\x00\x00"),
        "priority_unknown_padded": b"\x07\x00\x00\x0b" + frame(PRIORITY, 0, 1, b"\x00\x00\x00\x03\x10")
        + frame(0xbb, 0, 0, b"ext") + frame(HEADERS, END_HEADERS | PADDED | PRIO, 1,
                                            b"\x02\x00\x00\x00\x00\x10" + enc.block(get) + b"\0\0")
        + frame(DATA, PADDED | END_STREAM, 1, b"\x04data\0\0\0\0"),
        "empty_data_flood": b"\x07\x00\x00\x0c" + frame(HEADERS, END_HEADERS, 1, enc.block(get))
        + frame(DATA, 0, 1, b"") * 120,
        "continuation_flood": b"\x07\x00\x00\x0d" + frame(HEADERS, 0, 1, enc.block(get))
        + frame(CONT, 0, 1, b"") * 40 + frame(CONT, END_HEADERS, 1, b""),
        "bad_uppercase": b"\x07\x00\x00\x0e" + frame(HEADERS, END_HEADERS | END_STREAM, 1,
                                                     bad.block(get + [(b"X-Upper", b"1")])),
        "bad_connection_header": b"\x07\x00\x00\x0f" + frame(
            HEADERS, END_HEADERS | END_STREAM, 1, bad.block(get + [(b"connection", b"close")])),
        "bad_no_method": b"\x07\x00\x00\x10" + frame(HEADERS, END_HEADERS | END_STREAM, 1,
                                                     bad.block(get[1:])),
        "bad_data_idle": b"\x07\x00\x00\x11" + frame(DATA, 0, 5, b"hello"),
        "bad_even_stream": b"\x07\x00\x00\x12" + frame(HEADERS, END_HEADERS, 2, enc.block(get)),
        "bad_preface": b"\x06\x00\x00\x13" + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "many_streams": b"\x07\x00\x00\x14" + b"".join(
            frame(HEADERS, END_HEADERS, 2 * i + 1, enc.block(GRPC_REQUEST)) for i in range(10)),
        "big_body": b"\x07\x00\x00\x15" + frame(HEADERS, END_HEADERS, 1, enc.block(GRPC_REQUEST))
        + frame(DATA, 0, 1, bytes(6000)) * 3 + frame(DATA, END_STREAM, 1, b""),
        "header_table_zero": b"\x06\x00\x00\x16" + PREFACE + settings((1, 0))
        + client_stream(2)[len(PREFACE):],
    }
    return s


def gateway_seeds():
    # Ops (see fuzz_targets/gateway.rs): op byte = kind | arg << 3; kinds 0/1 (client / upstream
    # bytes) take a u16 little-endian length and the bytes.
    def client(data, n=0):
        return bytes([0 | n << 3]) + struct.pack("<H", len(data)) + data

    def upstream(data, n=0):
        return bytes([1 | n << 3]) + struct.pack("<H", len(data)) + data

    def turns(n):
        return bytes([2 | (n - 1) << 3])

    def sleep(arg):
        return bytes([3 | arg << 3])

    req = Encoder(4096, True)
    get = [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"),
           (b":authority", b"edge.test")]
    timed = [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/t/slow"),
             (b":authority", b"edge.test")]
    start = PREFACE + settings() + settings(ack=True)
    up_start = settings((3, 100)) + settings(ack=True)
    resp = Encoder(4096, True)
    ok = frame(HEADERS, END_HEADERS, 1, resp.block([(b":status", b"200")])) \
        + frame(DATA, END_STREAM, 1, b"ok")
    call = client(start + frame(HEADERS, END_HEADERS | END_STREAM, 1, req.block(get))) \
        + turns(2) + upstream(up_start) + turns(2) + upstream(ok) + turns(2)
    grpc = client_stream(3)
    grpc_up = Encoder(4096, True)
    grpc_answers = b"".join(
        frame(HEADERS, END_HEADERS, sid, grpc_up.block(GRPC_RESPONSE))
        + frame(DATA, 0, sid, grpc_message())
        + frame(HEADERS, END_HEADERS | END_STREAM, sid, grpc_up.block(GRPC_TRAILERS))
        for sid in (1, 3, 5))
    post = Encoder(4096, True)
    return {
        "get_answered": call,
        "get_then_idle": call + sleep(10) + sleep(10),
        "grpc_three_calls": client(grpc) + turns(2) + upstream(up_start) + turns(2)
        + upstream(grpc_answers) + turns(3),
        "refused_stream_replay": client(start + frame(HEADERS, END_HEADERS, 1, post.block(
            [(b":method", b"POST"), (b":scheme", b"http"), (b":path", b"/up"),
             (b":authority", b"edge.test")])) + frame(DATA, END_STREAM, 1, b"x" * 300))
        + turns(2) + upstream(up_start + frame(RST, 0, 1, b"\x00\x00\x00\x07")) + turns(3)
        + upstream(up_start, 1) + turns(2),
        "goaway_last_stream": client(grpc) + turns(2) + upstream(up_start
        + frame(GOAWAY, 0, 0, b"\x00\x00\x00\x01\x00\x00\x00\x00")) + turns(4),
        "route_timeout": client(start + frame(HEADERS, END_HEADERS | END_STREAM, 1,
                                              req.block(timed))) + turns(2) + upstream(up_start)
        + sleep(6),
        "connect_refused": bytes([4 | 1 << 3]) + call + bytes([4]) + turns(3),
        "connect_blackhole": bytes([4 | 2 << 3]) + call + sleep(5),
        "upstream_hangs_up": call + client(frame(HEADERS, END_HEADERS | END_STREAM, 3,
                                                 req.block(get))) + turns(2) + bytes([5 | 1 << 3])
        + turns(3),
        "client_never_reads": bytes([7]) + b"\x00" + call + sleep(8),
        "two_clients": call + bytes([6]) + client(start, 1) + turns(2),
    }


def main():
    rfc = check_rfc_examples()
    targets = {
        "frame_decode": frame_decode_seeds(rfc),
        "hpack_decode": hpack_decode_seeds(rfc),
        "hpack_roundtrip": hpack_roundtrip_seeds(),
        "server_conn": server_conn_seeds(),
        "gateway": gateway_seeds(),
    }
    total = 0
    for target, seeds in targets.items():
        d = os.path.join(CORPUS, target)
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
        for name, data in sorted(seeds.items()):
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
            total += len(data)
        print("%-16s %3d seeds" % (target, len(seeds)))
    print("total %d bytes" % total)


if __name__ == "__main__":
    main()
