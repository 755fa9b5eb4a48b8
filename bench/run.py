#!/usr/bin/python3
"""Side-by-side reverse-proxy benchmark: direct, trellis-proxy, nginx and HAProxy in front of the
same trellis-echo upstream, measured in one run with the same CPU pinning: first over HTTP/1.1,
then the HTTP/2 scenarios of http2_bench.py (h2c, HTTP/1.1 to an HTTP/2 upstream, gRPC unary),
then two trellis-proxies in a row, plaintext against mutual TLS (mtls_bench.py).

    /usr/bin/python3 bench/run.py --build-dir build              # the full run (make bench)
    /usr/bin/python3 bench/run.py --build-dir build --quick      # smoke test of the script
    /usr/bin/python3 bench/run.py --build-dir build --only http2 # the HTTP/2 part alone
    /usr/bin/python3 bench/run.py --build-dir build --only mtls  # two proxies, plaintext vs mTLS
    /usr/bin/python3 bench/run.py --build-dir build --only xds   # control-plane scale bench

The proxy under test runs on CPU 0; the upstream and the load generators (wrk, trellis-loadgen,
h2load) run on CPU 1. See docs/benchmark.md for what each number means and how it is measured.
Standard library only.
"""

import argparse
import glob
import json
import os
import platform
import pwd
import re
import resource
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time

import http2_bench
import mtls_bench
import xds_bench
from benchlib import (BODY_PATH, LOAD_CPU, PROXY_CPU, BenchError, CpuBusyMeter, CpuMeter,
                      Processes, child_pids, free_port, log, read_response, read_text,
                      request_bytes, rss_bytes, serves, wait_for, write_results)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "bench", "configs")
TARGETS = ("direct", "trellis", "trellis-policies", "nginx", "haproxy")
# trellis-proxy configurations: the plain route, and the same with resilience policies on.
TRELLIS_CONFIGS = {"trellis": "trellis.yaml.tmpl", "trellis-policies": "trellis-policies.yaml.tmpl"}
# The HTTP/1.1 table, the HTTP/2 scenarios (http2_bench.py), two proxies in plaintext and with
# mutual TLS (mtls_bench.py).
PARTS = ("http1", "http2", "mtls")
XDS = "xds"  # the control-plane scale bench (xds_bench.py): only when --only names it
RT_PRIORITY = "10"
MIB = 1024 * 1024

# The aims trellis-proxy is held to (design.md section 5).
AIM_RPS_VS_HAPROXY = 1.0
AIM_RPS_VS_NGINX = 1.2
AIM_IDLE_RSS_MIB = 10.0
AIM_ADDED_P99_US = 200.0
AIM_INSTR_PER_REQ = 16000
AIM_SYSCALLS_PER_REQ = 4.6


# ---------------------------------------------------------------------------------------------
# Targets

