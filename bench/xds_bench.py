#!/usr/bin/python3
"""Control-plane scale benchmark: N simulated sidecars (bench/xds/xds_load) on N ADS streams to
one trellisd holding the shop mesh (examples/shop), for each N of --clients. It measures
trellisd's RSS per connected proxy, then applies K route changes (the billing HTTPRoute's
billing/billing-v2 weights, alternately 90/10 and 80/20) and measures, per change, how long each
sidecar took from just before the POST /api/v1/apply until it had ACKed the new route
configuration (RDS), and the CPU trellisd spent on it.

    /usr/bin/python3 bench/xds_bench.py --build-dir build                 # N = 100 and 1,000
    /usr/bin/python3 bench/xds_bench.py --build-dir build --quick         # smoke test (~20 s)
    /usr/bin/python3 bench/run.py --build-dir build --only xds            # the same, via run.py

trellisd runs on CPU 0 and xds_load on CPU 1 (--no-pin to let them float). See
docs/benchmark.md ("Control-plane scale") for what each number means. Standard library only.
"""

import argparse
import http.client
import json
import os
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from benchlib import (LOAD_CPU, PROXY_CPU, BenchError, Processes, cpu_seconds, log, read_text,
                      rss_bytes, wait_for, write_results)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHOP = os.path.join(REPO, "examples", "shop")
KIB = 1024
MIB = 1024 * 1024

# The aims: 1,000 proxies converged in under a second, at most 100 KB per proxy.
AIM_CONVERGED_S = 1.0
AIM_CONVERGED_AT = 1000
AIM_RSS_PER_PROXY_BYTES = 100 * 1000

ROUTE = """apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: billing, namespace: shop}}
spec:
  parentRefs:
  - {{group: "", kind: Service, name: billing, port: 80}}
  rules:
  - backendRefs:
    - {{name: billing, port: 80, weight: {stable}}}
    - {{name: billing-v2, port: 80, weight: {canary}}}
"""
# Both backends stay referenced, so a change alters the route configuration (RDS) only.
WEIGHTS = ((90, 10), (80, 20))
SETTLE_POLL_S = 0.1
SETTLE_STEADY_POLLS = 4  # counters unchanged this many polls in a row = trellisd is idle


# ---------------------------------------------------------------------------------------------
# trellisd

