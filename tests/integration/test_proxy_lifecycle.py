"""Admin endpoints, --validate, hot reload (SIGHUP and POST /reload), rejected reloads, graceful
shutdown, and bounded memory under slow clients."""

import json
import os
import signal
import socket
import subprocess
import threading
import time
import unittest

from harness import RawConnection, binary, free_port, http_get, make_scratch_dir
from proxy_harness import (PROXY_BINARY, ProxyTestCase, listener, route, service, simple_rule,
                           start_proxy)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class AdminTest(ProxyTestCase):
    def setUp(self):
        self.proxy, self.port, self.echoes = self.simple_mesh(echo_count=2)

    def test_ready_and_healthz(self):
        self.assertEqual(self.proxy.admin("/ready"), (200, "ready\n"))
        self.assertEqual(self.proxy.admin("/healthz")[0], 200)

    def test_prometheus_families(self):
        for _ in range(3):
            http_get(self.port, "/x")
        status, text = self.proxy.admin("/stats/prometheus")
        self.assertEqual(status, 200)
        for family in ("trellis_http_requests_total", "trellis_http_request_duration_seconds",
                       "trellis_downstream_connections_active",
                       "trellis_downstream_requests_active",
                       "trellis_downstream_bytes_received_total",
                       "trellis_upstream_connections_opened_total"):
            self.assertIn(f"# TYPE {family} ", text)
        self.assertIn('code_class="2xx"', text)
        self.assertIn('route="default/all"', text)
        self.assertIn('cluster="default/backend:80"', text)
        self.assertEqual(self.proxy.metric("trellis_http_request_duration_seconds_count"), 3)

    def test_config_dump_and_clusters(self):
        status, body = self.proxy.admin("/config_dump")
        self.assertEqual(status, 200)
        dump = json.loads(body)
        self.assertEqual(dump["version"], 1)
        status, body = self.proxy.admin("/clusters")
        clusters = json.loads(body)["clusters"]
        self.assertEqual(clusters[0]["name"], "default/backend:80")
        self.assertEqual(len(clusters[0]["endpoints"]), 2)


class ConnectionPoolTest(ProxyTestCase):
    def test_max_idle_and_idle_timeout(self):
        echo = self.start_echo("pooled")
        port = free_port()
        svc = service("pooled", [echo.port]).replace(
            "  endpoints:",
            "  connectionPool:\n    maxIdlePerEndpoint: 1\n    idleTimeout: 300ms\n  endpoints:")
        proxy = self.start_proxy(listener("web", port) + svc +
                                 route("r", "web", simple_rule("pooled")))
        # Three concurrent requests need three upstream connections; only one stays pooled.
        threads = [threading.Thread(target=http_get, args=(port, "/?delay=200ms"))
                   for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(proxy.metric("trellis_upstream_connections_opened_total"), 3)
        http_get(port, "/")
        self.assertEqual(proxy.metric("trellis_upstream_connections_reused_total"), 1)
        self.assertEqual(proxy.metric("trellis_upstream_connections_opened_total"), 3)
        time.sleep(0.6)  # longer than the pool's idle timeout (the behaviour under test)
        http_get(port, "/")
        self.assertEqual(proxy.metric("trellis_upstream_connections_opened_total"), 4)


class ValidateTest(ProxyTestCase):
    def run_validate(self, text):
        workdir = make_scratch_dir("validate")
        path = os.path.join(workdir, "mesh.yaml")
        with open(path, "w") as f:
            f.write(text)
        result = subprocess.run([binary(PROXY_BINARY), "--validate", path],
                                capture_output=True, text=True, timeout=10)
        return result.returncode, result.stdout + result.stderr, path

    def test_valid_file(self):
        code, out, _ = self.run_validate(listener("web", 8080) + service("s", [9000]) +
                                         route("r", "web", simple_rule("s")))
        self.assertEqual(code, 0, out)
        self.assertIn("valid", out)

    def test_errors_name_file_resource_and_field(self):
        bad = route("r", "web", """  - matches:
    - path: {type: Regex, value: /x}
""")
        code, out, path = self.run_validate(listener("web", 8080) + bad)
        self.assertEqual(code, 1)
        self.assertIn(path, out)
        self.assertIn("HTTPRoute default/r", out)
        self.assertIn("spec.rules[0].matches[0].path.type", out)


class ReloadTest(ProxyTestCase):
    def setUp(self):
        self.a = self.start_echo("a")
        self.b = self.start_echo("b")
        self.port = free_port()
        self.base = (listener("web", self.port) + service("a", [self.a.port]) +
                     service("b", [self.b.port]))
        self.proxy = self.start_proxy(self.base + route("r", "web", simple_rule("a")))

    def served_by(self, conn):
        conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        return conn.read_response().json()["service"]

    def test_post_reload_switches_routes_and_keeps_connections(self):
        with RawConnection(self.port) as conn:
            self.assertEqual(self.served_by(conn), "a")
            status, body = self.proxy.reload(self.base + route("r", "web", simple_rule("b")))
            self.assertEqual(status, 200, body)
            # Same client connection, next request: new configuration.
            self.assertEqual(self.served_by(conn), "b")
        self.assertEqual(self.proxy.metric("trellis_config_version"), 2)

    def test_sighup_reload(self):
        self.proxy.write_config(self.base + route("r", "web", simple_rule("b")))
        self.proxy.signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while self.proxy.metric("trellis_config_version") < 2:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.02)  # polling the proxy's own version gauge (no push signal exists)
        self.assertEqual(http_get(self.port, "/").json()["service"], "b")

    def test_invalid_reload_keeps_running_config(self):
        status, body = self.proxy.reload(self.base + "kind: Nonsense\n")
        self.assertEqual(status, 400)
        self.assertIn("Nonsense", body)
        self.assertEqual(http_get(self.port, "/").json()["service"], "a")
        self.assertEqual(self.proxy.metric("trellis_config_reloads_total", result="failure"), 1)
        self.assertEqual(self.proxy.metric("trellis_config_last_reload_success"), 0)

    def test_in_flight_request_survives_reload(self):
        result = {}

        def slow():
            result["r"] = http_get(self.port, "/?delay=600ms", timeout=5)

        thread = threading.Thread(target=slow)
        thread.start()
        time.sleep(0.15)  # let the request reach the upstream before reloading
        self.proxy.reload(self.base + route("r", "web", simple_rule("b")))
        thread.join()
        self.assertEqual(result["r"].status, 200)
        self.assertEqual(result["r"].json()["service"], "a")


