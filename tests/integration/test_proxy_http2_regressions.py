"""Regression tests for HTTP/2 bugs found in review, one test per bug, named after it.

Each drives the proxy over real sockets: an HTTP/2 client (h2_peers.H2Client), python3-h2 or
raw-frame upstreams, curl."""

import socket
import subprocess
import threading
import time
import unittest

from h2_peers import H2Client
from harness import free_port, http_get
from proxy_harness import listener, route, service, simple_rule
from test_proxy_http2 import Http2ProxyTestCase, start_h2_server


class UpstreamWindowTest(Http2ProxyTestCase):
    def test_large_responses_do_not_leak_the_upstream_connection_window(self):
        # Bytes the client stream had not yet taken when the upstream stream closed were never
        # acknowledged: after ~4 MiB the shared upstream connection stalled for good.
        upstream = start_h2_server("big", test=self)
        self.port = free_port()
        self.proxy = self.start_proxy(listener("web", self.port) +
                                      service("big", [upstream.port], app_protocol="h2c") +
                                      route("r", "web", simple_rule("big")))
        client = self.h2()
        for i in range(40):  # 10 MB through one upstream connection with a 4 MiB window
            stream = client.get(f"/big{i}?body=250000", timeout=5)
            self.assertEqual((stream.status, len(stream.body)), (200, 250000), f"request {i}")
        self.assertEqual(upstream.stats()["connections_total"], 1)

    def test_large_responses_to_http1_clients_do_not_leak_the_window(self):
        upstream = start_h2_server("big1", test=self)
        self.port = free_port()
        self.proxy = self.start_proxy(listener("web", self.port) +
                                      service("big1", [upstream.port], app_protocol="h2c") +
                                      route("r", "web", simple_rule("big1")))
        for i in range(40):
            response = http_get(self.port, f"/big{i}?body=250000", timeout=5)
            self.assertEqual((response.status, len(response.body)), (200, 250000), f"request {i}")


class UpstreamConnectionErrorTest(Http2ProxyTestCase):
    def test_connection_error_from_the_upstream_answers_waiting_requests(self):
        # The upstream's protocol error closed the connection without telling the exchanges:
        # clients waited forever.
        listen = socket.socket()
        listen.bind(("127.0.0.1", 0))
        listen.listen(8)
        self.addCleanup(listen.close)
        accepted = []

        def serve():
            conn, _ = listen.accept()
            accepted.append(conn)
            conn.sendall(b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")  # SETTINGS
            conn.settimeout(3)
            received = b""
            try:
                while b"/x" not in received:  # the request's HEADERS (literal :path)
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    received += chunk
            except OSError:
                pass
            conn.sendall(b"\x00\x00\x00\x04\x01\x00\x00\x00\x00")  # SETTINGS ACK
            conn.sendall(b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x")  # DATA on stream 0

        threading.Thread(target=serve, daemon=True).start()
        self.addCleanup(lambda: [c.close() for c in accepted])
        self.port = free_port()
        self.proxy = self.start_proxy(
            listener("web", self.port) +
            service("bad", [listen.getsockname()[1]], app_protocol="h2c") +
            route("r", "web", simple_rule("bad")))
        started = time.monotonic()
        response = http_get(self.port, "/x", timeout=4)
        self.assertEqual(response.status, 502)
        self.assertEqual(response.header("x-trellis-reason"), "upstream_bad_response")
        self.assertLess(time.monotonic() - started, 2.0)


class LocalReplyToHeadTest(Http2ProxyTestCase):
    def test_head_request_answered_locally_has_no_body(self):
        # A local 404 to HEAD carried a body: curl saw a PROTOCOL_ERROR.
        self.port = free_port()
        self.proxy = self.start_proxy(listener("web", self.port) +
                                      service("none", [free_port()]) +
                                      route("r", "web", simple_rule("none", path="/api")))
        out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                              "--http2-prior-knowledge", "-I",
                              f"http://127.0.0.1:{self.port}/nomatch"],
                             capture_output=True, text=True, timeout=10)
        self.assertEqual((out.returncode, out.stdout), (0, "404"), out.stderr)


class StreamGaugeTest(Http2ProxyTestCase):
    def test_stream_gauges_return_to_zero_after_a_client_disconnects(self):
        # Exchanges destroyed with their connection never decremented streams_active.
        upstream = start_h2_server("gauge", test=self)
        self.port = free_port()
        self.proxy = self.start_proxy(listener("web", self.port) +
                                      service("gauge", [upstream.port], app_protocol="h2c") +
                                      route("r", "web", simple_rule("gauge")))
        client = H2Client(self.port)
        client.request("GET", "/slow?delay=1500")
        upstream.wait_stats(lambda s: "/slow" in s["active_paths"], what="request upstream")
        client.close()
        for direction in ("downstream", "upstream"):
            value = self.proxy.wait_metric("trellis_http2_streams_active", lambda v: v == 0,
                                           direction=direction)
            self.assertEqual(value, 0, f"trellis_http2_streams_active{{{direction}}}")


class RefusedStreamFromHttp2ClientTest(Http2ProxyTestCase):
    def test_refused_streams_are_retried_for_http2_clients_too(self):
        # The retry needed the forwarded head, which HTTP/2 exchanges did not keep.
        upstream = start_h2_server("small2", test=self, max_concurrent_streams=2)
        self.port = free_port()
        self.proxy = self.start_proxy(listener("web", self.port) +
                                      service("small2", [upstream.port], app_protocol="h2c") +
                                      route("r", "web", simple_rule("small2")))
        client = self.h2()
        ids = [client.request("GET", f"/p{i}?delay=300") for i in range(8)]
        statuses = [client.response(i, timeout=10).status for i in ids]
        self.assertEqual(statuses, [200] * 8, upstream.stats())


if __name__ == "__main__":
    unittest.main()