class Trellisd:
    def __init__(self, procs, binary, workdir, args):
        self.data_dir = os.path.join(workdir, "data")
        api_file = os.path.join(workdir, "api-port")
        xds_file = os.path.join(workdir, "xds-port")
        argv = [binary, "--data-dir", self.data_dir, "--api-address", "127.0.0.1:0",
                "--api-port-file", api_file, "--xds-address", "127.0.0.1:0",
                "--xds-port-file", xds_file, "--xds-tls-address", "127.0.0.1:0",
                "--debounce-ms", str(args.debounce_ms),
                "--log-level", "warn"]
        if args.pin:
            argv = ["taskset", "-c", PROXY_CPU] + argv
        self.proc = procs.start("trellisd", argv, workdir)
        self.xds_port = int(wait_for(lambda: read_text(xds_file).strip(), 20, "trellisd's xDS port",
                                     self.proc))
        self.api_port = int(wait_for(lambda: read_text(api_file).strip(), 20, "trellisd's API port",
                                     self.proc))
        self.token = read_text(os.path.join(self.data_dir, "api-token")).strip()
        self.pid = self.proc.pid

    def request(self, method, path, body=None):
        headers = {"Authorization": f"Bearer {self.token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection("127.0.0.1", self.api_port, timeout=60)
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            return response.status, response.read().decode("utf-8", errors="replace")
        finally:
            conn.close()

    def apply(self, files):
        status, text = self.request("POST", "/api/v1/apply", {
            "files": [{"name": name, "content": content} for name, content in files],
            "dryRun": False})
        if status != 200:
            raise BenchError(f"apply failed: HTTP {status}: {text[:2000]}")
        return json.loads(text)

    def metrics(self):
        status, text = self.request("GET", "/metrics")
        if status != 200:
            raise BenchError(f"GET /metrics: HTTP {status}")
        values = {}
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 2 and not line.startswith("#"):
                values[parts[0]] = float(parts[1])
        return values

    def settle(self, timeout=120):
        """Waits until trellisd has stopped building and pushing (its counters hold still)."""
        keys = ("trellisd_config_builds_total", "trellisd_xds_responses_total",
                "trellisd_xds_acks_total")
        deadline = time.monotonic() + timeout
        last, steady = None, 0
        while steady < SETTLE_STEADY_POLLS:
            if time.monotonic() > deadline:
                raise BenchError(f"trellisd still busy after {timeout} s (counters {last})")
            if self.proc.poll() is not None:
                raise BenchError(f"trellisd exited: {read_text(self.proc.bench_files[1])[-2000:]}")
            metrics = self.metrics()
            now = tuple(metrics.get(k) for k in keys)
            steady = steady + 1 if now == last else 0
            last = now
            time.sleep(SETTLE_POLL_S)
        return self.metrics()


# ---------------------------------------------------------------------------------------------
# xds_load, driven over its stdin/stdout

class XdsLoad:
    def __init__(self, binary, workdir, xds_port, clients, args):
        argv = [binary, "--xds", f"127.0.0.1:{xds_port}", "--clients", str(clients),
                "--streams-per-connection", str(args.streams_per_connection)]
        if args.pin:
            argv = ["taskset", "-c", LOAD_CPU] + argv
        self.err_path = os.path.join(workdir, f"xds_load-{clients}.err")
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=err, start_new_session=True)
        self.buffer = b""
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.proc.stdout, selectors.EVENT_READ)

    def line(self, timeout):
        """The next line of its output; BenchError on timeout, exit or a FAILED line."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError(f"xds_load said nothing for {timeout} s")
            if self.selector.select(left):
                chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
                if not chunk:
                    self.proc.wait(10)
                    raise BenchError(f"xds_load exited with {self.proc.returncode}: "
                                     f"{read_text(self.err_path)[-2000:]}")
                self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        text = line.decode()
        if text.startswith("FAILED") or text.startswith("ERROR"):
            raise BenchError(f"xds_load: {text}")
        return text

    def send(self, command):
        self.proc.stdin.write((command + "\n").encode())
        self.proc.stdin.flush()

    def close(self):
        if self.proc.poll() is None:
            try:
                self.send("QUIT")
                self.proc.wait(30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(5)
        self.selector.close()
        self.proc.stdout.close()
        self.proc.stdin.close()


# ---------------------------------------------------------------------------------------------
# One scale: a fresh trellisd, N sidecars, K route changes

def percentile(sorted_values, p):
    """Nearest rank."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[min(len(sorted_values), int(rank)) - 1]


def shop_files(weights):
    files = [(name, read_text(os.path.join(SHOP, name)))
             for name in ("services.yaml", "workloads.yaml")]
    files.append(("routes.yaml", ROUTE.format(stable=weights[0], canary=weights[1])))
    return files


def run_scale(args, procs, clients):
    log(f"[{clients} sidecars]")
    workdir = tempfile.mkdtemp(prefix=f"trellis-xds-bench-{clients}-", dir=args.workdir)
    trellisd = Trellisd(procs, args.trellisd_bin, workdir, args)
    load = None
    try:
        trellisd.apply(shop_files(WEIGHTS[0]))
        trellisd.settle()
        rss_idle = rss_bytes([trellisd.pid])
        cpu_before_connect = cpu_seconds([trellisd.pid])

        started = time.monotonic()
        load = XdsLoad(args.xds_load_bin, workdir, trellisd.xds_port, clients, args)
        ready = load.line(args.ready_timeout).split()
        if ready[0] != "READY" or int(ready[1]) != clients:
            raise BenchError(f"xds_load: expected READY {clients}, got {' '.join(ready)}")
        ready_s = time.monotonic() - started
        metrics = trellisd.settle()
        settled_s = time.monotonic() - started
        if metrics.get("trellisd_xds_streams_active") != clients:
            raise BenchError(f"trellisd counts {metrics.get('trellisd_xds_streams_active')} "
                             f"open streams, expected {clients}")
        rss_connected = rss_bytes([trellisd.pid])
        connect_cpu = cpu_seconds([trellisd.pid]) - cpu_before_connect
        per_proxy = (rss_connected - rss_idle) / clients
        log(f"  connect: all {clients} ACKed their initial configuration after {ready_s:.2f} s, "
            f"trellisd idle after {settled_s:.2f} s ({connect_cpu:.2f} s CPU); RSS "
            f"{rss_idle / MIB:.1f} -> {rss_connected / MIB:.1f} MiB = "
            f"{per_proxy / KIB:.1f} KiB/proxy")

        changes = [measure_change(trellisd, load, clients, WEIGHTS[(k + 1) % len(WEIGHTS)],
                                  args) for k in range(args.changes)]
        rss_after = rss_bytes([trellisd.pid])
        load_rss = rss_bytes([load.proc.pid])
    finally:
        if load is not None:
            load.close()
        procs.stop(trellisd.proc, timeout=30)
        if not args.keep_temp:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"  files kept in {workdir}")
    return {"clients": clients, "ready_s": ready_s, "settled_s": settled_s,
            "connect_cpu_s": connect_cpu, "rss_idle_bytes": rss_idle,
            "rss_connected_bytes": rss_connected, "rss_after_changes_bytes": rss_after,
            "rss_per_proxy_bytes": per_proxy, "xds_load_rss_bytes": load_rss,
            "changes": changes, "summary": summarize_scale(clients, changes, per_proxy, ready_s)}


