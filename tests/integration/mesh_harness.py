"""A mesh of real processes for integration tests (stdlib only; run with /usr/bin/python3).

    mesh = Mesh(test, grace_period_ms=1500)   # trellisd (trellisd_harness.Trellisd)
    mesh.apply_shop()                          # examples/shop/*.yaml through the API
    billing = mesh.start_instance("billing", "billing-1")
    checkout = mesh.start_instance("checkout", "checkout-1", outbound=True)
    checkout.wait_endpoints("billing", {billing.inbound_port})
    http_get(checkout.outbound_port, headers={"Host": "billing"})

An instance is a trellis-echo (the application) and its trellis-proxy sidecar in xDS mode, both
on free loopback ports. Readiness is signalled, never slept for: the echo's --ready-file, the
proxy's --admin-port-file, then its /ready (200 once the first xDS snapshot is applied) and a
connect to its listeners. Everything is stopped by the test's cleanup.
"""

import json
import os
import re
import signal
import socket
import threading
import time

from harness import (POLL_INTERVAL, Proc, RawConnection, binary, free_port, make_scratch_dir,
                     start_echo)
from trellisd_harness import Trellisd

PROXY_BINARY = "src/proxy/trellis-proxy"
SHOP_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "shop")
SHOP_FILES = ("services.yaml", "workloads.yaml", "routes.yaml")
WAIT_TIMEOUT = 10.0  # seconds a pushed change or a (re)connect may take to show
ADMIN_TIMEOUT = 5.0


def wait_until(what, predicate, timeout=WAIT_TIMEOUT, procs=()):
    """Polls `predicate` until it returns something truthy and returns that; fails naming `what`
    after `timeout`, or at once (with its stderr) if one of `procs` (harness.Proc) exits."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        for proc in procs:
            if not proc.alive():
                raise AssertionError(f"{proc.name} exited with {proc.proc.returncode} while "
                                     f"waiting for {what}:\n{proc.stderr_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s (last: {value!r})")
        time.sleep(POLL_INTERVAL)


def shop_file(name):
    with open(os.path.join(SHOP_DIR, name), encoding="utf-8") as f:
        return f.read()


def billing_route(weight_v1, weight_v2):
    """The shop's billing HTTPRoute split between billing and billing-v2 (weight 0: left out)."""
    text = """apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: billing, namespace: shop}
spec:
  parentRefs:
  - {group: "", kind: Service, name: billing, port: 80}
  rules:
  - backendRefs:
"""
    for name, weight in (("billing", weight_v1), ("billing-v2", weight_v2)):
        if weight:
            text += f"    - {{name: {name}, port: 80, weight: {weight}}}\n"
    return text


# ---------------------------------------------------------------------------------------------
# trellisd

class Mesh(Trellisd):
    """trellisd plus the instances started through it (see the module doc)."""

    def __init__(self, test, **kw):
        kw.setdefault("log_level", "info")
        super().__init__(test, **kw)
        self.instances = []

    def apply_files(self, files, dry_run=False):
        """(status, body) of POST /api/v1/apply with named files [(name, content)]."""
        body = {"files": [{"name": n, "content": c} for n, c in files], "dryRun": dry_run}
        return self.request("POST", "/api/v1/apply", body)

    def apply_shop(self):
        status, body = self.apply_files([(name, shop_file(name)) for name in SHOP_FILES])
        if status != 200:
            raise AssertionError(f"applying examples/shop: HTTP {status}: {body}")
        return body

    def start_instance(self, service, instance, *, outbound=False, namespace="shop", **kw):
        inst = Instance(self, service, instance, namespace, outbound=outbound, **kw)
        self.instances.append(inst)
        return inst

    def node_config(self, node_id):
        """GET /api/v1/proxies/{id}/config: what trellisd last sent the node."""
        return self.get(f"/api/v1/proxies/{node_id}/config")

    def sent_endpoints(self, node_id, service, namespace="shop"):
        """Ports trellisd last sent `node_id` as endpoints of `service` (a set)."""
        config = self.node_config(node_id)
        return endpoint_ports(config["endpoints"], f"{namespace}/{service}")

    def acked(self, node_id, types=("lds", "rds", "cds", "eds")):
        """The proxy's /api/v1/proxies item if it is connected and has ACKed what it was sent of
        each of `types`; else None."""
        item = self.proxy(node_id)
        if item is None or not item["connected"]:
            return None
        for t in types:
            entry = item["types"].get(t)
            if not entry or not entry["sent"] or entry["acked"] != entry["sent"]:
                return None
        return item


