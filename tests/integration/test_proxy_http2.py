"""HTTP/2 through trellis-proxy with real peers: curl --http2-prior-knowledge, nghttp and h2load
(nghttp2-client), python3-h2 clients and an h2c upstream (h2_peers.py, its own process), and
trellis-echo as the HTTP/1.1 upstream.

Written against docs/design/http2-plan.md ("Contract fixed at the start of session 2") and
RFC 9113 §8: prior-knowledge h2c on HTTP listeners, translation HTTP/2 <-> HTTP/1.1 both ways
(pseudo-headers, connection-specific headers, te, trailers, bodies), upstream multiplexing and
max_concurrent_streams, flow control end to end, RST_STREAM and GOAWAY, protocol detection
(AUTO, HTTP2, TCP listeners) and the trellis_http2_* metrics.

H2PeersDirectTest checks the test's own peers without the proxy, so a failure elsewhere points
at the proxy.
"""

import collections
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import h2.settings

from h2_peers import (BannerServer, H2Client, Http1Recorder, TcpEchoServer,
                      TruncatingHttp1Server, goaway_codes, start_h2_server)
from harness import (IncompleteResponse, RawConnection, free_port, http_get, http_request,
                     parse_response)
from proxy_harness import ProxyTestCase, listener, route, service, simple_rule

MiB = 1024 * 1024
PROTOCOL_ERROR, CANCEL, REFUSED_STREAM = 0x1, 0x8, 0x7
CONNECTION_SPECIFIC = ("connection", "keep-alive", "proxy-connection", "transfer-encoding",
                       "upgrade")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def run(args, timeout=30):
    return subprocess.run([str(a) for a in args], capture_output=True, timeout=timeout)


def curl_h2(url, *extra):
    """curl with prior-knowledge h2c; returns (http_version, status, body bytes, stderr)."""
    out = run(["curl", "-sS", "--http2-prior-knowledge", "-o", "-", "-w",
               "\n%{http_version} %{http_code}", *extra, url])
    body, _, tail = out.stdout.rpartition(b"\n")
    version, _, status = tail.decode().partition(" ")
    return version, int(status or 0), body, out.stderr.decode()