def measure_change(trellisd, load, clients, weights, args):
    before = trellisd.metrics()
    load_cpu0 = cpu_seconds([load.proc.pid])
    cpu0 = cpu_seconds([trellisd.pid])
    t0 = time.monotonic_ns()
    answer = trellisd.apply([("billing-route.yaml",
                              ROUTE.format(stable=weights[0], canary=weights[1]))])
    apply_ns = time.monotonic_ns() - t0
    cpu_apply = cpu_seconds([trellisd.pid]) - cpu0
    if [r.get("outcome") for r in answer.get("results", [])] != ["configured"]:
        raise BenchError(f"the route change was not applied: {answer}")
    load.send(f"WAIT rds {t0} {int(args.change_timeout * 1000)}")
    line = load.line(args.change_timeout + 30)
    if not line.startswith("CHANGE "):
        raise BenchError(f"xds_load: expected CHANGE, got {line[:200]}")
    change = json.loads(line[len("CHANGE "):])
    if change["converged"] != clients:
        raise BenchError(f"only {change['converged']} of {clients} sidecars ACKed the new route "
                         f"within {args.change_timeout} s")
    # The CPU window closes once trellisd has counted every ACK of this change's pushes.
    pushed = sum(change["responses"].values())
    wait_for(lambda: trellisd.metrics()["trellisd_xds_acks_total"] >=
             before["trellisd_xds_acks_total"] + pushed, 30, "trellisd to count the ACKs",
             trellisd.proc)
    cpu_total = cpu_seconds([trellisd.pid]) - cpu0
    load_cpu = cpu_seconds([load.proc.pid]) - load_cpu0
    after = trellisd.settle()
    ack_ms = sorted(ns / 1e6 for ns in change["ack_ns"])
    builds = after["trellisd_config_builds_total"] - before["trellisd_config_builds_total"]
    result = {"weights": list(weights), "apply_ms": apply_ns / 1e6, "ack_ms": ack_ms,
              "received_ms": sorted(ns / 1e6 for ns in change["received_ns"]),
              "converged_ms": ack_ms[-1], "p50_ms": percentile(ack_ms, 50),
              "p99_ms": percentile(ack_ms, 99), "responses": change["responses"],
              "new_versions": change["new_versions"], "cpu_s": cpu_total,
              "cpu_apply_s": cpu_apply, "xds_load_cpu_s": load_cpu, "builds": builds,
              "xds_responses": after["trellisd_xds_responses_total"] -
              before["trellisd_xds_responses_total"]}
    log(f"  {weights[0]}/{weights[1]}: apply {result['apply_ms']:.1f} ms; ACKed p50 "
        f"{result['p50_ms']:.1f} p99 {result['p99_ms']:.1f} max {result['converged_ms']:.1f} ms; "
        f"trellisd CPU {cpu_total * 1000:.0f} ms ({cpu_apply * 1000:.0f} in the apply); "
        f"{builds:.0f} builds; pushed {change['responses']}")
    return result