class Bench:
    def __init__(self, args, targets):
        self.args = args
        self.procs = Processes()
        self.workdir = tempfile.mkdtemp(prefix="trellis-bench-")
        build = os.path.abspath(args.build_dir)
        self.proxy_bin = args.proxy_bin or os.path.join(build, "src", "proxy", "trellis-proxy")
        self.echo_bin = args.echo_bin or os.path.join(build, "src", "apps", "echo",
                                                      "trellis-echo")
        self.loadgen_bin = args.loadgen_bin or os.path.join(build, "bench", "loadgen",
                                                            "trellis-loadgen")
        needed = [self.echo_bin, self.loadgen_bin]
        if any(t in TRELLIS_CONFIGS for t in targets):
            needed.append(self.proxy_bin)
        for binary in needed:
            if not os.access(binary, os.X_OK):
                raise BenchError(f"{binary} is missing: build first (cmake --build {build})")
        self.realtime = args.realtime and realtime_available()
        self.echo_port = None

    def pinned(self, cpu, argv, realtime=None):
        realtime = self.realtime if realtime is None else realtime
        prefix = ["chrt", "-f", RT_PRIORITY] if realtime else []
        return prefix + ["taskset", "-c", cpu] + argv

    def render(self, template, name, **values):
        with open(os.path.join(CONFIGS, template), encoding="utf-8") as f:
            text = string.Template(f.read()).substitute(workdir=self.workdir, **values)
        path = os.path.join(self.workdir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def start_echo(self):
        ready = os.path.join(self.workdir, "echo.ready")
        proc = self.procs.start("echo", self.pinned(LOAD_CPU, [
            self.echo_bin, "--listen", "127.0.0.1:0", "--threads", "1", "--ready-file", ready]),
            self.workdir)
        line = wait_for(lambda: read_text(ready).strip(), 10, "trellis-echo", proc)
        self.echo_port = int(line.splitlines()[0].rsplit(":", 1)[1])
        if not serves(self.echo_port):
            raise BenchError("trellis-echo does not answer /?body=12 with 12 bytes")

    def start_target(self, name, callgrind_out=None):
        """Starts one target. Returns (port, proc or None, pids to measure)."""
        if name == "direct":
            return self.echo_port, None, []
        port = free_port()
        tag = f"{name}-callgrind" if callgrind_out else name
        if name in TRELLIS_CONFIGS:
            config = self.render(TRELLIS_CONFIGS[name], f"{tag}.yaml", listen_port=port,
                                 upstream_port=self.echo_port)
            port_file = os.path.join(self.workdir, f"{tag}.admin-port")
            argv = [self.proxy_bin, "--config", config, "--concurrency", "1",
                    "--admin-address", "127.0.0.1:0", "--admin-port-file", port_file,
                    "--log-level", "warn"]
        elif name == "nginx":
            user = pwd.getpwuid(os.geteuid()).pw_name
            config = self.render(
                "nginx.conf.tmpl", f"{tag}.conf", listen_port=port, upstream_port=self.echo_port,
                user_line=f"user {user};" if os.geteuid() == 0 else "",
                master_process_line="master_process off;" if callgrind_out else
                "master_process on;")
            argv = [self.args.nginx, "-p", self.workdir + "/", "-e",
                    os.path.join(self.workdir, f"{tag}.error.log"), "-c", config]
        elif name == "haproxy":
            config = self.render("haproxy.cfg.tmpl", f"{tag}.cfg", listen_port=port,
                                 upstream_port=self.echo_port)
            argv = [self.args.haproxy, "-db", "-f", config]
        else:
            raise BenchError(f"unknown target {name}")
        if callgrind_out:
            argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={callgrind_out}"] + argv
            argv = self.pinned(PROXY_CPU, argv, realtime=False)
            timeout = 120
        else:
            argv = self.pinned(PROXY_CPU, argv)
            timeout = 20
        proc = self.procs.start(tag, argv, self.workdir, forks=(name == "nginx"))
        if name in TRELLIS_CONFIGS:
            wait_for(lambda: read_text(port_file).strip(), timeout, "trellis-proxy admin port",
                     proc)
        wait_for(lambda: serves(port), timeout, f"{tag} to proxy a request", proc)
        pids = [proc.pid] + (child_pids(proc.pid) if name == "nginx" else [])
        return port, proc, pids

    # --- load generators -----------------------------------------------------------------------

    def loadgen(self, port, extra, timeout, realtime=None):
        argv = self.pinned(LOAD_CPU, [self.loadgen_bin, "--target", f"127.0.0.1:{port}",
                                      "--path", BODY_PATH, "--json"] + extra, realtime)
        code, out, err = self.procs.run("loadgen", argv, self.workdir, timeout)
        if code != 0 or not out.strip():
            raise BenchError(f"trellis-loadgen failed ({code}): {err.strip()[-2000:]}")
        return json.loads(out.strip().splitlines()[-1])

    def wrk(self, port, seconds, latency):
        argv = self.pinned(LOAD_CPU, ["wrk", "-t1", "-c50", f"-d{seconds}s"] +
                           (["--latency"] if latency else []) +
                           [f"http://127.0.0.1:{port}{BODY_PATH}"])
        code, out, err = self.procs.run("wrk", argv, self.workdir, seconds + 30)
        if code != 0:
            raise BenchError(f"wrk failed ({code}): {err.strip()}")
        return parse_wrk(out)

    # --- measurements --------------------------------------------------------------------------

    def measure_throughput(self, port, pids):
        if not shutil.which("wrk"):
            log("  throughput: skipped (wrk is not installed)")
            return None
        self.wrk(port, self.args.wrk_warmup, latency=False)
        runs = []
        for _ in range(self.args.throughput_runs):
            meter = CpuMeter(pids)
            load_meter = CpuBusyMeter(LOAD_CPU)
            run = self.wrk(port, self.args.wrk_duration, latency=True)
            run["proxy_cpu"] = meter.stop()
            # When the load CPU is saturated, the rps is the load side's limit, not the proxy's.
            run["load_cpu_busy"] = load_meter.stop()
            runs.append(run)
        result = dict(sorted(runs, key=lambda r: r["rps"])[len(runs) // 2])  # the median run
        result["errors"] = sum(r["errors"] for r in runs)
        result["runs"] = runs
        if result["proxy_cpu"]:
            result["rps_per_proxy_cpu"] = result["rps"] / result["proxy_cpu"]
        cpu = (f", proxy CPU {result['proxy_cpu'] * 100:.0f}%"
               if result["proxy_cpu"] is not None else "")
        cpu += f", load CPU {result['load_cpu_busy'] * 100:.0f}% busy"
        if len(runs) > 1:
            all_rps = "/".join(f"{r['rps']:.0f}" for r in runs)
            cpu += f", runs {all_rps}"
        log(f"  throughput: {result['rps']:.0f} req/s (wrk p50 {fmt_us(result['p50_us'])} "
            f"p99 {fmt_us(result['p99_us'])} us, errors {result['errors']}{cpu})")
        return result

    def measure_latency(self, port, pids):
        meter = CpuMeter(pids)
        result = self.loadgen(port, ["--rate", str(self.args.rate), "--connections", "10",
                                     "--duration", str(self.args.latency_duration),
                                     "--warmup", str(self.args.latency_warmup)],
                              timeout=self.args.latency_duration + self.args.latency_warmup + 60)
        result["proxy_cpu"] = meter.stop()
        lat = result["latency_us"]
        log(f"  latency at {self.args.rate} req/s: p50 {lat['p50']:.0f} us, p99 {lat['p99']:.0f} "
            f"us, errors {result['errors']}, max scheduler lag "
            f"{result['max_scheduler_lag_us']:.0f} us")
        return result

    def measure_memory(self, port, pids):
        idle = rss_bytes(pids)
        socks = []
        try:
            for _ in range(self.args.open_connections):
                sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                socks.append(sock)
                sock.sendall(request_bytes(port))
                status, _ = read_response(sock)
                if status != 200:
                    raise BenchError(f"status {status} on connection {len(socks)}")
            time.sleep(0.3)
            loaded = rss_bytes(pids)
        finally:
            for sock in socks:
                sock.close()
        log(f"  RSS: idle {idle / MIB:.2f} MiB, with {len(socks)} connections "
            f"{loaded / MIB:.2f} MiB")
        return {"idle_rss_bytes": idle, "open_connections": len(socks),
                "loaded_rss_bytes": loaded}

    def measure_syscalls(self, port, pids):
        if not shutil.which("strace"):
            log("  syscalls: skipped (strace is not installed)")
            return None
        out = os.path.join(self.workdir, f"strace-{port}.txt")
        argv = ["taskset", "-c", PROXY_CPU, "strace", "-c", "-f", "-o", out]
        for pid in pids:
            argv += ["-p", str(pid)]
        strace = self.procs.start("strace", argv, self.workdir)
        wait_for(lambda: read_text(strace.bench_files[1]).count("attached") >= len(pids), 10,
                 "strace to attach", strace)
        time.sleep(0.2)
        requests = self.args.strace_requests
        load = self.loadgen(port, ["--requests", str(requests), "--connections", "10"],
                            timeout=300)
        self.procs.stop(strace, sig=signal.SIGINT, timeout=30)
        table = parse_strace(read_text(out))
        if table["total_calls"] == 0:
            raise BenchError(f"strace recorded no syscalls: {read_text(strace.bench_files[1])}")
        result = {"requests": load["requests"], "errors": load["errors"],
                  "total_calls": table["total_calls"], "calls": table["calls"],
                  "per_request": table["total_calls"] / max(1, load["requests"])}
        top = sorted(table["calls"].items(), key=lambda kv: -kv[1])[:6]
        per = max(1, load["requests"])
        breakdown = ", ".join(f"{call} {count / per:.2f}" for call, count in top)
        log(f"  syscalls: {result['per_request']:.2f}/request over {load['requests']} requests "
            f"({breakdown})")
        return result

    def measure_callgrind(self, name):
        if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
            log(f"  {name}: instructions skipped (valgrind/callgrind_control is not installed)")
            return None
        out_prefix = os.path.join(self.workdir, f"callgrind-{name}")
        port, proc, _ = self.start_target(name, callgrind_out=out_prefix + ".%p")
        try:
            warm = self.loadgen(port, ["--requests", str(self.args.callgrind_warmup),
                                       "--connections", "10"], timeout=600, realtime=False)
            if warm["errors"]:
                raise BenchError(f"{name} under callgrind: {warm['errors']} warm-up errors")
            control(["callgrind_control", "-z", str(proc.pid)])
            before = set(glob.glob(out_prefix + "*"))
            requests = self.args.callgrind_requests
            load = self.loadgen(port, ["--requests", str(requests), "--connections", "10"],
                                timeout=1800, realtime=False)
            control(["callgrind_control", "-d", str(proc.pid)])
            dump = wait_for(lambda: sorted(set(glob.glob(out_prefix + "*")) - before), 60,
                            "the callgrind dump")[-1]
            instructions = wait_for(lambda: callgrind_total(dump), 30, "callgrind totals")
        finally:
            self.procs.stop(proc, timeout=30)
        result = {"requests": load["requests"], "errors": load["errors"],
                  "instructions": instructions,
                  "per_request": instructions / max(1, load["requests"])}
        log(f"  {name}: {result['per_request']:.0f} instructions/request over "
            f"{load['requests']} requests (errors {load['errors']})")
        return result

    # --- the run -------------------------------------------------------------------------------

    def measure_target(self, name):
        log(f"[{name}]")
        port, proc, pids = self.start_target(name)
        result = {"port": port}
        try:
            if pids:
                result["memory"] = self.measure_memory(port, pids)
            result["throughput"] = self.measure_throughput(port, pids)
            result["latency"] = self.measure_latency(port, pids)
            if pids and not self.args.skip_strace:
                result["syscalls"] = self.measure_syscalls(port, pids)
        finally:
            if proc is not None:
                self.procs.stop(proc)
        return result

    def run(self, targets, parts):
        results = {"machine": machine_info(self.args), "settings": settings(self.args,
                                                                            self.realtime),
                   "targets": {}}
        results["settings"]["parts"] = parts
        if not self.realtime:
            log("note: running without SCHED_FIFO (use as root without --no-realtime for "
                "steadier latency)")
        self.start_echo()
        log(f"upstream: trellis-echo on 127.0.0.1:{self.echo_port} (CPU {LOAD_CPU}); proxies "
            f"on CPU {PROXY_CPU}; load on CPU {LOAD_CPU}")
        if "http1" in parts:
            self.run_http1(targets, results)
        if "http2" in parts:
            if shutil.which("h2load"):
                log("HTTP/2 scenarios")
                results["http2"] = http2_bench.Http2Bench(self).run(
                    [t for t in targets if t != "trellis-policies"])
            else:
                log("note: h2load is not installed (nghttp2-client); skipping the HTTP/2 part")
        if "mtls" in parts:
            missing = [tool for tool in ("openssl", "wrk") if not shutil.which(tool)]
            if missing:
                log(f"note: {' and '.join(missing)} not installed; skipping the mTLS part")
            else:
                log("mutual TLS between two proxies (plaintext vs mTLS)")
                results["mtls"] = mtls_bench.MtlsBench(self).run()
        results["machine"]["loadavg_end"] = read_text("/proc/loadavg").strip()
        return results

    def run_http1(self, targets, results):
        for name in targets:
            try:
                results["targets"][name] = self.measure_target(name)
            except BenchError as error:
                log(f"  {name}: FAILED: {error}")
                results["targets"][name] = {"error": str(error)}
        if not self.args.skip_callgrind:
            log("[callgrind]")
            for name in targets:
                if name == "direct" or "error" in results["targets"][name]:
                    continue
                try:
                    results["targets"][name]["callgrind"] = self.measure_callgrind(name)
                except BenchError as error:
                    log(f"  {name}: callgrind FAILED: {error}")
                    results["targets"][name]["callgrind"] = {"error": str(error)}

    def close(self):
        self.procs.stop_all()
        if not self.args.keep_temp:
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            log(f"temporary files kept in {self.workdir}")


def control(argv):
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(argv)} failed: {proc.stderr.strip() or proc.stdout.strip()}")


def callgrind_total(path):
    """The Ir total of a callgrind dump ('totals:' or 'summary:' line), or None if incomplete."""
    text = read_text(path)
    for key in ("totals:", "summary:"):
        match = re.search(rf"^{key}\s+(\d+)", text, re.M)
        if match:
            return int(match.group(1))
    return None


def realtime_available():
    try:
        return subprocess.run(["chrt", "-f", RT_PRIORITY, "true"], capture_output=True,
                              timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


# ---------------------------------------------------------------------------------------------
# Parsers

def to_us(text):
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if not match:
        return None
    scale = {"us": 1, "ms": 1000, "s": 1000000}[match.group(2)]
    return float(match.group(1)) * scale


def parse_wrk(text):
    result = {"rps": None, "p50_us": None, "p99_us": None, "requests": None, "errors": 0,
              "socket_errors": None, "non2xx": 0}
    if match := re.search(r"Requests/sec:\s+([\d.]+)", text):
        result["rps"] = float(match.group(1))
    if match := re.search(r"(\d+) requests in", text):
        result["requests"] = int(match.group(1))
    for pct, key in (("50%", "p50_us"), ("99%", "p99_us")):
        if match := re.search(rf"^\s+{re.escape(pct)}\s+(\S+)", text, re.M):
            result[key] = to_us(match.group(1))
    if match := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                          text):
        result["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"),
                                           map(int, match.groups())))
        result["errors"] += sum(result["socket_errors"].values())
    if match := re.search(r"Non-2xx or 3xx responses: (\d+)", text):
        result["non2xx"] = int(match.group(1))
        result["errors"] += result["non2xx"]
    if result["rps"] is None:
        raise BenchError(f"cannot parse wrk output:\n{text}")
    return result


