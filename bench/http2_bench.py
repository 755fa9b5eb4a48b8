"""The HTTP/2 scenarios of the side-by-side benchmark (docs/benchmark.md, "HTTP/2"):

    h2      h2load over h2c (prior knowledge) to the proxy, HTTP/2 to trellis-echo
    h1-h2   wrk and trellis-loadgen over HTTP/1.1 to the proxy, HTTP/2 to trellis-echo
    grpc    h2load POSTing one framed 12-byte gRPC message (unary) to the echo's gRPC path

Each proxy is started once with one configuration that serves all three groups (a listener for
h2c and one for HTTP/1.1; trellis detects both on one port), measured group by group, and
stopped. A group's ratios are against its own `direct` row. A target that fails a group (refused
connections, wrong answers, a crash) gets a failed row there; the run goes on.
Standard library only.
"""

import json
import math
import os
import pwd
import re
import socket

from benchlib import (BODY_PATH, LOAD_CPU, PROXY_CPU, BenchError, CpuBusyMeter, CpuMeter,
                      child_pids, free_port, log, one_request, read_text, wait_for)

GROUPS = ("h2", "h1-h2", "grpc")
GROUP_TITLES = {"h2": "h2 -> h2", "h1-h2": "h1 -> h2", "grpc": "gRPC unary"}
GRPC_PATH = "/bench.Echo/Unary"
GRPC_MESSAGE = b"\x00" + (12).to_bytes(4, "big") + b"x" * 12  # echoed back: 17 bytes
GRPC_HEADERS = ("content-type: application/grpc", "te: trailers")
BODY_BYTES = 12  # of BODY_PATH's response
NOTES = {
    "nginx": "grpc_pass upstream (HTTP/2, one stream per upstream connection)",
    "haproxy": "proto h2 upstream, http-reuse always",
    "trellis": "appProtocol h2c upstream",
}
# Saturation: h2load, one thread, H2_CLIENTS connections with H2_STREAMS streams in flight each.
H2_CLIENTS = 10
H2_STREAMS = 10
# Latency at a fixed rate: LATENCY_CLIENTS connections, one stream each, rate split evenly.
LATENCY_CLIENTS = 10


class Target:
    """A running proxy (or the echo itself for `direct`): its h2c and HTTP/1.1 ports."""

    def __init__(self, name, h2_port, h1_port, proc=None, pids=()):
        self.name = name
        self.h2_port = h2_port
        self.h1_port = h1_port
        self.proc = proc
        self.pids = list(pids)