def summarize_scale(clients, changes, per_proxy, ready_s):
    pooled = sorted(ms for c in changes for ms in c["ack_ms"])
    converged = sorted(c["converged_ms"] for c in changes)
    cpu_push = sum(c["cpu_s"] - c["cpu_apply_s"] for c in changes)
    cpu_all = sum(c["cpu_s"] for c in changes)
    rds = sum(c["responses"]["rds"] for c in changes)
    other = sum(c["responses"][t] for c in changes for t in ("cds", "eds", "lds"))
    return {
        "clients": clients,
        "changes": len(changes),
        "ready_s": ready_s,
        "rss_per_proxy_kib": per_proxy / KIB,
        "apply_ms_p50": percentile(sorted(c["apply_ms"] for c in changes), 50),
        "ack_p50_ms": percentile(pooled, 50),
        "ack_p99_ms": percentile(pooled, 99),
        "ack_max_ms": pooled[-1] if pooled else None,
        "converged_p50_ms": percentile(converged, 50),
        "converged_max_ms": converged[-1] if converged else None,
        "cpu_per_change_ms": cpu_all / len(changes) * 1000 if changes else None,
        "cpu_per_push_us": cpu_push / max(1, rds + other) * 1e6,
        "rds_per_change": rds / len(changes) if changes else None,
        "other_per_change": other / len(changes) if changes else None,
    }


# ---------------------------------------------------------------------------------------------
# Reporting

COLUMNS = [("sidecars", "{}", "clients"), ("ready s", "{:.2f}", "ready_s"),
           ("KiB/proxy", "{:.1f}", "rss_per_proxy_kib"), ("apply ms", "{:.1f}", "apply_ms_p50"),
           ("ACK p50 ms", "{:.1f}", "ack_p50_ms"), ("p99 ms", "{:.1f}", "ack_p99_ms"),
           ("max ms", "{:.1f}", "ack_max_ms"), ("converged p50", "{:.1f}", "converged_p50_ms"),
           ("CPU ms/change", "{:.1f}", "cpu_per_change_ms"),
           ("CPU us/push", "{:.1f}", "cpu_per_push_us"), ("pushes/change", "{:.0f}",
                                                           "rds_per_change")]


def print_table(rows):
    table = [[title for title, _, _ in COLUMNS]]
    for row in rows:
        table.append([fmt.format(row[key]) if row.get(key) is not None else "-"
                      for _, fmt, key in COLUMNS])
    widths = [max(len(r[i]) for r in table) for i in range(len(COLUMNS))]
    print()
    for i, r in enumerate(table):
        print("  ".join(c.rjust(widths[j]) for j, c in enumerate(r)))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def check_aims(rows):
    """The issue's aims, judged at 1,000 sidecars (other scales are in the table only)."""
    row = next((r for r in rows if r["clients"] == AIM_CONVERGED_AT), None)
    converged = row["converged_max_ms"] if row else None
    per_proxy = row["rss_per_proxy_kib"] * KIB if row else None
    checks = [
        ("1,000 proxies converged in < 1 s", converged,
         None if row is None else converged / 1000 < AIM_CONVERGED_S,
         f"worst of {row['changes']} changes {converged:.0f} ms" if row else "-"),
        ("<= 100 KB (100,000 B) per proxy at 1,000", per_proxy,
         None if row is None else per_proxy <= AIM_RSS_PER_PROXY_BYTES,
         f"{per_proxy / 1000:.1f} KB" if row else "-"),
    ]
    print("\ntrellisd against its aims:")
    out = []
    for name, value, ok, shown in checks:
        verdict = "n/a " if ok is None else ("PASS" if ok else "MISS")
        print(f"  {verdict}  {name:<42} {shown}")
        out.append({"aim": name, "value": value, "met": ok})
    if row is None:
        print(f"  (the aims are judged at {AIM_CONVERGED_AT} sidecars: --clients "
              f"{AIM_CONVERGED_AT})")
    return out


# ---------------------------------------------------------------------------------------------

def add_arguments(parser):
    parser.add_argument("--clients", default=None,
                        help="comma-separated numbers of sidecars, one run each "
                             "(default 100,1000; --quick 50)")
    parser.add_argument("--changes", type=int, default=None,
                        help="route changes per run (default 10; --quick 3)")
    parser.add_argument("--streams-per-connection", type=int, default=1,
                        help="ADS streams per HTTP/2 connection (default 1, like real sidecars)")
    parser.add_argument("--debounce-ms", type=int, default=10, help="trellisd --debounce-ms")
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help=f"do not pin trellisd to CPU {PROXY_CPU} and xds_load to CPU "
                             f"{LOAD_CPU}")
    parser.add_argument("--ready-timeout", type=float, default=300,
                        help="seconds the sidecars may take to get their initial configuration")
    parser.add_argument("--change-timeout", type=float, default=60,
                        help="seconds a route change may take to reach every sidecar")
    parser.add_argument("--trellisd-bin", help="trellisd binary (default: in --build-dir)")
    parser.add_argument("--xds-load-bin", help="xds_load binary (default: in --build-dir)")


