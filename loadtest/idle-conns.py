#!/usr/bin/env python3
"""Memory per idle client connection: opens N TLS connections (ALPN h2) to a running gateway, sends
the HTTP/2 preface and SETTINGS on each, keeps them open, and prints the gateway process's RSS
before and after, and the difference per connection.

    loadtest/idle-conns.py PID HOST:PORT [N]      (default N = 10000)

The gateway must run on PID (for example `h2edge demo --workers 1`); the client does not verify the
gateway's certificate (it only measures memory). Needs `ulimit -n` above N (it raises its own soft
limit to the hard limit).
"""
import asyncio
import resource
import ssl
import sys
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit(f"no VmRSS for pid {pid}")


async def main():
    pid, target = int(sys.argv[1]), sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    host, port = target.rsplit(":", 1)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    before = rss_kib(pid)
    conns, failed = [], 0
    sem = asyncio.Semaphore(200)

    async def one():
        nonlocal failed
        async with sem:
            try:
                r, w = await asyncio.wait_for(
                    asyncio.open_connection(host, int(port), ssl=ctx), 10)
                w.write(PREFACE)
                await w.drain()
                conns.append((r, w))
            except Exception:
                failed += 1

    t0 = time.time()
    await asyncio.gather(*(one() for _ in range(n)))
    await asyncio.sleep(2)
    after = rss_kib(pid)
    open_now = len(conns)
    print(f"connections: {open_now} open, {failed} failed, in {time.time() - t0:.1f} s")
    print(f"gateway RSS: {before} KiB before, {after} KiB after")
    if open_now:
        print(f"per idle connection: {(after - before) * 1024 / open_now / 1024:.1f} KiB")
    for _, w in conns:
        w.close()
    if failed:
        sys.exit(1)


asyncio.run(main())
