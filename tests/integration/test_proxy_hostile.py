"""Hostile and broken input, from clients and from upstreams: each gets a precise status, a
counter, and no crash (the proxy must still serve afterwards)."""

import os
import socket
import time
import unittest

from harness import RawConnection, free_port, http_get, parse_response
from proxy_harness import ProxyTestCase, listener, route, service, simple_rule


def exchange(port, data, timeout=5):
    """Sends raw bytes; returns (response or None, closed_by_peer)."""
    with RawConnection(port, timeout=timeout) as conn:
        conn.send(data)
        try:
            response = conn.read_response()
        except ConnectionError:
            return None, True
        try:
            rest = conn.read_until_close()
            closed = True
        except (socket.timeout, ConnectionResetError):
            rest, closed = b"", False
        return response, closed


class ClientInputTest(ProxyTestCase):
    def setUp(self):
        self.proxy, self.port, self.echoes = self.simple_mesh(
            http={"headerTimeout": "400ms", "maxRequestBodyBytes": 1000})

    def assertRejected(self, data, status, reason, closes=True):
        response, closed = exchange(self.port, data)
        self.assertIsNotNone(response, f"no response to {data[:60]!r}")
        self.assertEqual(response.status, status, data[:80])
        self.assertEqual(response.header("x-trellis-reason"), reason)
        if closes:
            self.assertTrue(closed, "connection should be closed")
        self.assertGreaterEqual(self.proxy.metric("trellis_http_parse_errors_total",
                                                  reason=reason), 1)
        self.assertEqual(http_get(self.port, "/still-alive").status, 200)

    def test_malformed_request_line(self):
        self.assertRejected(b"GARBAGE\r\n\r\n", 400, "bad_request_line")
        self.assertRejected(b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bad_request_line")

    def test_malformed_header(self):
        self.assertRejected(b"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400, "bad_header")
        self.assertRejected(b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", 400,
                            "bad_header")

    def test_header_section_too_large(self):
        big = b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * (61 * 1024) + b"\r\n\r\n"
        self.assertRejected(big, 431, "headers_too_large")

    def test_too_many_headers(self):
        many = b"GET / HTTP/1.1\r\nHost: a\r\n" + b"".join(
            b"X-H%d: v\r\n" % i for i in range(150)) + b"\r\n"
        self.assertRejected(many, 431, "too_many_headers")

    def test_request_smuggling_vectors(self):
        self.assertRejected(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
                            "conflicting_framing")
        self.assertRejected(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                            b"Content-Length: 6\r\n\r\nhello!", 400, "bad_content_length")
        self.assertRejected(b"GET / HTTP/1.1\r\nHost: a\r\nX-Folded: a\r\n b\r\n\r\n", 400,
                            "obs_fold")
        self.assertRejected(b"GET / HTTP/1.1\nHost: a\r\n\r\n", 400, "bare_cr_or_lf")
        self.assertRejected(b"GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n", 400, "bare_cr_or_lf")
        self.assertRejected(b"GET / HTTP/1.1\r\nHost: a\r\nX-Nul: a\x00b\r\n\r\n", 400,
                            "bad_header")
        self.assertRejected(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                            b"zz\r\nhello\r\n0\r\n\r\n", 400, "bad_chunk")

    def test_uri_too_long(self):
        self.assertRejected(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414,
                            "uri_too_long")

    def test_slowloris_is_cut_after_header_timeout(self):
        with RawConnection(self.port, timeout=5) as conn:
            start = time.monotonic()
            conn.send(b"GET / HTTP/1.1\r\nHost: a\r\n")
            try:
                for _ in range(20):
                    conn.send(b"X-Slow: 1\r\n")
                    time.sleep(0.1)  # trickling client (this is the behaviour under test)
            except (BrokenPipeError, ConnectionResetError):
                pass
            data = b""
            try:
                data = conn.read_until_close()
            except (ConnectionResetError, socket.timeout):
                pass
            elapsed = time.monotonic() - start
        self.assertLess(elapsed, 3.5)
        self.assertTrue(data == b"" or data.startswith(b"HTTP/1.1 408"), data[:40])
        self.assertEqual(self.proxy.metric("trellis_downstream_header_timeouts_total"), 1)

    def test_body_over_route_limit_is_413(self):
        response, closed = exchange(self.port, b"POST / HTTP/1.1\r\nHost: a\r\n"
                                    b"Content-Length: 5000\r\n\r\n" + b"x" * 5000)
        self.assertEqual(response.status, 413)
        chunked = b"".join(b"100\r\n" + b"y" * 256 + b"\r\n" for _ in range(8)) + b"0\r\n\r\n"
        response, closed = exchange(self.port, b"POST / HTTP/1.1\r\nHost: a\r\n"
                                    b"Transfer-Encoding: chunked\r\n\r\n" + chunked)
        self.assertEqual(response.status, 413)
        self.assertEqual(self.proxy.metric("trellis_local_replies_total",
                                           reason="request_body_too_large"), 2)


class UpstreamFailureTest(ProxyTestCase):
    def setUp(self):
        self.proxy, self.port, self.echoes = self.simple_mesh()

    def assertLocal(self, path, status, reason):
        start = time.monotonic()
        response = http_get(self.port, path)
        self.assertEqual(response.status, status, response.body)
        self.assertEqual(response.header("x-trellis-reason"), reason)
        self.assertLess(time.monotonic() - start, 3, "must never hang")

    def test_upstream_reset_is_502(self):
        self.assertLocal("/?reset=1", 502, "upstream_reset")

    def test_upstream_close_without_response_is_502(self):
        self.assertLocal("/?close=1", 502, "upstream_reset")

    def test_invalid_upstream_response_is_502(self):
        self.assertLocal("/?garbage=1", 502, "upstream_bad_response")
        self.assertEqual(self.proxy.metric("trellis_upstream_bad_responses_total"), 1)

    def test_upstream_status_is_passed_through(self):
        response = http_get(self.port, "/?status=503")
        self.assertEqual(response.status, 503)
        self.assertIsNone(response.header("x-trellis-reason"))

    def test_refused_connection_is_503(self):
        port = free_port()
        dead = free_port()  # nothing listens there
        self.start_proxy(listener("web", port) + service("dead", [dead]) +
                         route("r", "web", simple_rule("dead")))
        response = http_get(port, "/")
        self.assertEqual(response.status, 503)
        self.assertEqual(response.header("x-trellis-reason"), "upstream_connect_failure")

    def test_connect_timeout_is_503(self):
        # A listener whose accept queue is full drops further SYNs, so connects hang.
        blackhole = socket.socket()
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(0)
        self.addCleanup(blackhole.close)
        fillers = []
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(blackhole.getsockname())
            fillers.append(s)
        self.addCleanup(lambda: [s.close() for s in fillers])
        port = free_port()
        svc = service("slow", [blackhole.getsockname()[1]]).replace(
            "  endpoints:", "  connectionPool:\n    connectTimeout: 300ms\n  endpoints:")
        self.start_proxy(listener("web", port) + svc + route("r", "web", simple_rule("slow")))
        start = time.monotonic()
        response = http_get(port, "/")
        self.assertEqual(response.status, 503)
        self.assertEqual(response.header("x-trellis-reason"), "upstream_connect_timeout")
        self.assertLess(time.monotonic() - start, 2)


if __name__ == "__main__":
    unittest.main()
