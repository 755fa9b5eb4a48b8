"""trellis-proxy HTTP/1.x behaviour over real sockets: forwarding, keep-alive, pipelining,
chunked bodies, trailers, 100-continue, upgrades, HTTP/1.0, curl and wrk as clients."""

import json
import os
import re
import shutil
import socket
import subprocess
import time
import unittest

from harness import (RawConnection, free_port, http_get, http_request, parse_response,
                     raw_request)
from proxy_harness import ProxyTestCase, listener, route, service, simple_rule

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


class ForwardingTest(ProxyTestCase):
    def setUp(self):
        self.proxy, self.port, self.echoes = self.simple_mesh()

    def test_get_is_forwarded_with_forwarding_headers(self):
        response = http_get(self.port, "/hello/world?x=1&y=2", headers={"X-Custom": "abc"})
        self.assertEqual(response.status, 200)
        echo = response.json()
        self.assertEqual(echo["method"], "GET")
        self.assertEqual(echo["path"], "/hello/world")
        self.assertEqual(echo["query"], "x=1&y=2")
        headers = echo["headers"]
        self.assertEqual(headers["x-custom"], ["abc"])
        self.assertEqual(headers["x-forwarded-for"], ["127.0.0.1"])
        self.assertEqual(headers["x-forwarded-proto"], ["http"])
        self.assertRegex(headers["x-request-id"][0], UUID)
        self.assertEqual(headers["host"], [f"127.0.0.1:{self.port}"])

    def test_existing_request_id_and_forwarded_for_are_kept(self):
        echo = http_get(self.port, "/", headers={"x-request-id": "abc-123",
                                                  "x-forwarded-for": "10.1.1.1"}).json()
        self.assertEqual(echo["headers"]["x-request-id"], ["abc-123"])
        self.assertEqual(echo["headers"]["x-forwarded-for"], ["10.1.1.1, 127.0.0.1"])

    def test_hop_by_hop_headers_are_removed(self):
        request = (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, x-private\r\n"
                   b"X-Private: secret\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n"
                   b"Proxy-Connection: keep-alive\r\nX-Kept: yes\r\n\r\n")
        with RawConnection(self.port) as conn:
            conn.send(request)
            response = conn.read_response()
        headers = response.json()["headers"]
        for name in ("connection", "x-private", "keep-alive", "proxy-connection"):
            self.assertNotIn(name, headers)
        self.assertEqual(headers["te"], ["trailers"])
        self.assertEqual(headers["x-kept"], ["yes"])

    def test_keep_alive_reuses_both_connections(self):
        with RawConnection(self.port) as conn:
            for i in range(5):
                conn.send(f"GET /r{i} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
                response = conn.read_response()
                self.assertEqual(response.status, 200)
                self.assertEqual(response.json()["path"], f"/r{i}")
        self.assertEqual(self.proxy.metric("trellis_upstream_connections_opened_total"), 1)
        self.assertEqual(self.proxy.metric("trellis_upstream_connections_reused_total"), 4)
        self.assertEqual(self.proxy.metric("trellis_downstream_connections_total"), 1)

    def test_pipelined_requests_are_answered_in_order(self):
        batch = b"".join(f"GET /p{i} HTTP/1.1\r\nHost: a\r\n\r\n".encode() for i in range(10))
        with RawConnection(self.port) as conn:
            conn.send(batch)
            paths = [conn.read_response().json()["path"] for _ in range(10)]
        self.assertEqual(paths, [f"/p{i}" for i in range(10)])

    def test_chunked_request_body_is_streamed(self):
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in [b"a" * 1000, b"b" * 5000])
        request = (b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" +
                   chunks + b"0\r\nx-checksum: 42\r\n\r\n")
        with RawConnection(self.port) as conn:
            conn.send(request)
            response = conn.read_response()
        self.assertEqual(response.status, 200)
        self.assertEqual(response.json()["body_bytes"], 6000)

    def test_large_content_length_body_both_ways(self):
        body = b"z" * (3 * 1024 * 1024)
        response = http_request(self.port, "POST", "/big?body=4000000", body=body)
        self.assertEqual(response.status, 200)
        self.assertEqual(len(response.body), 4000000)

    def test_chunked_response_and_trailers_pass_through(self):
        with RawConnection(self.port) as conn:
            conn.send(b"GET /?chunked=1&trailer=x-digest:abc HTTP/1.1\r\nHost: a\r\n"
                      b"TE: trailers\r\n\r\n")
            response = conn.read_response()
        self.assertEqual(response.status, 200)
        self.assertEqual(response.header("transfer-encoding"), "chunked")
        self.assertIn(("x-digest", "abc"), response.trailers)

    def test_expect_100_continue(self):
        with RawConnection(self.port) as conn:
            conn.send(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                      b"Expect: 100-continue\r\n\r\n")
            interim = conn.read_response(skip_informational=False)
            self.assertEqual(interim.status, 100)
            conn.send(b"hello")
            final = conn.read_response()
        self.assertEqual(final.status, 200)
        self.assertEqual(final.json()["body_bytes"], 5)

    def test_websocket_upgrade_is_tunnelled(self):
        with RawConnection(self.port) as conn:
            conn.send(b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
                      b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                      b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
            response = conn.read_response()
            self.assertEqual(response.status, 101)
            self.assertEqual(response.header("sec-websocket-accept"),
                             "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
            conn.send(b"ping through the tunnel")
            self.assertEqual(conn.read_exact(23), b"ping through the tunnel")

    def test_http10_client(self):
        data = raw_request(self.port, b"GET /old HTTP/1.0\r\n\r\n")
        response, _ = parse_response(data, eof=True)
        self.assertEqual(response.status, 200)
        self.assertEqual(response.json()["path"], "/old")
        self.assertEqual(response.header("connection"), "close")

    def test_http10_client_gets_chunked_response_decoded(self):
        with RawConnection(self.port) as conn:
            conn.send(b"GET /?chunked=1&body=3000 HTTP/1.0\r\n\r\n")
            data = conn.read_until_close()
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertNotIn(b"transfer-encoding", head.lower())
        self.assertEqual(body, b"x" * 3000)

    def test_head_request(self):
        with RawConnection(self.port) as conn:
            conn.send(b"HEAD /?body=100 HTTP/1.1\r\nHost: a\r\n\r\n")
            response = conn.read_response(head_request=True)
            self.assertEqual(response.status, 200)
            conn.send(b"GET /after-head HTTP/1.1\r\nHost: a\r\n\r\n")
            self.assertEqual(conn.read_response().json()["path"], "/after-head")

    def test_curl_client(self):
        out = subprocess.run(["curl", "-sS", "-H", "x-from: curl",
                              f"http://127.0.0.1:{self.port}/curl?q=1"],
                             capture_output=True, timeout=10, check=True)
        echo = json.loads(out.stdout)
        self.assertEqual(echo["path"], "/curl")
        self.assertEqual(echo["headers"]["x-from"], ["curl"])

    @unittest.skipUnless(shutil.which("wrk"), "wrk not installed")
    def test_wrk_load_without_errors(self):
        out = subprocess.run(["wrk", "-t1", "-c20", "-d1s", f"http://127.0.0.1:{self.port}/"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
        self.assertNotIn("Non-2xx", out)
        self.assertNotIn("Socket errors", out)
        requests = int(re.search(r"(\d+) requests in", out).group(1))
        self.assertGreater(requests, 100)
        # A stat is recorded as its exchange finishes, a moment after wrk saw the response.
        counted = self.proxy.wait_metric("trellis_http_requests_total",
                                         lambda value: value >= requests, code_class="2xx")
        self.assertGreaterEqual(counted, requests)


class Http10UpstreamTest(ProxyTestCase):
    """An HTTP/1.0 upstream that delimits its body by closing (no Content-Length)."""

    def test_close_delimited_upstream_response(self):
        import socketserver
        import threading
        body = b"served by an HTTP/1.0 server\n" * 100

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                self.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + body)

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        port = free_port()
        self.start_proxy(listener("web", port) + service("old", [server.server_address[1]]) +
                         route("r", "web", simple_rule("old")))
        with RawConnection(port) as conn:
            conn.send(b"GET /file.txt HTTP/1.1\r\nHost: a\r\n\r\n")
            data = conn.read_until_close()  # close-delimited: the proxy must close too
        response, _ = parse_response(data, eof=True)
        self.assertEqual(response.status, 200)
        self.assertEqual(response.header("connection"), "close")
        self.assertEqual(response.body, body)


class TcpListenerTest(ProxyTestCase):
    def setUp(self):
        self.echo = self.start_echo("tcp-backend")
        from harness import free_port
        self.port = free_port()
        config = (listener("raw", self.port, protocol="TCP",
                           extra=f"  tcp:\n    backendRef:\n      name: backend\n      port: 80\n"
                                 f"    idleTimeout: 500ms\n") +
                  service("backend", [self.echo.port]))
        self.proxy = self.start_proxy(config)

    def test_bytes_are_relayed_and_half_close_respected(self):
        with RawConnection(self.port) as conn:
            conn.send(b"GET /via-tcp HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            conn.shutdown_write()  # our FIN reaches the upstream; its answer still comes back
            data = conn.read_until_close()
        response, _ = parse_response(data, eof=True)
        self.assertEqual(response.json()["path"], "/via-tcp")

    def test_idle_timeout_closes(self):
        with RawConnection(self.port) as conn:
            start = time.monotonic()
            self.assertEqual(conn.read_until_close(), b"")
            self.assertLess(time.monotonic() - start, 3)
        self.assertEqual(self.proxy.metric("trellis_tcp_idle_timeouts_total"), 1)


if __name__ == "__main__":
    unittest.main()
