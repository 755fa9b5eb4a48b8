"""Mutual TLS between two proxies (docs/benchmark.md, "Mutual TLS between two proxies"): the
path of a call inside the mesh,

    load generator -> client trellis-proxy -> server trellis-proxy -> trellis-echo

in plaintext and with mutual TLS between the two proxies, side by side in one run, next to the
load generator talking to trellis-echo directly. Run by bench/run.py (`--only mtls`, and in the
full run). Paths:

    direct              the load generator to trellis-echo: the floor
    plaintext           client proxy -> server proxy in plaintext (PeerAuthentication DISABLE)
    mtls                the same with mutual TLS (STRICT; the client's endpoint names the server's
                        SPIFFE ID)
    plaintext-newconn   as plaintext and mtls, but the client proxy keeps no idle upstream
    mtls-newconn        connection (maxIdlePerEndpoint: 0): one connection, and with mTLS one
                        handshake, per request between the proxies

Every proxy starts with the same certificate flags (a root and two X.509-SVIDs made here with
the openssl CLI); only the configuration differs. All paths are up at once and measured in turns
(run 1 of each path, then run 2, ...), so that a noisy neighbour hits them alike. The proxies run
on CPU 0 (one worker each), trellis-echo and the load generators on CPU 1.
Standard library only.
"""

import os
import re
import subprocess
import time
import urllib.request

from benchlib import (BODY_PATH, LOAD_CPU, PROXY_CPU, BenchError, CpuBusyMeter, cpu_seconds,
                      free_port, log, read_text, serves, wait_for)
from http2_bench import accepts

TRUST_DOMAIN = "trellis.local"
CLIENT_ID = f"spiffe://{TRUST_DOMAIN}/ns/bench/sa/client"
SERVER_ID = f"spiffe://{TRUST_DOMAIN}/ns/bench/sa/server"
KEPT_ALIVE = ("direct", "plaintext", "mtls")
NEW_CONNECTION = ("plaintext-newconn", "mtls-newconn")
PATHS = KEPT_ALIVE + NEW_CONNECTION
MODES = {"plaintext": "DISABLE", "mtls": "STRICT"}  # the server's PeerAuthentication
POOLED_IDLE = 64  # the client proxy's maxIdlePerEndpoint on the kept-alive paths

DEFAULT_RATE = 1000  # requests/s of the latency test: the rate of Istio's published figure
LATENCY_CONNECTIONS = 10
CHECK_REQUESTS = 3

# The aims (docs/design/mtls-plan.md section 4, ../shared/design.md section 5).
AIM_MTLS_RPS_RATIO = 0.85  # mTLS costs at most 15% of plaintext throughput on kept-alive paths
AIM_ADDED_P99_US = 100.0  # client + server proxies with mTLS add at most 0.10 ms p99
ISTIO_ADDED_P99_US = 300.0  # the anchor: Istio 1.20, two sidecars with mTLS, 1,000 rps

LEAF_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = critical, URI:{spiffe_id}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""


# ---------------------------------------------------------------------------------------------
# Certificates

def openssl(cwd, *args):
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, check=False)
    if proc.returncode != 0:
        raise BenchError(f"openssl {' '.join(args[:2])}: {proc.stderr.strip()[-500:]}")