def endpoint_ports(assignments, qualified):
    """Ports of the ClusterLoadAssignments (protobuf JSON) of Service `qualified`
    ("shop/billing")."""
    ports = set()
    for cla in assignments:
        if not cluster_matches(cla["cluster_name"], qualified):
            continue
        for group in cla.get("endpoints", []):
            for lb in group.get("lb_endpoints", []):
                address = lb["endpoint"]["address"]["socket_address"]
                ports.add(int(address["port_value"]))
    return ports


class Shop:
    """examples/shop applied to a Mesh, with instances: checkout (with an outbound listener),
    billing-1 and billing-2, billing-v2-1 and inventory-1. Attributes: mesh, checkout, billing
    (list), billing_v2, inventory, instances (all of them)."""

    def __init__(self, test, **mesh_options):
        self.mesh = Mesh(test, **mesh_options)
        self.mesh.apply_shop()
        start = self.mesh.start_instance
        self.billing = [start("billing", "billing-1"), start("billing", "billing-2")]
        self.billing_v2 = start("billing-v2", "billing-v2-1")
        self.inventory = start("inventory", "inventory-1")
        self.checkout = start("checkout", "checkout-1", outbound=True)
        self.instances = [*self.billing, self.billing_v2, self.inventory, self.checkout]
        # Ready once every instance is an endpoint where checkout calls it.
        self.checkout.wait_endpoints("billing", self.billing_ports())
        self.checkout.wait_endpoints("inventory", {self.inventory.inbound_port})

    def billing_ports(self):
        return {b.inbound_port for b in self.billing}


# ---------------------------------------------------------------------------------------------
# Instances: an application and its sidecar

