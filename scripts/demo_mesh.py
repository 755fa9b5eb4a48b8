#!/usr/bin/env python3
"""make demo: the shop, a real mesh on this machine.

One trellisd holds examples/shop/; every service instance runs beside its own trellis-proxy,
which registers with trellisd over xDS and receives exactly its part of the mesh:

  client -> frontend -> auth
                     -> checkout -> inventory
                                 -> billing (2 instances) | billing-v2 (the canary)

Every sidecar gets its workload identity from trellisd's CA (a join token per service account),
every hop between sidecars is mutual TLS (PeerAuthentication STRICT), so is each sidecar's xDS
stream to trellisd (which takes registrations only over mutual TLS), and only checkout may call
billing (AuthorizationPolicy): the script shows a call from the frontend to billing denied, a
plaintext connection to a sidecar refused, and an impostor refused by trellisd.

The script drives steady traffic into the frontend, shifts 10% of billing's traffic to
billing-v2 with `trellisctl canary`, shows the split in live numbers, rolls it back with
`trellisctl rollback`, then keeps the mesh up until Ctrl-C (or --scenario-only: exit after the
scenario, as the integration test does). Everything it starts is stopped on exit.
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHOP = os.path.join(ROOT, "examples", "shop")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def read_port(path):
    with open(path) as f:
        return int(f.read().strip())


def http_get(port, path, host=None, timeout=2.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": host} if host else {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class Mesh:
    def __init__(self, build, work):
        self.build = build
        self.work = work
        self.procs = []
        self.instances = []  # (service, instance, app port, inbound, outbound, admin port file)
        self.log = open(os.path.join(work, "processes.log"), "w")

    def binary(self, relative):
        path = os.path.join(self.build, relative)
        if not os.path.exists(path):
            raise RuntimeError(f"{path} is missing: run `make build` first")
        return path

    def spawn(self, argv, env=None):
        proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log, env=env,
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def start_trellisd(self):
        data = os.path.join(self.work, "data")
        api_file = os.path.join(self.work, "api.port")
        xds_file = os.path.join(self.work, "xds.port")
        xds_tls_file = os.path.join(self.work, "xds-tls.port")
        # Every sidecar here has a workload identity, so trellisd takes registrations only over
        # mutual TLS: nothing can register as a shop service without its certificate.
        self.spawn([self.binary("src/controlplane/trellisd/trellisd"), "--data-dir", data,
                    "--api-address", "127.0.0.1:0", "--api-port-file", api_file,
                    "--xds-address", "127.0.0.1:0", "--xds-port-file", xds_file,
                    "--xds-tls-address", "127.0.0.1:0", "--xds-tls-port-file", xds_tls_file,
                    "--xds-require-mtls", "--grace-period-ms", "5000", "--log-level", "warn"])
        wait_for(lambda: os.path.exists(api_file) and os.path.exists(xds_file), 15, "trellisd")
        self.api_port = read_port(api_file)
        self.xds_port = read_port(xds_file)
        self.xds_tls_port = read_port(xds_tls_file)
        self.token_file = os.path.join(data, "api-token")
        self.ctl_env = dict(os.environ, TRELLIS_SERVER=f"http://127.0.0.1:{self.api_port}",
                            TRELLIS_TOKEN_FILE=self.token_file)

    def ctl(self, *args, check=True):
        result = subprocess.run([self.binary("src/cli/trellisctl"), *args], env=self.ctl_env,
                                capture_output=True, text=True)
        if check and result.returncode != 0:
            raise RuntimeError(f"trellisctl {' '.join(args)} failed:\n{result.stdout}"
                               f"{result.stderr}")
        return result.stdout

    def start_instance(self, service, instance, calls=None, version="v1"):
        app, inbound, outbound = free_port(), free_port(), free_port()
        ready = os.path.join(self.work, f"{instance}.ready")
        if calls is None:
            self.spawn([self.binary("src/apps/echo/trellis-echo"), "--name", service,
                        "--instance", instance, "--listen", f"127.0.0.1:{app}",
                        "--threads", "1", "--ready-file", ready])
        else:
            self.spawn(["/usr/bin/python3", os.path.join(SHOP, "shop_app.py"), "--name", service,
                        "--version", version, "--listen", f"127.0.0.1:{app}",
                        "--outbound", f"127.0.0.1:{outbound}", "--calls", ",".join(calls),
                        "--ready-file", ready])
        admin_file = os.path.join(self.work, f"{instance}.admin")
        # The service account is the service's name: the identity its callers insist on.
        token = json.loads(self.ctl("token", "create", "-n", "shop", "--service-account",
                                    service, "--ttl", "10m", "-o", "json"))["token"]
        token_file = os.path.join(self.work, f"{instance}.token")
        with open(token_file, "w") as f:
            f.write(token)
        os.chmod(token_file, 0o600)
        self.spawn([self.binary("src/proxy/trellis-proxy"), "--xds", f"127.0.0.1:{self.xds_tls_port}",
                    "--service", service, "--namespace", "shop", "--instance", instance,
                    "--inbound", f"127.0.0.1:{inbound}", "--app", f"127.0.0.1:{app}",
                    "--outbound", f"127.0.0.1:{outbound}", "--concurrency", "1",
                    "--ca-address", f"127.0.0.1:{self.api_port}", "--join-token-file", token_file,
                    "--admin-address", "127.0.0.1:0", "--admin-port-file", admin_file,
                    "--log-level", "warn"])
        self.instances.append((service, instance, app, inbound, outbound, admin_file, ready))

    def wait_ready(self):
        for service, instance, app, inbound, outbound, admin_file, ready in self.instances:
            wait_for(lambda: os.path.exists(ready), 15, f"{instance}'s application")
            wait_for(lambda: os.path.exists(admin_file), 15, f"{instance}'s proxy")
            port = read_port(admin_file)
            wait_for(lambda: http_get(port, "/ready")[0] == 200, 15, f"{instance}'s configuration")

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.log.close()


class Traffic:
    """Steady requests into the frontend's sidecar; counts which billing answered."""

    def __init__(self, port, rate, clients=4):
        self.port = port
        self.interval = clients / rate
        self.lock = threading.Lock()
        self.window = {"billing": 0, "billing-v2": 0, "errors": 0}
        self.total = dict(self.window)
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(clients)]

    def start(self):
        for thread in self.threads:
            thread.start()

    def run(self):
        next_at = time.monotonic()
        while not self.stopping.is_set():
            key = "errors"
            try:
                status, body = http_get(self.port, "/buy", host="frontend")
                if status == 200:
                    answer = json.loads(body)
                    billing = answer["calls"]["checkout"]["body"]["calls"]["billing"]["body"]
                    key = billing["service"]
            except (OSError, ValueError, KeyError, TypeError):
                pass
            with self.lock:
                self.window[key] = self.window.get(key, 0) + 1
                self.total[key] = self.total.get(key, 0) + 1
            next_at += self.interval
            time.sleep(max(0.0, next_at - time.monotonic()))

    def take_window(self):
        with self.lock:
            window, self.window = self.window, {"billing": 0, "billing-v2": 0, "errors": 0}
        return window


