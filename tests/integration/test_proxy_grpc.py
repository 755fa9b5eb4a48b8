"""gRPC through trellis-proxy with real peers: python3-grpcio clients and servers (grpc_peers.py,
each server its own process), HTTP/2 on both sides of the proxy.

Written against the contract in docs/design/http2-plan.md ("Contract fixed at the start of
session 2"): upstream Service ports with `appProtocol: grpc`, GRPCRoute matching and weights,
proxy-generated errors as Trailers-Only gRPC replies (UNAVAILABLE, UNIMPLEMENTED,
DEADLINE_EXCEEDED with `x-trellis-reason`), `grpc-timeout` as the exchange deadline, and
`trellis_grpc_requests_total{grpc_code}`.

GrpcPeersDirectTest checks the peers themselves without the proxy, so a failure elsewhere in this
file points at the proxy, not at the test's own servers and clients.
"""

import collections
import concurrent.futures
import json
import time
import unittest

import grpc

from grpc_peers import (ECHO, GrpcClient, call_error, grpc_messages, grpc_request_headers,
                        grpc_frame, start_grpc_server)
from h2_peers import H2Client, start_h2_server
from harness import free_port
from proxy_harness import ProxyTestCase, grpc_route, grpc_rule, listener, service

MiB = 1024 * 1024


def trailing(call):
    """Trailing metadata of a grpc.Call (or RpcError) as a dict."""
    return {k: v for k, v in (call.trailing_metadata() or ())}


