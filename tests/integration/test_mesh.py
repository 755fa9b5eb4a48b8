"""The mesh end to end, with real processes: trellisd, and for each instance of the shop
(examples/shop) a trellis-echo application beside its trellis-proxy sidecar, configured over
xDS. Requests enter through checkout's outbound listener, as checkout's application would send
them, and cross two proxies (checkout's outbound side, then billing's inbound side).

Readiness comes from port files, the proxies' /ready and /clusters, and trellisd's API; nothing
waits a fixed time (mesh_harness.py).
"""

import collections
import json
import time
import unittest

from harness import RawConnection, TrellisTestCase, http_get
from mesh_harness import Load, Shop, billing_route, send_request, wait_until

TYPES = ("lds", "rds", "cds", "eds")
BILLING_NAMES = ("billing", "billing.shop", "billing.shop.svc", "billing.shop.svc.cluster.local")
LOAD_RATE = 200.0  # requests per second through checkout during a route change
LOAD_CONNECTIONS = 4
PROPAGATION_BOUND = 3.0  # seconds from the apply's answer to the first request on the new route


class HappyPath(TrellisTestCase):
    def setUp(self):
        self.shop = Shop(self)
        self.mesh = self.shop.mesh
        self.checkout = self.shop.checkout

    def get_via_checkout(self, host, path="/"):
        return http_get(self.checkout.outbound_port, path, headers={"Host": host})

    def test_every_instance_is_connected_with_every_type_acked(self):
        for inst in self.shop.instances:
            item = wait_until(f"{inst.node_id} connected with {TYPES} acked",
                              lambda i=inst: self.mesh.acked(i.node_id, TYPES))
            self.assertEqual((item["service"], item["namespace"], item["instance"]),
                             (inst.service, "shop", inst.name))
            self.assertEqual(item["address"], f"127.0.0.1:{inst.inbound_port}")
            self.assertEqual(item["userAgent"], "trellis-proxy")
            self.assertEqual(item["error"], "", item)
            for t in TYPES:
                self.assertEqual(item["types"][t]["nacked"], "", item)
            # The proxy's side of the same stream.
            xds = inst.xds()
            self.assertTrue(xds["connected"] and xds["applied"], xds)
            self.assertEqual(xds["counters"]["nacks"], 0, xds)
            self.assertEqual(xds["node"]["id"], inst.node_id)
        ids = sorted(p["id"] for p in self.mesh.proxies())
        self.assertEqual(ids, sorted(i.node_id for i in self.shop.instances))
        self.assertEqual(self.mesh.metric("trellisd_proxies_connected"), len(ids))
        self.assertEqual(self.mesh.metric("trellisd_registry_instances"), len(ids))

    def test_every_name_of_billing_reaches_a_billing_instance(self):
        for host in BILLING_NAMES:
            with self.subTest(host=host):
                response = self.get_via_checkout(host, "/pay")
                self.assertEqual(response.status, 200, response.body)
                self.assertEqual(response.header("x-echo-service"), "billing")
                body = response.json()
                self.assertEqual(body["service"], "billing")
                self.assertIn(body["instance"], ("billing-1", "billing-2"))
                self.assertEqual(body["path"], "/pay")
        response = self.get_via_checkout("inventory.shop")
        self.assertEqual((response.status, response.header("x-echo-service")), (200, "inventory"))
        # Services checkout's Workload does not list are not reachable through its proxy.
        for host in ("frontend", "auth.shop", "billing-v2"):
            with self.subTest(host=host):
                self.assertEqual(self.get_via_checkout(host).status, 404)

    def test_both_billing_instances_share_the_traffic(self):
        counts = collections.Counter()
        with RawConnection(self.checkout.outbound_port) as conn:
            for _ in range(20):
                response = send_request(conn, "billing")
                self.assertEqual(response.status, 200, response.body)
                counts[response.header("x-echo-instance")] += 1
        # Round robin over two endpoints: an even split.
        self.assertEqual(counts, {"billing-1": 10, "billing-2": 10})

    def test_policies_applied_through_trellisd_reach_the_callers_proxy(self):
        policies = """apiVersion: trellis.dev/v1alpha1
kind: RoutePolicy
metadata: {name: billing-chaos, namespace: shop}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: billing}]
  timeouts: {request: 3s}
  retry: {attempts: 1, retryOn: [connect-failure]}
  fault:
    abort: {httpStatus: 503, percentage: 100}
    headers: [{name: x-chaos, value: "on"}]
---
apiVersion: trellis.dev/v1alpha1
kind: BackendPolicy
metadata: {name: billing, namespace: shop}
spec:
  targetRefs: [{group: "", kind: Service, name: billing}]
  outlierDetection: {consecutive5xx: 7}
  circuitBreaker: {maxRequests: 321}
"""
        status, body = self.mesh.apply_files([("policies.yaml", policies)])
        self.assertEqual(status, 200, body)

        def chaos():
            response = http_get(self.checkout.outbound_port, "/pay",
                                headers={"Host": "billing", "x-chaos": "on"})
            return response.status == 503 and response

        response = wait_until("the fault reaches checkout's proxy", chaos)
        self.assertEqual(response.header("x-trellis-reason"), "fault_abort")
        self.assertEqual(self.get_via_checkout("billing", "/pay").status, 200)
        dump = json.dumps(self.checkout.config_dump())
        self.assertIn("321", dump)  # the circuit breaker of billing's cluster
        self.assertEqual(self.checkout.xds()["counters"]["nacks"], 0)

    def test_each_proxy_holds_only_what_its_workload_needs(self):
        ports = self.shop.billing_ports()
        # trellisd's record of what it sent.
        config = self.mesh.node_config(self.checkout.node_id)
        self.assertEqual(sorted(c["name"] for c in config["clusters"]),
                         ["inbound/checkout:80", "shop/billing:80", "shop/inventory:80"])
        self.assertEqual(sorted(e["cluster_name"] for e in config["endpoints"]),
                         ["inbound/checkout:80", "shop/billing:80", "shop/inventory:80"])
        self.assertEqual(sorted(l["name"] for l in config["listeners"]),
                         ["mesh/inbound", "mesh/outbound"])
        self.assertEqual(self.mesh.sent_endpoints(self.checkout.node_id, "billing"), ports)
        billing = self.shop.billing[0]
        config = self.mesh.node_config(billing.node_id)
        self.assertEqual([c["name"] for c in config["clusters"]], ["inbound/billing:80"])
        self.assertEqual([l["name"] for l in config["listeners"]], ["mesh/inbound"])
        inbound = config["endpoints"][0]["endpoints"][0]["lb_endpoints"]
        self.assertEqual([e["endpoint"]["address"]["socket_address"]["port_value"]
                          for e in inbound], [billing.app.port])

        # The proxies' own view of what they run.
        dump = self.checkout.config_dump()
        self.assertEqual(sorted(c["name"] for c in dump["clusters"]),
                         ["inbound/checkout:80", "shop/billing:80", "shop/inventory:80"])
        listeners = {l["name"]: l for l in dump["listeners"]}
        self.assertEqual(sorted(listeners), ["mesh/inbound", "mesh/outbound"])
        self.assertEqual(listeners["mesh/outbound"]["port"], self.checkout.outbound_port)
        self.assertEqual(listeners["mesh/inbound"]["port"], self.checkout.inbound_port)
        hostnames = {h for r in listeners["mesh/outbound"]["routes"] for h in r["hostnames"]}
        for service in ("billing", "inventory"):
            self.assertTrue({service, f"{service}.shop", f"{service}.shop.svc.cluster.local"}
                            <= hostnames, hostnames)
        self.assertFalse({h for h in hostnames
                          if h.split(".")[0] in ("frontend", "auth", "billing-v2")}, hostnames)
        self.assertEqual(self.checkout.cluster_endpoints("billing"), ports)
        dump = billing.config_dump()
        self.assertEqual([l["name"] for l in dump["listeners"]], ["mesh/inbound"])
        self.assertEqual([c["name"] for c in dump["clusters"]], ["inbound/billing:80"])

    def test_weight_change_moves_traffic_without_failures_under_load(self):
        checkout = self.checkout
        with Load(checkout.outbound_port, "billing", connections=LOAD_CONNECTIONS,
                  rate=LOAD_RATE) as load:
            load.wait_count(100)
            before_apply = time.monotonic()
            self.mesh.apply(billing_route(50, 50))
            applied = time.monotonic()
            first = load.wait_for("a billing-v2 answer", lambda s: s.service == "billing-v2")
            load.wait_count(400, after=first.end)
        samples = load.snapshot()
        propagation = first.end - applied
        print(f"\nweight change billing 100 -> 50/50 with billing-v2: apply answered in "
              f"{(applied - before_apply) * 1000:.1f} ms, first billing-v2 answer "
              f"{propagation * 1000:.1f} ms after it ({len(samples)} requests at "
              f"{LOAD_RATE:.0f}/s, {len(load.failures())} failed)")
        self.assertEqual(load.failures(), [])
        self.assertLess(propagation, PROPAGATION_BOUND)
        self.assertFalse([s for s in samples if s.end < before_apply and s.service != "billing"])
        after = [s for s in samples if s.start > first.end]
        share = sum(1 for s in after if s.service == "billing-v2") / len(after)
        self.assertTrue(0.35 < share < 0.65, f"billing-v2 share {share:.2f} of {len(after)}")
        self.assertEqual({s.instance for s in after if s.service == "billing"},
                         {"billing-1", "billing-2"})
        # Every client connection served requests before and after the change: none was closed.
        self.assertEqual(load.connections_opened, [1] * LOAD_CONNECTIONS)
        for worker in range(LOAD_CONNECTIONS):
            mine = [s for s in samples if s.worker == worker]
            self.assertTrue(mine[0].end < before_apply and mine[-1].start > first.end)
        self.assertEqual(checkout.xds()["counters"]["nacks"], 0)
        # checkout's proxy counted the same.
        v2 = sum(1 for s in samples if s.service == "billing-v2")
        checkout.wait_metric(v2, "trellis_http_requests_total", cluster="shop/billing-v2:80")
        checkout.wait_metric(len(samples), "trellis_http_requests_total", code_class="2xx")

    def test_route_change_keeps_the_client_connection(self):
        with RawConnection(self.checkout.outbound_port) as conn:
            local = conn.sock.getsockname()
            response = send_request(conn, "billing.shop")
            self.assertEqual(response.header("x-echo-service"), "billing")
            self.mesh.apply(billing_route(0, 100))
            # The same connection, request after request, until the new route answers.
            deadline = time.monotonic() + PROPAGATION_BOUND
            while response.header("x-echo-service") != "billing-v2":
                self.assertLess(time.monotonic(), deadline, "the route change did not arrive")
                response = send_request(conn, "billing.shop")
                self.assertEqual(response.status, 200, response.body)
            for _ in range(5):
                self.assertEqual(send_request(conn, "billing.shop").header("x-echo-service"),
                                 "billing-v2")
            self.assertFalse(conn.closed_by_peer)
            self.assertEqual(conn.sock.getsockname(), local)


if __name__ == "__main__":
    unittest.main()