def parse_strace(text):
    """strace -c table: per-syscall call counts (rows are: %time seconds usecs/call calls
    [errors] name) and their sum."""
    calls = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[-1] == "total" or not re.fullmatch(r"[\d.]+", fields[0]):
            continue
        calls[fields[-1]] = calls.get(fields[-1], 0) + int(fields[3])
    return {"calls": calls, "total_calls": sum(calls.values())}


# ---------------------------------------------------------------------------------------------
# Reporting

def fmt_us(value):
    return "-" if value is None else f"{value:.0f}"


def first_line(argv):
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (proc.stdout + proc.stderr).strip()
    return text.splitlines()[0] if text else None


def machine_info(args):
    cpu = None
    for line in read_text("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    git = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    return {"nproc": os.cpu_count(), "kernel": platform.release(), "cpu": cpu,
            "loadavg_start": read_text("/proc/loadavg").strip(),
            "nginx": first_line([args.nginx, "-v"]),
            "haproxy": first_line([args.haproxy, "-v"]),
            "wrk": first_line(["wrk", "-v"]),
            "valgrind": first_line(["valgrind", "--version"]),
            "strace": first_line(["strace", "-V"]),
            "git": git or None,
            "python": platform.python_version()}


def settings(args, realtime):
    return {"realtime_sched_fifo": realtime, "proxy_cpu": PROXY_CPU, "load_cpu": LOAD_CPU,
            "path": BODY_PATH, "wrk": {"threads": 1, "connections": 50,
                                       "runs": args.throughput_runs,
                                       "duration_s": args.wrk_duration,
                                       "warmup_s": args.wrk_warmup},
            "latency": {"rate": args.rate, "connections": 10,
                        "duration_s": args.latency_duration, "warmup_s": args.latency_warmup},
            "open_connections": args.open_connections,
            "callgrind": {"warmup_requests": args.callgrind_warmup,
                          "requests": args.callgrind_requests, "connections": 10},
            "strace": {"requests": args.strace_requests, "connections": 10},
            "quick": args.quick}