def temp_file(test, data):
    fd, path = tempfile.mkstemp(prefix="trellis-h2-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    test.addCleanup(os.unlink, path)
    return path


def rejected(stream):
    """RFC 9113 §8.1.1: a malformed request is a stream error PROTOCOL_ERROR; a server MAY
    answer 400 first. Either is a rejection; anything else is not."""
    return stream.reset_code == PROTOCOL_ERROR or stream.status == 400


class H2PeersDirectTest(ProxyTestCase):
    """h2_peers server <-> clients (H2Client, curl, nghttp, h2load) and the TCP helpers, with
    no proxy."""

    @classmethod
    def setUpClass(cls):
        cls.server = start_h2_server("direct", max_concurrent_streams=8)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_h2client_translation_view(self):
        with H2Client(self.server.port) as client:
            sid = client.request("POST", "/p?q=1", headers=[("x-a", "1"), ("te", "trailers")],
                                 body=b"b" * 100_000, end_stream=False)
            client.send_trailers(sid, [("x-checksum", "42")])
            echo = client.response(sid).json()
            self.assertEqual(echo["pseudo"][":path"], "/p?q=1")
            self.assertEqual(echo["body_bytes"], 100_000)
            self.assertEqual(echo["body_sha256"], hashlib.sha256(b"b" * 100_000).hexdigest())
            self.assertEqual(echo["trailers"], {"x-checksum": ["42"]})
            stream = client.get("/t?trailer=x-digest:abc&body=70000")
            self.assertEqual((len(stream.body), stream.trailer("x-digest")), (70000, "abc"))
            stream = client.get("/r?body=100000&reset_after=20000")
            self.assertEqual((stream.status, len(stream.body), stream.reset_code),
                             (200, 20000, 2))
            # A forbidden header goes out as asked (validate=False): for rejection tests.
            stream = client.get("/c", headers=[("connection", "close")])
            self.assertIn(["connection", "close"], stream.json()["header_list"])

    def test_flow_control_stall_reset_and_goaway_knobs(self):
        with H2Client(self.server.port) as client:
            sid = client.request("POST", "/direct-stall?stall=1", end_stream=False)
            self.assertEqual(client.send_body(sid, b"s" * MiB, max_seconds=0.3), 65535)
            sid = client.request("GET", "/direct-cancel?delay=3000")
            self.server.wait_stats(lambda s: "/direct-cancel" in s["active_paths"])
            client.reset(sid)
            self.server.wait_stats(lambda s: {"path": "/direct-cancel", "code": CANCEL}
                                   in s["resets_received"])
        with H2Client(self.server.port, auto_ack=False) as client:
            sid = client.request("GET", "/direct-noread?body=5000000")
            client.wait_for(lambda: len(client.streams[sid].data) >= 65535)
            stats = self.server.stats()
            self.assertEqual(stats["bytes_sent"]["/direct-noread"], 65535)
        with H2Client(self.server.port) as client:
            self.assertEqual(client.get("/bye?goaway=1").status, 200)
            client.wait_closed()
            self.assertEqual(client.goaways, [(0, 1)])
        with H2Client(self.server.port) as client:  # frames after a GOAWAY are still taken
            stream = client.get("/graceful?goaway_first=1&delay=100&body=200000")
            self.assertEqual((stream.status, len(stream.body), stream.ended), (200, 200000, True))
            client.wait_closed()
            self.assertEqual(client.goaways, [(0, 1)])

    def test_max_concurrent_streams_is_enforced_by_refusal(self):
        with H2Client(self.server.port) as client:
            client.wait_for(lambda: client.settings_received)
            self.assertEqual(client.conn.remote_settings.max_concurrent_streams, 8)
            before = self.server.stats()["refused_streams"]
            # Make the client's h2 state machine forget the limit, so it sends a ninth stream.
            client.conn.remote_settings._settings[
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] = collections.deque([100])
            ids = [client.request("GET", f"/mcs{i}?delay=200") for i in range(9)]
            streams = [client.response(i) for i in ids]
            self.assertEqual(sorted(s.status or s.reset_code for s in streams),
                             [REFUSED_STREAM] + [200] * 8)
            self.assertEqual(self.server.stats()["refused_streams"], before + 1)

    def test_curl_nghttp_h2load_against_the_peer(self):
        url = f"http://127.0.0.1:{self.server.port}/tools?x=1"
        version, status, body, err = curl_h2(url)
        self.assertEqual((version, status), ("2", 200), err)
        self.assertEqual(json.loads(body)["query"], "x=1")
        out = run(["nghttp", "-H", "x-from: nghttp", url])
        self.assertEqual(json.loads(out.stdout)["headers"]["x-from"], ["nghttp"])
        out = run(["h2load", "-n", "200", "-c", "2", "-m", "4", url])
        self.assertIn(b"200 succeeded", out.stdout, out.stdout)

    def test_tcp_helpers(self):
        banner = BannerServer(self)
        with socket.create_connection(("127.0.0.1", banner.port), timeout=2) as sock:
            self.assertEqual(sock.recv(100), banner.banner)
        echo = TcpEchoServer(self)
        with socket.create_connection(("127.0.0.1", echo.port), timeout=2) as sock:
            sock.sendall(b"abc")
            self.assertEqual(sock.recv(100), b"tcp-echo:abc")
        recorder = Http1Recorder(self)
        sock = socket.create_connection(("127.0.0.1", recorder.port), timeout=2)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertTrue(recorder.head_seen.wait(2))
        sock.close()
        self.assertTrue(recorder.closed.wait(2))
        truncating = TruncatingHttp1Server(self, total=1000, sent=10)
        with RawConnection(truncating.port) as conn:
            conn.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            try:
                data = conn.read_until_close()
            except ConnectionResetError:
                data = conn.buf
        self.assertTrue(data.startswith(b"HTTP/1.1 200"))
        with self.assertRaises(IncompleteResponse):
            parse_response(data)


class Http2ProxyTestCase(ProxyTestCase):
    def start_proxy(self, config_text, **kw):
        # Stalled and abandoned streams are what these tests make; a short drain deadline keeps
        # the proxy's exit at cleanup quick even when one is left behind by a failing test.
        kw.setdefault("extra_args", ["--drain-timeout-ms", "1500"])
        return super().start_proxy(config_text, **kw)

    def h2(self, port=None, **kw):
        client = H2Client(port or self.port, **kw)
        self.addCleanup(client.close)
        return client


# ---------------------------------------------------------------------------------------------
# HTTP/2 client -> proxy -> HTTP/1.1 upstream (trellis-echo)

class H2ClientToHttp1UpstreamTest(Http2ProxyTestCase):
    def setUp(self):
        self.proxy, self.port, self.echoes = self.simple_mesh()

    def test_curl_prior_knowledge(self):
        version, status, body, err = curl_h2(f"http://127.0.0.1:{self.port}/curl?q=1",
                                             "-H", "x-from: curl")
        self.assertEqual((version, status), ("2", 200), err)
        echo = json.loads(body)
        self.assertEqual((echo["method"], echo["path"], echo["query"]), ("GET", "/curl", "q=1"))
        self.assertEqual(echo["version"], "HTTP/1.1")  # the upstream leg
        self.assertEqual(echo["headers"]["host"], [f"127.0.0.1:{self.port}"])
        self.assertEqual(echo["headers"]["x-from"], ["curl"])
        self.assertEqual(echo["headers"]["x-forwarded-proto"], ["http"])
        self.assertEqual(echo["headers"]["x-forwarded-for"], ["127.0.0.1"])

    def test_curl_large_bodies_both_ways(self):
        upload = temp_file(self, os.urandom(5 * MiB))
        version, status, body, err = curl_h2(f"http://127.0.0.1:{self.port}/up", "--data-binary",
                                             f"@{upload}")
        self.assertEqual((version, status), ("2", 200), err)
        self.assertEqual(json.loads(body)["body_bytes"], 5 * MiB)
        version, status, body, err = curl_h2(f"http://127.0.0.1:{self.port}/?body=20000000")
        self.assertEqual((version, status, len(body)), ("2", 200, 20_000_000), err)

    def test_nghttp_upload_and_concurrent_requests(self):
        upload = temp_file(self, b"n" * 300_000)
        out = run(["nghttp", "-d", upload, "-H", "x-from: nghttp",
                   f"http://127.0.0.1:{self.port}/nghttp"])
        self.assertEqual(out.returncode, 0, out.stderr)
        echo = json.loads(out.stdout)
        self.assertEqual((echo["method"], echo["body_bytes"]), ("POST", 300_000))
        self.assertEqual(echo["headers"]["x-from"], ["nghttp"])
        out = run(["nghttp", "-n", "-s", "-m", "20", f"http://127.0.0.1:{self.port}/many"])
        codes = re.findall(rb"^\s*\d+\s+\S+\s+\S+\s+\S+\s+(\d{3})\s+\d+\s+/many$", out.stdout,
                           re.M)
        self.assertEqual(codes, [b"200"] * 20, out.stdout.decode() + out.stderr.decode())

    def test_request_header_translation(self):
        client = self.h2()
        stream = client.get("/translate?a=b", authority="shop.example.test",
                            headers=[("cookie", "a=1"), ("cookie", "b=2"), ("te", "trailers"),
                                     ("x-custom", "v"), ("user-agent", "h2-test")])
        self.assertEqual(stream.status, 200, stream)
        echo = stream.json()
        headers = echo["headers"]
        self.assertEqual(headers["host"], ["shop.example.test"], ":authority becomes Host")
        # RFC 9113 §8.2.3: cookie crumbs are joined with "; " for HTTP/1.1.
        self.assertEqual(headers["cookie"], ["a=1; b=2"])
        self.assertEqual(headers["te"], ["trailers"])
        self.assertEqual(headers["x-custom"], ["v"])
        self.assertEqual(headers["x-forwarded-proto"], ["http"])
        self.assertEqual((echo["method"], echo["path"], echo["query"]),
                         ("GET", "/translate", "a=b"))
        for name in headers:
            self.assertFalse(name.startswith(":"), f"pseudo-header {name} leaked to HTTP/1")

    def test_response_header_translation_and_trailers(self):
        client = self.h2()
        stream = client.get("/?chunked=1&trailer=x-digest:abc&header=x-extra:1",
                            headers=[("te", "trailers")])
        self.assertEqual(stream.status, 200, stream)
        names = [n for n, _ in stream.headers]
        for name in CONNECTION_SPECIFIC:
            self.assertNotIn(name, names, f"{name} must not appear in an HTTP/2 response")
        self.assertEqual(stream.header("x-extra"), "1")
        self.assertEqual(stream.header("x-echo-service"), "backend")
        self.assertTrue(stream.ended)
        self.assertEqual(stream.trailer("x-digest"), "abc", stream)

    def test_connection_specific_and_invalid_headers_are_rejected(self):
        client = self.h2()
        bad = [("connection", "keep-alive"), ("keep-alive", "timeout=5"),
               ("proxy-connection", "keep-alive"), ("transfer-encoding", "chunked"),
               ("upgrade", "websocket"), ("te", "gzip")]
        for name, value in bad:
            stream = client.get("/bad", headers=[(name, value)])
            self.assertTrue(rejected(stream), f"{name}: {value} was not rejected: {stream}")
        # Stream errors, not connection errors: the connection keeps serving.
        self.assertEqual(client.get("/after").status, 200)
        self.assertEqual(client.goaways, [])
        uppercase = client.get("/bad", headers=[("X-Upper", "v")])
        self.assertTrue(rejected(uppercase), f"upper-case field name accepted: {uppercase}")
        no_scheme = client.response(client.send_headers(
            [(":method", "GET"), (":path", "/bad"), (":authority", "a")]))
        self.assertTrue(rejected(no_scheme), f"request without :scheme accepted: {no_scheme}")
        self.assertEqual(client.get("/after").status, 200)
        self.assertGreaterEqual(self.proxy.metric("trellis_http2_connection_headers_total",
                                                  direction="downstream"), len(bad))
        self.assertGreaterEqual(self.proxy.metric("trellis_http2_invalid_headers_total",
                                                  direction="downstream"), len(bad) + 2)

    def test_large_streamed_bodies_both_ways(self):
        client = self.h2()
        body = os.urandom(6 * MiB)
        sid = client.request("POST", "/upload", body=body)  # no content-length: streamed
        echo = client.response(sid, timeout=20).json()
        self.assertEqual(echo["body_bytes"], len(body))
        sid = client.request("POST", "/upload-cl", headers=[("content-length", str(len(body)))],
                             body=body)
        self.assertEqual(client.response(sid, timeout=20).json()["body_bytes"], len(body))
        stream = client.get("/?body=20000000", timeout=20)
        self.assertEqual((stream.status, len(stream.body), stream.ended),
                         (200, 20_000_000, True))

    def test_concurrent_streams_on_one_connection(self):
        client = self.h2()
        start = time.monotonic()
        ids = {client.request("GET", f"/s?i={i}&delay=300ms"): i for i in range(50)}
        for sid, i in ids.items():
            stream = client.response(sid, timeout=10)
            self.assertEqual(stream.status, 200, stream)
            self.assertEqual(stream.json()["query"], f"i={i}&delay=300ms",
                             "response delivered on the wrong stream")
        self.assertLess(time.monotonic() - start, 3.0, "streams were not served concurrently")

    def test_upstream_reset_before_response_is_502(self):
        stream = self.h2().get("/?reset=1")
        self.assertEqual(stream.status, 502, stream)
        self.assertEqual(stream.header("x-trellis-reason"), "upstream_reset")

    def test_slow_h2_reader_is_stalled_by_window_not_buffered(self):
        pid = self.proxy.proc.pid
        before = rss_kib(pid)
        client = self.h2(auto_ack=False)  # reads the socket, never sends WINDOW_UPDATE
        sid = client.request("GET", "/?body=200000000")
        client.wait_for(lambda: len(client.streams[sid].data) >= 65535,
                        what="the first window's worth of DATA")
        deadline = time.monotonic() + 0.6
        while time.monotonic() < deadline:  # keep reading frames (there should be none)
            client.pump(timeout=0.05)
        self.assertEqual(len(client.streams[sid].data), 65535)
        grown = rss_kib(pid) - before
        self.assertLess(grown, 8 * 1024, f"RSS grew {grown} KiB for one stalled stream")
        client.ack(sid, 65535)  # open the window again: the transfer resumes
        client.wait_for(lambda: len(client.streams[sid].data) > 65535, what="resumed DATA")

    def test_h2load_smoke(self):
        out = run(["h2load", "-n", "2000", "-c", "4", "-m", "10",
                   f"http://127.0.0.1:{self.port}/"], timeout=60)
        text = out.stdout.decode()
        self.assertIn("2000 succeeded, 0 failed, 0 errored", text, text + out.stderr.decode())
        self.assertIn("status codes: 2000 2xx", text)
        streams = self.proxy.wait_metric("trellis_http2_streams_total", lambda v: v >= 2000,
                                         direction="downstream")
        self.assertGreaterEqual(streams, 2000)
        self.assertGreaterEqual(self.proxy.metric("trellis_http_requests_total",
                                                  code_class="2xx"), 2000)


class H2WindowStallTest(Http2ProxyTestCase):
    def test_window_stall_timeout_sends_goaway(self):
        echo = self.start_echo("stall")
        self.port = free_port()
        self.proxy = self.start_proxy(
            listener("web", self.port, http2={"windowStallTimeout": "300ms"}) +
            service("stall", [echo.port]) + route("r", "web", simple_rule("stall")))
        client = self.h2(auto_ack=False)
        client.request("GET", "/?body=50000000")
        start = time.monotonic()
        client.wait_for(lambda: client.goaways, timeout=3, what="GOAWAY for a stalled window")
        client.wait_closed(timeout=3)
        self.assertGreaterEqual(time.monotonic() - start, 0.25, "closed before the timeout")
        stalls = self.proxy.wait_metric("trellis_http2_window_stalls_total", lambda v: v >= 1,
                                        direction="downstream")
        self.assertEqual(stalls, 1)


class H2ClientCancelToHttp1UpstreamTest(Http2ProxyTestCase):
    def test_rst_stream_closes_the_upstream_connection(self):
        recorder = Http1Recorder(self)
        self.port = free_port()
        self.proxy = self.start_proxy(listener("web", self.port) +
                                      service("sink", [recorder.port]) +
                                      route("r", "web", simple_rule("sink")))
        client = self.h2()
        sid = client.request("GET", "/cancel-me")
        self.assertTrue(recorder.head_seen.wait(3), "request never reached the upstream")
        client.reset(sid, CANCEL)
        self.assertTrue(recorder.closed.wait(3),
                        "the upstream HTTP/1.1 request was not aborted after RST_STREAM")
        self.assertIn("GET /cancel-me HTTP/1.1", recorder.heads[0])
        resets = self.proxy.wait_metric("trellis_http2_resets_total", lambda v: v >= 1,
                                        direction="downstream", side="received", code="CANCEL")
        self.assertEqual(resets, 1)
        client.pump(timeout=0.1)
        self.assertFalse(client.closed, "a stream reset must not close the connection")
        self.assertEqual(client.goaways, [])

    def test_upstream_dying_mid_body_resets_the_client_stream(self):
        upstream = TruncatingHttp1Server(self, total=1_000_000, sent=10_000)
        self.port = free_port()
        self.proxy = self.start_proxy(listener("web", self.port) +
                                      service("dies", [upstream.port]) +
                                      route("r", "web", simple_rule("dies")))
        client = self.h2()
        stream = client.get("/")
        self.assertEqual(stream.status, 200, stream)
        self.assertIsNotNone(stream.reset_code,
                             f"a truncated body must end in RST_STREAM, not END_STREAM: {stream}")
        self.assertFalse(stream.ended)
        self.assertLess(len(stream.body), 1_000_000)
        self.assertEqual(client.goaways, [], "a stream error, not a connection error")


class AuthorityRoutingTest(Http2ProxyTestCase):
    def setUp(self):
        a, b = self.start_echo("a"), self.start_echo("b")
        self.port = free_port()
        self.proxy = self.start_proxy(
            listener("web", self.port) + service("a", [a.port]) + service("b", [b.port]) +
            route("ra", "web", simple_rule("a"), hostnames=["a.example.test"]) +
            route("rb", "web", simple_rule("b"), hostnames=["*.b.example.test"]))

    def test_authority_selects_the_route(self):
        client = self.h2()
        self.assertEqual(client.get("/", authority="a.example.test").json()["service"], "a")
        self.assertEqual(client.get("/", authority="x.b.example.test:8443").json()["service"],
                         "b", "the port of :authority is ignored for matching")
        miss = client.get("/", authority="c.example.test")
        self.assertEqual(miss.status, 404)
        self.assertEqual(miss.header("x-trellis-reason"), "route_not_found")

    def test_curl_host_header_becomes_authority(self):
        version, status, body, err = curl_h2(f"http://127.0.0.1:{self.port}/",
                                             "-H", "Host: y.b.example.test")
        self.assertEqual((version, status), ("2", 200), err)
        self.assertEqual(json.loads(body)["service"], "b")


# ---------------------------------------------------------------------------------------------
# HTTP/1.1 client -> proxy -> HTTP/2 upstream (h2_peers, appProtocol h2c)

class Http1ClientToH2UpstreamTest(Http2ProxyTestCase):
    max_concurrent_streams = 1000

    def setUp(self):
        self.upstream = start_h2_server("h2up", test=self,
                                        max_concurrent_streams=self.max_concurrent_streams)
        self.port = free_port()
        self.proxy = self.start_proxy(
            listener("web", self.port, http={"bufferBytes": 65536}) +
            service("h2up", [self.upstream.port], app_protocol="h2c") +
            route("r", "web", simple_rule("h2up")))

    def raw(self, request):
        with RawConnection(self.port, timeout=10) as conn:
            conn.send(request)
            return conn.read_response()

    def echo(self, response):
        """The h2 peer's JSON description of what it received, once the exchange worked."""
        self.assertEqual(response.status, 200, response.body[:300])
        return response.json()

    def test_request_translation(self):
        response = self.raw(
            b"GET /translate?q=1 HTTP/1.1\r\nHost: shop.example.test:8080\r\n"
            b"Connection: keep-alive, x-private\r\nX-Private: secret\r\nKeep-Alive: timeout=5\r\n"
            b"Proxy-Connection: keep-alive\r\nTE: trailers\r\nX-Custom: Kept\r\n\r\n")
        echo = self.echo(response)
        self.assertEqual(response.version, "HTTP/1.1")
        self.assertEqual(echo["version"], "HTTP/2", "the upstream leg must be HTTP/2")
        self.assertEqual(echo["pseudo"], {":method": "GET", ":scheme": "http",
                                          ":path": "/translate?q=1",
                                          ":authority": "shop.example.test:8080"})
        header_list = echo["header_list"]
        pseudo_names = [n for n, _ in header_list if n.startswith(":")]
        self.assertEqual([n for n, _ in header_list[:len(pseudo_names)]], pseudo_names,
                         "pseudo-headers must come first")
        headers = echo["headers"]
        for name in (*CONNECTION_SPECIFIC, "x-private"):
            self.assertNotIn(name, headers)
        self.assertIn(headers.get("host"), (None, ["shop.example.test:8080"]),
                      "Host may stay only if it equals :authority")
        self.assertEqual(headers["te"], ["trailers"])
        self.assertEqual(headers["x-custom"], ["Kept"])
        self.assertEqual(headers["x-forwarded-for"], ["127.0.0.1"])
        self.assertEqual(headers["x-forwarded-proto"], ["http"])
        self.assertIn("x-request-id", headers)
        for name, _ in header_list:
            self.assertEqual(name, name.lower(), "HTTP/2 field names are lower case")

    def test_te_other_than_trailers_is_dropped(self):
        echo = self.echo(self.raw(b"GET / HTTP/1.1\r\nHost: a\r\nTE: gzip\r\n\r\n"))
        self.assertNotIn("te", echo["headers"])
        echo = self.echo(self.raw(b"GET / HTTP/1.1\r\nHost: a\r\nTE: trailers, deflate\r\n"
                                  b"\r\n"))
        self.assertIn(echo["headers"].get("te"), (None, ["trailers"]))

    def test_chunked_request_body_and_trailers(self):
        parts = [os.urandom(1000), os.urandom(70000), os.urandom(5)]
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts)
        response = self.raw(b"POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                            b"\r\n" + chunks + b"0\r\nx-checksum: 42\r\n\r\n")
        echo = self.echo(response)
        body = b"".join(parts)
        self.assertEqual(echo["body_bytes"], len(body))
        self.assertEqual(echo["body_sha256"], hashlib.sha256(body).hexdigest())
        self.assertEqual(echo["trailers"], {"x-checksum": ["42"]})
        self.assertNotIn("transfer-encoding", echo["headers"])

    def test_large_bodies_both_ways(self):
        body = os.urandom(8 * MiB)
        echo = self.echo(http_request(self.port, "POST", "/big", body=body, timeout=20))
        self.assertEqual(echo["body_bytes"], len(body))
        self.assertEqual(echo["body_sha256"], hashlib.sha256(body).hexdigest())
        response = http_get(self.port, "/big?body=20000000", timeout=20)
        self.assertEqual((response.status, len(response.body)), (200, 20_000_000))

    def test_response_status_headers_and_trailers(self):
        response = self.raw(b"GET /?status=503&header=x-h:1 HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertEqual(response.status, 503)
        self.assertEqual(response.header("x-h"), "1")
        self.assertIsNone(response.header(":status"))
        response = self.raw(b"GET /?trailer=x-digest:abc&body=1000 HTTP/1.1\r\nHost: a\r\n"
                            b"TE: trailers\r\n\r\n")
        self.assertEqual(response.status, 200)
        self.assertEqual(response.header("transfer-encoding"), "chunked")
        self.assertEqual(response.body, b"x" * 1000)
        self.assertIn(("x-digest", "abc"), response.trailers)

    def test_many_requests_share_one_upstream_connection(self):
        results = []

        def one(i):
            results.append(http_get(self.port, f"/mux{i}?delay=500", timeout=10).status)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, [200] * 40)
        stats = self.upstream.stats()
        self.assertEqual(stats["connections_total"], 1,
                         "40 concurrent requests should be multiplexed on one connection")
        self.assertGreaterEqual(stats["max_streams_on_a_connection"], 30, stats)
        self.assertEqual(self.proxy.metric("trellis_http2_connections_active",
                                           direction="upstream"), 1)

    def test_upstream_goaway_moves_new_requests_to_a_new_connection(self):
        self.assertEqual(http_get(self.port, "/?goaway=1").status, 200)
        self.upstream.wait_stats(lambda s: s["connections_active"] == 0)
        self.assertEqual(http_get(self.port, "/after").status, 200)
        self.assertEqual(self.upstream.stats()["connections_total"], 2)
        received = self.proxy.wait_metric("trellis_http2_goaway_total", lambda v: v >= 1,
                                          direction="upstream", side="received", code="NO_ERROR")
        self.assertEqual(received, 1)

    def test_client_disconnect_resets_the_upstream_stream(self):
        conn = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        conn.sendall(b"GET /cancel-me?delay=20000 HTTP/1.1\r\nHost: a\r\n\r\n")
        self.upstream.wait_stats(lambda s: "/cancel-me" in s["active_paths"],
                                 what="request in flight upstream")
        conn.close()
        stats = self.upstream.wait_stats(
            lambda s: any(r["path"] == "/cancel-me" for r in s["resets_received"]),
            what="RST_STREAM for the abandoned request")
        self.assertIn({"path": "/cancel-me", "code": CANCEL}, stats["resets_received"])
        self.assertEqual(stats["connections_active"], 1, "only the stream is reset")

    def test_upstream_reset_mid_body_aborts_the_http1_response(self):
        with RawConnection(self.port, timeout=10) as conn:
            conn.send(b"GET /?body=1000000&reset_after=100000 HTTP/1.1\r\nHost: a\r\n\r\n")
            try:
                data = conn.read_until_close()
            except ConnectionResetError:
                data = conn.buf
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:200])
        with self.assertRaises(IncompleteResponse, msg="a reset body must not look complete"):
            parse_response(data)

    def test_upstream_reset_before_response_is_502(self):
        response = http_get(self.port, "/?reset=1")
        self.assertEqual(response.status, 502)
        self.assertEqual(response.header("x-trellis-reason"), "upstream_reset")

    def test_slow_http1_reader_stalls_the_upstream_by_window(self):
        pid = self.proxy.proc.pid
        before = rss_kib(pid)
        with RawConnection(self.port, timeout=10) as conn:
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
            conn.send(b"GET /slow-reader?body=200000000 HTTP/1.1\r\nHost: a\r\n\r\n")
            head = conn.sock.recv(4096)
            self.assertTrue(head.startswith(b"HTTP/1.1 200"), head[:300])
            time.sleep(0.5)  # we do not read: the pipeline fills up to its bounds
            first = self.upstream.stats()["bytes_sent"].get("/slow-reader", 0)
            self.assertGreater(first, 0)
            time.sleep(0.3)  # ... and then stays there
            second = self.upstream.stats()["bytes_sent"].get("/slow-reader", 0)
            grown = rss_kib(pid) - before
        self.assertLess(second, 16 * MiB, f"upstream sent {second} bytes to a stalled reader")
        self.assertLess(second - first, 512 * 1024, "the upstream was not stalled")
        self.assertLess(grown, 8 * 1024, f"RSS grew {grown} KiB for one slow reader")

    def test_upload_to_a_stalled_upstream_pauses_the_client(self):
        pid = self.proxy.proc.pid
        before = rss_kib(pid)
        conn = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        self.addCleanup(conn.close)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
        conn.sendall(b"POST /stall?stall=1 HTTP/1.1\r\nHost: a\r\n"
                     b"Content-Length: 100000000\r\n\r\n")
        conn.setblocking(False)
        sent, chunk = 0, b"u" * 65536
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:  # push as fast as the proxy lets us for one second
            try:
                sent += conn.send(chunk)
            except BlockingIOError:
                time.sleep(0.01)
        grown = rss_kib(pid) - before
        stats = self.upstream.stats()
        self.assertIn("/stall", stats["active_paths"], "the upload is not in flight upstream")
        received = stats["bytes_received"].get("/stall", 0)
        self.assertGreater(received, 0)
        self.assertLessEqual(received, 65535, "the proxy overran the upstream's window")
        with self.assertRaises(BlockingIOError, msg="the proxy answered instead of waiting"):
            conn.recv(1024)
        self.assertLess(sent, 16 * MiB, f"{sent} bytes accepted: the client was not paused")
        self.assertLess(grown, 8 * 1024, f"RSS grew {grown} KiB while the upstream stalled")