def metric(port, name, labels=""):
    """The sum of one Prometheus metric's samples whose labels contain `labels`."""
    status, body = http_get(port, "/stats/prometheus")
    total = 0.0
    for line in body.decode().splitlines():
        if line.startswith(name) and labels in line and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def show_zero_trust(mesh):
    """A call the AuthorizationPolicy denies, and a plaintext connection STRICT refuses."""
    frontend = next(i for i in mesh.instances if i[0] == "frontend")
    billing = next(i for i in mesh.instances if i[1] == "billing-1")
    print("\nzero trust: every hop is mutual TLS; only checkout may call billing")
    print("$ curl -H 'Host: billing' <frontend's outbound port>/charge   "
          "# the frontend's identity calls billing")
    conn = http.client.HTTPConnection("127.0.0.1", frontend[4], timeout=5)
    try:
        conn.request("GET", "/charge", headers={"Host": "billing"})
        response = conn.getresponse()
        response.read()
        reason = response.getheader("x-trellis-reason", "")
        print(f"  {response.status} {response.reason}   x-trellis-reason: {reason}")
        was_denied = response.status == 403 and reason == "rbac_denied"
    finally:
        conn.close()
    # Either billing instance may have been picked: the counter is summed over both.
    billing_admins = [read_port(i[5]) for i in mesh.instances if i[0] == "billing"]
    denied = lambda: sum(metric(port, "trellis_authz_denied_total") for port in billing_admins)
    wait_for(lambda: denied() >= 1, 5, "billing's denied-call counter")
    print(f"  billing's sidecars: trellis_authz_denied_total {denied():.0f}; their log names "
          f"the policy: policy=shop/billing-callers")
    print("$ curl http://127.0.0.1:<billing's inbound port>/   # plaintext, bypassing the mesh")
    try:
        status, _ = http_get(billing[3], "/", timeout=3)
        refused = False
        print(f"  UNEXPECTED: answered {status}")
    except (OSError, http.client.HTTPException) as error:
        refused = True
        print(f"  refused: {type(error).__name__} (PeerAuthentication STRICT)")
    handshakes = sum(metric(port, "trellis_tls_handshakes_total", 'side="downstream"')
                     for port in billing_admins)
    print(f"  billing's sidecars: {handshakes:.0f} mutual TLS handshakes accepted")
    return was_denied and refused and handshakes > 0 and show_impostor_refused(mesh)