def resolve(args):
    """Fills the defaults that depend on --quick and --build-dir."""
    build = os.path.abspath(args.build_dir)
    args.trellisd_bin = args.trellisd_bin or os.path.join(build, "src", "controlplane",
                                                          "trellisd", "trellisd")
    args.xds_load_bin = args.xds_load_bin or os.path.join(build, "bench", "xds", "xds_load")
    for binary in (args.trellisd_bin, args.xds_load_bin):
        if not os.access(binary, os.X_OK):
            raise BenchError(f"{binary} is missing: build first (cmake --build {build} "
                             "--target trellisd xds_load)")
    text = args.clients or ("50" if args.quick else "100,1000")
    try:
        args.client_counts = [int(n) for n in text.split(",") if n.strip()]
    except ValueError:
        raise BenchError(f"--clients {text}: expected comma-separated numbers")
    if not args.client_counts or min(args.client_counts) < 1:
        raise BenchError(f"--clients {text}: expected positive numbers")
    if args.changes is None:
        args.changes = 3 if args.quick else 10
    if args.changes < 1:
        raise BenchError("--changes must be at least 1")


def raise_fd_limit(clients):
    # trellisd holds one socket per sidecar, xds_load one per sidecar too (both inherit this).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = clients * 2 + 1024
    if hard != resource.RLIM_INFINITY and hard < wanted:
        raise BenchError(f"RLIMIT_NOFILE hard limit {hard} is below the {wanted} descriptors "
                         f"{clients} sidecars need")
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def run(args):
    """Runs every scale; returns the results dict (also what run.py stores)."""
    resolve(args)
    raise_fd_limit(max(args.client_counts))
    if (os.cpu_count() or 1) <= 2:
        log(f"note: {os.cpu_count()} CPUs: trellisd and xds_load each get one "
            f"({'pinned' if args.pin else 'unpinned'}), so the load client's work is not "
            "trellisd's, but both compete with anything else on the machine")
    procs = Processes()
    results = {"settings": {"clients": args.client_counts, "changes": args.changes,
                            "streams_per_connection": args.streams_per_connection,
                            "debounce_ms": args.debounce_ms, "pinned": args.pin,
                            "trellisd_cpu": PROXY_CPU if args.pin else None,
                            "xds_load_cpu": LOAD_CPU if args.pin else None},
               "machine": {"nproc": os.cpu_count(),
                           "loadavg_start": read_text("/proc/loadavg").strip()},
               "scales": []}
    try:
        for clients in args.client_counts:
            results["scales"].append(run_scale(args, procs, clients))
    finally:
        procs.stop_all()
    results["machine"]["loadavg_end"] = read_text("/proc/loadavg").strip()
    results["summary"] = [s["summary"] for s in results["scales"]]
    return results


def report(results):
    print_table(results["summary"])
    results["aims"] = check_aims(results["summary"])
    for row in results["summary"]:
        if row["other_per_change"]:
            print(f"note: at {row['clients']}, {row['other_per_change']:.0f} CDS/EDS/LDS "
                  "responses per change besides RDS")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", default=os.path.join(REPO, "build"),
                        help="CMake build directory holding trellisd and bench/xds/xds_load")
    parser.add_argument("--quick", action="store_true", help="50 sidecars, 3 changes")
    parser.add_argument("--json-out", help="where to write the JSON results (default "
                                           "bench/results/xds-<timestamp>.json)")
    parser.add_argument("--keep-temp", action="store_true",
                        help="keep the scratch directories (trellisd's data and logs)")
    add_arguments(parser)
    args = parser.parse_args()
    args.workdir = None
    return run_and_report(args)


def run_and_report(args):
    def interrupted(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    try:
        results = run(args)
    except KeyboardInterrupt:
        log("interrupted; stopping everything")
        return 130
    except BenchError as error:
        log(f"error: {error}")
        return 1
    report(results)
    write_results(results, "xds", args.json_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