class UpstreamMaxConcurrentStreamsTest(Http2ProxyTestCase):
    def test_pool_opens_another_connection_when_streams_are_exhausted(self):
        upstream = start_h2_server("small", test=self, max_concurrent_streams=4)
        self.port = free_port()
        self.proxy = self.start_proxy(listener("web", self.port) +
                                      service("small", [upstream.port], app_protocol="h2c") +
                                      route("r", "web", simple_rule("small")))
        # One request first, so the upstream's SETTINGS (max 4 streams) are known.
        self.assertEqual(http_get(self.port, "/warm").status, 200)
        results, peak = [], [0]

        def one(i):
            results.append(http_get(self.port, f"/p{i}?delay=800", timeout=10).status)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(10)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 0.6
        while time.monotonic() < deadline:  # sample the gauge while the requests are in flight
            peak[0] = max(peak[0], self.proxy.metric("trellis_http2_connections_active",
                                                     direction="upstream"))
            time.sleep(0.05)
        for t in threads:
            t.join()
        stats = upstream.stats()
        # A stream the upstream refused (REFUSED_STREAM: more than 4 open, e.g. on a new
        # connection before its SETTINGS arrived) was not processed and is safe to retry
        # (RFC 9113 §8.7): it must not surface as a 502.
        self.assertEqual(results, [200] * 10, f"upstream: {stats}")
        self.assertGreaterEqual(stats["connections_total"], 3, "10 streams / 4 per connection")
        self.assertGreaterEqual(peak[0], 3, "trellis_http2_connections_active{upstream}")


