#!/usr/bin/env python3
"""The fault suite: steady gRPC and HTTP/2 load through `h2edge run` while one fault happens at a
time; per scenario, how many calls were sent, how many were lost, and how. Loopback only; each
scenario lasts --duration seconds (12 by default) with the fault at --fault-at (3 s).

    cargo build --release --bin h2edge --bin h2edge-loadtest-backend
    python3 loadtest/faults/run.py                                  # every scenario
    python3 loadtest/faults/run.py --only kill9,reload-storm
    python3 loadtest/faults/run.py --write docs/reliability.md      # and regenerate its table

Set-up (loadtest/suite.py): three h2edge echo backends, each its own process (h2c, ports 19701-3),
`h2edge run` with one worker in front (h2c listener 19741; TLS 19740), round robin; `/slow/...`
goes to the same backends with an HTTPRoute `timeouts.request` of --route-timeout.

Load, both at once: gRPC unary calls (POST /bench.Echo/Unary, 5 + 64-byte message, the echo backend
answers with the message and grpc-status 0) from a Python client, 4 connections x 16 calls in
flight, each call given up after 5 s; and plain HTTP/2 GETs from `h2load -c 2 -m 8`.
An RPC counts as lost when it does not end with grpc-status 0: a grpc-status from the gateway, an
HTTP status other than 200, RST_STREAM, its connection closing or a GOAWAY refusing it, or no answer.
"""

import argparse
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
import compare  # noqa: E402
import goaway_backend  # noqa: E402
import h2raw  # noqa: E402
import suite  # noqa: E402

BASE_PORT = 19700
GRPC_BODY = b"\x00\x00\x00\x00\x40" + bytes(range(64))
GRPC_HEADERS = [("content-type", "application/grpc"), ("te", "trailers")]


def _load(port, path, conns, depth, stop, out, give_up):
    sent, how, lat = 0, Counter(), []
    clients, refused = [], 0

    def finish(c, s, why):
        how[why] += 1
        c.streams.pop(s.sid, None)

    def retire(c, why):
        for s in list(c.streams.values()):
            finish(c, s, why)
        c.close()

    while not stop.is_set():
        # Keep `conns` usable connections.
        usable = [c for c in clients if not c.closed and not c.goaway]
        while len(usable) < conns and not stop.is_set():
            try:
                c = h2raw.h2_client("127.0.0.1", port, timeout=1.0)
                clients.append(c)
                usable.append(c)
            except OSError:
                refused += 1
                stop.wait(0.05)
                break
        for c in usable:
            while len(c.streams) < depth and c.next_sid < (1 << 30):
                c.request(path, method="POST", body=GRPC_BODY, extra=GRPC_HEADERS)
                sent += 1
        now = time.monotonic()
        for c in list(clients):
            alive = c.pump(0.002)
            for s in list(c.streams.values()):
                if s.ended:
                    if s.status == 200 and s.grpc_status == 0:
                        how["ok"] += 1
                        lat.append(s.done_at - s.started)
                    elif s.status == 200:
                        how[f"grpc-status {s.grpc_status}"] += 1
                    else:
                        how[f"HTTP {s.status}"] += 1
                    c.streams.pop(s.sid)
                elif s.reset is not None:
                    finish(c, s, f"RST_STREAM {h2raw.err_name(s.reset)}")
                elif c.goaway and s.sid > c.goaway[0]:
                    finish(c, s, "refused by GOAWAY")
                elif now - s.started > give_up:
                    c.send(h2raw.rst_stream(s.sid, h2raw.CANCEL), timeout=0.5)
                    finish(c, s, f"no answer in {give_up:.0f} s")
            if not alive:
                retire(c, "connection closed")
                clients.remove(c)
            elif c.goaway and not c.streams:
                c.close()
                clients.remove(c)
    # Calls still in flight at the end get until `give_up` to finish.
    end = time.monotonic() + give_up
    while time.monotonic() < end and any(c.streams for c in clients):
        for c in list(clients):
            if not c.pump(0.01):
                retire(c, "connection closed")
                clients.remove(c)
                continue
            for s in list(c.streams.values()):
                if s.ended:
                    ok = s.status == 200 and s.grpc_status == 0
                    how["ok" if ok else f"grpc-status {s.grpc_status}" if s.status == 200 else f"HTTP {s.status}"] += 1
                    if ok:
                        lat.append(s.done_at - s.started)
                    c.streams.pop(s.sid)
                elif s.reset is not None:
                    finish(c, s, f"RST_STREAM {h2raw.err_name(s.reset)}")
    for c in clients:
        retire(c, f"no answer in {give_up:.0f} s")
    lat.sort()
    out.put({"sent": sent, "how": dict(how), "refused_connects": refused,
             "p99_ms": 1000 * lat[int(0.99 * (len(lat) - 1))] if lat else float("nan"),
             "max_ms": 1000 * lat[-1] if lat else float("nan")})