def summarize(results):
    """One row of headline numbers per target (also stored in the JSON)."""
    targets = results["targets"]

    def get(name, *path):
        value = targets.get(name)
        for key in path:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value

    nginx_rps = get("nginx", "throughput", "rps")
    direct_p99 = get("direct", "latency", "latency_us", "p99")
    rows = {}
    for name, data in targets.items():
        rps = get(name, "throughput", "rps")
        p99 = get(name, "latency", "latency_us", "p99")
        idle = get(name, "memory", "idle_rss_bytes")
        loaded = get(name, "memory", "loaded_rss_bytes")
        rows[name] = {
            "error": data.get("error"),
            "rps": rps,
            "rps_vs_nginx": rps / nginx_rps if rps and nginx_rps else None,
            "proxy_cpu_at_saturation": get(name, "throughput", "proxy_cpu"),
            "proxy_cpu_at_rate": get(name, "latency", "proxy_cpu"),
            "load_cpu_busy_at_saturation": get(name, "throughput", "load_cpu_busy"),
            "p50_us": get(name, "latency", "latency_us", "p50"),
            "p99_us": p99,
            "added_p99_us": p99 - direct_p99 if p99 is not None and direct_p99 is not None
            and name != "direct" else None,
            "idle_rss_mib": idle / MIB if idle else None,
            "rss_1k_conns_mib": loaded / MIB if loaded else None,
            "instructions_per_request": get(name, "callgrind", "per_request"),
            "syscalls_per_request": get(name, "syscalls", "per_request"),
            "errors": sum(v for v in (get(name, "throughput", "errors"),
                                      get(name, "latency", "errors")) if v),
        }
    return rows


