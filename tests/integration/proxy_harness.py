"""trellis-proxy helpers for integration tests: start a proxy on a YAML config and talk to its
admin listener. Readiness is the --admin-port-file the proxy writes once every worker listens."""

import json
import os
import re
import signal
import time
import urllib.request

from harness import (Proc, TrellisTestCase, binary, free_port, http_get, make_scratch_dir)

PROXY_BINARY = "src/proxy/trellis-proxy"


class ProxyServer:
    def __init__(self, proc, admin_port, config_path):
        self.proc = proc
        self.admin_port = admin_port
        self.config_path = config_path

    def admin(self, path, method="GET"):
        request = urllib.request.Request(f"http://127.0.0.1:{self.admin_port}{path}",
                                         method=method)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def metrics(self):
        """Prometheus samples as {'name{labels}': value} plus {'name': sum over labels}."""
        status, text = self.admin("/stats/prometheus")
        assert status == 200, text
        samples = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            key, value = line.rsplit(" ", 1)
            samples[key] = float(value)
            name = key.split("{", 1)[0]
            samples[name] = samples.get(name, 0.0) + float(value) if "{" in key else float(value)
        return samples

    def metric(self, name, **labels):
        """Sum of the samples of `name` whose labels include `labels`."""
        status, text = self.admin("/stats/prometheus")
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            key, value = line.rsplit(" ", 1)
            found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', key))
            if all(found.get(k) == v for k, v in labels.items()):
                total += float(value)
        return total

    def wait_metric(self, name, predicate, timeout=5.0, **labels):
        """Polls metric(name, **labels) until predicate(value) holds (stats are recorded when an
        exchange finishes, which may be a moment after the client saw its end); returns the last
        value either way, so the caller's assertion reports what was there."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.metric(name, **labels)
            if predicate(value) or time.monotonic() > deadline:
                return value
            time.sleep(0.02)

    def write_config(self, text):
        tmp = self.config_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, self.config_path)

    def reload(self, text=None):
        if text is not None:
            self.write_config(text)
        return self.admin("/reload", method="POST")

    def signal(self, signum):
        self.proc.proc.send_signal(signum)

    def wait_exit(self, timeout=10):
        return self.proc.proc.wait(timeout)

    def stop_checked(self):
        self.proc.stop_checked()


def start_proxy(config_text, *, test=None, concurrency=1, extra_args=(), expect_failure=False,
                wrapper=(), log_level="warn"):
    workdir = make_scratch_dir("proxy")
    config_path = os.path.join(workdir, "config.yaml")
    with open(config_path, "w", encoding="utf-8") as f:
        f.write(config_text)
    port_file = os.path.join(workdir, "admin-port")
    args = [*wrapper, binary(PROXY_BINARY), "--config", config_path, "--concurrency", concurrency,
            "--admin-address", "127.0.0.1:0", "--admin-port-file", port_file,
            "--log-level", log_level, *extra_args]
    proc = Proc(args, test=test, name="trellis-proxy", workdir=workdir)
    if expect_failure:
        code = proc.proc.wait(10)
        return code, proc.stderr_text()
    admin_port = int(proc.wait_for_file(port_file).strip())
    if test is not None:
        # Runs before Proc's own cleanup: a graceful stop must exit 0, so crashes, sanitizer
        # reports and leaks fail the test that caused them.
        test.addCleanup(_stop_and_check, proc)
    return ProxyServer(proc, admin_port, config_path)


def _stop_and_check(proc):
    code = proc.stop(timeout=15)
    if code != 0:
        raise AssertionError(f"trellis-proxy exited with {code}:\n{proc.final_stderr}")


# ---------------------------------------------------------------------------------------------
# Config snippets

def listener(name, port, protocol="HTTP", http=None, extra="", http2=None, detect_timeout=None,
             tcp_backend=None):
    """http: spec.http fields; http2: spec.http.http2 fields (HTTP/2 settings); detect_timeout:
    spec.detectTimeout (protocol AUTO); tcp_backend: (service, port) for spec.tcp.backendRef."""
    text = f"""apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata:
  name: {name}
spec:
  address: 127.0.0.1
  port: {port}
  protocol: {protocol}