class ShutdownTest(ProxyTestCase):
    def test_sigterm_drains_in_flight_requests(self):
        proxy, port, echoes = self.simple_mesh()
        result = {}

        def slow():
            result["r"] = http_get(port, "/?delay=500ms", timeout=5)

        thread = threading.Thread(target=slow)
        thread.start()
        time.sleep(0.15)  # the request must be in flight when SIGTERM arrives
        proxy.signal(signal.SIGTERM)
        thread.join()
        self.assertEqual(result["r"].status, 200)
        self.assertEqual(proxy.wait_exit(10), 0)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()


    def test_drain_deadline_cuts_long_requests(self):
        echo = self.start_echo("slow")
        port = free_port()
        proxy = self.start_proxy(listener("web", port) + service("slow", [echo.port]) +
                                 route("r", "web", simple_rule("slow")),
                                 extra_args=["--drain-timeout-ms", "300"])
        conn = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.addCleanup(conn.close)
        conn.sendall(b"GET /?delay=5s HTTP/1.1\r\nHost: a\r\n\r\n")
        deadline = time.monotonic() + 5
        while proxy.metric("trellis_upstream_requests_active") < 1:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.02)
        start = time.monotonic()
        proxy.signal(signal.SIGTERM)
        self.assertEqual(proxy.wait_exit(10), 0)
        self.assertLess(time.monotonic() - start, 2.5)
        self.assertEqual(conn.recv(100), b"")  # the cut request's connection is closed


