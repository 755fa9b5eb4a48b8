"""Gateway API HTTPRoute semantics through a running proxy: matches, precedence, filters,
weighted backends and load balancing, observed at real trellis-echo upstreams."""

import collections
import time
import unittest

from harness import RawConnection, free_port, http_get, http_request
from proxy_harness import ProxyTestCase, listener, route, service, simple_rule


class RoutingTest(ProxyTestCase):
    @classmethod
    def rules(cls):
        return """  - matches:
    - path: {type: Exact, value: /exact}
    backendRefs: [{name: a, port: 80}]
  - matches:
    - path: {type: PathPrefix, value: /api}
    backendRefs: [{name: b, port: 80}]
  - matches:
    - path: {type: PathPrefix, value: /api}
      headers:
      - {name: x-version, value: "2"}
    backendRefs: [{name: c, port: 80}]
  - matches:
    - path: {type: RegularExpression, value: "/items/[0-9]+"}
    backendRefs: [{name: c, port: 80}]
  - matches:
    - path: {type: PathPrefix, value: /search}
      queryParams:
      - {type: RegularExpression, name: q, value: "^tre.*"}
    backendRefs: [{name: a, port: 80}]
  - matches:
    - path: {type: PathPrefix, value: /write}
      method: POST
    backendRefs: [{name: b, port: 80}]
"""

    def setUp(self):
        self.a = self.start_echo("a")
        self.b = self.start_echo("b")
        self.c = self.start_echo("c")
        self.d = self.start_echo("d")
        self.port = free_port()
        config = (listener("web", self.port) + service("a", [self.a.port]) +
                  service("b", [self.b.port]) + service("c", [self.c.port]) +
                  service("d", [self.d.port]) +
                  route("main", "web", self.rules()) +
                  route("hosted", "web", simple_rule("d"), hostnames=["*.example.com"]))
        self.proxy = self.start_proxy(config)

    def service_for(self, path, method="GET", headers=None, host=None):
        headers = dict(headers or {})
        if host:
            headers["Host"] = host
        response = http_request(self.port, method, path, headers=headers)
        if response.status != 200:
            return response.status
        return response.json()["service"]

    def test_path_match_types_and_precedence(self):
        self.assertEqual(self.service_for("/exact"), "a")
        self.assertEqual(self.service_for("/exact/more"), 404)
        self.assertEqual(self.service_for("/api"), "b")
        self.assertEqual(self.service_for("/api/v1/x"), "b")
        self.assertEqual(self.service_for("/apis"), 404)  # prefixes match whole segments
        self.assertEqual(self.service_for("/items/42"), "c")
        self.assertEqual(self.service_for("/items/abc"), 404)

    def test_header_match_wins_over_plain_prefix(self):
        self.assertEqual(self.service_for("/api/x", headers={"X-Version": "2"}), "c")
        self.assertEqual(self.service_for("/api/x", headers={"X-Version": "1"}), "b")

    def test_query_and_method_matches(self):
        self.assertEqual(self.service_for("/search?q=trellis"), "a")
        self.assertEqual(self.service_for("/search?q=other"), 404)
        self.assertEqual(self.service_for("/write", method="POST"), "b")
        self.assertEqual(self.service_for("/write", method="GET"), 404)

    def test_hostname_specific_routes_win(self):
        self.assertEqual(self.service_for("/exact", host="shop.example.com"), "d")
        self.assertEqual(self.service_for("/exact", host="example.com"), "a")

    def test_no_route_is_404_with_reason(self):
        response = http_get(self.port, "/nowhere")
        self.assertEqual(response.status, 404)
        self.assertEqual(response.header("x-trellis-reason"), "route_not_found")
        self.assertEqual(self.proxy.metric("trellis_local_replies_total",
                                           reason="route_not_found"), 1)


class FilterTest(ProxyTestCase):
    def setUp(self):
        self.echo = self.start_echo("svc")
        self.port = free_port()
        rules = """  - matches:
    - path: {type: PathPrefix, value: /headers}
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set: [{name: x-set, value: s}]
        add: [{name: x-added, value: a}]
        remove: [x-remove-me]
    - type: ResponseHeaderModifier
      responseHeaderModifier:
        set: [{name: x-resp, value: r}]
        remove: [x-echo-instance]
    backendRefs: [{name: svc, port: 80}]
  - matches:
    - path: {type: PathPrefix, value: /old}
    filters:
    - type: URLRewrite
      urlRewrite:
        hostname: internal.svc
        path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}
    backendRefs: [{name: svc, port: 80}]
  - matches:
    - path: {type: Exact, value: /fixed}
    filters:
    - type: URLRewrite
      urlRewrite:
        path: {type: ReplaceFullPath, replaceFullPath: /replaced}
    backendRefs: [{name: svc, port: 80}]
  - matches:
    - path: {type: PathPrefix, value: /moved}
    filters:
    - type: RequestRedirect
      requestRedirect:
        hostname: elsewhere.example
        statusCode: 301
"""
        config = (listener("web", self.port) + service("svc", [self.echo.port]) +
                  route("filters", "web", rules))
        self.proxy = self.start_proxy(config)

    def test_request_and_response_header_modifiers(self):
        response = http_get(self.port, "/headers", headers={"x-set": "old", "x-remove-me": "1"})
        headers = response.json()["headers"]
        self.assertEqual(headers["x-set"], ["s"])
        self.assertEqual(headers["x-added"], ["a"])
        self.assertNotIn("x-remove-me", headers)
        self.assertEqual(response.header("x-resp"), "r")
        self.assertIsNone(response.header("x-echo-instance"))

    def test_url_rewrite_prefix_and_hostname(self):
        echo = http_get(self.port, "/old/page?x=1").json()
        self.assertEqual(echo["path"], "/new/page")
        self.assertEqual(echo["query"], "x=1")
        self.assertEqual(echo["headers"]["host"], ["internal.svc"])

    def test_url_rewrite_full_path(self):
        self.assertEqual(http_get(self.port, "/fixed").json()["path"], "/replaced")

    def test_redirect(self):
        response = http_get(self.port, "/moved/x?y=1", headers={"Host": "shop.example"})
        self.assertEqual(response.status, 301)
        self.assertEqual(response.header("location"), "http://elsewhere.example/moved/x?y=1")


