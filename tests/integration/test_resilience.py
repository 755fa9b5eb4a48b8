"""Resilience policies proven under failure, over real sockets: retries (with the retry budget),
timeouts, outlier detection, circuit breaking, local rate limits, fault injection, and the
x-trellis-reason of every reply the proxy makes itself. Instances fail for real: they are killed,
made slow or made to fail with trellis-echo's --knobs."""

import http.client
import json
import socket
import statistics
import threading
import time
import unittest

from grpc_peers import GrpcClient, grpc, start_grpc_server
from harness import free_port, http_get, http_request
from proxy_harness import ProxyTestCase, listener, route, service, simple_rule


def route_policy(name, route_name, spec, section=None, kind="HTTPRoute"):
    """A RoutePolicy attached to `route_name`; spec: YAML text indented by two spaces."""
    section_line = f", sectionName: {section}" if section else ""
    return f"""apiVersion: trellis.dev/v1alpha1
kind: RoutePolicy
metadata:
  name: {name}
spec:
  targetRefs: [{{group: gateway.networking.k8s.io, kind: {kind}, name: {route_name}{section_line}}}]
{spec}---
"""


def backend_policy(name, service_name, spec):
    return f"""apiVersion: trellis.dev/v1alpha1
kind: BackendPolicy
metadata:
  name: {name}
spec:
  targetRefs: [{{group: "", kind: Service, name: {service_name}}}]
{spec}---
"""


# A RoutePolicy spec: one retry of calls that end UNAVAILABLE.
RETRY_UNAVAILABLE = """  retry:
    attempts: 1
    retryOn: []
    retriableGrpcStatuses: [UNAVAILABLE]
    backoff: {baseInterval: 1ms}
"""


class Load:
    """`clients` threads sending GETs on keep-alive connections until stop(); each result is
    (status or 0 for a transport error, seconds, x-trellis-reason)."""

    def __init__(self, port, clients=4, path="/", rate=None):
        self.port = port
        self.path = path
        self.interval = clients / rate if rate else 0
        self.results = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]
        for thread in self.threads:
            thread.start()

    def _run(self):
        conn = None
        next_send = time.monotonic()
        while not self.stopping.is_set():
            if self.interval:
                delay = next_send - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                next_send += self.interval
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            start = time.monotonic()
            try:
                conn.request("GET", self.path)
                response = conn.getresponse()
                response.read()
                result = (response.status, time.monotonic() - start,
                          response.getheader("x-trellis-reason", ""))
                if response.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                result = (0, time.monotonic() - start, "transport")
                conn.close()
                conn = None
            with self.lock:
                self.results.append(result)
        if conn is not None:
            conn.close()

    def count(self):
        with self.lock:
            return len(self.results)

    def wait_for(self, n, timeout=10):
        deadline = time.monotonic() + timeout
        while self.count() < n and time.monotonic() < deadline:
            time.sleep(0.01)

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join(15)
        return list(self.results)


def failures(results):
    return [r for r in results if r[0] != 200]


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


class ResilienceTestCase(ProxyTestCase):
    def start_mesh(self, echoes, policies="", rule=None, concurrency=1, http=None,
                   app_protocol=None):
        """One listener → Service `api` over `echoes`; `rule` replaces the default rule (the
        route is named `api`, its rule `main`)."""
        port = free_port()
        rule = rule or ("  - name: main\n    " + simple_rule("api")[4:])
        config = (listener("web", port, http=http) +
                  service("api", [e.port for e in echoes], app_protocol=app_protocol) +
                  route("api", "web", rule) + policies)
        proxy = self.start_proxy(config, concurrency=concurrency)
        return proxy, port

    def start_grpc_mesh(self, ports, policies=""):
        """One listener → a GRPCRoute `api` → Service `api` (appProtocol grpc) on `ports`."""
        port = free_port()
        rule = "  - name: main\n    backendRefs: [{name: api, port: 80}]\n"
        config = (listener("web", port) + service("api", ports, app_protocol="grpc") +
                  route("api", "web", rule).replace("kind: HTTPRoute", "kind: GRPCRoute") +
                  policies)
        return self.start_proxy(config), port

    def start_echoes(self, count, knobs=None):
        """`knobs`: {index: "--knobs value"} for instances that misbehave."""
        echoes = []
        for i in range(count):
            extra = ("--knobs", knobs[i]) if knobs and i in knobs else ()
            echoes.append(self.start_echo("api", str(i), extra_args=extra))
        return echoes