def make_pki(workdir):
    """A root CA and the two proxies' X.509-SVIDs (EC P-256, one URI SAN, CA:FALSE), made with the
    openssl CLI as an operator would. Returns {"client": (chain, key), "server": (chain, key),
    "bundle": root}, all paths."""
    pki = os.path.join(workdir, "pki")
    os.makedirs(pki, exist_ok=True)
    openssl(pki, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj",
            "/O=trellis/CN=bench root", "-addext", f"subjectAltName=URI:spiffe://{TRUST_DOMAIN}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    out = {"bundle": os.path.join(pki, "ca.pem")}
    for serial, (name, spiffe_id) in enumerate((("client", CLIENT_ID), ("server", SERVER_ID)), 2):
        with open(os.path.join(pki, f"{name}.ext"), "w", encoding="utf-8") as f:
            f.write(LEAF_EXTENSIONS.format(spiffe_id=spiffe_id))
        openssl(pki, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", f"{name}.key")
        os.chmod(os.path.join(pki, f"{name}.key"), 0o600)
        openssl(pki, "req", "-new", "-key", f"{name}.key", "-subj", "/O=trellis",
                "-out", f"{name}.csr")
        openssl(pki, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-set_serial", str(serial), "-days", "1", "-sha256", "-extfile", f"{name}.ext",
                "-out", f"{name}.pem")
        openssl(pki, "verify", "-CAfile", "ca.pem", f"{name}.pem")
        out[name] = (os.path.join(pki, f"{name}.pem"), os.path.join(pki, f"{name}.key"))
    return out


# ---------------------------------------------------------------------------------------------
# Proxies and their /metrics

class Proxy:
    def __init__(self, tag, port, admin_port, proc):
        self.tag = tag
        self.port = port
        self.admin_port = admin_port
        self.proc = proc

    def metrics(self):
        url = f"http://127.0.0.1:{self.admin_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return parse_metrics(response.read().decode("utf-8", "replace"))
        except OSError as error:
            raise BenchError(f"{self.tag}: GET /metrics: {error}{self.exit_note()}") from None

    def exit_note(self):
        if self.proc.poll() is None:
            return ""
        return (f" ({self.tag} exited with {self.proc.returncode}: "
                f"{read_text(self.proc.bench_files[1]).strip()[-800:]})")


def parse_metrics(text):
    """Prometheus text: a list of (name, {label: value}, value)."""
    samples = []
    for line in text.splitlines():
        match = re.match(r"([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)", line)
        if not match or line.startswith("#"):
            continue
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        try:
            samples.append((match.group(1), labels, float(match.group(3))))
        except ValueError:
            continue
    return samples


def metric_sum(samples, name, **labels):
    return sum(value for n, have, value in samples
               if n == name and all(have.get(k) == v for k, v in labels.items()))


class Path:
    """A measured path: the port the load generator talks to, and the proxies behind it."""

    def __init__(self, name, port, client=None, server=None):
        self.name = name
        self.port = port
        self.client = client
        self.server = server
        self.error = None

    @property
    def proxies(self):
        return [p for p in (self.client, self.server) if p is not None]

    def cpu(self):
        """CPU seconds used so far by the client and the server proxy."""
        return {"client": cpu_seconds([self.client.proc.pid]),
                "server": cpu_seconds([self.server.proc.pid])} if self.client else {}

    def counters(self):
        """The counters that say what happened between the proxies."""
        if not self.client:
            return {}
        client, server = self.client.metrics(), self.server.metrics()
        hs = "trellis_tls_handshakes_total"
        return {
            "client_full_handshakes": metric_sum(client, hs, side="upstream", resumed="false"),
            "client_resumed_handshakes": metric_sum(client, hs, side="upstream", resumed="true"),
            "server_full_handshakes": metric_sum(server, hs, side="downstream", resumed="false"),
            "server_resumed_handshakes": metric_sum(server, hs, side="downstream",
                                                    resumed="true"),
            "handshake_failures": metric_sum(client, "trellis_tls_handshake_failures_total") +
            metric_sum(server, "trellis_tls_handshake_failures_total"),
            "server_accepted_connections": metric_sum(server,
                                                      "trellis_downstream_connections_total"),
        }

    def check_alive(self):
        for proxy in self.proxies:
            if proxy.proc.poll() is not None:
                raise BenchError(proxy.exit_note().strip(" ()"))


def delta(after, before):
    return {key: after[key] - before.get(key, 0) for key in after}


# ---------------------------------------------------------------------------------------------
# The bench

class MtlsBench:
    def __init__(self, bench):
        self.bench = bench
        self.args = bench.args
        self.rate = getattr(self.args, "mtls_rate", None) or DEFAULT_RATE
        self.started = []  # Proxy objects, stopped at the end

    # --- set-up --------------------------------------------------------------------------------

    def start_proxy(self, tag, template, pki, role, **values):
        bench = self.bench
        port = free_port()
        config = bench.render(template, f"{tag}.yaml", listen_port=port, **values)
        port_file = os.path.join(bench.workdir, f"{tag}.admin-port")
        chain, key = pki[role]
        argv = [bench.proxy_bin, "--config", config, "--concurrency", "1",
                "--admin-address", "127.0.0.1:0", "--admin-port-file", port_file,
                "--log-level", "warn", "--tls-cert-file", chain, "--tls-key-file", key,
                "--trust-bundle-file", pki["bundle"]]
        proc = bench.procs.start(tag, bench.pinned(PROXY_CPU, argv), bench.workdir)
        proxy = Proxy(tag, port, None, proc)
        self.started.append(proxy)
        admin = wait_for(lambda: read_text(port_file).strip(), 20, f"{tag} admin port", proc)
        proxy.admin_port = int(admin)
        wait_for(lambda: accepts(port), 20, f"{tag} to listen on {port}", proc)
        return proxy

    def start_paths(self):
        """Starts the proxies; returns {name: Path}, failed paths carrying their error."""
        bench = self.bench
        pki = make_pki(bench.workdir)
        paths = {"direct": Path("direct", bench.echo_port)}
        for mode, peer_mode in MODES.items():
            try:
                server = self.start_proxy(f"mtls-server-{mode}", "mtls-server.yaml.tmpl", pki,
                                          "server", upstream_port=bench.echo_port,
                                          mtls_mode=peer_mode)
            except BenchError as error:
                for name in (mode, f"{mode}-newconn"):
                    paths[name] = Path(name, None)
                    paths[name].error = f"server proxy: {error}"
                continue
            endpoint = ("{address: 127.0.0.1, identity: \"" + SERVER_ID + "\"}"
                        if mode == "mtls" else "{address: 127.0.0.1}")
            for name, max_idle in ((mode, POOLED_IDLE), (f"{mode}-newconn", 0)):
                try:
                    client = self.start_proxy(f"mtls-client-{name}", "mtls-client.yaml.tmpl",
                                              pki, "client", upstream_port=server.port,
                                              endpoint=endpoint, max_idle=max_idle)
                    paths[name] = Path(name, client.port, client, server)
                except BenchError as error:
                    paths[name] = Path(name, None)
                    paths[name].error = f"client proxy: {error}"
        return {name: paths[name] for name in PATHS}

    def check(self, path):
        """A few requests through the path before measuring: the right answer, TLS between the
        proxies exactly when it should be, and one upstream connection per request exactly on
        the -newconn paths. Returns what it saw."""
        if not serves(path.port):
            path.check_alive()
            raise BenchError(f"GET {BODY_PATH} through it did not return 200 with 12 bytes")
        if not path.client:
            return {}
        before = path.counters()
        for _ in range(CHECK_REQUESTS):
            if not serves(path.port):
                raise BenchError(f"GET {BODY_PATH} failed on a repeated request")
        seen = path.counters()
        step = delta(seen, before)
        mtls = path.name.startswith("mtls")
        newconn = path.name.endswith("-newconn")
        handshakes = seen["server_full_handshakes"] + seen["server_resumed_handshakes"]
        if mtls and (handshakes == 0 or seen["client_full_handshakes"] +
                     seen["client_resumed_handshakes"] == 0):
            raise BenchError(f"no TLS handshake between the proxies: {seen}")
        if not mtls and handshakes:
            raise BenchError(f"TLS handshakes on the plaintext path: {seen}")
        if step["handshake_failures"]:
            raise BenchError(f"TLS handshake failures: {step}")
        connections = step["server_accepted_connections"]
        if newconn and connections != CHECK_REQUESTS:
            raise BenchError(f"{CHECK_REQUESTS} requests opened {connections:.0f} connections "
                             "to the server proxy, not one each")
        if not newconn and connections:
            raise BenchError(f"{CHECK_REQUESTS} requests opened {connections:.0f} connections "
                             "to the server proxy instead of reusing the pooled one")
        if mtls and newconn and (step["client_full_handshakes"] +
                                 step["client_resumed_handshakes"]) != CHECK_REQUESTS:
            raise BenchError(f"{CHECK_REQUESTS} requests, handshakes: {step}")
        result = {"counters": seen}
        if mtls and not newconn:
            # The STRICT server must refuse a plaintext client: otherwise nothing proves that
            # the mtls rows measured TLS. The refusal counts as a handshake failure there.
            result["strict_refuses_plaintext"] = not serves(path.server.port)
            if not result["strict_refuses_plaintext"]:
                raise BenchError("the STRICT server proxy answered a plaintext request")
        return result

    # --- measurements --------------------------------------------------------------------------

    def wrk_run(self, path):
        cpu_before, counters_before = path.cpu(), path.counters()
        load_meter = CpuBusyMeter(LOAD_CPU)
        start = time.monotonic()
        run = self.bench.wrk(path.port, self.args.wrk_duration, latency=True)
        run["elapsed_s"] = time.monotonic() - start
        run["load_cpu_busy"] = load_meter.stop()
        path.check_alive()
        if path.client:
            cpu = delta(path.cpu(), cpu_before)
            total = sum(cpu.values())
            run["cpu_s"] = cpu
            run["proxies_cpu"] = total / run["elapsed_s"]
            run["cpu_ms_per_1k"] = total / run["requests"] * 1e6 if run["requests"] else None
            counters = delta(path.counters(), counters_before)
            run["counters"] = counters
            handshakes = (counters["client_full_handshakes"] +
                          counters["client_resumed_handshakes"])
            run["handshakes_per_s"] = handshakes / run["elapsed_s"]
            run["resumed_share"] = (counters["client_resumed_handshakes"] / handshakes
                                    if handshakes else None)
            run["upstream_connections_per_s"] = (counters["server_accepted_connections"] /
                                                 run["elapsed_s"])
        return run

    def latency_run(self, path):
        args = self.args
        cpu_before = path.cpu()
        result = self.bench.loadgen(path.port, [
            "--rate", str(self.rate), "--connections", str(LATENCY_CONNECTIONS),
            "--duration", str(args.latency_duration), "--warmup", str(args.latency_warmup)],
            timeout=args.latency_duration + args.latency_warmup + 60)
        path.check_alive()
        if path.client:
            cpu = delta(path.cpu(), cpu_before)
            sent = result["requests"] + result.get("warmup_requests", 0)
            result["cpu_s"] = cpu
            result["cpu_ms_per_1k"] = sum(cpu.values()) / sent * 1e6 if sent else None
        return result

    def in_turns(self, paths, what, measure, rank):
        """`measure(path)` --throughput-runs times per path, path after path in each round;
        returns {name: the median run by `rank(run)`, with all runs and summed errors}."""
        runs = {path.name: [] for path in paths}
        for i in range(self.args.throughput_runs):
            for path in paths:
                if path.error:
                    continue
                try:
                    runs[path.name].append(measure(path))
                except BenchError as error:
                    log(f"  {path.name}: FAILED: {error}")
                    path.error = f"{what}: {error}"
        out = {}
        for path in paths:
            if path.error or not runs[path.name]:
                continue
            ordered = sorted(runs[path.name], key=rank)
            result = dict(ordered[len(ordered) // 2])
            result["errors"] = sum(r["errors"] for r in runs[path.name])
            result["runs"] = runs[path.name]
            out[path.name] = result
        return out

    def run(self):
        args = self.args
        results = {"settings": self.settings(), "paths": {}}
        paths = {}
        try:
            try:
                paths = self.start_paths()
            except BenchError as error:
                log(f"  FAILED: {error}")
                results["paths"] = {name: {"error": str(error)} for name in PATHS}
                return results
            checks = {}
            for name, path in paths.items():
                if path.error:
                    continue
                try:
                    checks[name] = self.check(path)
                except BenchError as error:
                    path.error = f"check: {error}"
            for name, path in paths.items():
                if path.error:
                    log(f"  {name}: FAILED: {path.error}")
            results["checks"] = checks
            ordered = [paths[name] for name in PATHS]
            for path in ordered:  # warm-up, unmeasured
                if not path.error:
                    self.bench.wrk(path.port, args.wrk_warmup, latency=False)
            log(f"[mtls: throughput, {args.throughput_runs} run(s) per path, in turns]")
            throughput = self.in_turns(ordered, "throughput", self.wrk_run,
                                       lambda run: run["rps"] or 0)
            for name, run in throughput.items():
                log_throughput(name, run)
            log(f"[mtls: latency at {self.rate} req/s, {args.throughput_runs} run(s) per path]")
            latency = self.in_turns([paths[name] for name in KEPT_ALIVE], "latency",
                                    self.latency_run, lambda run: run["latency_us"]["p99"])
            for name, run in latency.items():
                lat = run["latency_us"]
                cpu = (f", proxies {run['cpu_ms_per_1k']:.1f} CPU ms/1k requests"
                       if run.get("cpu_ms_per_1k") is not None else "")
                log(f"  {name}: p50 {lat['p50']:.0f} us, p99 {lat['p99']:.0f} us, errors "
                    f"{run['errors']}{cpu}")
            for name, path in paths.items():
                entry = {"port": path.port}
                if path.error:
                    entry["error"] = path.error
                if name in throughput:
                    entry["throughput"] = throughput[name]
                if name in latency:
                    entry["latency"] = latency[name]
                results["paths"][name] = entry
            return results
        finally:
            for proxy in reversed(self.started):
                self.bench.procs.stop(proxy.proc)

    def settings(self):
        args = self.args
        return {"wrk": {"threads": 1, "connections": 50, "runs": args.throughput_runs,
                        "duration_s": args.wrk_duration, "warmup_s": args.wrk_warmup},
                "latency": {"rate": self.rate, "connections": LATENCY_CONNECTIONS,
                            "runs": args.throughput_runs, "duration_s": args.latency_duration,
                            "warmup_s": args.latency_warmup},
                "path": BODY_PATH, "client_identity": CLIENT_ID, "server_identity": SERVER_ID,
                "pooled_idle_per_endpoint": POOLED_IDLE, "proxy_cpu": PROXY_CPU,
                "load_cpu": LOAD_CPU, "concurrency": 1}


def log_throughput(name, run):
    text = f"  {name}: {run['rps']:.0f} req/s, errors {run['errors']}"
    if run.get("proxies_cpu") is not None:
        text += f", proxies CPU {run['proxies_cpu'] * 100:.0f}%"
    text += f", load CPU {run['load_cpu_busy'] * 100:.0f}% busy"
    if run.get("cpu_ms_per_1k") is not None:
        text += f", {run['cpu_ms_per_1k']:.1f} CPU ms/1k requests"
    if run.get("handshakes_per_s"):
        text += (f", {run['handshakes_per_s']:.0f} handshakes/s "
                 f"({(run['resumed_share'] or 0) * 100:.0f}% resumed)")
    if len(run["runs"]) > 1:
        text += ", runs " + "/".join(f"{r['rps']:.0f}" for r in run["runs"])
    log(text)


# ---------------------------------------------------------------------------------------------
# Reporting

def _get(data, *keys):
    value = data
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _minus(a, b):
    return a - b if a is not None and b is not None else None


def summarize(results):
    """One row per path (also stored in the JSON). Ratios of a -newconn path are against
    plaintext-newconn, of a kept-alive one against plaintext; added latency is against direct."""
    paths = results["paths"]
    direct = paths.get("direct", {})
    rows = []
    for name in PATHS:
        data = paths.get(name, {})
        base = paths.get("plaintext-newconn" if name in NEW_CONNECTION else "plaintext", {})
        rps, base_rps = _get(data, "throughput", "rps"), _get(base, "throughput", "rps")
        p50, p99 = _get(data, "latency", "latency_us", "p50"), _get(data, "latency",
                                                                   "latency_us", "p99")
        rows.append({
            "path": name, "error": data.get("error"),
            "new_connection_per_request": name in NEW_CONNECTION,
            "rps": rps,
            "rps_vs_plaintext": rps / base_rps if rps and base_rps and name != "direct" else None,
            "proxies_cpu_at_saturation": _get(data, "throughput", "proxies_cpu"),
            "load_cpu_busy_at_saturation": _get(data, "throughput", "load_cpu_busy"),
            "cpu_ms_per_1k_requests": _get(data, "throughput", "cpu_ms_per_1k"),
            "handshakes_per_s": _get(data, "throughput", "handshakes_per_s"),
            "resumed_share": _get(data, "throughput", "resumed_share"),
            "upstream_connections_per_s": _get(data, "throughput", "upstream_connections_per_s"),
            "p50_us": p50,
            "p99_us": p99,
            "added_p50_us": None if name == "direct" else
            _minus(p50, _get(direct, "latency", "latency_us", "p50")),
            "added_p99_us": None if name == "direct" else
            _minus(p99, _get(direct, "latency", "latency_us", "p99")),
            "cpu_ms_per_1k_requests_at_rate": _get(data, "latency", "cpu_ms_per_1k"),
            "errors": sum(v for v in (_get(data, "throughput", "errors"),
                                      _get(data, "latency", "errors")) if v),
        })
    return rows


def print_table(title, columns, rows):
    header = [t for t, _, _ in columns]
    lines = []
    for row in rows:
        if row["error"]:
            lines.append([row["path"], "FAILED: " + row["error"][:160]])
            continue
        lines.append([row["path"]] + [fmt.format(row[key]) if row[key] is not None else "-"
                                      for _, fmt, key in columns[1:]])
    complete = [header] + [c for c in lines if len(c) == len(columns)]
    widths = [max(len(c[i]) for c in complete) for i in range(len(columns))]
    print(f"\n{title}")
    for i, cells in enumerate([header] + lines):
        if len(cells) != len(columns):
            print(f"{cells[0]:<{widths[0]}}  {cells[1]}")
            continue
        print("  ".join(c.ljust(widths[0]) if j == 0 else c.rjust(widths[j])
                        for j, c in enumerate(cells)))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def report(results):
    """Prints the two tables and the aims; returns (rows, aims) for the JSON."""
    rows = summarize(results)
    rate = _get(results, "settings", "latency", "rate")
    kept = [r for r in rows if not r["new_connection_per_request"]]
    fresh = [r for r in rows if r["new_connection_per_request"]]
    print_table(
        "Mutual TLS, two proxies, kept-alive connections (load -> client proxy -> server proxy "
        "-> echo;\nrps vs the plaintext two-proxy path, +p50/+p99 over direct, CPU ms = both "
        "proxies' CPU per 1,000 requests):",
        [("path", "{}", "path"), ("rps", "{:.0f}", "rps"), ("vs plain", "{:.2f}x",
                                                            "rps_vs_plaintext"),
         ("proxies CPU", "{:.0%}", "proxies_cpu_at_saturation"),
         ("load CPU", "{:.0%}", "load_cpu_busy_at_saturation"),
         ("CPU ms/1k", "{:.1f}", "cpu_ms_per_1k_requests"),
         (f"p50 us@{rate}", "{:.0f}", "p50_us"), (f"p99 us@{rate}", "{:.0f}", "p99_us"),
         ("+p50 us", "{:+.0f}", "added_p50_us"), ("+p99 us", "{:+.0f}", "added_p99_us"),
         (f"CPU ms/1k@{rate}", "{:.1f}", "cpu_ms_per_1k_requests_at_rate"),
         ("errors", "{}", "errors")], kept)
    print_table(
        "Mutual TLS, two proxies, a new upstream connection per request (client proxy "
        "maxIdlePerEndpoint: 0;\nrps vs plaintext-newconn; handshakes/s and resumed from the "
        "client proxy's trellis_tls_handshakes_total):",
        [("path", "{}", "path"), ("rps", "{:.0f}", "rps"),
         ("vs plain", "{:.2f}x", "rps_vs_plaintext"),
         ("conns/s", "{:.0f}", "upstream_connections_per_s"),
         ("handshakes/s", "{:.0f}", "handshakes_per_s"), ("resumed", "{:.0%}", "resumed_share"),
         ("proxies CPU", "{:.0%}", "proxies_cpu_at_saturation"),
         ("load CPU", "{:.0%}", "load_cpu_busy_at_saturation"),
         ("CPU ms/1k", "{:.1f}", "cpu_ms_per_1k_requests"), ("errors", "{}", "errors")], fresh)
    checks = results.get("checks", {})
    if checks:
        said = [f"{len(checks)} paths answered"]
        if _get(checks, "mtls", "strict_refuses_plaintext"):
            said.append("the STRICT server refused plaintext")
        if any(name.startswith("mtls") for name in checks):
            said.append("TLS handshakes counted on the mtls paths")
        if any(name.startswith("plaintext") for name in checks):
            said.append("none on the plaintext ones")
        if any(name in checks for name in NEW_CONNECTION):
            said.append(f"{CHECK_REQUESTS} requests on a -newconn path opened "
                        f"{CHECK_REQUESTS} upstream connections, on a kept-alive path none")
        print("checks before measuring: " + "; ".join(said))
    return rows, check_aims(rows, rate)


def check_aims(rows, rate):
    by = {r["path"]: r for r in rows if not r["error"]}
    mtls, plain = by.get("mtls", {}), by.get("plaintext", {})

    def verdict(ok):
        return "n/a " if ok is None else ("PASS" if ok else "MISS")

    ratio = mtls.get("rps_vs_plaintext")
    added = mtls.get("added_p99_us")
    checks = [
        (f"mTLS throughput >= {AIM_MTLS_RPS_RATIO:.2f}x plaintext (kept-alive)", ratio,
         None if ratio is None else ratio >= AIM_MTLS_RPS_RATIO,
         f"{ratio:.2f}x ({mtls['rps']:.0f} vs {plain['rps']:.0f} req/s)" if ratio else "-"),
        (f"added p99 over direct, two proxies with mTLS <= {AIM_ADDED_P99_US / 1000:.2f} ms",
         added, None if added is None else added <= AIM_ADDED_P99_US,
         f"{added:+.0f} us at {rate} req/s" if added is not None else "-"),
    ]
    print("\nmTLS between two proxies against its aims (mtls-plan.md section 4, design.md "
          "section 5):")
    out = []
    for name, value, ok, shown in checks:
        print(f"  {verdict(ok)}  {name:<58} {shown}")
        out.append({"aim": name, "value": value, "met": ok})
    if added is not None:
        print(f"  anchor: Istio 1.20, two sidecars with mTLS, 1,000 rps: "
              f"+{ISTIO_ADDED_P99_US:.0f} us p99; trellis here {added:+.0f} us "
              f"({added / ISTIO_ADDED_P99_US:.2f}x the anchor)")
        out.append({"anchor": "Istio 1.20 added p99, two sidecars with mTLS",
                    "anchor_us": ISTIO_ADDED_P99_US, "value": added})
    cost = {key: _minus(mtls.get(key), plain.get(key))
            for key in ("p50_us", "p99_us", "cpu_ms_per_1k_requests")}
    if all(v is not None for v in cost.values()):
        share = cost["cpu_ms_per_1k_requests"] / plain["cpu_ms_per_1k_requests"]
        print(f"  mTLS over plaintext, two proxies: p50 {cost['p50_us']:+.0f} us, p99 "
              f"{cost['p99_us']:+.0f} us, CPU {cost['cpu_ms_per_1k_requests']:+.1f} ms per "
              f"1,000 requests ({share:+.0%})")
        out.append({"mtls_minus_plaintext": cost})
    fresh = by.get("mtls-newconn", {})
    if fresh.get("handshakes_per_s"):
        print(f"  new connection per request: {fresh['handshakes_per_s']:.0f} mutual TLS "
              f"handshakes/s, {(fresh['resumed_share'] or 0):.0%} resumed, "
              f"{fresh['cpu_ms_per_1k_requests']:.1f} CPU ms per 1,000 (both proxies)")
    return out