class WeightedBackendTest(ProxyTestCase):
    def test_weights_split_traffic_and_zero_is_honoured(self):
        a, b, c = self.start_echo("a"), self.start_echo("b"), self.start_echo("c")
        port = free_port()
        rules = """  - backendRefs:
    - {name: a, port: 80, weight: 3}
    - {name: b, port: 80, weight: 1}
    - {name: c, port: 80, weight: 0}
"""
        config = (listener("web", port) + service("a", [a.port]) + service("b", [b.port]) +
                  service("c", [c.port]) + route("split", "web", rules))
        self.start_proxy(config)
        counts = collections.Counter()
        with RawConnection(port) as conn:
            for _ in range(400):
                conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                counts[conn.read_response().json()["service"]] += 1
        self.assertEqual(counts["c"], 0)
        self.assertAlmostEqual(counts["a"] / 400, 0.75, delta=0.08)

    def test_missing_backend_gives_500(self):
        port = free_port()
        rules = """  - backendRefs:
    - {name: does-not-exist, port: 80}
"""
        self.start_proxy(listener("web", port) + route("broken", "web", rules))
        response = http_get(port, "/")
        self.assertEqual(response.status, 500)
        self.assertEqual(response.header("x-trellis-reason"), "no_backend")


class MirrorTest(ProxyTestCase):
    def test_request_mirror_copies_requests_and_ignores_its_failures(self):
        primary, shadow = self.start_echo("primary"), self.start_echo("shadow")
        port = free_port()
        rules = """  - filters:
    - type: RequestMirror
      requestMirror:
        backendRef: {name: shadow, port: 80}
    backendRefs: [{name: primary, port: 80}]
"""
        proxy = self.start_proxy(listener("web", port) + service("primary", [primary.port]) +
                                 service("shadow", [shadow.port]) + route("m", "web", rules))
        for i in range(5):
            response = http_request(port, "POST", f"/m{i}?status=200", body=b"payload")
            self.assertEqual(response.json()["service"], "primary")
        deadline = time.monotonic() + 5
        while proxy.metric("trellis_upstream_connections_opened_total",
                           cluster="default/shadow:80") < 1:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.02)  # mirrors are fire-and-forget: poll the proxy's own counter
        self.assertEqual(proxy.metric("trellis_http_mirrors_sent_total"), 5)
        # A failing mirror never affects the client.
        shadow.stop()
        self.assertEqual(http_get(port, "/after").status, 200)


class LoadBalancingTest(ProxyTestCase):
    def distribution(self, port, requests, headers=b""):
        counts = collections.Counter()
        with RawConnection(port) as conn:
            for i in range(requests):
                conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
                counts[conn.read_response().json()["instance"]] += 1
        return counts

    def test_round_robin_spreads_evenly(self):
        proxy, port, echoes = self.simple_mesh(echo_count=3)
        counts = self.distribution(port, 300)
        self.assertEqual(sorted(counts.values()), [100, 100, 100])

    def test_ring_hash_on_header_is_sticky(self):
        proxy, port, echoes = self.simple_mesh(
            echo_count=3, lb="policy: RingHash\nhashOn:\n  header: x-user")
        for user in (b"alice", b"bob", b"carol"):
            counts = self.distribution(port, 20, b"x-user: " + user + b"\r\n")
            self.assertEqual(len(counts), 1, counts)

    def test_maglev_on_source_ip_is_sticky(self):
        proxy, port, echoes = self.simple_mesh(
            echo_count=3, lb="policy: Maglev\nhashOn:\n  sourceIP: true")
        self.assertEqual(len(self.distribution(port, 30)), 1)

    def test_least_request_and_random_use_every_endpoint(self):
        for policy in ("LeastRequest", "Random"):
            with self.subTest(policy=policy):
                proxy, port, echoes = self.simple_mesh(echo_count=2, lb=f"policy: {policy}")
                self.assertEqual(len(self.distribution(port, 100)), 2)


if __name__ == "__main__":
    unittest.main()
