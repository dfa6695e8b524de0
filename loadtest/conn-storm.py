#!/usr/bin/env python3
"""Memory after connection storms: does the gateway give back what a burst of short connections took?

    cargo build --release --bin h2edge --bin h2edge-loadtest-backend
    python3 loadtest/conn-storm.py                      # 2 storms of 35,000 TLS connections
    python3 loadtest/conn-storm.py --conns 10000 --storms 3 --gdb

Starts `h2edge run` (one worker; loadtest/suite.py's set-up: echo backends behind an h2c and a TLS
listener), then runs each storm as rounds of `h2load -n R -c R -m 1` against the TLS listener (each
h2load client opens one connection, makes one GET and closes it; R = --round clients at once), and
prints the gateway's RSS: before, the peak during each storm, 2 s after it and after --quiet
seconds of idleness. A second storm that ends at the same RSS as the first means the memory is
kept for reuse (allocator retention), not lost (a leak). With --gdb it also attaches gdb at the
end: glibc's `malloc_stats()` (bytes the allocator holds from the system and bytes in use, per
arena; printed into the gateway's log) and the RSS after a `malloc_trim(0)`.
"""

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import suite  # noqa: E402

BASE_PORT = 19800


def mib(kib):
    return f"{kib / 1024:.1f}"


def mappings(pid):
    """Resident KiB per mapping: {(start address, size KiB, name): rss KiB}."""
    out, key = {}, None
    try:
        for line in open(f"/proc/{pid}/smaps"):
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and not parts[0].endswith(":"):
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                key = (parts[0].split("-")[0], (hi - lo) // 1024, parts[5] if len(parts) > 5 else "[anon]")
            elif parts[0] == "Rss:" and key:
                out[key] = int(parts[1])
    except OSError:
        pass
    return out


def where(before, after, top=4):
    """The mappings whose resident memory grew most."""
    grew = sorted(((after[k] - before.get(k, 0), k) for k in after), reverse=True)[:top]
    return ", ".join(f"{d / 1024:+.1f} MiB in a {k[1] / 1024:.1f} MiB {k[2]} mapping" for d, k in grew if d > 256)


def storm(env, n, per_round):
    left, failed, t0 = n, 0, time.monotonic()
    url = f"https://127.0.0.1:{env.tls_port}/hello.txt"
    with suite.Sampler(env.pid) as smp:
        while left > 0:
            r = min(per_round, left)
            out = subprocess.run(["h2load", "-n", str(r), "-c", str(r), "-m", "1", "-t", "1", url],
                                 capture_output=True, text=True, timeout=120).stdout
            m = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out)
            failed += r - (int(m.group(2)) if m else 0)
            left -= r
    return smp.peak, failed, time.monotonic() - t0


def gdb_stats(env, trim):
    """malloc_stats() into the gateway's log (then malloc_trim(0) if `trim`), through gdb; returns
    the arenas' (system bytes, in-use bytes) and the total, and the RSS afterwards."""
    log = Path(env.gateway.log_path)
    size0 = log.stat().st_size
    cmds = ["-ex", "call (void)malloc_stats()"] + (["-ex", "call (int)malloc_trim(0)"] if trim else [])
    subprocess.run(["gdb", "-p", str(env.pid), "-batch", *cmds], capture_output=True, text=True, timeout=60)
    time.sleep(0.5)
    text = log.read_bytes()[size0:].decode(errors="replace")
    arenas = re.findall(r"Arena (\d+):\s*system bytes\s*=\s*(\d+)\s*in use bytes\s*=\s*(\d+)", text)
    total = re.findall(r"Total \(incl. mmap\):\s*system bytes\s*=\s*(\d+)\s*in use bytes\s*=\s*(\d+)", text)
    return arenas, total, suite.rss_kib(env.pid)


def print_stats(when, arenas, total):
    for ar, sysb, used in arenas:
        print(f"  malloc arena {ar} {when}: {int(sysb) / 2**20:.1f} MiB from the system, {int(used) / 2**20:.1f} MiB in use")
    if total:
        sysb, used = map(int, total[-1])
        print(f"  malloc total {when} (with mmap): {sysb / 2**20:.1f} MiB from the system, {used / 2**20:.1f} MiB in use")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--h2edge", type=Path, default=suite.REPO / "target/release/h2edge")
    ap.add_argument("--backend-bin", type=Path, default=suite.REPO / "target/release/h2edge-loadtest-backend")
    ap.add_argument("--h2edge-env", action="append", default=[], metavar="VAR=VALUE",
                    help="environment for the gateway (e.g. MALLOC_ARENA_MAX=1)")
    ap.add_argument("--conns", type=int, default=35000, help="connections per storm")
    ap.add_argument("--round", type=int, default=500, help="h2load clients at once")
    ap.add_argument("--storms", type=int, default=2)
    ap.add_argument("--quiet", type=float, default=6.0, help="idle seconds after each storm before reading RSS")
    ap.add_argument("--gdb", action="store_true", help="malloc_stats() and malloc_trim(0) through gdb at the end")
    ap.add_argument("--scratch", type=Path, default=Path("/tmp/h2edge-loadtest"))
    a = ap.parse_args()
    env = suite.Env(a, BASE_PORT, files=False, name="conn-storm")
    try:
        time.sleep(1)
        base = suite.rss_kib(env.pid)
        maps0 = mappings(env.pid)
        if a.gdb:
            print_stats("before", *gdb_stats(env, False)[:2])
        print(f"gateway RSS before: {mib(base)} MiB (pid {env.pid}, {a.h2edge}"
              f"{', ' + ' '.join(a.h2edge_env) if a.h2edge_env else ''})")
        for i in range(a.storms):
            peak, failed, dt = storm(env, a.conns, a.round)
            time.sleep(2)
            after2 = suite.rss_kib(env.pid)
            time.sleep(max(0.0, a.quiet - 2))
            after = suite.rss_kib(env.pid)
            print(f"storm {i + 1}: {a.conns} connections in {dt:.1f} s ({failed} failed); RSS peak {mib(peak)} MiB, "
                  f"2 s after {mib(after2)} MiB, {a.quiet:.0f} s after {mib(after)} MiB")
            print(f"  grown since the start: {where(maps0, mappings(env.pid))}")
        if a.gdb:
            arenas, total, trimmed = gdb_stats(env, True)
            print_stats("after", arenas, total)
            print(f"RSS after malloc_trim(0): {mib(trimmed)} MiB")
    finally:
        env.stop()


if __name__ == "__main__":
    main()
