"""Integration tests of trellis-echo over real sockets (see harness.py for the environment)."""

import http.client
import json
import socket
import subprocess
import time
import unittest

import harness
from harness import RawConnection, http_get, http_request, raw_request

WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3 example
WS_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def get(path, extra=b""):
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: t\r\n" + extra + b"\r\n"


class EchoTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.echo = harness.start_echo("svc-a", "inst-1")
        cls.addClassCleanup(cls.echo.proc.stop)  # in case a test fails before tearDownClass
        cls.port = cls.echo.port

    @classmethod
    def tearDownClass(cls):
        cls.echo.stop_checked()  # a crash or sanitizer report fails the class

    def raw(self):
        conn = RawConnection(self.port)
        self.addCleanup(conn.close)
        return conn

    # --- the echo itself -----------------------------------------------------------------------

    def test_json_echo_describes_request(self):
        resp = http_get(self.port, "/a/b?x=1&y=two", headers={"X-Custom": "v1"})
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.header("content-type"), "application/json")
        self.assertEqual(resp.header("server"), "trellis-echo")
        self.assertEqual(resp.header("x-echo-service"), "svc-a")
        self.assertEqual(resp.header("x-echo-instance"), "inst-1")
        doc = resp.json()
        self.assertEqual(doc["service"], "svc-a")
        self.assertEqual(doc["instance"], "inst-1")
        self.assertEqual(doc["method"], "GET")
        self.assertEqual(doc["path"], "/a/b")
        self.assertEqual(doc["query"], "x=1&y=two")
        self.assertEqual(doc["version"], "HTTP/1.1")
        self.assertEqual(doc["headers"]["x-custom"], ["v1"])
        self.assertEqual(doc["headers"]["host"], [f"127.0.0.1:{self.port}"])
        self.assertEqual(doc["body_bytes"], 0)

    def test_repeated_headers_grouped_in_order(self):
        conn = self.raw()
        conn.send(get("/", b"A: 1\r\nB: x\r\nA: 2\r\nA:3\r\n"))
        headers = conn.read_response().json()["headers"]
        self.assertEqual(headers["a"], ["1", "2", "3"])
        self.assertEqual(list(headers), ["host", "a", "b"])

    def test_non_ascii_header_value_still_valid_json(self):
        conn = self.raw()
        conn.send(get("/", b"X-Bin: caf\xe9 \"q\" \\\r\n"))
        self.assertEqual(conn.read_response().json()["headers"]["x-bin"], ["caf\u00e9 \"q\" \\"])

    def test_content_length_body_counted(self):
        resp = http_request(self.port, "POST", "/upload", body=b"z" * 1000)
        self.assertEqual(resp.json()["body_bytes"], 1000)
        self.assertEqual(resp.json()["method"], "POST")

    def test_large_body_counted_across_reads(self):
        size = 3 * 1024 * 1024 + 7
        resp = http_request(self.port, "PUT", "/big", body=b"q" * size)
        self.assertEqual(resp.json()["body_bytes"], size)

    def test_chunked_request_body_counted(self):
        conn = self.raw()
        conn.send(b"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"5\r\nhello\r\n")
        conn.send(b"1a;ext=1\r\n" + b"y" * 26 + b"\r\n0\r\nx-trailer: t\r\n\r\n")
        self.assertEqual(conn.read_response().json()["body_bytes"], 31)

    def test_healthz(self):
        resp = http_get(self.port, "/healthz?status=500")
        self.assertEqual((resp.status, resp.body), (200, b"ok"))

    def test_head_request_has_length_but_no_body(self):
        conn = self.raw()
        conn.send(b"HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n" + get("/after"))
        head = conn.read_response(head_request=True)
        self.assertEqual(head.body, b"")
        self.assertGreater(int(head.header("content-length")), 0)
        self.assertEqual(conn.read_response().json()["path"], "/after")

    # --- connection management -----------------------------------------------------------------

    def test_keep_alive_reuses_connection(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        self.addCleanup(conn.close)
        conn.request("GET", "/one")
        first = conn.getresponse()
        self.assertEqual(json.loads(first.read())["path"], "/one")
        sock = conn.sock
        conn.request("GET", "/two")
        self.assertEqual(json.loads(conn.getresponse().read())["path"], "/two")
        self.assertIs(conn.sock, sock, "second request needed a new connection")

    def test_pipelined_requests_answered_in_order(self):
        conn = self.raw()
        conn.send(get("/p1?delay=100ms") + get("/p2") +
                  b"POST /p3 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc" + get("/p4"))
        paths = [conn.read_response().json()["path"] for _ in range(4)]
        self.assertEqual(paths, ["/p1", "/p2", "/p3", "/p4"])

    def test_many_pipelined_requests(self):
        conn = self.raw()
        conn.send(b"".join(get(f"/n{i}") for i in range(200)))
        for i in range(200):
            self.assertEqual(conn.read_response().json()["path"], f"/n{i}")

    def test_connection_close_honoured(self):
        conn = self.raw()
        conn.send(get("/", b"Connection: close\r\n"))
        self.assertEqual(conn.read_response().header("connection"), "close")
        self.assertEqual(conn.read_until_close(), b"")

    def test_half_closed_client_still_answered(self):
        conn = self.raw()
        conn.send(get("/hc1?delay=50ms") + get("/hc2"))
        conn.shutdown_write()
        self.assertEqual(conn.read_response().json()["path"], "/hc1")
        self.assertEqual(conn.read_response().json()["path"], "/hc2")
        self.assertEqual(conn.read_until_close(), b"")

    def test_http10_closes_by_default(self):
        conn = self.raw()
        conn.send(b"GET /old HTTP/1.0\r\n\r\n")
        resp = conn.read_response()
        self.assertEqual(resp.json()["version"], "HTTP/1.0")
        self.assertIsNotNone(resp.header("content-length"))
        self.assertEqual(conn.read_until_close(), b"")

    def test_http10_keep_alive(self):
        conn = self.raw()
        req = b"GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        conn.send(req + req)
        for _ in range(2):
            self.assertEqual(conn.read_response().header("connection"), "keep-alive")

    def test_http10_chunked_knob_falls_back_to_length(self):
        conn = self.raw()
        conn.send(b"GET /?chunked=1 HTTP/1.0\r\n\r\n")
        resp = conn.read_response()
        self.assertIsNone(resp.header("transfer-encoding"))
        self.assertEqual(resp.json()["path"], "/")

    def test_malformed_request_gets_400_and_close(self):
        data = raw_request(self.port, b"GET / HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n")
        self.assertTrue(data.startswith(b"HTTP/1.1 400 "), data)
        conn = self.raw()
        conn.send(b"NOT HTTP AT ALL\r\n\r\n" + get("/never"))
        self.assertEqual(conn.read_response().status, 400)
        self.assertEqual(conn.read_until_close(), b"")

    def test_smuggling_shape_rejected(self):
        conn = self.raw()
        conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        self.assertEqual(conn.read_response().status, 400)

    def test_bad_chunk_gets_400(self):
        conn = self.raw()
        conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        self.assertEqual(conn.read_response().status, 400)
        self.assertEqual(conn.read_until_close(), b"")

    # --- knobs ---------------------------------------------------------------------------------

    def test_status_knob_query_and_header(self):
        self.assertEqual(http_get(self.port, "/?status=503").status, 503)
        self.assertEqual(http_get(self.port, "/", headers={"x-echo-status": "418"}).status, 418)

    def test_status_204_has_no_body(self):
        conn = self.raw()
        conn.send(get("/?status=204") + get("/next"))
        resp = conn.read_response()
        self.assertEqual((resp.status, resp.body, resp.header("content-length")), (204, b"", None))
        self.assertEqual(conn.read_response().json()["path"], "/next")

    def test_invalid_knob_is_400_keeps_connection(self):
        conn = self.raw()
        conn.send(get("/?status=99") + get("/?close=1&delay=soon") + get("/ok"))
        self.assertEqual(conn.read_response().status, 400)
        resp = conn.read_response()
        self.assertEqual(resp.status, 400)
        self.assertIn(b"delay=soon", resp.body)
        self.assertEqual(conn.read_response().status, 200)

    def test_delay(self):
        start = time.monotonic()
        resp = http_get(self.port, "/?delay=200ms")
        self.assertGreaterEqual(time.monotonic() - start, 0.2)
        self.assertEqual(resp.status, 200)
        start = time.monotonic()
        http_get(self.port, "/", headers={"x-echo-delay": "150"})
        self.assertGreaterEqual(time.monotonic() - start, 0.15)

    def test_delay_does_not_block_other_connections(self):
        slow = self.raw()
        start = time.monotonic()
        slow.send(get("/?delay=700ms"))
        fast = http_get(self.port, "/fast")  # same (single) worker thread
        self.assertEqual(fast.json()["path"], "/fast")
        slow.sock.setblocking(False)
        with self.assertRaises(BlockingIOError, msg="delayed response arrived too early"):
            slow.sock.recv(1)
        slow.sock.settimeout(harness.DEFAULT_TIMEOUT)
        self.assertEqual(slow.read_response().status, 200)
        self.assertGreaterEqual(time.monotonic() - start, 0.7)

    def test_close_knob_closes_without_response(self):
        conn = self.raw()
        conn.send(b"POST /?close=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nab")
        self.assertEqual(conn.read_until_close(), b"")

    def test_close_knob_after_delay(self):
        conn = self.raw()
        start = time.monotonic()
        conn.send(get("/", b"x-echo-close: 1\r\nx-echo-delay: 100ms\r\n"))
        self.assertEqual(conn.read_until_close(), b"")
        self.assertGreaterEqual(time.monotonic() - start, 0.1)

    def test_reset_knob_sends_rst(self):
        conn = self.raw()
        conn.send(get("/?reset=1"))
        with self.assertRaises(ConnectionResetError):
            conn.read_until_close()

    def test_body_knob(self):
        self.assertEqual(http_get(self.port, "/?body=5").body, b"xxxxx")
        empty = http_get(self.port, "/", headers={"x-echo-body": "0"})
        self.assertEqual((empty.status, empty.body), (200, b""))

    def test_large_body_knob_streamed(self):
        size = 5 * 1024 * 1024 + 3
        resp = http_get(self.port, f"/?body={size}")
        self.assertEqual(len(resp.body), size)
        self.assertEqual(resp.body.count(b"x"), size)

    def test_large_chunked_body_knob_then_next_request(self):
        conn = self.raw()
        conn.send(get("/?body=200000&chunked=1&trailer=x-done:yes") + get("/after"))
        resp = conn.read_response()
        self.assertEqual(resp.header("transfer-encoding"), "chunked")
        self.assertEqual(len(resp.body), 200000)
        self.assertEqual(resp.trailers, [("x-done", "yes")])
        self.assertEqual(conn.read_response().json()["path"], "/after")

    def test_chunked_knob(self):
        conn = self.raw()
        conn.send(get("/?chunked=1"))
        resp = conn.read_response()
        self.assertEqual(resp.header("transfer-encoding"), "chunked")
        self.assertIsNone(resp.header("content-length"))
        self.assertEqual(resp.json()["query"], "chunked=1")

    def test_trailer_knob(self):
        conn = self.raw()
        conn.send(get("/", b"x-echo-trailer: grpc-status: 0\r\n"))
        resp = conn.read_response()
        self.assertEqual(resp.header("transfer-encoding"), "chunked")
        self.assertEqual(resp.header("trailer"), "grpc-status")
        self.assertEqual(resp.trailers, [("grpc-status", "0")])
        self.assertEqual(resp.json()["path"], "/")

    def test_header_knob_repeatable_and_percent_decoded(self):
        resp = http_get(self.port, "/?header=x-a:1&header=X-B%3A%20two",
                        headers={"x-echo-header": "x-c: 3"})
        self.assertEqual(resp.header("x-a"), "1")
        self.assertEqual(resp.header("x-b"), "two")
        self.assertEqual(resp.header("x-c"), "3")

    def test_header_knob_rejects_injection(self):
        self.assertEqual(http_get(self.port, "/?header=x-a:1%0d%0ax-evil:1").status, 400)
        self.assertEqual(http_get(self.port, "/?header=bad%20name:1").status, 400)

    def test_garbage_knob(self):
        self.assertEqual(raw_request(self.port, get("/?garbage=1")), b"HTTP/1.1 abc\r\n\r\n")
        with self.assertRaises(http.client.HTTPException):
            http_get(self.port, "/", headers={"x-echo-garbage": "1"})

    def test_expect_100_continue(self):
        conn = self.raw()
        conn.send(b"POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        interim = conn.read_response(skip_informational=False)
        self.assertEqual(interim.status, 100)
        conn.send(b"body")
        final = conn.read_response()
        self.assertEqual((final.status, final.json()["body_bytes"]), (200, 4))

    def test_websocket_upgrade_then_byte_echo(self):
        conn = self.raw()
        conn.send(b"GET /ws HTTP/1.1\r\nHost: t\r\nConnection: keep-alive, Upgrade\r\n"
                  b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                  b"Sec-WebSocket-Key: " + WS_KEY.encode() + b"\r\n\r\n")
        resp = conn.read_response()
        self.assertEqual(resp.status, 101)
        self.assertEqual(resp.header("sec-websocket-accept"), WS_ACCEPT)
        self.assertEqual(resp.header("upgrade"), "websocket")
        payload = bytes(range(256)) * 40
        conn.send(payload)
        self.assertEqual(conn.read_exact(len(payload)), payload)
        conn.send(b"GET / HTTP/1.1\r\n\r\n")  # no longer HTTP: echoed verbatim
        self.assertEqual(conn.read_exact(18), b"GET / HTTP/1.1\r\n\r\n")
        conn.shutdown_write()
        self.assertEqual(conn.read_until_close(), b"")

    def test_websocket_without_key_is_400(self):
        conn = self.raw()
        conn.send(get("/ws", b"Connection: upgrade\r\nUpgrade: websocket\r\n"))
        self.assertEqual(conn.read_response().status, 400)

    # --- curl ----------------------------------------------------------------------------------

    def curl(self, *args):
        out = subprocess.run(["curl", "-sS", "--max-time", "5", *args], capture_output=True,
                             check=True, timeout=10)
        return out.stdout

    def test_curl_get(self):
        doc = json.loads(self.curl("-H", "X-From: curl", f"{self.echo.url('/curl?k=v')}"))
        self.assertEqual((doc["path"], doc["query"]), ("/curl", "k=v"))
        self.assertEqual(doc["headers"]["x-from"], ["curl"])

    def test_curl_chunked_upload_and_chunked_trailer_response(self):
        body = self.curl("-H", "Transfer-Encoding: chunked", "--data-binary", "@-",
                         self.echo.url("/up?trailer=x-t:1"), "-o", "-")
        # curl decodes the chunked response; the request body arrived chunked.
        self.assertEqual(json.loads(body)["headers"]["transfer-encoding"], ["chunked"])


class EchoProcessTest(unittest.TestCase):
    def test_threads_and_multiple_listeners(self):
        echo = harness.start_echo("multi", "m1", test=self, threads=2,
                                  listen=["127.0.0.1:0", "127.0.0.1:0"])
        self.assertEqual(len(echo.addresses), 2)
        for host, port in echo.addresses:
            self.assertNotEqual(port, 0)
            for _ in range(4):  # spread over both reuseport sockets
                self.assertEqual(http_get(port, "/", host=host).json()["instance"], "m1")
        echo.stop_checked()  # SIGTERM is a clean shutdown

    def test_fixed_port(self):
        port = harness.free_port()
        echo = harness.start_echo("fixed", "f1", test=self, listen=[f"127.0.0.1:{port}"])
        self.assertEqual(echo.port, port)
        self.assertIn(f"listening on 127.0.0.1:{port}", _wait_stdout(echo.proc))

    def test_bad_flags_fail_with_stderr(self):
        with self.assertRaisesRegex(RuntimeError, "(?s)exited.*listen"):
            harness.start_echo("bad", "b1", test=self, listen=["not-an-address:x"])

    def test_port_in_use_fails(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            with self.assertRaisesRegex(RuntimeError, "bind"):
                harness.start_echo("busy", "b2", test=self, listen=[f"127.0.0.1:{port}"])


def _wait_stdout(proc):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "listening" not in proc.stdout_text():
        time.sleep(0.01)
    return proc.stdout_text()


if __name__ == "__main__":
    unittest.main()
