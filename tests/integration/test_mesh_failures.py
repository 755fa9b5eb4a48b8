"""The mesh when things go wrong, with real processes (see test_mesh.py for the set-up): trellisd
restarted under traffic, an instance killed, a sidecar restarted within its grace period, a
damaged store, two read-modify-write applies racing, an invalid apply.

Steady load goes through checkout's outbound listener to billing (mesh_harness.Load) and every
request is recorded, so "no request failed" is checked request by request.
"""

import os
import signal
import subprocess
import threading
import time
import unittest

import yaml

from harness import RawConnection, TrellisTestCase, binary, http_get, make_scratch_dir
from mesh_harness import (SHOP_FILES, Load, Mesh, Shop, billing_route, send_request, shop_file,
                          wait_until)
from trellisd_harness import TRELLISD

SHOP_RESOURCES = sum(len(list(yaml.safe_load_all(shop_file(name)))) for name in SHOP_FILES)

GRACE_MS = 1500
GRACE = GRACE_MS / 1000
REMOVAL_SLACK = 3.0  # seconds a removal may take beyond the grace period (detection, push)
START_FAILURE_TIMEOUT = 5.0  # seconds trellisd may take to refuse a damaged store


def route_document(mesh):
    """(resourceVersion, parsed document) of the stored billing HTTPRoute."""
    item = mesh.get("/api/v1/resources/HTTPRoute/shop/billing")
    return item["resourceVersion"], yaml.safe_load(item["document"])


def without_version(document):
    document = dict(document, metadata=dict(document["metadata"]))
    document["metadata"].pop("resourceVersion", None)
    return document


def counts(samples):
    out = {}
    for s in samples:
        out[s.instance] = out.get(s.instance, 0) + 1
    return out


class TrellisdRestart(TrellisTestCase):
    def test_restart_under_traffic_keeps_serving_and_resyncs(self):
        shop = Shop(self)
        mesh, checkout = shop.mesh, shop.checkout
        xds_port = mesh.xds_port
        with Load(checkout.outbound_port, "billing") as load:
            load.wait_count(100)
            outage_start = time.monotonic()
            mesh.stop()  # SIGTERM; must exit 0
            for inst in shop.instances:
                wait_until(f"{inst.node_id} sees trellisd gone",
                           lambda i=inst: not i.xds()["connected"])
            # The billing sidecars come back last (frozen meanwhile; their requests wait): a
            # restarted trellisd must not hand checkout a billing without endpoints.
            for b in shop.billing:
                b.proxy.proc.send_signal(signal.SIGSTOP)
            try:
                mesh.start(mesh.api_port, xds_port)  # same data directory, same ports
                restarted = time.monotonic()
                wait_until("checkout reconnected and acked",
                           lambda: mesh.acked(checkout.node_id))
                self.assertEqual(mesh.sent_endpoints(checkout.node_id, "billing"),
                                 shop.billing_ports())
                self.assertEqual(checkout.cluster_endpoints("billing"), shop.billing_ports())
            finally:
                for b in shop.billing:
                    b.proxy.proc.send_signal(signal.SIGCONT)
            for inst in shop.instances:
                wait_until(f"{inst.node_id} connected again",
                           lambda i=inst: i.xds()["connected"] and mesh.acked(i.node_id))
            resynced = time.monotonic()
            self.assertEqual(mesh.xds_port, xds_port)
            self.assertEqual(mesh.metric("trellisd_proxies_connected"), len(shop.instances))
            # The stored mesh survived, and an apply after the restart reaches the proxies.
            self.assertEqual(len(mesh.get("/api/v1/resources?namespace=shop")["items"]),
                             SHOP_RESOURCES)
            mesh.apply(billing_route(50, 50))
            applied = time.monotonic()
            first = load.wait_for("a billing-v2 answer", lambda s: s.service == "billing-v2")
            load.wait_count(100, after=first.end)
        print(f"\ntrellisd restart: down and up again in {(restarted - outage_start) * 1000:.0f}"
              f" ms, all proxies resynced {(resynced - restarted) * 1000:.0f} ms after the start;"
              f" apply -> first billing-v2 answer {(first.end - applied) * 1000:.0f} ms; "
              f"{len(load.samples)} requests, {len(load.failures())} failed")
        self.assertEqual(load.failures(), [])
        self.assertEqual(load.connections_opened, [1] * len(load.connections_opened))
        for inst in shop.instances:
            self.assertGreaterEqual(inst.xds()["counters"]["reconnects"], 1)