class Instance:
    """trellis-echo (`app`) and its trellis-proxy (`proxy`, a harness.Proc) in xDS mode.

    Attributes: service, name, namespace, node_id ("<instance>.<namespace>"), inbound_port,
    outbound_port (None without outbound), admin_port, app (harness.EchoServer).
    """

    def __init__(self, mesh, service, name, namespace, *, outbound=False, labels=(), wait=True):
        self.mesh = mesh
        self.test = mesh._test
        self.service = service
        self.name = name
        self.namespace = namespace
        self.node_id = f"{name}.{namespace}"
        self.labels = labels
        self.app = start_echo(service, name, test=self.test)
        self.inbound_port = free_port()
        self.outbound_port = free_port() if outbound else None
        self.proxy = None
        self.admin_port = None
        self.start_proxy(wait=wait)

    def proxy_args(self):
        args = [binary(PROXY_BINARY), "--xds", self.mesh.xds_target, "--service", self.service,
                "--namespace", self.namespace, "--instance", self.name,
                "--inbound", f"127.0.0.1:{self.inbound_port}",
                "--app", f"127.0.0.1:{self.app.port}", "--concurrency", 1,
                "--log-level", "info"]
        if self.outbound_port:
            args += ["--outbound", f"127.0.0.1:{self.outbound_port}"]
        for label in self.labels:
            args += ["--label", label]
        return args

    def start_proxy(self, wait=True):
        """Starts the sidecar (again, with the same ports and identity) and waits until it is
        ready: admin port file written, /ready 200, listeners accepting."""
        workdir = make_scratch_dir(f"proxy-{self.name}")
        port_file = os.path.join(workdir, "admin-port")
        args = self.proxy_args() + ["--admin-address", "127.0.0.1:0",
                                    "--admin-port-file", port_file]
        self.proxy = Proc(args, test=self.test, name=f"trellis-proxy {self.node_id}",
                          workdir=workdir)
        self.proxy.killed = False
        self.test.addCleanup(_stop_checked, self.proxy)
        self.admin_port = int(self.proxy.wait_for_file(port_file).strip())
        if wait:
            self.wait_ready()

    def wait_ready(self):
        wait_until(f"{self.node_id}: /ready", lambda: self.admin("/ready")[0] == 200,
                   procs=[self.proxy])
        for port in (self.inbound_port, self.outbound_port):
            if port:
                wait_until(f"{self.node_id}: listening on {port}", lambda p=port: accepts(p),
                           procs=[self.proxy])

    # -- admin ----------------------------------------------------------------------------------

    def admin(self, path):
        """(status, body text) of an admin GET; (None, error) if the admin port does not answer."""
        try:
            with RawConnection(self.admin_port, timeout=ADMIN_TIMEOUT) as conn:
                conn.send(f"GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n"
                          .encode())
                response = conn.read_response()
                return response.status, response.body.decode("utf-8", "replace")
        except OSError as error:
            return None, str(error)

    def admin_json(self, path):
        status, text = self.admin(path)
        if status != 200:
            raise AssertionError(f"{self.node_id} admin {path}: {status}: {text}")
        return json.loads(text)

    def xds(self):
        return self.admin_json("/xds")

    def config_dump(self):
        return self.admin_json("/config_dump")

    def cluster_endpoints(self, service, namespace="shop"):
        """Ports of the endpoints the proxy holds for `service`, from its /clusters (a set), or
        None if it has no such cluster."""
        for cluster in self.admin_json("/clusters")["clusters"]:
            if cluster_matches(cluster["name"], f"{namespace}/{service}"):
                return {e["port"] for e in cluster["endpoints"]}
        return None

    def wait_endpoints(self, service, ports, namespace="shop"):
        """Waits until the proxy holds exactly `ports` for `service`."""
        return wait_until(
            f"{self.node_id}: endpoints of {namespace}/{service} == {sorted(ports)}",
            lambda: self.cluster_endpoints(service, namespace) == set(ports), procs=[self.proxy])

    def metric(self, name, **labels):
        """Sum of the samples of `name` in /stats/prometheus whose labels include `labels`."""
        status, text = self.admin("/stats/prometheus")
        assert status == 200, text
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                key, value = line.rsplit(" ", 1)
                found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', key))
                if all(found.get(k) == v for k, v in labels.items()):
                    total += float(value)
        return total

    def wait_metric(self, value, name, **labels):
        """Waits until metric(name, **labels) == value (a proxy records an exchange when it
        ends, a moment after the client saw the response)."""
        return wait_until(f"{self.node_id}: {name}{labels} == {value}",
                          lambda: self.metric(name, **labels) == value, procs=[self.proxy])

    # -- lifecycle ------------------------------------------------------------------------------

    def kill(self):
        """SIGKILL to the sidecar and the application at once (a crashed instance)."""
        self.proxy.killed = True
        for proc in (self.proxy, self.app.proc):
            if proc.alive():
                proc.proc.send_signal(signal.SIGKILL)
        for proc in (self.proxy, self.app.proc):
            proc.proc.wait(5)

    def kill_proxy(self):
        """SIGKILL to the sidecar only; start_proxy() starts it again."""
        self.proxy.killed = True
        self.proxy.proc.send_signal(signal.SIGKILL)
        self.proxy.proc.wait(5)


def _stop_checked(proc):
    """A sidecar the test did not kill must stop cleanly on SIGTERM (exit 0), so that crashes
    and sanitizer reports fail the test that caused them."""
    code = proc.stop(timeout=15)
    if code != 0 and not proc.killed:
        raise AssertionError(f"{proc.name} exited with {code}:\n{proc.final_stderr}")


