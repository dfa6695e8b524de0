#!/usr/bin/env python3
"""h2edge against nghttpx, HAProxy and nginx: the same TLS frontend, the same three backends over
mutual TLS (or h2c), the same h2load load, one run, one table. See loadtest/README.md.

    cargo build --release
    python3 loadtest/compare.py                       # every target and workload, 3 repetitions
    python3 loadtest/compare.py --targets h2edge,nghttpx --workloads grpc --reps 5
    python3 loadtest/compare.py --rate 40000          # open loop: CPU and latency below saturation

Everything generated (certificates, configs, logs, h2load output, results) goes to --scratch. The
proxy runs alone on --proxy-cpu with one worker; h2load, the backends and this script run on
--loadgen-cpu. Each proxy is started fresh for each run (so its peak RSS covers that run only) and
the repetitions are interleaved (target after target, then again), so slow drift of the machine
hits every proxy alike. Exit status 1 if any run had errors or spread its requests unevenly.
"""

import argparse
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BACKENDS = 3
# Fixed ports below the ephemeral range (32768-60999), so no client socket can hold one.
BE_TLS_PORT, BE_H2C_PORT = 19001, 19021
PROXY_PORT = {"h2edge": 19440, "nghttpx": 19441, "haproxy": 19442, "nginx": 19443}
BE_NAME = "backend.test"
BACKEND_ID = "spiffe://cluster.local/ns/bench/sa/backend"
GATEWAY_ID = "spiffe://cluster.local/ns/bench/sa/gateway"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Workloads: path, request body (None: GET), extra request headers, h2load connections and streams
# per connection (None: --conns / --streams).
GRPC_HEADERS = ["content-type: application/grpc", "te: trailers"]
WORKLOADS = {
    # GET of 14 bytes ("hello from bN\n" from our backend, /hello.txt from nghttpd).
    "get": ("/hello.txt", None, [], None, None),
    # A unary gRPC call: 5-byte prefix + 64-byte message; the reply ends with grpc-status: 0.
    "grpc": ("/bench.Echo/Unary", b"\x00\x00\x00\x00\x40" + bytes(range(64)), GRPC_HEADERS, None, None),
    # A 1 MiB gRPC message each way (our backend echoes it).
    "grpc-1m": ("/bench.Echo/Unary", b"\x00\x00\x10\x00\x00" + bytes(1 << 20), GRPC_HEADERS, 8, 4),
}


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def die(msg):
    log(f"error: {msg}")
    sys.exit(2)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


# ---------------------------------------------------------------------------------------------
# Certificates: an edge CA for the frontend, a mesh CA for both ends of the upstream mTLS hop.


def gen_certs(d: Path):
    if (d / "done").exists():
        return
    d.mkdir(parents=True, exist_ok=True)

    def key(name):
        run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", str(d / f"{name}.key")])
        (d / f"{name}.key").chmod(0o644)  # nginx's and HAProxy's workers read them too

    def ca(name, cn):
        key(name)
        run(["openssl", "req", "-x509", "-new", "-key", str(d / f"{name}.key"), "-sha256",
             "-days", "30", "-subj", f"/CN={cn}", "-out", str(d / f"{name}.crt"),
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"])

    def leaf(name, issuer, sans):
        key(name)
        ext = d / f"{name}.ext"
        ext.write_text("basicConstraints=critical,CA:FALSE\n"
                       "keyUsage=critical,digitalSignature\n"
                       "extendedKeyUsage=serverAuth,clientAuth\n"
                       f"subjectAltName={','.join(sans)}\n")
        run(["openssl", "req", "-new", "-key", str(d / f"{name}.key"), "-subj", f"/CN={name}",
             "-out", str(d / f"{name}.csr")])
        run(["openssl", "x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / f"{issuer}.crt"),
             "-CAkey", str(d / f"{issuer}.key"), "-set_serial", str(int.from_bytes(os.urandom(8), "big")),
             "-days", "30", "-sha256", "-extfile", str(ext), "-out", str(d / f"{name}.crt")])
        # HAProxy wants the certificate and its key in one file.
        (d / f"{name}.pem").write_text((d / f"{name}.crt").read_text() + (d / f"{name}.key").read_text())

    ca("edge-ca", "h2edge loadtest edge CA")
    ca("mesh-ca", "h2edge loadtest mesh CA")
    leaf("gateway", "edge-ca", ["DNS:gateway.test", "DNS:localhost", "IP:127.0.0.1"])
    leaf("backend", "mesh-ca", [f"DNS:{BE_NAME}", "IP:127.0.0.1", f"URI:{BACKEND_ID}"])
    leaf("gw-client", "mesh-ca", [f"URI:{GATEWAY_ID}"])
    (d / "done").write_text("")


# ---------------------------------------------------------------------------------------------
# Processes


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))