def print_table(rows):
    columns = [("target", "{}", "target"), ("rps", "{:.0f}", "rps"),
               ("vs nginx", "{:.2f}x", "rps_vs_nginx"),
               ("proxy CPU", "{:.0%}", "proxy_cpu_at_saturation"),
               ("load CPU", "{:.0%}", "load_cpu_busy_at_saturation"),
               ("p50 us", "{:.0f}", "p50_us"),
               ("p99 us", "{:.0f}", "p99_us"), ("+p99 us", "{:+.0f}", "added_p99_us"),
               ("idle MiB", "{:.2f}", "idle_rss_mib"), ("1k conns MiB", "{:.2f}",
                                                         "rss_1k_conns_mib"),
               ("instr/req", "{:.0f}", "instructions_per_request"),
               ("syscalls/req", "{:.2f}", "syscalls_per_request"), ("errors", "{}", "errors")]
    table = [[title for title, _, _ in columns]]
    for name, row in rows.items():
        if row["error"]:
            table.append([name, "FAILED: " + row["error"][:80]])
            continue
        table.append([name] + [fmt.format(row[key]) if row[key] is not None else "-"
                               for _, fmt, key in columns[1:]])
    complete = [r for r in table if len(r) == len(columns)]
    widths = [max(len(r[i]) for r in complete) for i in range(len(columns))]
    print()
    for i, r in enumerate(table):
        if len(r) == 2 and r[1].startswith("FAILED"):
            print(f"{r[0]:<{widths[0]}}  {r[1]}")
            continue
        print("  ".join(c.ljust(widths[0]) if j == 0 else c.rjust(widths[j])
                        for j, c in enumerate(r)))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def check_aims(rows):
    trellis = rows.get("trellis")
    if not trellis or trellis["error"]:
        return []
    nginx = rows.get("nginx") or {}
    haproxy = rows.get("haproxy") or {}

    def verdict(ok):
        return "n/a " if ok is None else ("PASS" if ok else "MISS")

    def ratio(a, b):
        return a / b if a and b else None

    vs_haproxy = ratio(trellis["rps"], haproxy.get("rps"))
    vs_nginx = ratio(trellis["rps"], nginx.get("rps"))
    checks = [
        ("throughput >= HAProxy", vs_haproxy,
         None if vs_haproxy is None else vs_haproxy >= AIM_RPS_VS_HAPROXY,
         f"{vs_haproxy:.2f}x HAProxy" if vs_haproxy else "-"),
        ("throughput >= 1.2x nginx", vs_nginx,
         None if vs_nginx is None else vs_nginx >= AIM_RPS_VS_NGINX,
         f"{vs_nginx:.2f}x nginx" if vs_nginx else "-"),
        ("idle RSS <= 10 MiB", trellis["idle_rss_mib"],
         None if trellis["idle_rss_mib"] is None else trellis["idle_rss_mib"] <= AIM_IDLE_RSS_MIB,
         f"{trellis['idle_rss_mib']:.2f} MiB" if trellis["idle_rss_mib"] else "-"),
        ("added p99 over direct <= 0.2 ms", trellis["added_p99_us"],
         None if trellis["added_p99_us"] is None else trellis["added_p99_us"] <= AIM_ADDED_P99_US,
         f"{trellis['added_p99_us']:+.0f} us" if trellis["added_p99_us"] is not None else "-"),
        ("instructions/request <= 16k", trellis["instructions_per_request"],
         None if trellis["instructions_per_request"] is None
         else trellis["instructions_per_request"] <= AIM_INSTR_PER_REQ,
         f"{trellis['instructions_per_request']:.0f}"
         if trellis["instructions_per_request"] else "-"),
        ("syscalls/request <= 4.6", trellis["syscalls_per_request"],
         None if trellis["syscalls_per_request"] is None
         else trellis["syscalls_per_request"] <= AIM_SYSCALLS_PER_REQ,
         f"{trellis['syscalls_per_request']:.2f}" if trellis["syscalls_per_request"] else "-"),
    ]
    print("\ntrellis-proxy against its aims:")
    out = []
    for name, value, ok, shown in checks:
        print(f"  {verdict(ok)}  {name:<34} {shown}")
        out.append({"aim": name, "value": value, "met": ok})
    return out


