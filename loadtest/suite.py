"""What the attack suite (loadtest/attack/run.py) and the fault suite (loadtest/faults/run.py) share:
certificates (compare.py's), backends, the `h2edge run` configuration, the gateway process and its
/proc figures, and the honest client that measures whether the gateway keeps serving others.

Everything listens on 127.0.0.1 only; every process started here is stopped by `Env.stop()`.
"""

import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
import compare  # noqa: E402  (certificates and process helpers)
import h2raw  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
ALL_CPUS = f"0-{os.cpu_count() - 1}"
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def git_commit():
    try:
        c = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                           text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return c + ("+dirty" if dirty else "")
    except OSError:
        return "unknown"


# ---------------------------------------------------------------------------------------------
# /proc figures


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_ticks(pid):
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except OSError:
        return 0


def open_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


class Sampler:
    """Samples a process's RSS and CPU every 50 ms while a case runs."""

    def __init__(self, pid):
        self.pid = pid
        self._stop = threading.Event()
        self.peak = 0
        self.peak_fds = 0

    def __enter__(self):
        self.t0, self.c0 = time.monotonic(), cpu_ticks(self.pid)
        self.peak = rss_kib(self.pid)
        self.peak_fds = open_fds(self.pid)
        self._stop.clear()
        self.th = threading.Thread(target=self._run, daemon=True)
        self.th.start()
        return self

    def _run(self):
        n = 0
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss_kib(self.pid))
            n += 1
            if n % 10 == 0:
                self.peak_fds = max(self.peak_fds, open_fds(self.pid))

    def __exit__(self, *exc):
        self._stop.set()
        self.th.join()
        self.t1, self.c1 = time.monotonic(), cpu_ticks(self.pid)
        self.peak = max(self.peak, rss_kib(self.pid))

    @property
    def cpu_pct(self):
        return 100.0 * (self.c1 - self.c0) / CLK_TCK / max(1e-9, self.t1 - self.t0)


# ---------------------------------------------------------------------------------------------
# The honest client: its own process, one connection at a time, one request at a time.