# ---------------------------------------------------------------------------------------------
# HTTP/2 on both sides

class H2ToH2Test(Http2ProxyTestCase):
    def setUp(self):
        self.upstream = start_h2_server("h2h2", test=self)
        self.port = free_port()
        self.proxy = self.start_proxy(
            listener("web", self.port) +
            service("h2h2", [self.upstream.port], app_protocol="h2c") +
            route("r", "web", simple_rule("h2h2")))

    def test_pseudo_headers_bodies_and_trailers_pass_through(self):
        client = self.h2()
        body = os.urandom(3 * MiB)
        sid = client.request("POST", "/both?x=1", authority="svc.example.test",
                             headers=[("x-custom", "v"), ("te", "trailers")], body=body,
                             end_stream=False)
        client.send_trailers(sid, [("x-checksum", "42")])
        stream = client.response(sid, timeout=20)
        self.assertEqual(stream.status, 200, stream)
        echo = stream.json()
        self.assertEqual(echo["pseudo"][":authority"], "svc.example.test")
        self.assertEqual(echo["pseudo"][":path"], "/both?x=1")
        self.assertEqual(echo["pseudo"][":method"], "POST")
        self.assertEqual(echo["body_sha256"], hashlib.sha256(body).hexdigest())
        self.assertEqual(echo["trailers"], {"x-checksum": ["42"]})
        self.assertEqual(echo["headers"]["x-custom"], ["v"])
        stream = client.get("/?trailer=x-digest:abc&body=100000")
        self.assertEqual((len(stream.body), stream.trailer("x-digest")), (100_000, "abc"))

    def test_client_reset_reaches_the_upstream(self):
        client = self.h2()
        sid = client.request("GET", "/cancel-me?delay=20000")
        self.upstream.wait_stats(lambda s: "/cancel-me" in s["active_paths"],
                                 what="stream open upstream")
        client.reset(sid, CANCEL)
        stats = self.upstream.wait_stats(
            lambda s: any(r["path"] == "/cancel-me" for r in s["resets_received"]),
            what="RST_STREAM upstream")
        self.assertIn({"path": "/cancel-me", "code": CANCEL}, stats["resets_received"])
        self.assertEqual(client.get("/next").status, 200)
        self.assertGreaterEqual(self.proxy.wait_metric(
            "trellis_http2_resets_total", lambda v: v >= 1, direction="upstream", side="sent",
            code="CANCEL"), 1)

    def test_upstream_reset_after_headers_resets_the_client_stream(self):
        client = self.h2()
        stream = client.get("/?body=1000000&reset_after=100000")
        self.assertEqual(stream.status, 200, stream)
        self.assertIsNotNone(stream.reset_code, f"expected RST_STREAM: {stream}")
        self.assertFalse(stream.ended)
        self.assertLess(len(stream.body), 1_000_000)
        self.assertEqual(client.get("/next").status, 200)
        self.assertGreaterEqual(self.proxy.wait_metric(
            "trellis_http2_resets_total", lambda v: v >= 1, direction="downstream",
            side="sent"), 1)

    def test_slow_h2_reader_stalls_the_upstream(self):
        client = self.h2(auto_ack=False)
        sid = client.request("GET", "/noread?body=100000000")
        client.wait_for(lambda: len(client.streams[sid].data) >= 65535)
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            client.pump(timeout=0.05)
        first = self.upstream.stats()["bytes_sent"].get("/noread", 0)
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            client.pump(timeout=0.05)
        second = self.upstream.stats()["bytes_sent"].get("/noread", 0)
        # Client window 64 KiB + the proxy's per-stream queue + its receive window upstream.
        self.assertLess(second, 1 * MiB, f"upstream sent {second} bytes to a stalled client")
        self.assertEqual(first, second, "the upstream was not stalled")

    def test_upload_to_a_stalled_upstream_closes_the_client_window(self):
        client = self.h2()
        sid = client.request("POST", "/stall?stall=1", end_stream=False)
        sent = client.send_body(sid, b"u" * (20 * MiB), end_stream=False, max_seconds=1.0)
        self.assertFalse(client.streams[sid].done, f"stream ended: {client.streams[sid]}")
        self.assertLess(sent, 1 * MiB, "the proxy kept opening the window to a stalled upstream")
        stats = self.upstream.stats()
        self.assertIn("/stall", stats["active_paths"], "the upload is not in flight upstream")
        received = stats["bytes_received"].get("/stall", 0)
        self.assertGreater(received, 0)
        self.assertLessEqual(received, 65535, "the proxy overran the upstream's window")

    def test_streams_from_one_client_share_one_upstream_connection(self):
        client = self.h2()
        ids = [client.request("GET", f"/m{i}?delay=400") for i in range(50)]
        for sid in ids:
            self.assertEqual(client.response(sid, timeout=10).status, 200)
        stats = self.upstream.stats()
        self.assertEqual(stats["connections_total"], 1)
        self.assertGreaterEqual(stats["max_streams_on_a_connection"], 40, stats)