# ---------------------------------------------------------------------------------------------

def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", default=os.path.join(REPO, "build"),
                        help="CMake build directory holding trellis-proxy, trellis-echo and "
                             "trellis-loadgen (default: build)")
    parser.add_argument("--only", help="comma-separated subset of the targets " +
                        ",".join(TARGETS) + " and/or the parts " + ",".join(PARTS) +
                        " (e.g. 'http2', 'mtls' or 'http2,direct,nginx'); default: everything "
                        "but '" + XDS + "', the control-plane scale bench (xds_bench.py), which "
                        "runs only when named")
    parser.add_argument("--quick", action="store_true",
                        help="short durations and request counts, to smoke-test the script")
    parser.add_argument("--json-out", help="where to write the JSON results (default "
                                           "bench/results/bench-<timestamp>.json)")
    parser.add_argument("--skip-callgrind", action="store_true")
    parser.add_argument("--skip-strace", action="store_true")
    parser.add_argument("--callgrind-requests", type=int, default=None,
                        help="measured requests under callgrind (default 20000; --quick 2000)")
    parser.add_argument("--strace-requests", type=int, default=None,
                        help="requests while strace is attached (default 20000; --quick 5000)")
    parser.add_argument("--throughput-runs", type=int, default=None,
                        help="wrk runs per target; the table shows the median run "
                             "(default 3; --quick 1)")
    parser.add_argument("--rate", type=int, default=2000,
                        help="open-loop rate of the latency test, requests/s (default 2000)")
    parser.add_argument("--mtls-rate", type=int, default=mtls_bench.DEFAULT_RATE,
                        help="open-loop rate of the mTLS part's latency test, requests/s "
                             f"(default {mtls_bench.DEFAULT_RATE}, the rate of Istio's figure)")
    parser.add_argument("--no-realtime", dest="realtime", action="store_false",
                        help="do not run the proxies and load generators under SCHED_FIFO")
    parser.add_argument("--proxy-bin", help="trellis-proxy binary (default: in --build-dir)")
    parser.add_argument("--echo-bin", help="trellis-echo binary (default: in --build-dir)")
    parser.add_argument("--loadgen-bin", help="trellis-loadgen binary (default: in --build-dir)")
    parser.add_argument("--nginx", default="/usr/sbin/nginx")
    parser.add_argument("--haproxy", default="/usr/sbin/haproxy")
    parser.add_argument("--keep-temp", action="store_true",
                        help="keep the temporary directory (configs, logs, dumps)")
    args = parser.parse_args()
    quick = args.quick
    args.wrk_warmup = 1
    args.wrk_duration = 2 if quick else 5
    args.latency_warmup = 0.5 if quick else 1
    args.latency_duration = 2 if quick else 5
    args.open_connections = 1000
    if args.throughput_runs is None:
        args.throughput_runs = 1 if quick else 3
    args.callgrind_warmup = 200 if quick else 1000
    if args.callgrind_requests is None:
        args.callgrind_requests = 2000 if quick else 20000
    if args.strace_requests is None:
        args.strace_requests = 5000 if quick else 20000
    targets, parts = list(TARGETS), list(PARTS)
    args.xds = args.xds_only = False
    if args.only:
        chosen = [t.strip() for t in args.only.split(",") if t.strip()]
        unknown = [t for t in chosen if t not in TARGETS and t not in PARTS and t != XDS]
        if unknown:
            parser.error(f"unknown target(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(TARGETS + PARTS + (XDS,))}")
        args.xds = XDS in chosen
        chosen = [t for t in chosen if t != XDS]
        args.xds_only = args.xds and not chosen
        if args.xds_only:
            return args, [], []
        targets = [t for t in chosen if t in TARGETS] or targets
        parts = [p for p in chosen if p in PARTS] or parts
    for name, binary in (("nginx", args.nginx), ("haproxy", args.haproxy)):
        if name in targets and not os.access(binary, os.X_OK):
            log(f"note: {binary} is not installed; skipping {name} (scripts/install-deps.sh)")
            targets.remove(name)
    return args, targets, parts


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 16384 if hard == resource.RLIM_INFINITY else min(hard, 16384)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def run_xds(args):
    """The control-plane scale bench with its defaults (bench/xds_bench.py has the options)."""
    xds_args = argparse.Namespace(build_dir=args.build_dir, quick=args.quick,
                                  keep_temp=args.keep_temp, workdir=None,
                                  json_out=args.json_out if args.xds_only else None)
    parser = argparse.ArgumentParser()
    xds_bench.add_arguments(parser)
    parser.parse_args([], namespace=xds_args)
    return xds_bench.run_and_report(xds_args)