def start(name, cpu, argv, logs: Path, env=None):
    out = open(logs / f"{name}.log", "wb")
    p = subprocess.Popen(["taskset", "-c", str(cpu), *argv], stdout=out, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True, env=env)
    p.log_path = logs / f"{name}.log"
    return p


def stop(p):
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    # Children a master left behind (nginx, nghttpx workers) share the session.
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def wait_port(port, p, what, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if p.poll() is not None:
            die(f"{what} exited with {p.returncode}; its log: {p.log_path}\n{tail(p.log_path)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    die(f"{what} does not listen on port {port} after {timeout} s; its log: {p.log_path}")


def tail(path, n=20):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def tree(pid):
    """pid and all its descendants."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total


def peak_rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def cpu_busy():
    """Busy and total ticks per CPU, from /proc/stat."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3].isdigit():
            f = line.split()
            vals = list(map(int, f[1:]))
            idle = vals[3] + vals[4]
            out[int(f[0][3:])] = (sum(vals) - idle, sum(vals))
    return out


def busy_pct(before, after, cpu):
    b = after[cpu][0] - before[cpu][0]
    t = after[cpu][1] - before[cpu][1]
    return 100.0 * b / t if t else 0.0


# ---------------------------------------------------------------------------------------------
# Backends: three, each with an mTLS listener (client certificate required) and an h2c listener.


class Backends:
    def __init__(self, impl, args, certs, scratch, logs):
        self.impl, self.procs, self.counts_file = impl, [], scratch / "backend-counts.txt"
        self.tls = [f"127.0.0.1:{BE_TLS_PORT + i}" for i in range(BACKENDS)]
        self.h2c = [f"127.0.0.1:{BE_H2C_PORT + i}" for i in range(BACKENDS)]
        # Per backend, the processes serving it (nghttpd: one per listener).
        self.by_backend = [[] for _ in range(BACKENDS)]
        if impl == "h2edge":
            p = start("backends", args.loadgen_cpu, [
                str(args.backend_bin), "--cert", str(certs / "backend.crt"), "--key", str(certs / "backend.key"),
                "--ca", str(certs / "mesh-ca.crt"), "--tls", ",".join(self.tls), "--h2c", ",".join(self.h2c),
                "--counts", str(self.counts_file)], logs)
            self.procs.append(p)
            for a in self.tls + self.h2c:
                wait_port(int(a.rsplit(":", 1)[1]), p, "the backends")
        else:
            for i in range(BACKENDS):
                www = scratch / "www" / f"b{i + 1}"
                (www / "bench.Echo").mkdir(parents=True, exist_ok=True)
                (www / "hello.txt").write_text(f"hello from b{i + 1}\n")
                (www / "bench.Echo" / "Unary").write_bytes(b"\x00\x00\x00\x00\x02" + f"b{i + 1}".encode())
                common = ["nghttpd", "-a", "127.0.0.1", "-m", "1024", "--trailer", "grpc-status: 0", "-d", str(www)]
                for kind, argv, port in [
                    ("mtls", common + ["-V", str(BE_TLS_PORT + i), str(certs / "backend.key"),
                                       str(certs / "backend.crt")], BE_TLS_PORT + i),
                    ("h2c", common + ["--no-tls", str(BE_H2C_PORT + i)], BE_H2C_PORT + i),
                ]:
                    p = start(f"backend-b{i + 1}-{kind}", args.loadgen_cpu, argv, logs)
                    self.procs.append(p)
                    self.by_backend[i].append(p)
                    wait_port(port, p, f"backend b{i + 1} ({kind})")

    def pids(self):
        return [pid for p in self.procs for pid in tree(p.pid)]

    def counts(self):
        """Requests served so far, per backend (our backend), or CPU ticks per backend (nghttpd)."""
        if self.impl == "h2edge":
            time.sleep(0.25)  # the counts file is rewritten every 100 ms
            text = self.counts_file.read_text()
            return [int(line.split()[1]) for line in text.splitlines()]
        return [cpu_ticks([q for p in procs for q in tree(p.pid)]) for procs in self.by_backend]

    def stop(self):
        for p in self.procs:
            stop(p)


# ---------------------------------------------------------------------------------------------
# Proxies: each configured the same way: TLS 1.3 + ALPN h2 with the gateway certificate, one
# worker, round robin per request over the three backends, HTTP/2 upstream over mutual TLS
# (verifying the backend's certificate against the mesh CA) or h2c, no access log.


def upstreams(mode):
    return [f"127.0.0.1:{(BE_TLS_PORT if mode == 'mtls' else BE_H2C_PORT) + i}" for i in range(BACKENDS)]


def proxy_h2edge(mode, port, certs, conf, args):
    # loadtest/peers-custom.sh turns these variables into a Gateway API / Istio config.
    env = dict(os.environ, **dict(kv.split("=", 1) for kv in args.h2edge_env))
    env.update(PORT=str(port), CERTS=str(certs), UPSTREAM_MODE=mode,
               UPSTREAMS=",".join(upstreams(mode)), BE_NAME=BE_NAME, H2EDGE_BIN=str(args.h2edge_bin))
    return ["bash", str(HERE / "peers-custom.sh")], env


def proxy_nghttpx(mode, port, certs, conf, args):
    lines = [
        f"frontend=127.0.0.1,{port}",
        f"private-key-file={certs / 'gateway.key'}",
        f"certificate-file={certs / 'gateway.crt'}",
        "workers=1", "no-ocsp=yes", "no-via=yes", "no-add-x-forwarded-proto=yes",
        "errorlog-file=/dev/null", "frontend-http2-max-concurrent-streams=128",
    ]
    for u in upstreams(mode):
        host, p = u.rsplit(":", 1)
        tls = f";tls;sni={BE_NAME}" if mode == "mtls" else ""
        lines.append(f"backend={host},{p};/;proto=h2{tls}")
    if mode == "mtls":
        lines += [f"cacert={certs / 'mesh-ca.crt'}",
                  f"client-private-key-file={certs / 'gw-client.key'}",
                  f"client-cert-file={certs / 'gw-client.crt'}"]
    f = conf / f"nghttpx-{mode}.conf"
    f.write_text("\n".join(lines) + "\n")
    return ["nghttpx", f"--conf={f}"], None


def proxy_haproxy(mode, port, certs, conf, args):
    if mode == "mtls":
        opts = (f"ssl crt {certs / 'gw-client.pem'} ca-file {certs / 'mesh-ca.crt'} verify required "
                f"verifyhost {BE_NAME} sni str({BE_NAME}) alpn h2 proto h2")
    else:
        opts = "proto h2"
    servers = "\n".join(f"    server b{i + 1} {u} {opts}" for i, u in enumerate(upstreams(mode)))
    f = conf / f"haproxy-{mode}.cfg"
    f.write_text(f"""global
    nbthread 1
    maxconn 8000
    ssl-default-bind-options ssl-min-ver TLSv1.3
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    # Upstream connections are shared by all client connections, as the other proxies do.
    http-reuse always
frontend fe
    bind 127.0.0.1:{port} ssl crt {certs / 'gateway.pem'} alpn h2
    default_backend be
backend be
    balance roundrobin
{servers}
""")
    return ["haproxy", "-db", "-f", str(f)], None


def proxy_nginx(mode, port, certs, conf, args):
    if mode == "mtls":
        scheme = "grpcs"
        tls = f"""
            grpc_ssl_certificate {certs / 'gw-client.crt'};
            grpc_ssl_certificate_key {certs / 'gw-client.key'};
            grpc_ssl_trusted_certificate {certs / 'mesh-ca.crt'};
            grpc_ssl_verify on;
            grpc_ssl_name {BE_NAME};
            grpc_ssl_server_name on;
            grpc_ssl_session_reuse on;"""
    else:
        scheme, tls = "grpc", ""
    servers = "\n".join(f"        server {u};" for u in upstreams(mode))
    prefix = conf / f"nginx-{mode}"
    prefix.mkdir(exist_ok=True)
    f = prefix / "nginx.conf"
    f.write_text(f"""daemon off;
user root;
worker_processes 1;
pid {prefix / 'nginx.pid'};
error_log {prefix / 'error.log'} warn;
worker_rlimit_nofile 65536;
events {{ worker_connections 16384; }}
http {{
    access_log off;
    client_body_temp_path {prefix};
    upstream be {{
{servers}
        # grpc_pass does not multiplex: one upstream connection per request in flight, kept alive.
        keepalive 4096;
        keepalive_requests 100000000;
    }}
    server {{
        listen 127.0.0.1:{port} ssl http2;
        ssl_certificate {certs / 'gateway.crt'};
        ssl_certificate_key {certs / 'gateway.key'};
        ssl_protocols TLSv1.3;
        keepalive_requests 100000000;
        http2_max_concurrent_streams 128;
        client_max_body_size 0;
        location / {{
            grpc_pass {scheme}://be;{tls}
        }}
    }}
}}
""")
    return ["nginx", "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(f)], None


PROXIES = {"h2edge": proxy_h2edge, "nghttpx": proxy_nghttpx, "haproxy": proxy_haproxy, "nginx": proxy_nginx}


def parse_target(t):
    name, _, mode = t.partition("-")
    if name not in PROXIES or mode not in ("", "h2c"):
        die(f"unknown target {t}: expected one of {', '.join(PROXIES)}, optionally with -h2c")
    return name, ("h2c" if mode else "mtls")


# ---------------------------------------------------------------------------------------------
# One run: a fresh proxy, one h2load, the measurements.


def h2load_args(args, workload, port, scratch, latlog):
    path, body, headers, conns, streams = WORKLOADS[workload]
    conns, streams = conns or args.conns, streams or args.streams
    argv = ["h2load", "-c", str(conns), "-m", str(streams), "-t", "1", f"--log-file={latlog}"]
    if args.rate and not args.rate_aligned:
        # h2load starts each client's --rps timer (10 ms period) when its handshake completes, so a
        # proxy that completes all handshakes within a few ms phase-locks the clients into bursts.
        # Starting one client per ms spreads the phases whatever the proxy's handshake speed; -r
        # excludes -D, so the run is a request count and the warm-up is cut from the log instead.
        per_client = max(1, args.rate // conns)
        argv += ["-n", str(per_client * conns * (args.warmup + args.duration)), "-r", "1", "--rate-period=1ms"]
    else:
        argv += ["-D", str(args.duration), f"--warm-up-time={args.warmup}"]
    for h in headers:
        argv += ["-H", h]
    if body is not None:
        f = scratch / f"body-{workload}.bin"
        if not f.exists():
            f.write_bytes(body)
        argv += ["-d", str(f)]
    if args.rate:
        argv.append(f"--rps={max(1, args.rate // conns)}")
    argv.append(f"https://127.0.0.1:{port}{path}")
    return argv


def parse_h2load(text):
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("finished in"):
            out["rps"] = float(line.split(",")[1].split()[0])
        elif line.startswith("requests:"):
            nums = [int(w) for w in line.replace(",", " ").split() if w.isdigit()]
            total, started, done, ok, failed, errored, timeout = nums[:7]
            out.update(done=done, succeeded=ok, failed=failed, errored=errored, timeout=timeout)
        elif line.startswith("status codes:"):
            nums = [int(w) for w in line.replace(",", " ").split() if w.isdigit()]
            out["non2xx"] = sum(nums[1:4])
    if "rps" not in out or "done" not in out:
        raise ValueError("unexpected h2load output")
    # (h2load's status counts and "done" can differ by one at the warm-up boundary.)
    out["errors"] = out["failed"] + out["errored"] + out["timeout"] + out.get("non2xx", 0)
    return out


def latencies_ms(latlog, since_us=0):
    """p50, p99 and the count of the requests started at or after `since_us` (wall clock), from
    h2load's per-request log (start in microseconds since the epoch, status, duration in microseconds)."""
    durations = []
    with open(latlog) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and int(parts[0]) >= since_us:
                durations.append(int(parts[2]))
    if not durations:
        return float("nan"), float("nan"), 0
    durations.sort()

    def q(x):
        return durations[min(len(durations) - 1, int(x * len(durations)))] / 1000.0

    return q(0.50), q(0.99), len(durations)


def wait_idle(args, known):
    """Waits (up to 20 s) until nothing but our own processes uses the CPUs."""
    for _ in range(40):
        b, kb = cpu_busy(), cpu_ticks(known())
        time.sleep(0.5)
        a, ka = cpu_busy(), cpu_ticks(known())
        busy = sum(a[c][0] - b[c][0] for c in a) - (ka - kb)
        total = a[args.proxy_cpu][1] - b[args.proxy_cpu][1]
        if total and 100.0 * busy / total < args.idle_max / 2:
            return
    log("warning: the machine is not idle; measuring anyway (see other%)")


def one_run(args, target, workload, backends, certs, scratch, logs, conf, rep):
    name, mode = parse_target(target)
    port = PROXY_PORT[name]
    argv, env = PROXIES[name](mode, port, certs, conf, args)
    tag = f"{target}-{workload}-{rep}"
    proxy = start(f"proxy-{tag}", args.proxy_cpu, argv, logs, env)
    try:
        wait_port(port, proxy, target)
        wait_idle(args, lambda: backends.pids() + tree(proxy.pid))
        latlog = scratch / f"latency-{tag}.log"
        h2load = start(f"h2load-{tag}", args.loadgen_cpu, h2load_args(args, workload, port, scratch, latlog), logs)
        counts0 = backends.counts()
        # The measured window starts when h2load's warm-up ends and ends when it exits.
        time.sleep(args.warmup)
        ptree = tree(proxy.pid)
        px0, sys0, t0, wall0 = cpu_ticks(ptree), cpu_busy(), time.monotonic(), time.time()
        try:
            h2load.wait(args.duration + 60)
        except subprocess.TimeoutExpired:
            stop(h2load)
            die(f"h2load did not finish; its log: {h2load.log_path}")
        ptree = tree(proxy.pid)
        px1, sys1, t1 = cpu_ticks(ptree), cpu_busy(), time.monotonic()
        rss = peak_rss_kib(ptree)
        counts1 = backends.counts()
        if h2load.returncode != 0:
            die(f"h2load failed ({h2load.returncode}):\n{tail(h2load.log_path)}")
        res = parse_h2load(h2load.log_path.read_text(errors="replace"))
    finally:
        stop(proxy)
    staggered = args.rate and not args.rate_aligned
    res["p50"], res["p99"], in_window = latencies_ms(latlog, int(wall0 * 1e6) if staggered else 0)
    latlog.unlink()
    px_s = (px1 - px0) / CLK_TCK
    window = t1 - t0
    if staggered:
        # A request-count run has no warm-up of its own: count only the requests of the window.
        res["done"], res["rps"] = in_window, in_window / window
    res["px_cpu_s"] = px_s
    res["px_cpu_pct"] = 100.0 * px_s / window
    res["cpu_us_per_req"] = 1e6 * px_s / res["done"] if res["done"] else float("nan")
    res["rss_mib"] = rss / 1024.0
    res["cpu0"] = busy_pct(sys0, sys1, args.loadgen_cpu)
    res["cpu1"] = busy_pct(sys0, sys1, args.proxy_cpu)
    # Anything else on the proxy's core (the proxy's own loopback softirq work counts as its CPU).
    res["other"] = max(0.0, res["cpu1"] - res["px_cpu_pct"])
    deltas = [b - a for a, b in zip(counts0, counts1)]
    total = sum(deltas)
    res["split"] = [d / total for d in deltas] if total else [0.0] * len(deltas)
    res["backend_requests"] = total if backends.impl == "h2edge" else None
    return res


# ---------------------------------------------------------------------------------------------
# The table


def med(xs):
    xs = [x for x in xs if x == x]
    return statistics.median(xs) if xs else float("nan")


def reference(target, targets):
    name, mode = parse_target(target)
    ref = "nghttpx" if mode == "mtls" else "nghttpx-h2c"
    return ref if ref in targets and ref != target else None


def summarize(args, results, targets):
    rows = []
    for workload in args.workloads:
        for target in targets:
            runs = results.get((target, workload), [])
            if not runs:
                continue
            ref = reference(target, targets)
            eff = []
            if ref:
                for rep, r in enumerate(runs):
                    refs = results.get((ref, workload), [])
                    if rep < len(refs) and r["cpu_us_per_req"] > 0:
                        eff.append(refs[rep]["cpu_us_per_req"] / r["cpu_us_per_req"])
            rps = [r["rps"] for r in runs]
            rows.append({
                "workload": workload, "target": target, "runs": len(runs),
                "rps": med(rps),
                "spread": (max(rps) - min(rps)) / med(rps) if med(rps) else 0.0,
                "p50": med([r["p50"] for r in runs]), "p99": med([r["p99"] for r in runs]),
                "cpu_s_per_M": med([r["cpu_us_per_req"] for r in runs]),
                "req_per_cpu_s": med([1e6 / r["cpu_us_per_req"] for r in runs if r["cpu_us_per_req"] > 0]),
                "eff_x": med(eff) if eff else None, "ref": ref,
                "rss": max(r["rss_mib"] for r in runs),
                "errors": sum(r["errors"] for r in runs),
                "split": [med([r["split"][i] for r in runs]) for i in range(BACKENDS)],
                "worst_split": max(abs(s - 1.0 / BACKENDS) * BACKENDS for r in runs for s in r["split"]),
                "cpu0": med([r["cpu0"] for r in runs]), "pxcpu": med([r["px_cpu_pct"] for r in runs]),
                "other": max(r["other"] for r in runs),
            })
    return rows


def table(rows):
    head = ["workload", "proxy", "req/s", "spread", "p50 ms", "p99 ms", "CPU s / M req",
            "req / CPU s", "x nghttpx", "peak RSS MiB", "errors", "backend split", "proxy CPU %",
            "loadgen CPU %"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join([
            r["workload"], r["target"], f"{r['rps']:,.0f}", f"{100 * r['spread']:.0f}%",
            f"{r['p50']:.2f}", f"{r['p99']:.2f}", f"{r['cpu_s_per_M']:.2f}", f"{r['req_per_cpu_s']:,.0f}",
            f"{r['eff_x']:.2f}x" if r["eff_x"] is not None else "-", f"{r['rss']:.0f}", str(r["errors"]),
            "/".join(f"{100 * s:.0f}" for s in r["split"]), f"{r['pxcpu']:.0f}", f"{r['cpu0']:.0f}",
        ]) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", default="h2edge,nghttpx,haproxy,nginx,h2edge-h2c,nghttpx-h2c",
                    help="proxies to measure; NAME (mTLS upstreams) or NAME-h2c (h2c upstreams), "
                         f"NAME in {', '.join(PROXIES)}")
    ap.add_argument("--workloads", default="get,grpc", help=f"of {', '.join(WORKLOADS)}")
    ap.add_argument("--reps", type=int, default=3, help="interleaved repetitions (the table shows medians)")
    ap.add_argument("--duration", type=int, default=10, help="measured seconds per run (h2load -D)")
    ap.add_argument("--warmup", type=int, default=2, help="h2load --warm-up-time, not measured")
    ap.add_argument("--conns", type=int, default=64, help="h2load -c")
    ap.add_argument("--streams", type=int, default=32, help="h2load -m (streams in flight per connection)")
    ap.add_argument("--rate", type=int, default=0, help="open loop: total requests per second (h2load --rps)")
    ap.add_argument("--rate-aligned", action="store_true",
                    help="with --rate: start all clients at once as plain h2load does, so their request "
                         "timers' phases follow the proxy's handshake timing (see loadtest/README.md)")
    ap.add_argument("--backend", choices=["h2edge", "nghttpd"], default="h2edge",
                    help="h2edge-loadtest-backend (exact request counts) or nghttpd (split = CPU share)")
    ap.add_argument("--proxy-cpu", type=int, default=1)
    ap.add_argument("--loadgen-cpu", type=int, default=0)
    ap.add_argument("--idle-max", type=float, default=15.0,
                    help="a run where other processes used more than this %% of a core is run again")
    ap.add_argument("--max-split-error", type=float, default=0.2,
                    help="fail when a backend's share is off 1/3 by more than this fraction of 1/3")
    ap.add_argument("--scratch", type=Path, default=Path("/tmp/h2edge-loadtest"))
    ap.add_argument("--h2edge-bin", type=Path, default=REPO / "target/release/h2edge")
    ap.add_argument("--h2edge-env", action="append", default=[], metavar="VAR=VALUE",
                    help="environment for the h2edge proxy only (e.g. H2EDGE_IO=epoll)")
    ap.add_argument("--backend-bin", type=Path, default=REPO / "target/release/h2edge-loadtest-backend")
    args = ap.parse_args()
    args.workloads = [w for w in args.workloads.split(",") if w]
    targets = [t for t in args.targets.split(",") if t]
    for t in targets:
        parse_target(t)
    for w in args.workloads:
        if w not in WORKLOADS:
            die(f"unknown workload {w}: expected one of {', '.join(WORKLOADS)}")
    tools = {"h2load", "openssl", "taskset"} | {parse_target(t)[0] for t in targets} - {"h2edge"}
    if args.backend == "nghttpd":
        tools.add("nghttpd")
    missing = [t for t in sorted(tools) if not any(
        os.access(os.path.join(d, t), os.X_OK) for d in os.environ.get("PATH", "").split(":") + ["/usr/sbin"])]
    if missing:
        die(f"missing tools: {' '.join(missing)} (apt-get install nghttp2-client nghttp2-proxy "
            "nghttp2-server haproxy nginx openssl util-linux)")
    for b in [args.h2edge_bin] + ([args.backend_bin] if args.backend == "h2edge" else []):
        if not b.exists():
            die(f"{b} not found: run `cargo build --release` first")
    os.environ["PATH"] += ":/usr/sbin"
    raise_nofile()

    scratch = args.scratch
    stamp = time.strftime("%Y%m%d-%H%M%S")
    certs, conf, logs = scratch / "certs", scratch / "conf", scratch / f"run-{stamp}"
    for d in (conf, logs):
        d.mkdir(parents=True, exist_ok=True)
    gen_certs(certs)
    backends = Backends(args.backend, args, certs, scratch, logs)
    log(f"backends ({args.backend}) on CPU {args.loadgen_cpu}: mTLS {' '.join(backends.tls)}, "
        f"h2c {' '.join(backends.h2c)}; proxies on CPU {args.proxy_cpu}; results in {logs}")
    results = {}
    tsv = open(logs / "runs.tsv", "w")
    cols = ["rep", "workload", "target", "rps", "p50", "p99", "done", "errors", "px_cpu_s", "px_cpu_pct",
            "cpu_us_per_req", "rss_mib", "cpu0", "cpu1", "other", "split"]
    tsv.write("\t".join(cols) + "\n")
    try:
        for rep in range(args.reps):
            for workload in args.workloads:
                for target in targets:
                    for attempt in range(3):
                        r = one_run(args, target, workload, backends, certs, scratch, logs, conf, rep)
                        if r["other"] <= args.idle_max or attempt == 2:
                            break
                        log(f"  other processes used {r['other']:.0f}% of a core: run again")
                    results.setdefault((target, workload), []).append(r)
                    log(f"rep {rep + 1}/{args.reps} {workload:8} {target:12} {r['rps']:>9,.0f} req/s  "
                        f"p99 {r['p99']:7.2f} ms  {r['cpu_us_per_req']:6.2f} us CPU/req  "
                        f"RSS {r['rss_mib']:5.0f} MiB  errors {r['errors']}  split "
                        f"{'/'.join(f'{100 * s:.0f}' for s in r['split'])}  "
                        f"cpu0 {r['cpu0']:.0f}% other {r['other']:.0f}%")
                    tsv.write("\t".join(str(rep if c == "rep" else workload if c == "workload" else
                                            target if c == "target" else
                                            "/".join(f"{s:.3f}" for s in r["split"]) if c == "split" else
                                            round(r[c], 3) if isinstance(r[c], float) else r[c])
                                        for c in cols) + "\n")
                    tsv.flush()
    finally:
        backends.stop()
    rows = summarize(args, results, targets)
    text = table(rows)
    mode = f"open loop at {args.rate} req/s, clients {'started at once' if args.rate_aligned else 'one per ms'}" \
        if args.rate else \
        f"h2load -c {args.conns} -m {args.streams} -t 1 -D {args.duration} --warm-up-time={args.warmup}"
    own = [f"{w}: -c {WORKLOADS[w][3]} -m {WORKLOADS[w][4]}" for w in args.workloads if WORKLOADS[w][3]]
    if own:
        mode += f" ({', '.join(own)})"
    header = (f"{args.reps} interleaved repetitions, medians; {mode}; backends: {args.backend}; "
              f"proxy pinned to CPU {args.proxy_cpu} with one worker; {os.uname().release}")
    (logs / "summary.md").write_text(header + "\n\n" + text + "\n")
    with open(logs / "summary.tsv", "w") as f:
        keys = ["workload", "target", "rps", "p50", "p99", "cpu_s_per_M", "req_per_cpu_s", "rss", "errors"]
        f.write("\t".join(keys) + "\n")
        for r in rows:
            f.write("\t".join(str(round(r[k], 3)) if isinstance(r[k], float) else str(r[k]) for k in keys) + "\n")
    print(header + "\n")
    print(text)
    print(f"\nruns: {logs / 'runs.tsv'}  summary: {logs / 'summary.md'}, {logs / 'summary.tsv'}")
    failed = False
    for r in rows:
        if r["errors"]:
            print(f"FAIL: {r['workload']} {r['target']}: {r['errors']} failed requests", file=sys.stderr)
            failed = True
        # nghttpd's split is its CPU share, which is noisier than a request count.
        if r["worst_split"] > args.max_split_error * (2 if args.backend == "nghttpd" else 1):
            print(f"FAIL: {r['workload']} {r['target']}: uneven backend split "
                  f"({'/'.join(f'{100 * s:.0f}' for s in r['split'])} median)", file=sys.stderr)
            failed = True
        if r["other"] > args.idle_max:
            print(f"warning: {r['workload']} {r['target']}: other processes used up to {r['other']:.0f}% "
                  "of a core during a run", file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