# ---------------------------------------------------------------------------------------------
# GOAWAY on drain and on reload

class GoawayTest(Http2ProxyTestCase):
    def test_sigterm_sends_goaway_and_finishes_the_in_flight_stream(self):
        proxy, port, _ = self.simple_mesh()
        client = self.h2(port)
        sid = client.request("GET", "/?delay=700ms")
        deadline = time.monotonic() + 3
        while proxy.metric("trellis_upstream_requests_active") < 1:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.02)
        proxy.signal(signal.SIGTERM)
        client.wait_for(lambda: client.goaways, timeout=2, what="GOAWAY after SIGTERM")
        self.assertEqual(client.goaways[0][0], 0, "graceful GOAWAY carries NO_ERROR")
        stream = client.response(sid, timeout=5)
        self.assertEqual(stream.status, 200, stream)
        self.assertTrue(stream.ended)
        self.assertGreaterEqual(client.goaways[-1][1], sid, "the in-flight stream was processed")
        client.wait_closed(timeout=5)
        self.assertEqual(proxy.wait_exit(10), 0)

    def test_reload_keeping_the_listener_keeps_the_connection(self):
        a, b = self.start_echo("a"), self.start_echo("b")
        port = free_port()
        base = listener("web", port) + service("a", [a.port]) + service("b", [b.port])
        proxy = self.start_proxy(base + route("r", "web", simple_rule("a")))
        client = self.h2(port)
        self.assertEqual(client.get("/").json()["service"], "a")
        status, body = proxy.reload(base + route("r", "web", simple_rule("b")))
        self.assertEqual(status, 200, body)
        self.assertEqual(client.get("/").json()["service"], "b",
                         "new streams on the same connection use the new configuration")
        self.assertEqual(client.goaways, [])

    def test_reload_removing_the_listener_sends_goaway(self):
        echo = self.start_echo("a")
        port, other = free_port(), free_port()
        kept = listener("other", other) + service("a", [echo.port])
        proxy = self.start_proxy(listener("web", port) + kept +
                                 route("r", "web", simple_rule("a")) +
                                 route("o", "other", simple_rule("a")))
        client = self.h2(port)
        sid = client.request("GET", "/?delay=700ms")
        deadline = time.monotonic() + 3
        while proxy.metric("trellis_upstream_requests_active") < 1:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.02)
        status, body = proxy.reload(kept + route("o", "other", simple_rule("a")))
        self.assertEqual(status, 200, body)
        client.wait_for(lambda: client.goaways, timeout=3,
                        what="GOAWAY on a connection whose listener was removed")
        self.assertEqual(client.goaways[0][0], 0)
        self.assertEqual(client.response(sid, timeout=5).status, 200)
        client.wait_closed(timeout=5)