def pattern(size, seed=0):
    """Deterministic, non-repeating-per-KiB bytes, so a reordered or dropped chunk shows."""
    block = bytes((i * 31 + seed) % 251 for i in range(1021))
    return (block * (size // len(block) + 1))[:size]


class GrpcPeersDirectTest(unittest.TestCase):
    """grpc_peers client <-> server with no proxy in between."""

    @classmethod
    def setUpClass(cls):
        cls.server = start_grpc_server("direct")
        cls.client = GrpcClient(cls.server.target)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.server.stop()

    def test_every_call_kind(self):
        reply, call = self.client.unary_call(b"ping", metadata=[("echo-trailer-x-t", "v")])
        self.assertEqual(reply, b"ping")
        self.assertEqual(trailing(call), {"x-instance": "direct", "x-t": "v"})
        messages = self.client.server_stream(3, 10)
        self.assertEqual(messages, [bytes([i]) * 10 for i in range(3)])
        self.assertEqual(self.client.client_stream([b"a", b"bc"]), b"abc")
        self.assertEqual(self.client.bidi([b"1", b"2", b"3"]), [b"1", b"2", b"3"])

    def test_deadline_abort_and_inspect(self):
        error = call_error(self.client.sleep, 2000, timeout=0.2)
        self.assertEqual(error.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
        error = call_error(self.client.abort, "NOT_FOUND", "nope", {"x-detail": "d"})
        self.assertEqual((error.code(), error.details()), (grpc.StatusCode.NOT_FOUND, "nope"))
        self.assertEqual(trailing(error)["x-detail"], "d")
        info = self.client.inspect(metadata=[("x-tenant", "t")])
        self.assertEqual(info["method"], f"/{ECHO}/Inspect")
        self.assertIn(["x-tenant", "t"], info["metadata"])
        deadline = time.monotonic() + 3
        while self.client.stats()["cancelled"].get("Sleep", 0) < 1:
            self.assertLess(time.monotonic(), deadline, "server never saw the cancellation")
            time.sleep(0.02)

    def test_grpcio_against_the_h2_peer_in_grpc_mode(self):
        # The h2_peers server stands in for gRPC upstreams in the deadline tests; grpcio must
        # take its replies, including a Trailers-Only one (reported as trailing metadata).
        upstream = start_h2_server("grpc-mode", test=self)
        with GrpcClient(f"127.0.0.1:{upstream.port}") as client:
            reply = client.unary(b"", method="Inspect", metadata=[("x-echo-grpc", "1")],
                                 timeout=3)
            self.assertIn("grpc-timeout", dict(json.loads(reply)["header_list"]))
            error = call_error(client.unary, b"", timeout=3, metadata=[
                ("x-echo-grpc", "1"), ("x-echo-trailers_only", "1"),
                ("x-echo-grpc_status", "14"), ("x-echo-grpc_message", "no upstream"),
                ("x-echo-header", "x-trellis-reason:no_healthy_endpoint")])
        self.assertEqual(error.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(error.details(), "no upstream")
        self.assertEqual(trailing(error).get("x-trellis-reason"), "no_healthy_endpoint")

    def test_raw_h2_grpc_call(self):
        with H2Client(self.server.port) as h2c:
            stream_id = h2c.send_headers(grpc_request_headers(ECHO, "Unary", h2c.authority),
                                         end_stream=False)
            h2c.send_body(stream_id, grpc_frame(b"raw"))
            stream = h2c.response(stream_id)
        self.assertEqual(stream.status, 200)
        self.assertEqual(grpc_messages(stream.body), [b"raw"])
        self.assertEqual(stream.trailer("grpc-status"), "0")


class GrpcProxyTestCase(ProxyTestCase):
    def start_proxy(self, config_text, **kw):
        # Cancelled and sleeping calls are what these tests make; a short drain deadline keeps
        # the proxy's exit at cleanup quick even when one is left behind by a failing test.
        kw.setdefault("extra_args", ["--drain-timeout-ms", "1500"])
        return super().start_proxy(config_text, **kw)

    def start_mesh(self, backends, rules, *, extra_services="", listener_http2=None,
                   hostnames=None):
        """backends: {service name: upstream port} (appProtocol grpc); rules: GRPCRoute rules.
        Returns the proxy; self.port is its gRPC listener."""
        self.port = free_port()
        config = listener("grpc", self.port, http2=listener_http2)
        for name, port in backends.items():
            config += service(name, [port] if port else [], app_protocol="grpc")
        config += extra_services + grpc_route("calls", "grpc", rules, hostnames=hostnames)
        self.proxy = self.start_proxy(config)
        return self.proxy

    def client(self):
        client = GrpcClient(f"127.0.0.1:{self.port}")
        self.addCleanup(client.close)
        return client

    def assertLocalStatus(self, error, code, reason):
        """A status the proxy generated itself: the code, and x-trellis-reason saying why."""
        meta = trailing(error)
        self.assertEqual(error.code(), code, f"details={error.details()!r} trailing={meta}")
        self.assertEqual(meta.get("x-trellis-reason"), reason,
                         f"details={error.details()!r} trailing={meta}")


class GrpcCallsTest(GrpcProxyTestCase):
    def setUp(self):
        self.server = start_grpc_server("a", test=self)
        self.start_mesh({"a": self.server.port}, grpc_rule(["a"]))
        self.stub = self.client()

    def test_unary_with_metadata_both_ways(self):
        reply, call = self.stub.unary_call(
            b"hello through the proxy",
            metadata=[("x-custom", "abc"), ("echo-header-x-initial", "i"),
                      ("echo-trailer-x-checksum", "42")])
        self.assertEqual(reply, b"hello through the proxy")
        initial = {k: v for k, v in call.initial_metadata()}
        self.assertEqual(initial.get("x-initial"), "i")
        self.assertEqual(trailing(call), {"x-instance": "a", "x-checksum": "42"})
        self.assertEqual(call.code(), grpc.StatusCode.OK)
        info = self.stub.inspect(metadata=[("x-custom", "abc")])
        self.assertIn(["x-custom", "abc"], info["metadata"])
        names = [k for k, _ in info["metadata"]]
        for name in ("connection", "keep-alive", "transfer-encoding", "upgrade"):
            self.assertNotIn(name, names)

    def test_binary_trailing_metadata_is_carried(self):
        blob = bytes(range(256))
        _, call = self.stub.unary_call(b"x", metadata=[("echo-trailer-x-blob-bin", blob)])
        self.assertEqual(trailing(call).get("x-blob-bin"), blob)

    def test_server_streaming(self):
        messages = self.stub.server_stream(50, 1000)
        self.assertEqual(len(messages), 50)
        self.assertEqual(messages, [bytes([i]) * 1000 for i in range(50)])

    def test_client_streaming(self):
        parts = [pattern(64 * 1024, seed=i) for i in range(40)]
        self.assertEqual(self.stub.client_stream(parts), b"".join(parts))

    def test_bidi_streaming_interleaves(self):
        messages = [f"message {i}".encode() * (i + 1) for i in range(100)]
        self.assertEqual(self.stub.bidi(messages), messages)

    def test_large_messages_both_ways(self):
        big = pattern(4 * MiB + 123)
        self.assertEqual(self.stub.unary(big, timeout=20), big)
        streamed = self.stub.server_stream(4, 2 * MiB, timeout=20)
        self.assertEqual([len(m) for m in streamed], [2 * MiB] * 4)
        self.assertEqual([m[0] for m in streamed], [0, 1, 2, 3])
        parts = [pattern(1 * MiB, seed=i) for i in range(6)]
        self.assertEqual(self.stub.client_stream(parts, timeout=20), b"".join(parts))

    def test_many_concurrent_streams_on_one_channel(self):
        start = time.monotonic()
        calls = [self.stub.sleep_future(300, timeout=10) for _ in range(150)]
        codes = collections.Counter()
        for call in calls:
            try:
                self.assertEqual(call.result(), b"slept")
                codes["OK"] += 1
            except grpc.RpcError as error:
                codes[error.code().name] += 1
        elapsed = time.monotonic() - start
        self.assertEqual(codes, {"OK": 150})
        # 150 calls of 300 ms each: serialised they would take 45 s. The proxy admits 100
        # streams per connection (the default), so two waves.
        self.assertLess(elapsed, 4.0, "calls were not multiplexed")
        stats = self.server.stats()
        self.assertGreaterEqual(stats["max_active"], 80,
                                "the proxy did not forward the streams concurrently")
        self.assertLessEqual(len(stats["peers"]), 2,
                             f"one client connection should need one or two upstream "
                             f"connections, the server saw {stats['peers']}")

    def test_client_deadline_shorter_than_server_sleep(self):
        start = time.monotonic()
        error = call_error(self.stub.sleep, 3000, timeout=0.3)
        self.assertEqual(error.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
        self.assertLess(time.monotonic() - start, 2.0)
        # The upstream call is cancelled too (RST_STREAM from the proxy), not left to run.
        deadline = time.monotonic() + 2.5
        while self.server.stats()["cancelled"].get("Sleep", 0) < 1:
            self.assertLess(time.monotonic(), deadline,
                            "upstream handler never saw the cancellation")
            time.sleep(0.02)

    def test_client_cancel_reaches_upstream(self):
        future = self.stub.sleep_future(5000)
        deadline = time.monotonic() + 3
        while self.server.stats()["active"] < 1:
            self.assertLess(time.monotonic(), deadline, "call never reached the upstream")
            time.sleep(0.02)
        self.assertTrue(future.cancel())
        deadline = time.monotonic() + 2.5
        while self.server.stats()["cancelled"].get("Sleep", 0) < 1:
            self.assertLess(time.monotonic(), deadline, "cancel did not reach the upstream")
            time.sleep(0.02)
        self.assertEqual(self.stub.unary(b"after"), b"after")  # connection still fine

    def test_upstream_status_message_and_trailers_pass_through(self):
        message = "café ☕ 100% not found\twith tab"
        error = call_error(self.stub.abort, "NOT_FOUND", message, {"x-detail": "abc"})
        self.assertEqual(error.code(), grpc.StatusCode.NOT_FOUND)
        self.assertEqual(error.details(), message)
        meta = trailing(error)
        self.assertEqual(meta.get("x-detail"), "abc")
        self.assertNotIn("x-trellis-reason", meta, "an upstream status is not a local reply")
        for code in ("PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "INTERNAL"):
            error = call_error(self.stub.abort, code, f"upstream says {code}")
            self.assertEqual((error.code().name, error.details()), (code, f"upstream says {code}"))

    def test_grpc_requests_metric_by_code(self):
        for _ in range(5):
            self.stub.unary(b"ok")
        call_error(self.stub.abort, "NOT_FOUND", "x")
        call_error(self.stub.abort, "NOT_FOUND", "y")
        ok = self.proxy.wait_metric("trellis_grpc_requests_total", lambda v: v >= 5,
                                    grpc_code="OK")
        self.assertEqual(ok, 5)
        not_found = self.proxy.wait_metric("trellis_grpc_requests_total", lambda v: v >= 2,
                                           grpc_code="NOT_FOUND", route="default/calls",
                                           cluster="default/a:80")
        self.assertEqual(not_found, 2)
        status, text = self.proxy.admin("/stats/prometheus")
        self.assertIn("# TYPE trellis_grpc_requests_total counter", text)


class GrpcDeadlineByProxyTest(GrpcProxyTestCase):
    """grpc-timeout is the exchange deadline: enforced by the proxy itself. The upstream is the
    h2_peers server (gRPC framing on request), which ignores grpc-timeout, and the raw client
    sets no deadline of its own, so a DEADLINE_EXCEEDED can only come from the proxy."""

    def setUp(self):
        self.upstream = start_h2_server("slow-grpc", test=self)
        self.start_mesh({"slow": self.upstream.port}, grpc_rule(["slow"]))

    def call(self, timeout_header, delay_ms):
        with H2Client(self.port, timeout=5) as client:
            headers = grpc_request_headers(
                ECHO, "Sleep", client.authority, timeout=timeout_header,
                extra=[("x-echo-delay", str(delay_ms)), ("x-echo-grpc", "1")])
            start = time.monotonic()
            stream_id = client.send_headers(headers, end_stream=False)
            client.send_body(stream_id, grpc_frame(b"{}"))
            stream = client.response(stream_id, timeout=5)
            return stream, time.monotonic() - start

    def test_proxy_answers_deadline_exceeded_when_grpc_timeout_expires(self):
        stream, elapsed = self.call("300m", 3000)
        self.assertEqual(stream.status, 200, stream)
        # Trailers-Only: one HEADERS frame carrying the status, no DATA.
        self.assertTrue(stream.ended, stream)
        self.assertEqual(stream.header("grpc-status"), "4", stream.headers)
        self.assertEqual(stream.header("x-trellis-reason"), "deadline_exceeded", stream.headers)
        self.assertTrue(stream.header("content-type", "").startswith("application/grpc"))
        self.assertEqual(stream.body, b"")
        self.assertGreaterEqual(elapsed, 0.25, "answered before the deadline")
        self.assertLess(elapsed, 2.0, "deadline not enforced")
        # The upstream stream is reset, not left running.
        self.upstream.wait_stats(
            lambda s: any(r["path"] == f"/{ECHO}/Sleep" for r in s["resets_received"]),
            what="RST_STREAM for the expired call")
        code = self.proxy.wait_metric("trellis_grpc_requests_total", lambda v: v >= 1,
                                      grpc_code="DEADLINE_EXCEEDED")
        self.assertEqual(code, 1)

    def test_grpc_timeout_longer_than_the_call_lets_it_finish(self):
        stream, elapsed = self.call("5S", 200)
        self.assertEqual(stream.status, 200, stream)
        self.assertEqual(stream.trailer("grpc-status"), "0", stream)
        self.assertIsNone(stream.header("x-trellis-reason"))
        self.assertEqual(len(grpc_messages(stream.body)), 1)

    def test_grpc_timeout_travels_on_to_the_upstream(self):
        """The upstream receives a grpc-timeout no longer than the client's (a proxy may
        shorten it by the time already spent, never drop or extend it)."""
        stream, _ = self.call("3S", 0)
        self.assertEqual(stream.trailer("grpc-status"), "0", stream)
        described = json.loads(grpc_messages(stream.body)[0])
        headers_seen = dict(described["header_list"])
        self.assertIn("grpc-timeout", headers_seen, described["header_list"])
        value = headers_seen["grpc-timeout"]
        units = {"H": 3600, "M": 60, "S": 1, "m": 1e-3, "u": 1e-6, "n": 1e-9}
        seconds = int(value[:-1]) * units[value[-1]]
        self.assertLessEqual(seconds, 3.0, value)
        self.assertGreater(seconds, 1.5, value)


class GrpcRoutingTest(GrpcProxyTestCase):
    def setUp(self):
        self.a = start_grpc_server("a", test=self)
        self.b = start_grpc_server("b", test=self)
        self.canary = start_grpc_server("canary", test=self)
        rules = (grpc_rule(["canary"], service="trellis.test.Echo", method="Inspect",
                           headers={"x-tenant": "canary"}) +
                 grpc_rule(["a"], service="trellis.test.Echo") +
                 grpc_rule(["b"], service="trellis.test.Admin") +
                 grpc_rule(["b"], method="Unary"))
        self.start_mesh({"a": self.a.port, "b": self.b.port, "canary": self.canary.port},
                        rules)
        self.stub = self.client()

    def served_by(self, service, metadata=None):
        return self.stub.inspect(service=service, metadata=metadata)["name"]

    def test_service_method_and_header_matches(self):
        self.assertEqual(self.served_by("trellis.test.Echo"), "a")
        self.assertEqual(self.served_by("trellis.test.Echo", [("x-tenant", "canary")]), "canary")
        self.assertEqual(self.served_by("trellis.test.Echo", [("x-tenant", "other")]), "a")
        self.assertEqual(self.served_by("trellis.test.Admin", [("x-tenant", "canary")]), "b")

    def test_service_match_outranks_method_only_match(self):
        _, call = self.stub.unary_call(b"x", service="trellis.test.Echo")
        self.assertEqual(trailing(call)["x-instance"], "a")
        _, call = self.stub.unary_call(b"x", service="trellis.test.Other")
        self.assertEqual(trailing(call)["x-instance"], "b")

    def test_unmatched_method_is_unimplemented(self):
        error = call_error(self.stub.inspect, service="trellis.test.Other")
        self.assertLocalStatus(error, grpc.StatusCode.UNIMPLEMENTED, "route_not_found")
        for server in (self.a, self.b, self.canary):
            self.assertNotIn("Inspect", server.stats()["calls"])
        count = self.proxy.wait_metric("trellis_grpc_requests_total", lambda v: v >= 1,
                                       grpc_code="UNIMPLEMENTED")
        self.assertEqual(count, 1)


class GrpcAuthorityTest(GrpcProxyTestCase):
    def test_route_hostnames_match_the_authority(self):
        server = start_grpc_server("hosted", test=self)
        self.start_mesh({"hosted": server.port}, grpc_rule(["hosted"]),
                        hostnames=["grpc.example.test"])

        def call(authority):
            client = GrpcClient(f"127.0.0.1:{self.port}",
                                options=[("grpc.default_authority", authority)])
            self.addCleanup(client.close)
            return client.inspect()

        self.assertEqual(call("grpc.example.test")["name"], "hosted")
        self.assertEqual(call("grpc.example.test:50051")["name"], "hosted",
                         "the port of :authority is ignored for matching")
        error = call_error(call, "other.example.test")
        self.assertLocalStatus(error, grpc.StatusCode.UNIMPLEMENTED, "route_not_found")


class GrpcWeightedBackendTest(GrpcProxyTestCase):
    def test_weights_split_calls_on_one_channel(self):
        servers = {name: start_grpc_server(name, test=self) for name in ("a", "b", "c")}
        self.start_mesh({name: s.port for name, s in servers.items()},
                        grpc_rule([("a", 3), ("b", 1), ("c", 0)]))
        stub = self.client()
        counts = collections.Counter()
        # Concurrent calls on one HTTP/2 connection: weights apply per call (stream), not per
        # connection.
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            for name in pool.map(lambda _: stub.inspect()["name"], range(200)):
                counts[name] += 1
        self.assertEqual(sum(counts.values()), 200)
        self.assertEqual(counts["c"], 0, counts)
        self.assertAlmostEqual(counts["a"] / 200, 0.75, delta=0.1, msg=str(counts))
        self.assertGreater(counts["b"], 20, counts)


class GrpcLocalErrorsTest(GrpcProxyTestCase):
    """Errors the proxy generates for gRPC requests are gRPC statuses, never an HTTP page."""

    def test_no_endpoint_is_unavailable_trailers_only(self):
        self.start_mesh({"empty": None}, grpc_rule(["empty"]))
        error = call_error(self.client().unary, b"x", timeout=5)
        self.assertLocalStatus(error, grpc.StatusCode.UNAVAILABLE, "no_healthy_endpoint")
        with H2Client(self.port) as client:
            stream_id = client.send_headers(grpc_request_headers(ECHO, "Unary", client.authority),
                                            end_stream=False)
            client.send_body(stream_id, grpc_frame(b"x"))
            stream = client.response(stream_id)
        self.assertEqual(stream.status, 200, "gRPC errors travel with :status 200")
        self.assertTrue(stream.ended)
        self.assertEqual(stream.body, b"", "Trailers-Only: no DATA, no HTML/text page")
        self.assertIsNone(stream.trailers, "Trailers-Only: the status is in the one HEADERS")
        self.assertEqual(stream.header("content-type"), "application/grpc")
        self.assertEqual(stream.header("grpc-status"), "14")
        self.assertTrue(stream.header("grpc-message"), stream.headers)
        self.assertEqual(stream.header("x-trellis-reason"), "no_healthy_endpoint")
        count = self.proxy.wait_metric("trellis_grpc_requests_total", lambda v: v >= 2,
                                       grpc_code="UNAVAILABLE")
        self.assertEqual(count, 2)

    def test_refused_upstream_is_unavailable(self):
        self.start_mesh({"gone": free_port()}, grpc_rule(["gone"]))
        error = call_error(self.client().unary, b"x", timeout=5)
        self.assertLocalStatus(error, grpc.StatusCode.UNAVAILABLE, "upstream_connect_failure")

    def test_upstream_reset_before_response_is_unavailable(self):
        upstream = start_h2_server("resetting", test=self)
        self.start_mesh({"resetting": upstream.port}, grpc_rule(["resetting"]))
        error = call_error(self.client().unary, b"x", metadata=[("x-echo-reset", "1")],
                           timeout=5)
        self.assertLocalStatus(error, grpc.StatusCode.UNAVAILABLE, "upstream_reset")

    def test_missing_backend_maps_http_500_to_unknown(self):
        self.start_mesh({}, grpc_rule(["does-not-exist"]))
        error = call_error(self.client().unary, b"x", timeout=5)
        self.assertLocalStatus(error, grpc.StatusCode.UNKNOWN, "no_backend")

    def test_upstream_that_stops_is_unavailable_and_the_proxy_keeps_serving(self):
        server = start_grpc_server("dying", test=self)
        self.start_mesh({"dying": server.port}, grpc_rule(["dying"]))
        stub = self.client()
        self.assertEqual(stub.unary(b"before"), b"before")
        server.stop()
        error = call_error(stub.unary, b"after", timeout=5)
        self.assertEqual(error.code(), grpc.StatusCode.UNAVAILABLE, trailing(error))
        self.assertIn(trailing(error).get("x-trellis-reason"),
                      ("upstream_connect_failure", "upstream_reset"))


if __name__ == "__main__":
    unittest.main()