def h2load(env, duration, logs):
    out = open(logs / f"h2load-{time.monotonic_ns()}.log", "w+")
    p = subprocess.Popen(["h2load", "-c", "2", "-m", "8", "-t", "1", "-D", str(duration),
                          f"http://127.0.0.1:{env.h2c_port}/hello.txt"],
                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    p.out = out
    return p


def parse_h2load(p):
    p.out.seek(0)
    text = p.out.read()
    try:
        r = compare.parse_h2load(text)
        return r["done"], r["errors"], f"{r['failed']} failed, {r['errored']} errored, {r['timeout']} timeout, " \
            f"{r.get('non2xx', 0)} non-2xx"
    except (ValueError, KeyError):
        return 0, 0, "h2load: " + " ".join(text.split()[-12:])


# ---------------------------------------------------------------------------------------------
# Faults: each gets the environment and the seconds into the scenario it fires at.


def no_fault(env, a):
    return "none"


def kill9(env, a):
    p = env.backend_procs[0]
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    time.sleep(a.down)
    q = compare.start("echo-1-again", suite.ALL_CPUS, [str(a.backend_bin), "--h2c", f"127.0.0.1:{env.echo_ports[0]}"],
                      env.logs)
    env.procs.append(q)
    env.backend_procs[0] = q
    return f"backend 1 killed (SIGKILL), started again {a.down:.0f} s later"


def stall(env, a, seconds=None):
    seconds = a.stall if seconds is None else seconds
    p = env.backend_procs[0]
    os.kill(p.pid, signal.SIGSTOP)
    time.sleep(seconds)
    os.kill(p.pid, signal.SIGCONT)
    return f"backend 1 stopped (SIGSTOP) for {seconds:.1f} s, then SIGCONT"


def short_stall(env, a):
    return stall(env, a, a.short_stall)


def reload_storm(env, a):
    n, end = 0, time.monotonic() + a.storm
    while time.monotonic() < end and env.alive():
        os.kill(env.pid, signal.SIGHUP)
        n += 1
        time.sleep(0.1)
    return f"{n} SIGHUPs, one every 100 ms" + ("" if env.alive() else "; the gateway exited")


def sigterm(env, a):
    t = time.monotonic()
    os.kill(env.pid, signal.SIGTERM)
    try:
        env.gateway.wait(a.duration)
        return f"SIGTERM; the gateway exited with {env.gateway.returncode} after {time.monotonic() - t:.2f} s"
    except subprocess.TimeoutExpired:
        return "SIGTERM; the gateway was still running at the end of the scenario"


class GoawayBackend:
    """Replaces echo backend 3 with goaway_backend.py for the scenario."""

    def __enter__(self):
        return self

    def setup(self, env, a):
        p = env.backend_procs[2]
        compare.stop(p)
        suite.wait_port_free(env.echo_ports[2])
        ctx = mp.get_context("fork")
        self.stop_ev = ctx.Event()
        self.counts = ctx.Array("l", 2)
        self.p = ctx.Process(target=goaway_backend.main,
                             args=(env.echo_ports[2], a.goaway_period, self.stop_ev, self.counts), daemon=True)
        self.p.start()
        time.sleep(0.5)

    def describe(self, a):
        return (f"backend 3 replaced by goaway_backend.py: GOAWAY(NO_ERROR) every {a.goaway_period:.0f} s per "
                f"connection ({self.counts[1]} sent, {self.counts[0]} calls answered by it)")

    def teardown(self, env, a):
        self.stop_ev.set()
        self.p.join(2)
        if self.p.is_alive():
            self.p.kill()
        suite.wait_port_free(env.echo_ports[2])
        q = compare.start("echo-3-again", suite.ALL_CPUS, [str(a.backend_bin), "--h2c", f"127.0.0.1:{env.echo_ports[2]}"],
                          env.logs)
        env.procs.append(q)
        env.backend_procs[2] = q
        compare.wait_port(env.echo_ports[2], q, "echo backend 3")


# (name, description, fault, path, set-up object)
SCENARIOS = [
    ("baseline", "no fault", no_fault, "/bench.Echo/Unary", None),
    ("kill9", "backend kill -9", kill9, "/bench.Echo/Unary", None),
    ("stall", "backend stall, no route timeout", stall, "/bench.Echo/Unary", None),
    ("stall-timeout", "backend stall, route timeout", stall, "/slow/bench.Echo/Unary", None),
    ("stall-short", "backend stall shorter than the route timeout", short_stall, "/slow/bench.Echo/Unary", None),
    ("goaway", "a backend sending GOAWAY every few seconds", no_fault, "/bench.Echo/Unary", GoawayBackend),
    ("reload-storm", "reload storm (SIGHUP every 100 ms)", reload_storm, "/bench.Echo/Unary", None),
    ("sigterm", "SIGTERM under load", sigterm, "/bench.Echo/Unary", None),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--h2edge", type=Path, default=suite.REPO / "target/release/h2edge")
    ap.add_argument("--backend-bin", type=Path, default=suite.REPO / "target/release/h2edge-loadtest-backend")
    ap.add_argument("--h2edge-env", action="append", default=[], metavar="VAR=VALUE")
    ap.add_argument("--only", default="")
    ap.add_argument("--write", type=Path)
    ap.add_argument("--duration", type=float, default=12.0)
    ap.add_argument("--fault-at", type=float, default=3.0)
    ap.add_argument("--down", type=float, default=4.0, help="seconds a killed backend stays down")
    ap.add_argument("--stall", type=float, default=2.0, help="seconds a backend stays SIGSTOPped")
    ap.add_argument("--short-stall", type=float, default=0.5,
                    help="seconds of the stall shorter than the route timeout (stall-short)")
    ap.add_argument("--storm", type=float, default=6.0, help="seconds of SIGHUPs")
    ap.add_argument("--goaway-period", type=float, default=2.0)
    ap.add_argument("--route-timeout", default="1s")
    ap.add_argument("--give-up", type=float, default=5.0, help="seconds after which a call counts as unanswered")
    ap.add_argument("--commit", help="the commit the binary was built from, for the report (default: this checkout's)")
    ap.add_argument("--scratch", type=Path, default=Path("/tmp/h2edge-loadtest"))
    a = ap.parse_args()
    only = [x for x in a.only.split(",") if x]
    unknown = set(only) - {s[0] for s in SCENARIOS}
    if unknown:
        sys.exit(f"unknown scenario(s): {', '.join(sorted(unknown))}: {', '.join(s[0] for s in SCENARIOS)}")
    for b in (a.h2edge, a.backend_bin):
        if not b.exists():
            sys.exit(f"{b} not found: cargo build --release --bin h2edge --bin h2edge-loadtest-backend")
    env = suite.Env(a, BASE_PORT, separate_backends=True, slow_timeout=a.route_timeout, files=False, name="faults")
    suite.log(f"gateway pid {env.pid}, h2c 127.0.0.1:{env.h2c_port}; logs in {env.logs}")
    rows = []
    try:
        for name, desc, fault, path, setup_cls in SCENARIOS:
            if only and name not in only:
                continue
            if not env.alive():
                env.start_gateway()
            setup = setup_cls() if setup_cls else None
            if setup:
                setup.setup(env, a)
            ctx = mp.get_context("fork")
            stop, q = ctx.Event(), ctx.Queue()
            loader = ctx.Process(target=_load, args=(env.h2c_port, path, 4, 16, stop, q, a.give_up), daemon=True)
            loader.start()
            hl = h2load(env, int(a.duration), env.logs)
            time.sleep(a.fault_at)
            what = fault(env, a)
            if path.startswith("/slow"):
                what += f"; calls on the /slow route (timeouts.request {a.route_timeout})"
            left = a.duration - a.fault_at
            t_end = time.monotonic() + max(0.0, left - (time.monotonic() % 1e-9))
            while time.monotonic() < t_end:
                time.sleep(0.1)
            stop.set()
            try:
                res = q.get(timeout=a.give_up + 10)
            except Exception:
                res = {"sent": 0, "how": {"load client did not report": 1}, "refused_connects": 0,
                       "p99_ms": float("nan"), "max_ms": float("nan")}
            loader.join(2)
            try:
                hl.wait(a.duration + 10)
            except subprocess.TimeoutExpired:
                compare.stop(hl)
            done, errs, hdesc = parse_h2load(hl)
            if setup:
                what = setup.describe(a)
                setup.teardown(env, a)
            how = dict(res["how"])
            ok = how.pop("ok", 0)
            lost = sum(how.values())
            row = dict(name=name, desc=desc, what=what, sent=res["sent"], ok=ok, lost=lost,
                       how=", ".join(f"{k} {v}" for k, v in sorted(how.items(), key=lambda kv: -kv[1])) or "-",
                       refused=res["refused_connects"], p99=res["p99_ms"], max=res["max_ms"],
                       h2load=f"{done} done, {errs} errors" + (f" ({hdesc})" if errs or not done else ""))
            rows.append(row)
            suite.log(f"{name}: {what}; gRPC {row['sent']} sent, {ok} ok, {lost} lost ({row['how']}); refused "
                      f"connects {row['refused']}; p99 {row['p99']:.0f} ms, max {row['max']:.0f} ms; h2load {row['h2load']}")
    finally:
        env.stop()
    text = report(a, rows)
    print(text)
    if a.write:
        suite.write_section(a.write, "fault-suite", text)
        suite.log(f"wrote {a.write}")


def report(a, rows):
    cmd = "python3 loadtest/faults/run.py" + (f" --only {a.only}" if a.only else "") + \
        (f" --write {a.write}" if a.write else "")
    head = (f"Generated by `{cmd}` at commit {a.commit or suite.git_commit()} on "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} (binary `{a.h2edge}`, one worker, "
            f"{os.uname().release}). Each scenario: {a.duration:.0f} s of load, the fault at {a.fault_at:.0f} s; "
            f"gRPC unary calls from 4 connections x 16 in flight (given up after {a.give_up:.0f} s), "
            f"plus `h2load -c 2 -m 8` GETs, both over h2c.")
    table = suite.md_table(
        ["scenario", "fault", "gRPC calls sent", "ok", "lost", "how they were lost", "refused connects",
         "p99 / max ms (ok calls)", "h2load GETs"],
        [[f"`{r['name']}`", r["what"], r["sent"], r["ok"], f"**{r['lost']}**" if r["lost"] else 0, r["how"],
          r["refused"], f"{r['p99']:.0f} / {r['max']:.0f}", r["h2load"]] for r in rows])
    return head + "\n\n" + table + "\n"


if __name__ == "__main__":
    main()