class InstanceFailures(TrellisTestCase):
    def test_killed_instance_leaves_after_the_grace_period(self):
        shop = Shop(self, grace_period_ms=GRACE_MS)
        mesh, checkout = shop.mesh, shop.checkout
        survivor, victim = shop.billing
        with Load(checkout.outbound_port, "billing") as load:
            load.wait_count(50)
            killed = time.monotonic()
            victim.kill()  # SIGKILL to its sidecar and its application
            wait_until("trellisd sees the stream end",
                       lambda: not mesh.proxy(victim.node_id)["connected"])
            noticed = time.monotonic()
            # In its grace period the endpoint stays where checkout calls billing.
            self.assertLess(noticed - killed, GRACE)
            self.assertEqual(mesh.sent_endpoints(checkout.node_id, "billing"),
                             shop.billing_ports())
            wait_until("removed from checkout's EDS at trellisd",
                       lambda: mesh.sent_endpoints(checkout.node_id, "billing")
                       == {survivor.inbound_port}, timeout=GRACE + REMOVAL_SLACK)
            removed_at_trellisd = time.monotonic()
            checkout.wait_endpoints("billing", {survivor.inbound_port})
            removed_at_proxy = time.monotonic()
            load.wait_count(200, after=removed_at_proxy)
        samples = load.snapshot()
        failures = load.failures()
        print(f"\nkilled billing-2: trellisd noticed in {(noticed - killed) * 1000:.0f} ms, "
              f"removed it from checkout's EDS after {(removed_at_trellisd - killed) * 1000:.0f}"
              f" ms (grace {GRACE_MS} ms), checkout's proxy dropped it after "
              f"{(removed_at_proxy - killed) * 1000:.0f} ms; {len(failures)} of {len(samples)} "
              f"requests failed, all within that window")
        self.assertGreaterEqual(removed_at_trellisd - killed, GRACE)
        self.assertLess(removed_at_trellisd - killed, GRACE + REMOVAL_SLACK)
        # Failures (requests sent to the dead endpoint) only between the kill and the removal.
        for f in failures:
            self.assertTrue(f.end >= killed and f.start <= removed_at_proxy, f)
        checkout.wait_metric(len(failures), "trellis_http_requests_total", code_class="5xx")
        after = [s for s in samples if s.start > removed_at_proxy]
        self.assertGreaterEqual(len(after), 200)
        self.assertEqual(counts(after), {"billing-1": len(after)})
        self.assertEqual(mesh.metric("trellisd_registry_instances"), len(shop.instances) - 1)

    def test_sidecar_restarted_within_the_grace_period_keeps_its_endpoint(self):
        shop = Shop(self, grace_period_ms=GRACE_MS)
        mesh, checkout = shop.mesh, shop.checkout
        restarting = shop.billing[1]
        eds_type = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
        eds_before = checkout.xds()["types"][eds_type]["acked_version"]
        killed = time.monotonic()
        restarting.kill_proxy()  # its application stays up
        wait_until("trellisd sees the stream end",
                   lambda: not mesh.proxy(restarting.node_id)["connected"])
        restarting.start_proxy()  # same instance name, same ports
        wait_until("the new sidecar connected and acked", lambda: mesh.acked(restarting.node_id))
        back = time.monotonic()
        self.assertLess(back - killed, GRACE, "the restart took longer than the grace period")
        # Watch past the end of the grace period: the endpoint is never withdrawn.
        checks = 0
        while time.monotonic() < killed + GRACE + 0.5:
            self.assertEqual(mesh.sent_endpoints(checkout.node_id, "billing"),
                             shop.billing_ports())
            self.assertEqual(checkout.cluster_endpoints("billing"), shop.billing_ports())
            checks += 1
        self.assertGreater(checks, 10)
        # Nothing was pushed to checkout: the instance came back the same.
        self.assertEqual(checkout.xds()["types"][eds_type]["acked_version"], eds_before)
        self.assertEqual([p["id"] for p in mesh.proxies() if p["instance"] == restarting.name],
                         [restarting.node_id])
        self.assertEqual(mesh.metric("trellisd_registry_instances"), len(shop.instances))
        with RawConnection(checkout.outbound_port) as conn:
            seen = {send_request(conn, "billing").header("x-echo-instance") for _ in range(10)}
        self.assertEqual(seen, {"billing-1", "billing-2"})
        print(f"\nbilling-2's sidecar restarted: back (connected, acked) "
              f"{(back - killed) * 1000:.0f} ms after SIGKILL, grace {GRACE_MS} ms; "
              f"checkout's EDS version unchanged")