def _honest(port, tls, paths, interval, stop, out, timeout):
    lat, fails, reconnects = [], {}, 0
    c, i = None, 0
    started = None
    path = paths[0]

    def fail(why, since):
        why = f"{path}: {why}"
        fails[why] = fails.get(why, 0) + 1
        lat.append(time.monotonic() - since)

    while not stop.is_set():
        t = time.monotonic()
        started = t
        try:
            if c is None or c.closed or c.goaway:
                if c is not None:
                    c.close()
                    reconnects += 1
                c = h2raw.h2_client("127.0.0.1", port, tls=tls)
            path = paths[i % len(paths)]
            i += 1
            sid = c.request(path, scheme="https" if tls else "http")
            s = c.streams[sid]
            alive = c.pump(timeout, until=lambda: s.ended or s.reset is not None)
            if s.ended and s.status == 200:
                lat.append(s.done_at - t)
            elif s.reset is not None:
                fail(f"RST_STREAM {h2raw.err_name(s.reset)}", t)
            elif s.ended:
                fail(f"status {s.status}", t)
            elif not alive:
                fail(f"closed ({c.closed})", t)
            else:
                fail("no answer within %.0f s" % timeout, t)
                c.close()
                c = None
            if c is not None:
                del c.streams[sid]
        except (OSError, h2raw.Closed) as e:
            fail(f"connect: {e.__class__.__name__}", t)
            c = None
            stop.wait(0.05)
        started = None
        stop.wait(interval)
    if started is not None:
        lat.append(time.monotonic() - started)
    lat.sort()
    out.put({
        "n": len(lat), "fails": fails, "reconnects": reconnects,
        "max_ms": 1000 * lat[-1] if lat else float("nan"),
        "p50_ms": 1000 * lat[len(lat) // 2] if lat else float("nan"),
        "p99_ms": 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else float("nan"),
    })


class Honest:
    """`with Honest(port, tls, paths):` runs the honest client for the block; `.result` afterwards."""

    def __init__(self, port, tls=True, paths=("/hello.txt",), interval=0.02, timeout=3.0):
        self.args = (port, tls, list(paths), interval)
        self.timeout = timeout
        self.result = None

    def __enter__(self):
        ctx = mp.get_context("fork")
        self.stop, self.q = ctx.Event(), ctx.Queue()
        self.p = ctx.Process(target=_honest, args=(*self.args, self.stop, self.q, self.timeout), daemon=True)
        self.p.start()
        time.sleep(0.3)  # its first request is answered before the case starts
        return self

    def __exit__(self, *exc):
        self.stop.set()
        try:
            self.result = self.q.get(timeout=self.timeout + 5)
        except Exception:
            self.result = {"n": 0, "fails": {"honest client did not report": 1}, "reconnects": 0,
                           "max_ms": float("nan"), "p50_ms": float("nan"), "p99_ms": float("nan")}
        self.p.join(2)
        if self.p.is_alive():
            self.p.kill()


# ---------------------------------------------------------------------------------------------
# The environment: backends, configuration, gateway


class Env:
    """Certificates, backends and one `h2edge run` (one worker) with a TLS and an h2c listener.

    Routes: `/big/...` goes to nghttpd (files: hello.txt, 256k.bin, 1m.bin, 16m.bin), `/evil-NAME/...`
    to the extra upstreams given as `evil={NAME: port}`, `/slow/...` to the echo backends with a
    route timeout (`slow_timeout`), everything else to `echo_backends` h2edge echo backends (h2c,
    round robin)."""

    def __init__(self, args, base_port, evil=None, echo_backends=3, separate_backends=False,
                 slow_timeout=None, files=True, name="suite"):
        self.args, self.base = args, base_port
        self.scratch = Path(args.scratch)
        self.stamp = time.strftime("%Y%m%d-%H%M%S")
        self.logs = self.scratch / f"{name}-{self.stamp}"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.certs = self.scratch / "certs"
        compare.gen_certs(self.certs)
        self.tls_port, self.h2c_port = base_port + 40, base_port + 41
        self.echo_ports = [base_port + 1 + i for i in range(echo_backends)]
        self.files_port = base_port + 10
        self.evil = dict(evil or {})
        self.slow_timeout = slow_timeout
        self.procs = []
        self.backend_procs = []
        self.gateway = None
        compare.raise_nofile()
        # Echo backends: one process for all, or one per backend (the fault suite kills them).
        groups = [[p] for p in self.echo_ports] if separate_backends else [self.echo_ports]
        for gi, ports in enumerate(groups):
            p = compare.start(f"echo-{gi + 1}", ALL_CPUS, [
                str(args.backend_bin), "--h2c", ",".join(f"127.0.0.1:{q}" for q in ports)], self.logs)
            self.procs.append(p)
            self.backend_procs.append(p)
            for q in ports:
                compare.wait_port(q, p, "echo backend")
        if files:
            www = self.logs / "www"
            (www / "big").mkdir(parents=True, exist_ok=True)
            (www / "big" / "hello.txt").write_text("hello from nghttpd\n")
            for n, size in [("256k.bin", 256 << 10), ("1m.bin", 1 << 20), ("16m.bin", 16 << 20)]:
                (www / "big" / n).write_bytes(os.urandom(64 << 10) * (size // (64 << 10)))
            p = compare.start("nghttpd", ALL_CPUS, ["nghttpd", "-a", "127.0.0.1", "--no-tls", "-d", str(www),
                                                   str(self.files_port)], self.logs)
            self.procs.append(p)
            compare.wait_port(self.files_port, p, "nghttpd")
        self.config = self.logs / "gateway.yaml"
        self.config.write_text(self.yaml())
        self.start_gateway()

    def yaml(self):
        c = self.certs
        docs = [f"""apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: edge, namespace: suite}}
spec:
  gatewayClassName: h2edge
  listeners:
  - {{name: https, port: {self.tls_port}, protocol: HTTPS, tls: {{mode: Terminate, certificateRefs: [{{name: gateway-cert}}]}}}}
  - {{name: h2c, port: {self.h2c_port}, protocol: HTTP}}""", f"""apiVersion: v1
kind: Secret
metadata:
  name: gateway-cert
  namespace: suite
  annotations: {{h2edge.io/cert-file: {c / 'gateway.crt'}, h2edge.io/key-file: {c / 'gateway.key'}}}
type: kubernetes.io/tls"""]
        rules = []
        services = {"echo": self.echo_ports}
        if (self.logs / "www").exists():
            services["files"] = [self.files_port]
            rules.append(("/big", "files", None))
        if self.slow_timeout:
            rules.append(("/slow", "echo", self.slow_timeout))
        for name, port in self.evil.items():
            services[f"evil-{name}"] = [port]
            rules.append((f"/evil-{name}", f"evil-{name}", None))
        rules.append((None, "echo", None))
        lines = ["apiVersion: gateway.networking.k8s.io/v1", "kind: HTTPRoute",
                 "metadata: {name: all, namespace: suite}", "spec:", "  parentRefs: [{name: edge}]", "  rules:"]
        for prefix, svc, timeout in rules:
            lines.append(f"  - backendRefs: [{{name: {svc}, port: 80}}]")
            if prefix:
                lines.append(f"    matches: [{{path: {{type: PathPrefix, value: {prefix}}}}}]")
            if timeout:
                lines.append(f"    timeouts: {{request: {timeout}}}")
        docs.append("\n".join(lines))
        for svc, ports in services.items():
            docs.append(f"""apiVersion: v1
kind: Service
metadata: {{name: {svc}, namespace: suite}}
spec:
  ports: [{{name: h2c, port: 80}}]""")
            for i, port in enumerate(ports):
                docs.append(f"""apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {svc}-{i}
  namespace: suite
  labels: {{kubernetes.io/service-name: {svc}}}
addressType: IPv4
ports: [{{name: h2c, port: {port}}}]
endpoints: [{{addresses: ["127.0.0.1"]}}]""")
        return "\n---\n".join(docs) + "\n"

    def start_gateway(self):
        env = dict(os.environ, **dict(kv.split("=", 1) for kv in getattr(self.args, "h2edge_env", []) or []))
        self.gateway = compare.start(f"gateway-{len(self.procs)}", ALL_CPUS, [
            str(self.args.h2edge), "run", str(self.config), "--bind", "127.0.0.1", "--workers", "1"],
            self.logs, env)
        self.procs.append(self.gateway)
        compare.wait_port(self.tls_port, self.gateway, "h2edge run")
        compare.wait_port(self.h2c_port, self.gateway, "h2edge run")
        # The first requests open the upstream connections.
        for path in ["/hello.txt", "/big/hello.txt"] if (self.logs / "www").exists() else ["/hello.txt"]:
            for _ in range(3):
                self.get(path, tls=False, timeout=5)
        return self.gateway

    def restart_gateway(self):
        """A fresh gateway on the same configuration (the previous one stopped if still running)."""
        compare.stop(self.gateway)
        self.procs.remove(self.gateway)
        for port in (self.tls_port, self.h2c_port):
            wait_port_free(port)
        return self.start_gateway()

    @property
    def pid(self):
        return self.gateway.pid

    def alive(self):
        return self.gateway.poll() is None

    def get(self, path, tls=False, timeout=3.0):
        """One GET on a fresh connection: (status or None, seconds, body bytes, what went wrong)."""
        t = time.monotonic()
        try:
            c = h2raw.h2_client("127.0.0.1", self.tls_port if tls else self.h2c_port, tls=tls)
        except OSError as e:
            return None, time.monotonic() - t, 0, f"connect: {e}"
        try:
            sid = c.request(path, scheme="https" if tls else "http")
            s = c.streams[sid]
            c.pump(timeout, until=lambda: s.ended or s.reset is not None)
            why = "" if s.ended else f"RST_STREAM {h2raw.err_name(s.reset)}" if s.reset is not None else \
                f"closed ({c.closed})" if c.closed else "no answer"
            return s.status, time.monotonic() - t, s.body, why
        finally:
            c.close()

    def stop(self):
        for p in reversed(self.procs):
            try:
                os.kill(p.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
            compare.stop(p)
        self.procs = []


def wait_port_free(port, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
                return True
            except OSError:
                time.sleep(0.1)
    return False


def md_table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(x).replace("|", "\\|") for x in r) + " |")
    return "\n".join(out)


def write_section(path, marker, text):
    """Replaces the part of `path` between `<!-- marker:begin -->` and `<!-- marker:end -->` (appends
    the markers and text when they are not there yet)."""
    path = Path(path)
    begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
    old = path.read_text() if path.exists() else ""
    block = f"{begin}\n{text.rstrip()}\n{end}"
    if begin in old and end in old:
        new = old[:old.index(begin)] + block + old[old.index(end) + len(end):]
    else:
        new = old.rstrip() + ("\n\n" if old else "") + block + "\n"
    path.write_text(new)