# ---------------------------------------------------------------------------------------------
# Protocol detection

class ProtocolDetectionTest(Http2ProxyTestCase):
    def auto_mesh(self, tcp_port, detect_timeout="300ms"):
        echo = self.start_echo("http")
        self.port = free_port()
        self.proxy = self.start_proxy(
            listener("auto", self.port, protocol="AUTO", detect_timeout=detect_timeout,
                     tcp_backend=("raw", 80)) +
            service("http", [echo.port]) + service("raw", [tcp_port]) +
            route("r", "auto", simple_rule("http")))

    def test_http1_h2c_and_opaque_bytes_on_one_port(self):
        self.auto_mesh(TcpEchoServer(self).port)
        response = http_get(self.port, "/h1")
        self.assertEqual(response.status, 200)
        self.assertEqual(response.json()["path"], "/h1")
        version, status, body, err = curl_h2(f"http://127.0.0.1:{self.port}/h2")
        self.assertEqual((version, status), ("2", 200), err)
        self.assertEqual(json.loads(body)["path"], "/h2")
        payload = b"SSH-2.0-OpenSSH_9.2\r\n\x00\x01\xfe binary"
        with socket.create_connection(("127.0.0.1", self.port), timeout=3) as sock:
            start = time.monotonic()
            sock.sendall(payload)
            got = b""
            try:
                while len(got.replace(b"tcp-echo:", b"")) < len(payload):
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    got += chunk
            except socket.timeout:
                self.fail(f"opaque first bytes got no answer from the TCP backend: {got!r}")
            elapsed = time.monotonic() - start
        self.assertTrue(got.startswith(b"tcp-echo:"), got[:100])
        self.assertEqual(got.replace(b"tcp-echo:", b""), payload)
        self.assertLess(elapsed, 0.25, "non-HTTP first bytes must not wait for detectTimeout")

    def test_silent_client_goes_to_tcp_after_detect_timeout(self):
        banner = BannerServer(self)
        self.auto_mesh(banner.port, detect_timeout="300ms")
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            start = time.monotonic()
            data = sock.recv(100)
            elapsed = time.monotonic() - start
        self.assertEqual(data, banner.banner)
        self.assertGreaterEqual(elapsed, 0.25, "decided before detectTimeout")
        self.assertLess(elapsed, 1.5, "waited far longer than detectTimeout")

    def test_tcp_listener_server_speaks_first_without_waiting(self):
        banner = BannerServer(self)
        port = free_port()
        self.start_proxy(listener("raw", port, protocol="TCP", tcp_backend=("banner", 80)) +
                         service("banner", [banner.port]))
        timings = []
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                start = time.monotonic()
                self.assertEqual(sock.recv(100), banner.banner)
                timings.append(time.monotonic() - start)
        # Any detection wait (100 ms by default) would show in every attempt.
        self.assertLess(min(timings), 0.08, f"banner delayed: {timings}")

    def test_http2_listener_answers_http1_with_goaway(self):
        echo = self.start_echo("h2only")
        port = free_port()
        proxy = self.start_proxy(listener("h2only", port, protocol="HTTP2") +
                                 service("h2only", [echo.port]) +
                                 route("r", "h2only", simple_rule("h2only")))
        with RawConnection(port) as conn:
            conn.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            try:
                data = conn.read_until_close()
            except ConnectionResetError:
                data = conn.buf
        self.assertIn(PROTOCOL_ERROR, goaway_codes(data),
                      f"expected GOAWAY(PROTOCOL_ERROR), got {data[:200]!r}")
        self.assertGreaterEqual(proxy.wait_metric("trellis_http2_bad_preface_total",
                                                  lambda v: v >= 1, direction="downstream"), 1)
        version, status, body, err = curl_h2(f"http://127.0.0.1:{port}/ok")
        self.assertEqual((version, status), ("2", 200), err)