def cluster_matches(name, qualified):
    """Whether a cluster name ("shop/billing:80") is one of Service `qualified` ("shop/billing")."""
    return name.rpartition(":")[0] == qualified


def accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), 1.0):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------
# Traffic

class Sample:
    __slots__ = ("worker", "connection", "start", "end", "status", "service", "instance", "error")

    def __init__(self, worker, connection, start):
        self.worker, self.connection, self.start = worker, connection, start
        self.end = self.status = self.service = self.instance = self.error = None

    @property
    def ok(self):
        return self.error is None and self.status == 200

    def __repr__(self):
        outcome = self.error or f"{self.status} from {self.service}/{self.instance}"
        return (f"Sample(worker {self.worker}, connection {self.connection}, "
                f"t={self.start:.3f}: {outcome})")


def send_request(conn, host, path="/"):
    """One GET on a harness.RawConnection; the Response."""
    conn.send(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    return conn.read_response()


class Load:
    """Steady HTTP/1.1 load: `connections` keep-alive connections to 127.0.0.1:`port`, each
    sending GETs with Host `host` one after the other, paced so that together they make `rate`
    requests per second. A failed request (error or non-200) is recorded and its connection
    replaced; `samples` holds every request, `connections_opened[worker]` counts connections.

        with Load(port, "billing") as load:
            ...
        load.failures()
    """

    def __init__(self, port, host, *, connections=4, rate=200.0, path="/", timeout=5.0):
        self.port, self.host, self.path, self.timeout = port, host, path, timeout
        self.interval = connections / rate
        self.samples = []
        self.connections_opened = [0] * connections
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                         for i in range(connections)]

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(self.timeout + 5)

    def _run(self, worker):
        conn = None
        next_at = time.monotonic() + self.interval * worker / len(self._threads)
        while not self._stop.is_set():
            now = time.monotonic()
            if now < next_at:
                self._stop.wait(next_at - now)  # pacing, not synchronisation
                continue
            next_at = max(next_at + self.interval, now - self.interval)
            if conn is None:
                try:
                    conn = RawConnection(self.port, timeout=self.timeout)
                    self.connections_opened[worker] += 1
                except OSError as error:
                    sample = Sample(worker, self.connections_opened[worker], time.monotonic())
                    sample.error, sample.end = f"connect: {error}", time.monotonic()
                    self._record(sample)
                    continue
            sample = Sample(worker, self.connections_opened[worker], time.monotonic())
            try:
                response = send_request(conn, self.host, self.path)
                sample.status = response.status
                sample.service = response.header("x-echo-service")
                sample.instance = response.header("x-echo-instance")
                if response.header("connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, ValueError) as error:
                sample.error = f"{type(error).__name__}: {error}"
                conn.close()
                conn = None
            sample.end = time.monotonic()
            if not sample.ok and conn is not None:
                conn.close()
                conn = None
            self._record(sample)
        if conn is not None:
            conn.close()

    def _record(self, sample):
        with self._lock:
            self.samples.append(sample)

    def snapshot(self):
        with self._lock:
            return list(self.samples)

    def failures(self):
        return [s for s in self.snapshot() if not s.ok]

    def wait_for(self, what, predicate, timeout=WAIT_TIMEOUT):
        """Waits until predicate(sample) holds for a recorded sample; returns the first such."""
        def first():
            return next((s for s in self.snapshot() if predicate(s)), None)
        return wait_until(what, first, timeout)

    def wait_count(self, count, after=0.0, timeout=WAIT_TIMEOUT):
        """Waits until `count` requests that started after `after` (monotonic) completed."""
        return wait_until(f"{count} requests after t={after:.3f}",
                          lambda: sum(1 for s in self.snapshot() if s.start > after) >= count,
                          timeout)