class Http2Bench:
    def __init__(self, bench):
        self.bench = bench
        self.args = bench.args
        self.message_path = os.path.join(bench.workdir, "grpc-message.bin")
        with open(self.message_path, "wb") as f:
            f.write(GRPC_MESSAGE)

    # --- targets -------------------------------------------------------------------------------

    def start_target(self, name):
        bench = self.bench
        if name == "direct":
            return Target(name, bench.echo_port, bench.echo_port)
        port, h1_port = free_port(), free_port()
        values = {"listen_port": port, "h1_listen_port": h1_port,
                  "upstream_port": bench.echo_port}
        if name == "trellis":
            h1_port = port  # one listener, protocol detected from the first bytes
            config = bench.render("trellis-h2.yaml.tmpl", "trellis-h2.yaml", **values)
            port_file = os.path.join(bench.workdir, "trellis-h2.admin-port")
            argv = [bench.proxy_bin, "--config", config, "--concurrency", "1",
                    "--admin-address", "127.0.0.1:0", "--admin-port-file", port_file,
                    "--log-level", "warn"]
        elif name == "nginx":
            user = pwd.getpwuid(os.geteuid()).pw_name
            config = bench.render("nginx-h2.conf.tmpl", "nginx-h2.conf",
                                  user_line=f"user {user};" if os.geteuid() == 0 else "",
                                  **values)
            argv = [self.args.nginx, "-p", bench.workdir + "/", "-e",
                    os.path.join(bench.workdir, "nginx-h2.stderr.log"), "-c", config]
        elif name == "haproxy":
            config = bench.render("haproxy-h2.cfg.tmpl", "haproxy-h2.cfg", **values)
            argv = [self.args.haproxy, "-db", "-f", config]
        else:
            raise BenchError(f"unknown target {name}")
        proc = bench.procs.start(f"{name}-h2", bench.pinned(PROXY_CPU, argv), bench.workdir,
                                 forks=(name == "nginx"))
        target = Target(name, port, h1_port, proc)
        try:
            if name == "trellis":
                wait_for(lambda: read_text(port_file).strip(), 20, "trellis-proxy admin port",
                         proc)
            for p in {port, h1_port}:
                wait_for(lambda p=p: accepts(p), 20, f"{name} to listen on {p}", proc)
        except BenchError:
            bench.procs.stop(proc)
            raise
        target.pids = [proc.pid] + (child_pids(proc.pid) if name == "nginx" else [])
        return target

    # --- load generators -----------------------------------------------------------------------

    def h2load(self, group, port, extra, timeout, log_file=None):
        """Runs h2load on the load CPU; returns its parsed summary (and latencies from
        `log_file`, one line per request)."""
        path = GRPC_PATH if group == "grpc" else BODY_PATH
        argv = ["h2load", "-t1"] + extra
        if group == "grpc":
            argv += ["-d", self.message_path]
            for header in GRPC_HEADERS:
                argv += ["-H", header]
        if log_file:
            argv += ["--log-file", log_file]
        argv.append(f"http://127.0.0.1:{port}{path}")
        code, out, err = self.bench.procs.run("h2load", self.bench.pinned(LOAD_CPU, argv),
                                              self.bench.workdir, timeout)
        result = parse_h2load(out)
        if code != 0 and result["requests"] is None:
            raise BenchError(f"h2load failed ({code}): {(err or out).strip()[-500:]}")
        if log_file:
            result["latency_us"] = latency_percentiles(read_text(log_file))
        return result

    def upstream_protocol(self, group, target):
        """The protocol trellis-echo saw, from its JSON echo of GET / through the target: the
        echo answers HTTP/1.1 and HTTP/2 on one port, so a proxy that ignored its HTTP/2
        upstream setting would otherwise pass unnoticed."""
        if group == "h1-h2":
            status, body = one_request(target.h1_port, path="/")
        else:
            code, body, err = self.bench.procs.run(
                "curl", ["curl", "-sS", "--max-time", "5", "--http2-prior-knowledge", "-o", "-",
                         "-w", "\n%{http_code}", f"http://127.0.0.1:{target.h2_port}/"],
                self.bench.workdir, 30)
            if code != 0:
                raise BenchError(f"curl --http2-prior-knowledge GET /: {err.strip()[-300:]}")
            body, _, status = body.rpartition("\n")
            status = int(status)
        if status != 200:
            raise BenchError(f"GET / through {target.name}: status {status}")
        try:
            return json.loads(body)["version"]
        except (ValueError, KeyError, TypeError):
            raise BenchError(f"GET / through {target.name}: not the echo's JSON: "
                             f"{body[:200]!r}") from None

    def check(self, group, target):
        """One short exchange before measuring: the right status and the right bytes back, and
        HTTP/2 on the upstream side."""
        # A gRPC request over HTTP/1.1 would not be echoed (the bytes would differ), and the
        # direct HTTP/1.1 row is the baseline of its group.
        if group == "h2" or (group == "h1-h2" and target.name != "direct"):
            version = self.upstream_protocol(group, target)
            if version != "HTTP/2":
                raise BenchError(f"the upstream received {version}, not HTTP/2")
        if group == "h1-h2":
            try:
                status, body = one_request(target.h1_port)
            except (OSError, BenchError, ValueError, IndexError) as error:
                raise BenchError(f"HTTP/1.1 GET {BODY_PATH}: {error}") from None
            if status != 200 or len(body) != BODY_BYTES:
                raise BenchError(f"HTTP/1.1 GET {BODY_PATH}: status {status}, "
                                 f"{len(body)} body bytes")
            return
        requests = 4
        result = self.h2load(group, target.h2_port, ["-n", str(requests), "-c", "1"], 60)
        expected = requests * (len(GRPC_MESSAGE) if group == "grpc" else BODY_BYTES)
        if result["succeeded"] != requests or result["errors"] or result["data_bytes"] != expected:
            raise BenchError(f"{requests} requests: {result['succeeded']} succeeded, status "
                             f"{result['status_codes']}, {result['data_bytes']} data bytes "
                             f"(expected {expected})")

    # --- measurements --------------------------------------------------------------------------

    def throughput(self, group, target):
        runs = []
        for i in range(self.args.throughput_runs):
            meter = CpuMeter(target.pids)
            load_meter = CpuBusyMeter(LOAD_CPU)
            run = self.h2load(group, target.h2_port, [
                "-c", str(H2_CLIENTS), "-m", str(H2_STREAMS),
                "-D", duration(self.args.wrk_duration),
                "--warm-up-time", duration(self.args.wrk_warmup)],
                timeout=self.args.wrk_duration + self.args.wrk_warmup + 60,
                log_file=os.path.join(self.bench.workdir, f"h2load-{group}-{target.name}-{i}.log"))
            run["proxy_cpu"] = meter.stop()
            run["load_cpu_busy"] = load_meter.stop()
            if not run["rps"]:
                raise BenchError(f"h2load completed no request: {run['status_codes']}, "
                                 f"{run['failed']} failed, {run['errored']} errored")
            runs.append(run)
        result = dict(sorted(runs, key=lambda r: r["rps"])[len(runs) // 2])  # the median run
        result["errors"] = sum(r["errors"] for r in runs)
        result["runs"] = runs
        cpu = (f", proxy CPU {result['proxy_cpu'] * 100:.0f}%"
               if result["proxy_cpu"] is not None else "")
        cpu += f", load CPU {result['load_cpu_busy'] * 100:.0f}% busy"
        if len(runs) > 1:
            cpu += ", runs " + "/".join(f"{r['rps']:.0f}" for r in runs)
        log(f"  throughput: {result['rps']:.0f} req/s (errors {result['errors']}{cpu})")
        return result

    def latency(self, group, target):
        per_client = max(1, self.args.rate // LATENCY_CLIENTS)
        meter = CpuMeter(target.pids)
        result = self.h2load(group, target.h2_port, [
            "-c", str(LATENCY_CLIENTS), "-m", "1", "--rps", str(per_client),
            "-D", duration(self.args.latency_duration),
            "--warm-up-time", duration(self.args.latency_warmup)],
            timeout=self.args.latency_duration + self.args.latency_warmup + 60,
            log_file=os.path.join(self.bench.workdir, f"h2load-rate-{group}-{target.name}.log"))
        result["proxy_cpu"] = meter.stop()
        result["rate"] = per_client * LATENCY_CLIENTS
        lat = result["latency_us"]
        if not lat:
            raise BenchError("h2load logged no request at the fixed rate")
        log(f"  latency at {result['rate']} req/s: p50 {lat['p50']:.0f} us, p99 "
            f"{lat['p99']:.0f} us, errors {result['errors']}")
        return result

    def measure(self, group, target):
        log(f"[{GROUP_TITLES[group]}: {target.name}]")
        self.check(group, target)
        if group == "h1-h2":  # the HTTP/1 client side is measured as the main table does
            return {"throughput": self.bench.measure_throughput(target.h1_port, target.pids),
                    "latency": self.bench.measure_latency(target.h1_port, target.pids)}
        return {"throughput": self.throughput(group, target),
                "latency": self.latency(group, target)}

    def run(self, targets):
        results = {"settings": self.settings(), "groups": {g: {} for g in GROUPS}}
        for name in targets:
            try:
                target = self.start_target(name)
            except BenchError as error:
                log(f"  {name} (HTTP/2 configuration): FAILED: {error}")
                for group in GROUPS:
                    results["groups"][group][name] = {"error": str(error)}
                continue
            try:
                for group in GROUPS:
                    try:
                        results["groups"][group][name] = self.measure(group, target)
                    except BenchError as error:
                        log(f"  {name}: FAILED: {error}")
                        results["groups"][group][name] = {"error": str(error)}
            finally:
                if target.proc is not None:
                    self.bench.procs.stop(target.proc)
        return results

    def settings(self):
        return {"h2load": {"threads": 1, "clients": H2_CLIENTS, "streams_per_client": H2_STREAMS,
                           "duration_s": self.args.wrk_duration,
                           "warmup_s": self.args.wrk_warmup},
                "latency": {"rate": self.args.rate, "clients": LATENCY_CLIENTS,
                            "streams_per_client": 1, "duration_s": self.args.latency_duration,
                            "warmup_s": self.args.latency_warmup},
                "paths": {"h2": BODY_PATH, "h1-h2": BODY_PATH, "grpc": GRPC_PATH},
                "grpc_request_bytes": len(GRPC_MESSAGE)}


def duration(seconds):
    """h2load's DURATION syntax: whole numbers with a unit."""
    return f"{round(seconds * 1000)}ms"


def accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------
# Parsing

def parse_h2load(text):
    result = {"rps": None, "requests": None, "succeeded": 0, "failed": 0, "errored": 0,
              "timeout": 0, "status_codes": {}, "non2xx": 0, "data_bytes": None, "errors": 0}
    if match := re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", text):
        result["rps"] = float(match.group(1))
    if match := re.search(r"requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, "
                          r"(\d+) failed, (\d+) errored, (\d+) timeout", text):
        (result["requests"], result["succeeded"], result["failed"], result["errored"],
         result["timeout"]) = map(int, match.groups())
    if match := re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text):
        codes = dict(zip(("2xx", "3xx", "4xx", "5xx"), map(int, match.groups())))
        result["status_codes"] = codes
        result["non2xx"] = codes["3xx"] + codes["4xx"] + codes["5xx"]
    if match := re.search(r"\((\d+)\) data", text):
        result["data_bytes"] = int(match.group(1))
    result["errors"] = result["failed"] + result["errored"] + result["timeout"] + result["non2xx"]
    return result


def latency_percentiles(log_text):
    """Exact (nearest-rank) percentiles of h2load's --log-file: start, status, microseconds."""
    samples = sorted(int(line.split("\t")[2]) for line in log_text.splitlines()
                     if line.count("\t") == 2)
    if not samples:
        return None

    def rank(p):
        return float(samples[max(0, math.ceil(p / 100 * len(samples)) - 1)])

    return {"count": len(samples), "mean": sum(samples) / len(samples), "p50": rank(50),
            "p90": rank(90), "p99": rank(99), "p999": rank(99.9), "max": float(samples[-1])}


# ---------------------------------------------------------------------------------------------
# Reporting

def summarize(results):
    rows = []
    for group in GROUPS:
        by_target = results["groups"][group]
        direct = by_target.get("direct", {})
        direct_rps = _get(direct, "throughput", "rps")
        direct_p99 = _p99(group, direct)
        for name, data in by_target.items():
            rps = _get(data, "throughput", "rps")
            p99 = _p99(group, data)
            rows.append({
                "group": group, "target": name, "error": data.get("error"),
                "rps": rps,
                "rps_vs_direct": rps / direct_rps if rps and direct_rps else None,
                "proxy_cpu_at_saturation": _get(data, "throughput", "proxy_cpu"),
                "load_cpu_busy_at_saturation": _get(data, "throughput", "load_cpu_busy"),
                "p50_us": _get(data, "latency", "latency_us", "p50"),
                "p99_us": p99,
                "added_p99_us": p99 - direct_p99 if p99 is not None and direct_p99 is not None
                and name != "direct" else None,
                "errors": sum(v for v in (_get(data, "throughput", "errors"),
                                          _get(data, "latency", "errors")) if v),
                "note": NOTES.get(name, "") if name != "direct" else
                ("HTTP/1.1 to trellis-echo" if group == "h1-h2" else "h2c to trellis-echo"),
            })
    return rows


def _get(data, *path):
    value = data
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _p99(group, data):
    return _get(data, "latency", "latency_us", "p99")


def print_table(rows):
    columns = [("scenario", "{}", "group"), ("target", "{}", "target"), ("rps", "{:.0f}", "rps"),
               ("vs direct", "{:.2f}x", "rps_vs_direct"),
               ("proxy CPU", "{:.0%}", "proxy_cpu_at_saturation"),
               ("load CPU", "{:.0%}", "load_cpu_busy_at_saturation"),
               ("p50 us", "{:.0f}", "p50_us"), ("p99 us", "{:.0f}", "p99_us"),
               ("+p99 us", "{:+.0f}", "added_p99_us"), ("errors", "{}", "errors")]
    header = [title for title, _, _ in columns]
    lines = []  # (cells, note) for measured rows, (cells, "FAILED: ...") with short cells else
    for row in rows:
        cells = [GROUP_TITLES[row["group"]], row["target"]]
        if row["error"]:
            lines.append((cells, "FAILED: " + row["error"][:100]))
            continue
        cells += [fmt.format(row[key]) if row[key] is not None else "-"
                  for _, fmt, key in columns[2:]]
        lines.append((cells, row["note"]))
    widths = [max([len(header[i])] + [len(c[i]) for c, _ in lines if len(c) > i])
              for i in range(len(columns))]

    def render(cells, tail):
        text = "  ".join(c.ljust(widths[j]) if j < 2 else c.rjust(widths[j])
                         for j, c in enumerate(cells))
        return f"{text}  {tail}".rstrip()

    print("\nHTTP/2 scenarios (ratios and +p99 against direct within each scenario):")
    print(render(header, "note"))
    print("  ".join("-" * w for w in widths))
    for cells, tail in lines:
        print(render(cells, tail))
