"""Helpers shared by bench/run.py and bench/http2_bench.py: child processes stopped by pid,
CPU and memory meters read from /proc, waiting with a timeout, and keep-alive HTTP/1.1 requests
on raw sockets. Standard library only."""

import datetime
import json
import os
import signal
import socket
import subprocess
import sys
import time

PROXY_CPU = "0"  # the proxy under test
LOAD_CPU = "1"  # trellis-echo and the load generators
BODY_PATH = "/?body=12"


class BenchError(Exception):
    pass


def log(message):
    print(message, file=sys.stderr, flush=True)


def write_results(results, prefix, json_out=None):
    """Writes `results` as JSON to `json_out`, or to bench/results/<prefix>-<timestamp>.json;
    prints and returns the path."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = json_out or os.path.join(
        repo, "bench", "results",
        f"{prefix}-{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}.json")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    print(f"\nraw results: {os.path.relpath(path)}")
    return path


# ---------------------------------------------------------------------------------------------
# Processes: every child is registered and stopped by pid at the end, whatever happens.

class Processes:
    def __init__(self):
        self.running = []  # (name, Popen)

    def start(self, name, argv, workdir, forks=False, **kw):
        out = open(os.path.join(workdir, f"{name}.out"), "wb")
        err = open(os.path.join(workdir, f"{name}.err"), "wb")
        # Own session: a Ctrl-C in the terminal reaches only this script, which then stops
        # everything in order.
        proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                start_new_session=True, **kw)
        out.close()
        err.close()
        proc.bench_name = name
        proc.bench_forks = forks
        proc.bench_files = (os.path.join(workdir, f"{name}.out"),
                            os.path.join(workdir, f"{name}.err"))
        self.running.append((name, proc))
        return proc

    def run(self, name, argv, workdir, timeout):
        """Runs a command to completion; returns (returncode, stdout, stderr)."""
        proc = self.start(name, argv, workdir)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop(proc)
            raise BenchError(f"{name} did not finish within {timeout} s: {' '.join(argv)}")
        self.forget(proc)
        return code, read_text(proc.bench_files[0]), read_text(proc.bench_files[1])

    def forget(self, proc):
        self.running = [(n, p) for n, p in self.running if p is not proc]

    def stop(self, proc, sig=signal.SIGTERM, timeout=10):
        # Only forked servers (nginx) leave children worth reaping; never touch a tracee.
        children = child_pids(proc.pid) if proc.poll() is None and proc.bench_forks else []
        if proc.poll() is None:
            try:
                proc.send_signal(sig)
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            except ProcessLookupError:
                pass
        for pid in children:  # e.g. nginx workers left behind by a killed master
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.forget(proc)

    def stop_all(self):
        for _, proc in reversed(list(self.running)):
            self.stop(proc)


def read_text(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def child_pids(pid):
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            children.append(int(entry))
    return children


def rss_bytes(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


def cpu_seconds(pids):
    """User + system CPU time consumed so far by `pids` (all their threads)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


class CpuMeter:
    """Fraction of one CPU that `pids` used between start() and stop()."""

    def __init__(self, pids):
        self.pids = pids
        self.start_cpu = cpu_seconds(pids) if pids else 0
        self.start_wall = time.monotonic()

    def stop(self):
        if not self.pids:
            return None
        return (cpu_seconds(self.pids) - self.start_cpu) / (time.monotonic() - self.start_wall)


def cpu_busy_ticks(cpu):
    """(busy, total) jiffies of one CPU from /proc/stat."""
    for line in read_text("/proc/stat").splitlines():
        fields = line.split()
        if fields and fields[0] == f"cpu{cpu}":
            values = [int(v) for v in fields[1:8]]  # user nice system idle iowait irq softirq
            idle = values[3] + values[4]
            return sum(values) - idle, sum(values)
    return 0, 0


class CpuBusyMeter:
    """Fraction of time a whole CPU was busy (any process) between start() and stop()."""

    def __init__(self, cpu):
        self.cpu = cpu
        self.start = cpu_busy_ticks(cpu)

    def stop(self):
        busy, total = cpu_busy_ticks(self.cpu)
        return (busy - self.start[0]) / max(1, total - self.start[1])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, what, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BenchError(f"{what}: process exited with {proc.returncode}: "
                             f"{read_text(proc.bench_files[1])[-2000:]}")
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise BenchError(f"timed out after {timeout} s waiting for {what}")


# ---------------------------------------------------------------------------------------------
# HTTP on raw sockets (keep-alive, exact framing; urllib would close connections).

def request_bytes(port, path=BODY_PATH):
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()


def read_response(sock):
    """Reads one Content-Length-framed response; returns (status, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise BenchError("connection closed before the response head")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise BenchError("connection closed in the response body")
        body += chunk
    return status, body[:length]


def one_request(port, timeout=5, path=BODY_PATH):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request_bytes(port, path))
        return read_response(sock)


def serves(port):
    try:
        status, body = one_request(port, timeout=2)
        return status == 200 and body == b"x" * 12
    except (OSError, BenchError, ValueError, IndexError):
        return False