def trellisd_metric(mesh, name):
    with open(mesh.token_file, encoding="utf-8") as f:
        token = f.read().strip()
    conn = http.client.HTTPConnection("127.0.0.1", mesh.api_port, timeout=5)
    try:
        conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {token}"})
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    return sum(float(line.split()[1]) for line in text.splitlines() if line.startswith(name + " "))


def show_impostor_refused(mesh):
    """A sidecar without billing's certificate tries to register as billing over plaintext
    xDS (to be sent billing's traffic): trellisd refuses it."""
    print("$ trellis-proxy --xds <trellisd's plaintext xDS port> --service billing ...   "
          "# an impostor, without billing's certificate")
    impostor = mesh.spawn([mesh.binary("src/proxy/trellis-proxy"), "--xds",
                           f"127.0.0.1:{mesh.xds_port}", "--service", "billing", "--namespace",
                           "shop", "--instance", "impostor", "--inbound", f"127.0.0.1:{free_port()}",
                           "--app", f"127.0.0.1:{free_port()}", "--admin-address", "127.0.0.1:0",
                           "--log-level", "warn"])
    try:
        wait_for(lambda: trellisd_metric(mesh, "trellisd_xds_nodes_refused_total") >= 1, 10,
                 "trellisd's refusal of the impostor")
    finally:
        impostor.terminate()
    print("  refused by trellisd: registrations need mutual TLS (--xds-require-mtls); "
          "trellisd_xds_nodes_refused_total "
          f"{trellisd_metric(mesh, 'trellisd_xds_nodes_refused_total'):.0f}")
    return True


def show(traffic, seconds, label):
    shares = []
    for _ in range(seconds):
        time.sleep(1)
        w = traffic.take_window()
        n = w["billing"] + w["billing-v2"]
        v2 = 100.0 * w["billing-v2"] / n if n else 0.0
        shares.append((w, v2))
        print(f"  {label:<22} {n + w['errors']:>4} req/s   billing {100 - v2 if n else 0:5.1f}%   "
              f"billing-v2 {v2:5.1f}%   errors {w['errors']}", flush=True)
    return shares