# ---------------------------------------------------------------------------------------------
# Metrics

class Http2MetricsTest(Http2ProxyTestCase):
    FAMILIES = {
        "trellis_http2_connections_active": "gauge",
        "trellis_http2_streams_total": "counter",
        "trellis_http2_streams_active": "gauge",
        "trellis_http2_resets_total": "counter",
        "trellis_http2_goaway_total": "counter",
        "trellis_http2_invalid_headers_total": "counter",
        "trellis_http2_connection_headers_total": "counter",
        "trellis_http2_header_list_too_large_total": "counter",
        "trellis_http2_hpack_bombs_total": "counter",
        "trellis_http2_rapid_resets_total": "counter",
        "trellis_http2_continuation_floods_total": "counter",
        "trellis_http2_control_floods_total": "counter",
        "trellis_http2_protocol_errors_total": "counter",
        "trellis_http2_bad_preface_total": "counter",
        "trellis_http2_window_stalls_total": "counter",
    }

    def test_http2_families_and_values(self):
        upstream = start_h2_server("metrics", test=self)
        self.port = free_port()
        proxy = self.start_proxy(listener("web", self.port) +
                                 service("m", [upstream.port], app_protocol="h2c") +
                                 route("r", "web", simple_rule("m")))
        client = self.h2()
        for i in range(5):
            self.assertEqual(client.get(f"/m{i}").status, 200)
        sid = client.request("GET", "/cancel?delay=20000")
        upstream.wait_stats(lambda s: "/cancel" in s["active_paths"])
        client.reset(sid, CANCEL)
        self.assertEqual(client.get("/after").status, 200)
        self.assertEqual(proxy.metric("trellis_http2_connections_active",
                                      direction="downstream"), 1)
        self.assertEqual(proxy.metric("trellis_http2_connections_active",
                                      direction="upstream"), 1)
        client.close_gracefully()
        # The client's GOAWAY reaches the proxy asynchronously; families with only zero
        # samples by code are not exposed until then.
        proxy.wait_metric("trellis_http2_goaway_total", lambda v: v >= 1,
                          direction="downstream", side="received", code="NO_ERROR")
        status, text = proxy.admin("/stats/prometheus")
        self.assertEqual(status, 200)
        for family, kind in self.FAMILIES.items():
            self.assertIn(f"# TYPE {family} {kind}\n", text)
        self.assertGreaterEqual(proxy.metric("trellis_http2_streams_total",
                                             direction="downstream"), 7)
        self.assertGreaterEqual(proxy.metric("trellis_http2_streams_total",
                                             direction="upstream"), 7)
        self.assertEqual(proxy.wait_metric("trellis_http2_streams_active", lambda v: v == 0,
                                           direction="downstream"), 0)
        self.assertEqual(proxy.wait_metric("trellis_http2_resets_total", lambda v: v >= 1,
                                           direction="downstream", side="received",
                                           code="CANCEL"), 1)
        self.assertEqual(proxy.wait_metric("trellis_http2_goaway_total", lambda v: v >= 1,
                                           direction="downstream", side="received",
                                           code="NO_ERROR"), 1)
        self.assertEqual(proxy.wait_metric("trellis_http2_connections_active", lambda v: v == 0,
                                           direction="downstream"), 0)


if __name__ == "__main__":
    unittest.main()