class DamagedStore(TrellisTestCase):
    def start_failure(self, data_dir):
        """Runs trellisd on `data_dir`; (exit code, stderr, seconds) once it exits."""
        workdir = make_scratch_dir("trellisd-damaged")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", workdir], check=False))
        port_file = os.path.join(workdir, "api-port")
        started = time.monotonic()
        result = subprocess.run(
            [binary(TRELLISD), "--data-dir", data_dir, "--api-address", "127.0.0.1:0",
             "--xds-address", "127.0.0.1:0", "--xds-tls-address", "127.0.0.1:0",
             "--api-port-file", port_file,
             "--xds-port-file", os.path.join(workdir, "xds-port")],
            capture_output=True, text=True, timeout=START_FAILURE_TIMEOUT, check=False)
        elapsed = time.monotonic() - started
        self.assertFalse(os.path.exists(port_file), "trellisd served on a damaged store")
        return result.returncode, result.stderr, elapsed

    def test_garbage_store_stops_trellisd(self):
        data_dir = make_scratch_dir("trellisd-garbage")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", data_dir], check=False))
        path = os.path.join(data_dir, "store.db")
        with open(path, "wb") as f:
            f.write(b"this is not a database\n" * 400)
        code, stderr, elapsed = self.start_failure(data_dir)
        self.assertNotEqual(code, 0, stderr)
        self.assertIn(path, stderr)
        self.assertLess(elapsed, 2.0)
        print(f"\ngarbage store.db: trellisd exited {code} in {elapsed * 1000:.0f} ms: "
              f"{stderr.strip()}")

    def test_truncated_store_stops_trellisd(self):
        mesh = Mesh(self)
        mesh.apply_shop()
        mesh.stop()
        path = os.path.join(mesh.data_dir, "store.db")
        # Whole, the same file serves the shop again: what is cut below is a real store.
        mesh.start()
        stored = mesh.get("/api/v1/resources?namespace=shop")["items"]
        self.assertEqual(len(stored), SHOP_RESOURCES)
        mesh.stop()
        size = os.path.getsize(path)
        self.assertFalse(os.path.exists(path + "-wal"), "a clean stop leaves no WAL behind")
        with open(path, "r+b") as f:
            f.truncate(size // 2)
        code, stderr, elapsed = self.start_failure(mesh.data_dir)
        self.assertNotEqual(code, 0, stderr)
        self.assertIn(path, stderr)
        self.assertLess(elapsed, 2.0)
        print(f"\nstore.db cut from {size} to {size // 2} bytes: trellisd exited {code} in "
              f"{elapsed * 1000:.0f} ms: {stderr.strip()}")


class Applies(TrellisTestCase):
    def setUp(self):
        self.mesh = Mesh(self)
        self.mesh.apply_shop()

    def test_concurrent_read_modify_write_one_wins_one_conflicts(self):
        mesh = self.mesh
        for attempt in range(5):
            history = mesh.get("/api/v1/history/HTTPRoute/shop/billing")["items"]
            version, document = route_document(mesh)
            # As Kubernetes spells it: a string.
            self.assertEqual(document["metadata"]["resourceVersion"], str(version))
            edits = []
            for weight in (10 + attempt, 20 + attempt):
                edit = yaml.safe_load(yaml.safe_dump(document))
                edit["spec"]["rules"][0]["backendRefs"] = [
                    {"name": "billing", "port": 80, "weight": 100 - weight},
                    {"name": "billing-v2", "port": 80, "weight": weight}]
                edits.append(edit)
            barrier = threading.Barrier(len(edits))
            answers = [None] * len(edits)

            def client(i):
                files = [(f"client-{i}.yaml", yaml.safe_dump(edits[i]))]
                barrier.wait()
                answers[i] = mesh.apply_files(files)

            threads = [threading.Thread(target=client, args=(i,)) for i in range(len(edits))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(10)
            statuses = [status for status, _ in answers]
            self.assertEqual(sorted(statuses), [200, 409], answers)
            winner = statuses.index(200)
            loser = 1 - winner
            self.assertIn("HTTPRoute shop/billing", answers[loser][1]["error"])
            new_version, stored = route_document(mesh)
            self.assertEqual(without_version(stored), without_version(edits[winner]))
            self.assertEqual(answers[winner][1]["results"][0]["resourceVersion"], new_version)
            after = mesh.get("/api/v1/history/HTTPRoute/shop/billing")["items"]
            self.assertEqual(len(after), len(history) + 1)
            self.assertEqual(after[-1]["revision"], new_version)
            self.assertEqual(yaml.safe_load(after[-1]["document"]),
                             without_version(edits[winner]))
            # The loser re-reads and retries: its change is not lost, it is applied on top.
            retry = dict(edits[loser], metadata=dict(edits[loser]["metadata"],
                                                     resourceVersion=str(new_version)))
            status, body = mesh.apply_files([("retry.yaml", yaml.safe_dump(retry))])
            self.assertEqual(status, 200, body)
            self.assertEqual(without_version(route_document(mesh)[1]),
                             without_version(edits[loser]))

    def test_invalid_apply_is_rejected_and_proxies_keep_their_configuration(self):
        mesh = self.mesh
        billing = mesh.start_instance("billing", "billing-1")
        checkout = mesh.start_instance("checkout", "checkout-1", outbound=True)
        checkout.wait_endpoints("billing", {billing.inbound_port})
        for inst in (billing, checkout):
            wait_until(f"{inst.node_id} acked", lambda i=inst: mesh.acked(i.node_id))
        proxies_before = {p["id"]: p["types"] for p in mesh.proxies()}
        config_versions = {i.node_id: i.xds()["config_version"] for i in (billing, checkout)}
        revision = mesh.get("/api/v1/resources")["revision"]
        route_version, _ = route_document(mesh)

        bad = billing_route(50, 50).replace(
            "  - backendRefs:", "  - matches:\n    - path: {type: Prefix, value: /}\n"
                                "    backendRefs:")
        bad_line = bad.splitlines().index("    - path: {type: Prefix, value: /}") + 1
        # All or nothing: a valid file beside the invalid one is not stored either.
        good = ("apiVersion: trellis.dev/v1alpha1\nkind: Service\n"
                "metadata: {name: auth, namespace: shop}\n"
                "spec:\n  ports: [{name: web, port: 8080, appProtocol: http}]\n")
        status, body = mesh.apply_files([("auth.yaml", good), ("billing-route.yaml", bad)])
        self.assertEqual(status, 400, body)
        self.assertEqual(len(body["errors"]), 1, body)
        error = body["errors"][0]
        self.assertEqual((error["file"], error["line"]), ("billing-route.yaml", bad_line), error)
        self.assertEqual(error["resource"], "HTTPRoute shop/billing")
        self.assertEqual(error["field"], "spec.rules[0].matches[0].path.type")
        self.assertIn('"Prefix"', error["message"])
        self.assertTrue(error["text"].startswith(f"billing-route.yaml:{bad_line}:"), error)

        self.assertEqual(mesh.get("/api/v1/resources")["revision"], revision)
        self.assertEqual(route_document(mesh)[0], route_version)
        auth = mesh.get("/api/v1/resources/Service/shop/auth")["document"]
        self.assertNotIn("8080", auth)
        # A valid apply afterwards (a Service neither proxy uses) makes trellisd rebuild every
        # proxy's configuration; theirs come out unchanged.
        builds = mesh.metric("trellisd_config_builds_total")
        mesh.apply_files([("auth.yaml", good)])
        wait_until("a rebuild", lambda: mesh.metric("trellisd_config_builds_total") > builds)
        self.assertEqual({p["id"]: p["types"] for p in mesh.proxies()}, proxies_before)
        self.assertEqual({i.node_id: i.xds()["config_version"] for i in (billing, checkout)},
                         config_versions)
        response = http_get(checkout.outbound_port, headers={"Host": "billing"})
        self.assertEqual((response.status, response.header("x-echo-service")), (200, "billing"))


if __name__ == "__main__":
    unittest.main()