def main():
    parser = argparse.ArgumentParser(description="make demo: the shop mesh")
    parser.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    parser.add_argument("--rate", type=int, default=40, help="client requests per second")
    parser.add_argument("--phase-seconds", type=int, default=6)
    parser.add_argument("--scenario-only", action="store_true",
                        help="exit after the scenario (for tests) instead of waiting for Ctrl-C")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="trellis-demo-")
    mesh = Mesh(os.path.abspath(args.build_dir), work)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    failures = 0
    try:
        print("starting trellisd and applying examples/shop/ ...", flush=True)
        mesh.start_trellisd()
        print(mesh.ctl("apply", "-f", SHOP), end="")
        mesh.start_instance("auth", "auth-1")
        mesh.start_instance("inventory", "inventory-1")
        mesh.start_instance("billing", "billing-1")
        mesh.start_instance("billing", "billing-2")
        mesh.start_instance("billing-v2", "billing-v2-1")
        mesh.start_instance("checkout", "checkout-1", calls=["inventory", "billing"])
        mesh.start_instance("frontend", "frontend-1", calls=["auth", "checkout"])
        mesh.wait_ready()
        print("\n" + mesh.ctl("status"), flush=True)
        frontend = next(i for i in mesh.instances if i[0] == "frontend")
        traffic = Traffic(frontend[3], args.rate)
        traffic.start()

        print("steady traffic (every request: frontend -> auth, checkout -> inventory, billing; "
              "each hop mutual TLS)")
        before = show(traffic, args.phase_seconds, "all to billing")
        print("\n$ trellisctl canary billing --to billing-v2 --weight 10 -n shop")
        print(mesh.ctl("canary", "billing", "--to", "billing-v2", "--weight", "10", "-n", "shop"),
              end="", flush=True)
        canary = show(traffic, args.phase_seconds * 2, "10% canary")
        print("\n$ trellisctl rollback httproute billing -n shop")
        print(mesh.ctl("rollback", "httproute", "billing", "-n", "shop"), end="", flush=True)
        after = show(traffic, args.phase_seconds, "rolled back")

        zero_trust_ok = show_zero_trust(mesh)
        total = traffic.take_window()
        errors = sum(w["errors"] for w, _ in before + canary + after) + total["errors"]
        served_v2 = sum(w["billing-v2"] for w, _ in canary)
        served = sum(w["billing"] + w["billing-v2"] for w, _ in canary)
        share = 100.0 * served_v2 / served if served else 0.0
        print(f"\ncanary phase: {served_v2} of {served} billing calls went to billing-v2 "
              f"({share:.1f}%); errors over the whole run: {errors}")
        # The last seconds of the rolled-back phase must be all billing (the first may straddle).
        late_v2 = sum(w["billing-v2"] for w, _ in after[1:])
        if errors or not 3.0 <= share <= 20.0 or late_v2 or not zero_trust_ok:
            failures = 1
            print("UNEXPECTED: see", os.path.join(work, "processes.log"))

        print(f"""
The mesh is running:
  trellisd API      http://127.0.0.1:{mesh.api_port}   (token: {mesh.token_file})
  trellisd xDS      127.0.0.1:{mesh.xds_tls_port} (mutual TLS, sidecars), 127.0.0.1:{mesh.xds_port} (plaintext, proxyless clients)
  try               TRELLIS_SERVER=http://127.0.0.1:{mesh.api_port} \\
                    {os.path.relpath(mesh.binary('src/cli/trellisctl'))} status
  frontend          curl -H 'Host: frontend' http://127.0.0.1:{frontend[3]}/
  proxy admin ports (/stats/prometheus, /config_dump, /xds):""")
        for service, instance, _, inbound, _, admin_file, _ in mesh.instances:
            print(f"    {instance:<14} http://127.0.0.1:{read_port(admin_file)}/")
        if args.scenario_only:
            return failures
        print("\nCtrl-C stops everything.", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return failures
    except RuntimeError as error:
        print(f"demo failed: {error}\n(process output: {os.path.join(work, 'processes.log')})",
              file=sys.stderr)
        return 1
    finally:
        mesh.stop()
        if failures == 0:
            shutil.rmtree(work, ignore_errors=True)
        print("demo stopped; nothing left running.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