class RetryTest(ResilienceTestCase):
    def test_503_is_retried_on_another_endpoint(self):
        echoes = self.start_echoes(2, {0: "status=503"})
        proxy, port = self.start_mesh(echoes, route_policy("retry", "api", """  retry:
    attempts: 2
    retryOn: [gateway-error]
    backoff: {baseInterval: 1ms, maxInterval: 5ms}
"""))
        # Round robin sends every first attempt to the failing instance (its retry takes the
        # other turn), so 20 requests need 20 retries: within the budget's floor of 30.
        statuses = [http_get(port, "/").status for _ in range(20)]
        self.assertEqual(statuses, [200] * 20)
        retries = proxy.metric("trellis_upstream_retries_total", cluster="default/api:80")
        self.assertEqual(retries, 20)

    def test_without_a_retry_policy_the_503_reaches_the_client(self):
        echoes = self.start_echoes(2, {0: "status=503"})
        _, port = self.start_mesh(echoes)
        statuses = [http_get(port, "/").status for _ in range(10)]
        self.assertEqual(statuses.count(503), 5)

    def test_post_is_not_retried_after_it_may_have_been_processed(self):
        echoes = self.start_echoes(2, {0: "status=503"})
        spec = "  retry: {attempts: 2, retryOn: [5xx], backoff: {baseInterval: 1ms}}\n"
        _, port = self.start_mesh(echoes, route_policy("retry", "api", spec))
        statuses = [http_request(port, "POST", "/", body=b"x" * 100).status for _ in range(10)]
        self.assertEqual(statuses.count(503), 5)
        spec = ("  retry: {attempts: 2, retryOn: [5xx], retryNonIdempotent: true,"
                " backoff: {baseInterval: 1ms}}\n")
        _, port = self.start_mesh(echoes, route_policy("retry", "api", spec))
        for _ in range(10):
            response = http_request(port, "POST", "/", body=b"y" * 5000)
            self.assertEqual(response.status, 200)
            self.assertEqual(response.json()["body_bytes"], 5000)  # replayed in full

    def test_chunked_body_is_replayed_in_full(self):
        echoes = self.start_echoes(2, {0: "status=503"})
        spec = ("  retry: {attempts: 1, retryOn: [gateway-error], retryNonIdempotent: true,"
                " backoff: {baseInterval: 1ms}}\n")
        _, port = self.start_mesh(echoes, route_policy("retry", "api", spec))
        body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in [b"a" * 700, b"b" * 300]) + b"0\r\n\r\n"
        for _ in range(6):
            response = http_request(port, "PUT", "/", body=body,
                                    headers={"Transfer-Encoding": "chunked"})
            self.assertEqual(response.status, 200)
            self.assertEqual(response.json()["body_bytes"], 1000)

    def test_kill_one_of_three_under_load_with_retries_no_client_fails(self):
        echoes = self.start_echoes(3)
        policies = (route_policy("retry", "api", """  retry:
    attempts: 2
    retryOn: [connect-failure, reset]
    backoff: {baseInterval: 1ms, maxInterval: 10ms}
""") + backend_policy("eject", "api", """  outlierDetection: {consecutiveLocalOriginFailures: 3, baseEjectionTime: 30s}
"""))
        proxy, port = self.start_mesh(echoes, policies, concurrency=2)
        load = Load(port, clients=4, rate=300)
        load.wait_for(200)
        echoes[1].proc.proc.kill()
        at_kill = load.count()
        load.wait_for(at_kill + 600)
        results = load.stop()
        self.assertGreater(len(results), at_kill + 500)
        self.assertEqual(failures(results), [])
        self.assertEqual(proxy.metric("trellis_upstream_ejections_total"), 1)

    def test_kill_one_of_three_without_retries_failures_end_at_the_ejection(self):
        echoes = self.start_echoes(3)
        policies = backend_policy("eject", "api", """  outlierDetection: {consecutiveLocalOriginFailures: 3, baseEjectionTime: 30s}
""")
        proxy, port = self.start_mesh(echoes, policies, concurrency=1)
        load = Load(port, clients=4, rate=300)
        load.wait_for(200)
        echoes[1].proc.proc.kill()
        at_kill = load.count()
        load.wait_for(at_kill + 600)
        results = load.stop()
        failed = failures(results)
        # Once three failures in a row ejected the endpoint, nothing else failed: requests that
        # were in flight on it (at most one per client) add to the three.
        self.assertGreater(len(failed), 0)
        self.assertLessEqual(len(failed), 3 + 4)
        self.assertTrue(all(r[2] in ("upstream_connect_failure", "upstream_reset") for r in failed),
                        failed)
        last_failure = max(i for i, r in enumerate(results) if r[0] != 200)
        self.assertLess(last_failure, at_kill + 100)
        self.assertEqual(proxy.metric("trellis_upstream_ejections_total"), 1)

    def test_slow_instance_p99_stays_under_per_try_timeout_plus_one_retry(self):
        echoes = self.start_echoes(2, {0: "delay=2s"})
        # The first per-try timeouts are retried (within the budget's floor) until outlier
        # detection ejects the slow instance.
        policies = route_policy("retry", "api", """  timeouts: {perTry: 150ms}
  retry:
    attempts: 1
    retryOn: [per-try-timeout]
    backoff: {baseInterval: 1ms, maxInterval: 5ms}
""") + backend_policy("eject", "api", """  outlierDetection: {consecutiveLocalOriginFailures: 2}
""")
        _, port = self.start_mesh(echoes, policies, concurrency=2)
        load = Load(port, clients=8)
        load.wait_for(400, timeout=30)
        results = load.stop()
        self.assertEqual(failures(results), [])
        latencies = [r[1] for r in results]
        p99 = percentile(latencies, 99)
        # One attempt at most 150 ms, then the retry on the fast instance (a few ms).
        self.assertLess(p99, 0.150 + 0.150, f"p99 {p99 * 1000:.0f} ms")
        self.assertLess(max(latencies), 1.0)

    def test_outage_retry_budget_keeps_attempts_within_120_percent(self):
        echoes = self.start_echoes(2, {0: "status=503", 1: "status=503"})
        policies = (route_policy("retry", "api", """  retry:
    attempts: 3
    retryOn: [5xx]
    backoff: {baseInterval: 1ms, maxInterval: 2ms}
""") + backend_policy("budget", "api", "  retryBudget: {percent: 20, minRetriesPerSecond: 1}\n"))
        proxy, port = self.start_mesh(echoes, policies, concurrency=2)
        load = Load(port, clients=4)
        load.wait_for(1000, timeout=30)
        results = load.stop()
        requests = len(results)
        retries = proxy.wait_metric("trellis_upstream_retries_total", lambda v: v > 0)
        exhausted = proxy.metric("trellis_upstream_retry_budget_exhausted_total")
        attempts = requests + retries
        self.assertTrue(all(r[0] == 503 for r in results))
        self.assertLessEqual(attempts, 1.2 * requests, f"{attempts} attempts, {requests} requests")
        self.assertGreater(retries, 0.1 * requests)  # the budget was used, not just refused
        self.assertGreater(exhausted, 0.75 * requests)  # without it: 3 retries each

    def test_grpc_unavailable_is_retried(self):
        echo_a = self.start_echo("api", "0", extra_args=("--knobs", "grpc-status=14"))
        echo_b = self.start_echo("api", "1")
        proxy, port = self.start_grpc_mesh(
            [echo_a.port, echo_b.port],
            route_policy("retry", "api", RETRY_UNAVAILABLE, kind="GRPCRoute"))
        with GrpcClient(f"127.0.0.1:{port}") as client:
            for i in range(10):
                self.assertEqual(client.unary(b"ping%d" % i), b"ping%d" % i)
        self.assertGreaterEqual(proxy.metric("trellis_upstream_retries_total"), 4)

    def test_a_retried_grpc_call_is_told_the_time_left(self):
        # The first instance answers UNAVAILABLE after 400 ms; the retry reaches a grpcio server
        # whose deadline must be the route's 3 s minus the time already spent.
        failing = self.start_echo("api", "0", extra_args=("--knobs", "grpc-status=14&delay=400ms"))
        server = start_grpc_server("b", test=self)
        proxy, port = self.start_grpc_mesh(
            [failing.port, server.port],
            route_policy("retry", "api", "  timeouts: {request: 3s}\n" + RETRY_UNAVAILABLE,
                         kind="GRPCRoute"))
        left = []
        with GrpcClient(f"127.0.0.1:{port}") as client:
            for _ in range(4):
                left.append(json.loads(client.unary(b"", method="Inspect"))["time_remaining"])
        # Round robin sends every first attempt to the failing instance: each call reached the
        # server as a retry, told 3 s less the failed 400 ms attempt (not the whole 3 s).
        self.assertGreaterEqual(proxy.metric("trellis_upstream_retries_total"), 4)
        for seconds in left:
            self.assertLess(seconds, 2.7)
            self.assertGreater(seconds, 2.0)