class MultiWorkerTest(ProxyTestCase):
    def test_two_workers_serve_reload_and_sum_stats(self):
        a, b = self.start_echo("a"), self.start_echo("b")
        port = free_port()
        base = listener("web", port) + service("a", [a.port]) + service("b", [b.port])
        proxy = self.start_proxy(base + route("r", "web", simple_rule("a")), concurrency=2)

        def burst(expected):
            results = []

            def client():
                with RawConnection(port) as conn:
                    for _ in range(5):
                        conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                        results.append(conn.read_response().json()["service"])

            threads = [threading.Thread(target=client) for _ in range(20)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(results, [expected] * 100)

        burst("a")
        self.assertEqual(proxy.reload(base + route("r", "web", simple_rule("b")))[0], 200)
        burst("b")  # every worker switched
        self.assertEqual(proxy.metric("trellis_http_requests_total", code_class="2xx"), 200)
        self.assertEqual(proxy.metric("trellis_downstream_connections_total"), 40)
        self.assertEqual(proxy.metric("trellis_workers"), 2)


class Ipv6Test(ProxyTestCase):
    def test_ipv6_listener_and_endpoint(self):
        echo = self.start_echo("v6", listen=["[::1]:0"])
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
            port = probe.getsockname()[1]
        config = (listener("web6", port).replace("address: 127.0.0.1", "address: \"::1\"") +
                  service("v6", [echo.port]).replace("address: 127.0.0.1", "address: \"::1\"") +
                  route("r", "web6", simple_rule("v6")))
        self.start_proxy(config)
        conn = socket.create_connection(("::1", port), timeout=5)
        self.addCleanup(conn.close)
        conn.sendall(b"GET /six HTTP/1.1\r\nHost: v6\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
        self.assertIn(b'"path":"/six"', data)
        self.assertIn(b'"x-forwarded-for":["::1"]', data)


class BoundedMemoryTest(ProxyTestCase):
    def test_slow_reader_does_not_grow_memory(self):
        proxy, port, echoes = self.simple_mesh(http={"bufferBytes": 65536})
        pid = proxy.proc.pid
        before = rss_kib(pid)
        with RawConnection(port, timeout=10) as conn:
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
            conn.send(b"GET /?body=100000000 HTTP/1.1\r\nHost: a\r\n\r\n")
            got = len(conn.sock.recv(4096))
            time.sleep(0.5)  # the upstream keeps sending while we do not read
            grown = rss_kib(pid) - before
            self.assertGreater(got, 0)
        self.assertLess(grown, 8 * 1024, f"RSS grew {grown} KiB for one slow reader")

    def test_slow_upstream_reader_pauses_the_client(self):
        """A client uploading to an upstream that does not read is paused by TCP flow control,
        not buffered: the proxy holds at most about bufferBytes of the body."""
        import socketserver
        stalled = threading.Event()

        class NeverReads(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
                stalled.wait(10)

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), NeverReads)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        self.addCleanup(stalled.set)
        port = free_port()
        proxy = self.start_proxy(listener("web", port, http={"bufferBytes": 65536}) +
                                 service("sink", [server.server_address[1]]) +
                                 route("r", "web", simple_rule("sink")))
        before = rss_kib(proxy.proc.pid)
        conn = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.addCleanup(conn.close)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
        conn.sendall(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100000000\r\n\r\n")
        conn.setblocking(False)
        sent = 0
        chunk = b"u" * 65536
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:  # push as fast as the proxy lets us for one second
            try:
                sent += conn.send(chunk)
            except BlockingIOError:
                time.sleep(0.01)
        grown = rss_kib(proxy.proc.pid) - before
        # Kernel buffers on three sockets plus the proxy's bounded buffer: a few MiB at most.
        self.assertLess(sent, 16 * 1024 * 1024, f"{sent} bytes accepted: not paused")
        self.assertLess(grown, 8 * 1024, f"RSS grew {grown} KiB while the upstream stalled")

    def test_thousand_idle_clients_stay_small(self):
        proxy, port, echoes = self.simple_mesh()
        pid = proxy.proc.pid
        before = rss_kib(pid)
        clients = []
        try:
            for _ in range(1000):
                sock = socket.create_connection(("127.0.0.1", port))
                sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n")  # an unfinished head
                clients.append(sock)
            deadline = time.monotonic() + 5
            while proxy.metric("trellis_downstream_connections_active") < 1000:
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
            grown = rss_kib(pid) - before
        finally:
            for sock in clients:
                sock.close()
        limit = 64 * 1024 if os.environ.get("TRELLIS_SANITIZED") else 24 * 1024
        self.assertLess(grown, limit, f"RSS grew {grown} KiB for 1000 slow clients")

    # UBSan's vptr check probes memory through a pipe(2); with every descriptor in use that probe
    # fails and UBSan reports a false "invalid vptr". The plain build runs this test.
    @unittest.skipIf(os.environ.get("TRELLIS_SANITIZED"),
                     "sanitizer runtime needs free descriptors for its own checks")
    def test_descriptor_exhaustion_pauses_accepting_without_spinning(self):
        echo = self.start_echo("fd")
        port = free_port()
        proxy = self.start_proxy(listener("web", port) + service("fd", [echo.port]) +
                                 route("r", "web", simple_rule("fd")),
                                 wrapper=["prlimit", "--nofile=48:48"])
        clients = []
        try:
            for _ in range(80):  # more than the proxy may hold
                clients.append(socket.create_connection(("127.0.0.1", port)))
            time.sleep(0.3)  # let the proxy hit the limit
            cpu_before = _cpu_seconds(proxy.proc.pid)
            time.sleep(0.5)  # measuring that the proxy idles (no busy accept loop)
            self.assertLess(_cpu_seconds(proxy.proc.pid) - cpu_before, 0.2)
        finally:
            for sock in clients:
                sock.close()
        deadline = time.monotonic() + 5
        while True:  # once descriptors free up, service resumes by itself
            try:
                if http_get(port, "/", timeout=1).status == 200:
                    break
            except OSError:
                pass
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        self.assertGreaterEqual(proxy.metric("trellis_downstream_accept_pauses_total"), 1)


def _cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    unittest.main()
