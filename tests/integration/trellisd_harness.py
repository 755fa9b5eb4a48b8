"""A trellisd for integration tests (stdlib only; run with /usr/bin/python3).

    d = Trellisd(test)                   # started: API and xDS on ephemeral loopback ports
    d.apply(SERVICES_YAML, ROUTE_YAML)   # POST /api/v1/apply, raises ApiError unless 200
    d.get("/api/v1/proxies")             # parsed JSON, raises ApiError unless 200
    d.wait_for("the proxy", lambda: d.proxy("web-1.shop"))
    d.restart()                          # same data directory (store, token) and same ports

Readiness is the port files trellisd writes once both listeners are bound; nothing here sleeps
for a fixed time. The data directory outlives restarts and is removed by the test's cleanup.
"""

import http.client
import json
import os
import shutil
import time

from harness import POLL_INTERVAL, Proc, binary, make_scratch_dir

TRELLISD = "src/controlplane/trellisd/trellisd"
API_TIMEOUT = 10.0  # seconds for one API request
WAIT_TIMEOUT = 10.0  # seconds a pushed change may take to show


class ApiError(AssertionError):
    """An API answer other than the expected status; carries the status and the parsed body."""

    def __init__(self, method, path, status, body):
        super().__init__(f"{method} {path}: HTTP {status}: {json.dumps(body)}")
        self.status = status
        self.body = body


class Trellisd:
    """A running trellisd with its own data directory, stopped by `test`'s cleanup.

    Attributes: api_port, xds_port, token, data_dir, url, xds_target ("127.0.0.1:PORT"), proc
    (a harness.Proc: stderr_text(), stop_checked()).
    """

    def __init__(self, test=None, *, grace_period_ms=30000, debounce_ms=10, log_level="warn",
                 extra_args=()):
        self._test = test
        self._options = ["--grace-period-ms", grace_period_ms, "--debounce-ms", debounce_ms,
                         "--log-level", log_level, *extra_args]
        self.data_dir = os.path.join(make_scratch_dir("trellisd-data"), "data")
        if test is not None:
            test.addCleanup(shutil.rmtree, os.path.dirname(self.data_dir), True)
        self.proc = None
        self.api_port = self.xds_port = self.xds_tls_port = 0
        self.start()

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, api_port=0, xds_port=0, xds_tls_port=0):
        """Starts trellisd (ports 0: ephemeral) and waits until the port files are written."""
        workdir = make_scratch_dir("trellisd")
        api_file = os.path.join(workdir, "api-port")
        xds_file = os.path.join(workdir, "xds-port")
        xds_tls_file = os.path.join(workdir, "xds-tls-port")
        args = [binary(TRELLISD), "--data-dir", self.data_dir,
                "--api-address", f"127.0.0.1:{api_port}", "--api-port-file", api_file,
                "--xds-address", f"127.0.0.1:{xds_port}", "--xds-port-file", xds_file,
                "--xds-tls-address", f"127.0.0.1:{xds_tls_port}",
                "--xds-tls-port-file", xds_tls_file, *self._options]
        self.proc = Proc(args, test=self._test, name="trellisd", workdir=workdir)
        self.xds_port = int(self.proc.wait_for_file(xds_file).strip())
        self.xds_tls_port = int(self.proc.wait_for_file(xds_tls_file).strip())
        self.api_port = int(self.proc.wait_for_file(api_file).strip())
        with open(os.path.join(self.data_dir, "api-token"), encoding="utf-8") as f:
            self.token = f.read().strip()

    def stop(self):
        """SIGTERM; raises AssertionError (with stderr) unless trellisd exited 0."""
        self.proc.stop_checked()

    def restart(self, same_ports=True):
        """Stops (checking a clean exit) and starts again on the same data directory; by default
        on the same ports, so that connected proxies find it again."""
        ports = (self.api_port, self.xds_port, self.xds_tls_port) if same_ports else (0, 0, 0)
        self.stop()
        self.start(*ports)

    def alive(self):
        return self.proc.alive()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def xds_target(self):
        return f"127.0.0.1:{self.xds_port}"

    @property
    def xds_tls_target(self):
        """The mutual-TLS xDS port, which sidecars with a workload identity connect to."""
        return f"127.0.0.1:{self.xds_tls_port}"

    # -- API ------------------------------------------------------------------------------------

    def request(self, method, path, body=None, token=True):
        """(status, parsed JSON or text) of one API request; `body` is sent as JSON."""
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {self.token}"
        conn = http.client.HTTPConnection("127.0.0.1", self.api_port, timeout=API_TIMEOUT)
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read().decode("utf-8", errors="replace")
            content_type = response.getheader("Content-Type", "")
        finally:
            conn.close()
        return response.status, json.loads(raw) if "json" in content_type else raw

    def get(self, path):
        """GET `path`; the parsed JSON, or ApiError unless 200."""
        status, body = self.request("GET", path)
        if status != 200:
            raise ApiError("GET", path, status, body)
        return body

    def apply(self, *documents, dry_run=False):
        """Applies YAML texts (one file each); the answer, or ApiError unless 200."""
        files = [{"name": f"doc{i}.yaml", "content": text} for i, text in enumerate(documents)]
        status, body = self.request("POST", "/api/v1/apply", {"files": files, "dryRun": dry_run})
        if status != 200:
            raise ApiError("POST", "/api/v1/apply", status, body)
        return body

    def proxies(self):
        return self.get("/api/v1/proxies")["items"]

    def proxy(self, node_id):
        """The /api/v1/proxies item of `node_id`, or None."""
        return next((p for p in self.proxies() if p["id"] == node_id), None)

    def metric(self, name):
        """One unlabelled value from /metrics (a number), or None if absent."""
        status, text = self.request("GET", "/metrics")
        if status != 200:
            raise ApiError("GET", "/metrics", status, text)
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == name:
                return float(parts[1])
        return None

    def wait_for(self, what, predicate, timeout=WAIT_TIMEOUT):
        """Polls `predicate` until it returns something truthy, and returns that; fails naming
        `what` (and trellisd's stderr) after `timeout` or if trellisd exits."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if not self.alive():
                raise AssertionError(f"trellisd exited while waiting for {what}:\n"
                                     f"{self.proc.stderr_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout}s (last: {value!r})")
            time.sleep(POLL_INTERVAL)