class TimeoutTest(ResilienceTestCase):
    def test_request_timeout_answers_504_with_reason(self):
        echoes = self.start_echoes(1, {0: "delay=2s"})
        _, port = self.start_mesh(echoes, rule="""  - name: main
    backendRefs: [{name: api, port: 80}]
    timeouts: {request: 200ms}
""")
        start = time.monotonic()
        response = http_get(port, "/")
        elapsed = time.monotonic() - start
        self.assertEqual(response.status, 504)
        self.assertEqual(response.header("x-trellis-reason"), "upstream_request_timeout")
        self.assertLess(elapsed, 1.0)
        self.assertGreaterEqual(elapsed, 0.19)
        # The client connection is still usable for the next request.

    def test_per_try_timeout_without_retries(self):
        echoes = self.start_echoes(1, {0: "delay=2s"})
        _, port = self.start_mesh(echoes, route_policy("t", "api", "  timeouts: {perTry: 100ms}\n"))
        response = http_get(port, "/")
        self.assertEqual(response.status, 504)
        self.assertEqual(response.header("x-trellis-reason"), "upstream_per_try_timeout")

    def test_grpc_deadline_from_route_timeout(self):
        echo = self.start_echo("api", "0", extra_args=("--knobs", "delay=2s"))
        port = free_port()
        rule = "  - backendRefs: [{name: api, port: 80}]\n"
        config = (listener("web", port) + service("api", [echo.port], app_protocol="grpc") +
                  route("api", "web", rule).replace("kind: HTTPRoute", "kind: GRPCRoute") +
                  route_policy("t", "api", "  timeouts: {request: 200ms}\n", kind="GRPCRoute"))
        self.start_proxy(config)
        with GrpcClient(f"127.0.0.1:{port}") as client:
            start = time.monotonic()
            with self.assertRaises(grpc.RpcError) as caught:
                client.unary(b"x", timeout=5)
            self.assertEqual(caught.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
            self.assertLess(time.monotonic() - start, 1.0)
            trailers = dict(caught.exception.trailing_metadata() or ())
            self.assertEqual(trailers.get("x-trellis-reason"), "upstream_request_timeout")


    def test_stream_idle_timeout_ends_a_silent_exchange(self):
        echoes = self.start_echoes(1, {0: "delay=2s"})
        proxy, port = self.start_mesh(echoes, http={"streamIdleTimeout": "200ms"})
        start = time.monotonic()
        response = http_get(port, "/")
        self.assertEqual(response.status, 504)
        self.assertEqual(response.header("x-trellis-reason"), "stream_idle_timeout")
        self.assertLess(time.monotonic() - start, 1.0)
        # A route's own streamIdle wins over the listener's.
        _, port = self.start_mesh(echoes, route_policy("t", "api", "  timeouts: {streamIdle: 5s}\n"),
                                  http={"streamIdleTimeout": "200ms"})
        self.assertEqual(http_get(port, "/").status, 200)


class CircuitBreakerTest(ResilienceTestCase):
    def assert_refused_at_once(self, port, busy_threads):
        """The next request gets 503 upstream_overflow in under 200 ms; then `busy_threads`
        are joined."""
        start = time.monotonic()
        overflow = http_get(port, "/")
        elapsed = time.monotonic() - start
        for thread in busy_threads:
            thread.join()
        self.assertEqual(overflow.status, 503)
        self.assertEqual(overflow.header("x-trellis-reason"), "upstream_overflow")
        self.assertLess(elapsed, 0.2)

    def test_max_requests_overflow_fails_fast(self):
        echoes = self.start_echoes(1, {0: "delay=1s"})
        proxy, port = self.start_mesh(
            echoes, backend_policy("cb", "api", "  circuitBreaker: {maxRequests: 3}\n"),
            concurrency=2)
        results = []
        threads = [threading.Thread(target=lambda: results.append(http_get(port, "/")))
                   for _ in range(3)]
        for thread in threads:
            thread.start()
        proxy.wait_metric("trellis_upstream_requests_active", lambda v: v >= 3)
        self.assert_refused_at_once(port, threads)  # not queued behind the three in flight
        self.assertEqual(sorted(r.status for r in results), [200, 200, 200])
        self.assertEqual(proxy.metric("trellis_upstream_overflow_total"), 1)
        self.assertEqual(http_get(port, "/").status, 200)  # the breaker closes again

    def test_at_max_pending_the_next_request_fails_fast(self):
        # Two connections, two waiting: four requests are served (two wait for a connection to
        # be freed and reuse it), the fifth is refused at once rather than queued.
        echoes = self.start_echoes(1, {0: "delay=500ms"})
        proxy, port = self.start_mesh(
            echoes, backend_policy(
                "cb", "api", "  circuitBreaker: {maxConnections: 2, maxPendingRequests: 2}\n"))
        results = []
        threads = [threading.Thread(target=lambda: results.append(http_get(port, "/")))
                   for _ in range(4)]
        for thread in threads:
            thread.start()
        self.assertEqual(proxy.wait_metric("trellis_upstream_requests_pending", lambda v: v >= 2),
                         2)
        self.assertEqual(proxy.metric("trellis_upstream_connections_active"), 2)
        self.assert_refused_at_once(port, threads)
        self.assertEqual(sorted(r.status for r in results), [200] * 4)
        self.assertEqual(proxy.metric("trellis_upstream_connections_opened_total"), 2)
        self.assertEqual(proxy.metric("trellis_upstream_overflow_total"), 1)
        self.assertEqual(proxy.metric("trellis_upstream_requests_pending"), 0)

    def test_max_connections_makes_room_for_another_endpoint(self):
        # One connection allowed: an idle one to the first instance is closed so that a request
        # balanced to the second can go, instead of waiting for nothing.
        echoes = self.start_echoes(2)
        proxy, port = self.start_mesh(
            echoes, backend_policy("cb", "api", "  circuitBreaker: {maxConnections: 1}\n"))
        instances = {http_get(port, "/").header("x-echo-instance") for _ in range(6)}
        self.assertEqual(instances, {"0", "1"})
        self.assertEqual(proxy.metric("trellis_upstream_connections_active"), 1)
        self.assertEqual(proxy.metric("trellis_upstream_overflow_total"), 0)

    def test_a_pending_request_gives_up_at_the_request_timeout(self):
        # /hold has no timeout and keeps the one connection for 1 s; /wait waits for it and
        # gives up at its rule's 300 ms request timeout, leaving the queue.
        echoes = self.start_echoes(1, {0: "delay=1s"})
        proxy, port = self.start_mesh(
            echoes, backend_policy("cb", "api", "  circuitBreaker: {maxConnections: 1}\n"),
            rule="""  - name: wait
    matches: [{path: {type: PathPrefix, value: /wait}}]
    backendRefs: [{name: api, port: 80}]
    timeouts: {request: 300ms}
  - name: hold
    backendRefs: [{name: api, port: 80}]
""")
        held = []
        holder = threading.Thread(target=lambda: held.append(http_get(port, "/hold")))
        holder.start()
        proxy.wait_metric("trellis_upstream_connections_active", lambda v: v >= 1)
        start = time.monotonic()
        waited = http_get(port, "/wait")
        elapsed = time.monotonic() - start
        holder.join()
        self.assertEqual(waited.status, 504)
        self.assertEqual(waited.header("x-trellis-reason"), "upstream_request_timeout")
        self.assertLess(elapsed, 0.8)  # not served after the holder's 1 s
        self.assertEqual(held[0].status, 200)
        self.assertEqual(proxy.metric("trellis_upstream_requests_pending"), 0)
        self.assertEqual(proxy.metric("trellis_upstream_connections_opened_total"), 1)
        self.assertEqual(http_get(port, "/wait").status, 504)  # the parked connection is reused
        self.assertEqual(proxy.metric("trellis_upstream_connections_reused_total"), 1)

    def test_http2_requests_wait_for_stream_room_on_the_one_connection(self):
        # The upstream takes one stream per connection and the cluster one connection: calls
        # wait for the stream in turn instead of opening more connections.
        server = start_grpc_server("one-stream", test=self, max_concurrent_streams="1")
        proxy, port = self.start_grpc_mesh(
            [server.port], backend_policy("cb", "api", "  circuitBreaker: {maxConnections: 1}\n"))
        sleep = json.dumps({"ms": 300}).encode()
        with GrpcClient(f"127.0.0.1:{port}") as client:
            self.assertEqual(client.unary(b"warm", timeout=5), b"warm")  # SETTINGS learned
            calls = [client.unary_future(sleep, method="Sleep") for _ in range(3)]
            pending = proxy.wait_metric("trellis_upstream_requests_pending", lambda v: v >= 1)
            self.assertEqual([call.result() for call in calls], [b"slept"] * 3)
        self.assertGreaterEqual(pending, 1)
        self.assertEqual(proxy.metric("trellis_upstream_connections_opened_total"), 1)
        self.assertEqual(proxy.metric("trellis_upstream_requests_pending"), 0)

    def test_waiting_requests_are_served_in_arrival_order(self):
        echoes = self.start_echoes(1, {0: "delay=300ms"})
        proxy, port = self.start_mesh(
            echoes, backend_policy("cb", "api", "  circuitBreaker: {maxConnections: 1}\n"))
        done = []
        threads = []
        for i in range(3):
            thread = threading.Thread(target=lambda i=i: done.append((i, http_get(port, "/"))))
            thread.start()
            threads.append(thread)
            if i == 0:
                proxy.wait_metric("trellis_upstream_connections_active", lambda v: v >= 1)
            else:
                proxy.wait_metric("trellis_upstream_requests_pending", lambda v, n=i: v >= n)
        for thread in threads:
            thread.join()
        self.assertEqual([i for i, _ in done], [0, 1, 2])
        self.assertEqual([r.status for _, r in done], [200] * 3)
        self.assertEqual(proxy.metric("trellis_upstream_connections_opened_total"), 1)

    def test_an_http2_endpoint_without_a_connection_may_open_one(self):
        # Envoy's rule: a multiplexed connection to one endpoint is never idle under load, so
        # nothing would make room for another endpoint; each endpoint may have one over the limit.
        echoes = self.start_echoes(2)
        proxy, port = self.start_mesh(
            echoes, backend_policy("cb", "api", "  circuitBreaker: {maxConnections: 1}\n"),
            app_protocol="h2c")
        responses = [http_get(port, "/") for _ in range(4)]
        self.assertEqual([r.status for r in responses], [200] * 4)
        self.assertEqual({r.header("x-echo-instance") for r in responses}, {"0", "1"})
        self.assertEqual(proxy.metric("trellis_upstream_connections_active"), 2)
        self.assertEqual(proxy.metric("trellis_upstream_connections_opened_total"), 2)
        self.assertEqual(proxy.metric("trellis_upstream_overflow_total"), 0)


class HealthCheckTest(ResilienceTestCase):
    def wait_unhealthy(self, proxy, count):
        value = proxy.wait_metric("trellis_health_check_endpoints_unhealthy",
                                  lambda v: v == count, timeout=10)
        self.assertEqual(value, count)

    def test_http_health_check_takes_a_failing_instance_out_and_back(self):
        echoes = self.start_echoes(2, {0: "status=503"})
        proxy, port = self.start_mesh(echoes, backend_policy("hc", "api", """  healthCheck:
    http: {path: /hc, expectedStatuses: [200]}
    interval: 100ms
    timeout: 100ms
    unhealthyThreshold: 2
    healthyThreshold: 2
"""))
        self.wait_unhealthy(proxy, 1)
        statuses = [http_get(port, "/").status for _ in range(40)]
        self.assertEqual(statuses, [200] * 40)
        status, body = proxy.admin("/clusters")
        endpoints = json.loads(body)["clusters"][0]["endpoints"]
        verdicts = {e["port"]: e["health_check"] for e in endpoints}
        self.assertEqual(verdicts, {echoes[0].port: "unhealthy", echoes[1].port: "healthy"})
        self.assertGreater(proxy.metric("trellis_health_checks_total", result="failed"), 0)

    def test_tcp_health_check_notices_a_dead_instance(self):
        echoes = self.start_echoes(3)
        proxy, port = self.start_mesh(echoes, backend_policy("hc", "api", """  healthCheck:
    tcp: {}
    interval: 100ms
    timeout: 100ms
    unhealthyThreshold: 1
"""))
        echoes[2].proc.proc.kill()
        self.wait_unhealthy(proxy, 1)
        statuses = [http_get(port, "/").status for _ in range(30)]
        self.assertEqual(statuses, [200] * 30)

    def test_all_unhealthy_means_panic_not_outage(self):
        echoes = self.start_echoes(2, {0: "status=503", 1: "status=503"})
        proxy, port = self.start_mesh(echoes, backend_policy("hc", "api", """  healthCheck:
    http: {path: /hc}
    interval: 100ms
    timeout: 100ms
    unhealthyThreshold: 1
"""))
        self.wait_unhealthy(proxy, 2)
        # Every endpoint unhealthy: below the panic threshold all of them take traffic again,
        # so the client sees the upstream's answer, not no_healthy_endpoint.
        response = http_get(port, "/")
        self.assertEqual(response.status, 503)
        self.assertIsNone(response.header("x-trellis-reason"))


class RateLimitTest(ResilienceTestCase):
    def test_admitted_rate_at_twice_the_limit_is_the_limit(self):
        echoes = self.start_echoes(1)
        proxy, port = self.start_mesh(echoes, route_policy(
            "rl", "api", "  rateLimit: {requests: 100, per: 1s}\n"), concurrency=2)
        load = Load(port, clients=4, rate=200)
        time.sleep(3.0)
        results = load.stop()
        admitted = [r for r in results if r[0] == 200]
        limited = [r for r in results if r[0] == 429]
        self.assertEqual(len(admitted) + len(limited), len(results))
        self.assertTrue(all(r[2] == "rate_limited" for r in limited))
        rate = (len(admitted) - 100) / 3.0  # the bucket starts full: burst = requests
        self.assertAlmostEqual(rate, 100, delta=5, msg=f"{len(admitted)} admitted")

    def test_429_carries_retry_after_and_keys_are_separate(self):
        echoes = self.start_echoes(1)
        _, port = self.start_mesh(echoes, route_policy(
            "rl", "api", "  rateLimit: {requests: 1, per: 60s, by: {header: x-tenant}}\n"))
        self.assertEqual(http_get(port, "/", headers={"x-tenant": "a"}).status, 200)
        limited = http_get(port, "/", headers={"x-tenant": "a"})
        self.assertEqual(limited.status, 429)
        self.assertEqual(limited.header("x-trellis-reason"), "rate_limited")
        self.assertGreaterEqual(int(limited.header("retry-after")), 1)
        self.assertEqual(http_get(port, "/", headers={"x-tenant": "b"}).status, 200)


class ConnectionRateLimitTest(ResilienceTestCase):
    def test_tcp_listener_closes_connections_over_the_rate(self):
        echo = self.start_echo("db", "0")
        port = free_port()
        config = (listener("db", port, protocol="TCP", tcp_backend=("db", 80),
                           extra="  connectionRateLimit: {connections: 2, per: 60s}\n") +
                  service("db", [echo.port], app_protocol="tcp"))
        proxy = self.start_proxy(config)
        self.assertEqual(http_get(port, "/").status, 200)
        self.assertEqual(http_get(port, "/").status, 200)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            try:
                conn.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
                received = conn.recv(100)
            except ConnectionResetError:
                received = b""
            self.assertEqual(received, b"")  # closed, nothing relayed
        self.assertEqual(proxy.metric("trellis_downstream_connections_rate_limited_total"), 1)


class FaultTest(ResilienceTestCase):
    def test_abort_share_is_within_tolerance(self):
        echoes = self.start_echoes(1)
        _, port = self.start_mesh(echoes, route_policy(
            "f", "api", "  fault:\n    abort: {httpStatus: 503, percentage: 10}\n"))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        aborted = 0
        total = 2000
        for _ in range(total):
            conn.request("GET", "/")
            response = conn.getresponse()
            response.read()
            if response.status == 503:
                self.assertEqual(response.getheader("x-trellis-reason"), "fault_abort")
                aborted += 1
        conn.close()
        # Binomial(2000, 0.1): mean 200, sd 13.4; 4 sd either way.
        self.assertGreater(aborted, 200 - 54)
        self.assertLess(aborted, 200 + 54)

    def test_delay_applies_only_to_matching_header(self):
        echoes = self.start_echoes(1)
        _, port = self.start_mesh(echoes, route_policy("f", "api", """  fault:
    delay: {fixedDelay: 300ms, percentage: 100}
    headers: [{name: x-chaos, value: "on"}]
"""))
        start = time.monotonic()
        self.assertEqual(http_get(port, "/").status, 200)
        self.assertLess(time.monotonic() - start, 0.25)
        start = time.monotonic()
        self.assertEqual(http_get(port, "/", headers={"x-chaos": "on"}).status, 200)
        self.assertGreaterEqual(time.monotonic() - start, 0.3)


if __name__ == "__main__":
    unittest.main()