"""
    if detect_timeout:
        text += f"  detectTimeout: {detect_timeout}\n"
    if http or http2:
        text += "  http:\n" + "".join(f"    {k}: {v}\n" for k, v in (http or {}).items())
        if http2:
            text += "    http2:\n" + "".join(f"      {k}: {v}\n" for k, v in http2.items())
    if tcp_backend:
        text += (f"  tcp:\n    backendRef:\n      name: {tcp_backend[0]}\n"
                 f"      port: {tcp_backend[1]}\n")
    return text + extra + "---\n"


def service(name, endpoints, port=80, lb=None, app_protocol=None):
    """endpoints: list of (port,) or (port, weight) on 127.0.0.1. app_protocol: the port's
    appProtocol (http, http2, h2c, kubernetes.io/h2c, grpc, tcp)."""
    text = f"""apiVersion: trellis.dev/v1alpha1
kind: Service
metadata:
  name: {name}
spec:
  ports:
  - port: {port}
"""
    if app_protocol:
        text += f"    appProtocol: {app_protocol}\n"
    text += """  endpoints:
"""
    for endpoint in endpoints:
        ep_port, weight = (endpoint if isinstance(endpoint, tuple) else (endpoint, 1))
        text += f"  - address: 127.0.0.1\n    port: {ep_port}\n    weight: {weight}\n"
    if lb:
        text += "  loadBalancer:\n" + "".join(f"    {line}\n" for line in lb.splitlines())
    return text + "---\n"


def route(name, listener_name, rules, hostnames=None, created=None):
    """rules: YAML text of the `rules:` list items, indented by two spaces."""
    text = f"""apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: {name}
"""
    if created:
        text += f"  creationTimestamp: \"{created}\"\n"
    text += f"""spec:
  parentRefs:
  - group: trellis.dev
    kind: Listener
    name: {listener_name}
"""
    if hostnames:
        text += "  hostnames:\n" + "".join(f"  - \"{h}\"\n" for h in hostnames)
    return text + "  rules:\n" + rules + "---\n"


def grpc_route(name, listener_name, rules, hostnames=None, created=None):
    """A GRPCRoute; rules: YAML text of the `rules:` list items, indented by two spaces."""
    return route(name, listener_name, rules, hostnames, created).replace(
        "kind: HTTPRoute", "kind: GRPCRoute", 1)


def grpc_rule(backends, service=None, method=None, match_type=None, headers=None):
    """One GRPCRoute rule. backends: [(service name, weight)] or names; service/method: the
    method match (None = any); headers: {name: value} exact header matches."""
    text = "  - "
    match = []
    if service or method:
        fields = []
        if match_type:
            fields.append(f"type: {match_type}")
        if service:
            fields.append(f"service: \"{service}\"")
        if method:
            fields.append(f"method: \"{method}\"")
        match.append("method: {" + ", ".join(fields) + "}")
    if headers:
        match.append("headers: [" + ", ".join(f"{{name: {k}, value: \"{v}\"}}"
                                              for k, v in headers.items()) + "]")
    if match:
        text += "matches:\n    - " + "\n      ".join(match) + "\n    "
    text += "backendRefs:\n"
    for backend in backends:
        backend_name, weight = backend if isinstance(backend, tuple) else (backend, 1)
        text += f"    - {{name: {backend_name}, port: 80, weight: {weight}}}\n"
    return text


def simple_rule(backend, port=80, path="/"):
    return f"""  - matches:
    - path:
        type: PathPrefix
        value: {path}
    backendRefs:
    - name: {backend}
      port: {port}
"""


class ProxyTestCase(TrellisTestCase):
    def start_proxy(self, config_text, **kw):
        return start_proxy(config_text, test=self, **kw)

    def simple_mesh(self, echo_count=1, http=None, lb=None, concurrency=1):
        """One listener → one service of `echo_count` echo instances. Returns (proxy, port,
        echoes)."""
        echoes = [self.start_echo("backend", str(i)) for i in range(echo_count)]
        port = free_port()
        config = (listener("web", port, http=http) +
                  service("backend", [e.port for e in echoes], lb=lb) +
                  route("all", "web", simple_rule("backend")))
        proxy = self.start_proxy(config, concurrency=concurrency)
        return proxy, port, echoes