def main():
    args, targets, parts = parse_args()
    if args.xds:
        code = run_xds(args)
        if args.xds_only or code != 0:
            return code
    if (os.cpu_count() or 1) < 2:
        log("note: fewer than 2 CPUs; the proxy and the load share a core")
    raise_fd_limit()

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    # Installed explicitly: a shell starting this in the background ignores SIGINT otherwise.
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    bench = None
    try:
        bench = Bench(args, targets)
        results = bench.run(targets, parts)
    except KeyboardInterrupt:
        log("interrupted; stopping everything")
        return 130
    except BenchError as error:
        log(f"error: {error}")
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut cleanup short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if bench is not None:
            bench.close()

    rows = summarize(results)
    if rows:
        print_table(rows)
        results["summary"] = rows
        results["aims"] = check_aims(rows)
    http2_rows = []
    if "http2" in results:
        http2_rows = http2_bench.summarize(results["http2"])
        http2_bench.print_table(http2_rows)
        results["http2"]["summary"] = http2_rows
    mtls_rows = []
    if "mtls" in results:
        mtls_rows, results["mtls"]["aims"] = mtls_bench.report(results["mtls"])
        results["mtls"]["summary"] = mtls_rows
    write_results(results, "bench", args.json_out)
    print("note: a shared, noisy machine; compare the ratios within one run, not runs with "
          "each other.")
    failed = [name for name, row in rows.items() if row["error"]]
    failed += [f"{row['group']}/{row['target']}" for row in http2_rows if row["error"]]
    failed += [f"mtls/{row['path']}" for row in mtls_rows if row["error"]]
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
