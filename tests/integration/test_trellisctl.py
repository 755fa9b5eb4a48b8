"""trellisctl against a real trellisd (and, for `status` and `proxy-config`, a real
trellis-proxy connected over xDS): apply, idempotent re-apply, get -o yaml round trip, diff exit
codes, delete, offline validate, history and rollback, canary, status, the token and an
unreachable server.

trellisd listens on 127.0.0.1:0 for both its API and xDS and writes the bound ports to files;
tests wait for those files and for state they can observe, never for a fixed time.
"""

import json
import os
import socket
import subprocess
import time
import unittest

import yaml

from harness import Proc, TrellisTestCase, binary, free_port, make_scratch_dir
from trellisd_harness import Trellisd

TRELLISCTL = "src/cli/trellisctl"
PROXY = "src/proxy/trellis-proxy"
CTL_TIMEOUT = 30  # seconds one trellisctl run may take
WAIT_TIMEOUT = 10.0  # seconds a pushed change may take to show

SERVICES = """\
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: billing, namespace: shop}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: billing-v2, namespace: shop}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: inventory, namespace: shop}
spec:
  ports: [{name: http, port: 80}]
  endpoints: [{address: 127.0.0.1, port: 9001}]
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: inventory-v2, namespace: shop}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: checkout, namespace: shop}
spec:
  ports: [{name: http, port: 80}]
"""

ROUTES = """\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: billing, namespace: shop}
spec:
  parentRefs:
  - {group: "", kind: Service, name: billing, port: 80}
  rules:
  - backendRefs:
    - {name: billing, port: 80, weight: 100}
"""

WORKLOADS = """\
apiVersion: trellis.dev/v1alpha1
kind: Workload
metadata: {name: checkout, namespace: shop}
spec:
  upstreams: [{name: inventory}, {name: billing}]
"""

# Line 9, column 18 is the value of appProtocol.
BAD_SERVICE = """\
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata:
  name: greeter
  namespace: shop
spec:
  ports:
  - port: 80
    appProtocol: https
"""

# Line 9, column 33 is the misspelt key.
BAD_ROUTE = """\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: billing, namespace: shop}
spec:
  parentRefs:
  - {group: "", kind: Service, name: billing, port: 80}
  rules:
  - backendRefs:
    - {name: billing, port: 80, weigth: 100}
"""

PEER_AUTHENTICATIONS = """\
apiVersion: trellis.dev/v1alpha1
kind: PeerAuthentication
metadata: {name: default, namespace: shop}
spec:
  mtls: {mode: PERMISSIVE}
---
apiVersion: trellis.dev/v1alpha1
kind: PeerAuthentication
metadata: {name: billing-strict, namespace: shop}
spec:
  targetRefs: [{kind: Service, name: billing}]
  mtls: {mode: STRICT}
"""

# Line 6, column 16 is the mode, in the wrong case.
BAD_PEER_AUTHENTICATION = """\
apiVersion: trellis.dev/v1alpha1
kind: PeerAuthentication
metadata: {name: billing-strict, namespace: shop}
spec:
  targetRefs: [{kind: Service, name: billing}]
  mtls: {mode: strict}
"""


def ctl_env(**extra):
    """The environment for trellisctl: none of the caller's TRELLIS_* settings leak in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    env.update(extra)
    return env


class TrellisctlTest(TrellisTestCase):
    def setUp(self):
        self.trellisd = Trellisd(self)
        self.files = make_scratch_dir("trellisctl-files")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", self.files], check=False))

    # -- helpers --------------------------------------------------------------------------------

    def ctl(self, *args, stdin=None, token=True, server=None):
        """Runs trellisctl; returns (exit code, stdout, stderr)."""
        env = ctl_env(TRELLIS_SERVER=server or self.trellisd.url)
        if token:
            env["TRELLIS_TOKEN_FILE"] = os.path.join(self.trellisd.data_dir, "api-token")
        done = subprocess.run([binary(TRELLISCTL), *args], input=stdin, capture_output=True,
                              text=True, env=env, timeout=CTL_TIMEOUT)
        return done.returncode, done.stdout, done.stderr

    def ok(self, *args, **kw):
        code, out, err = self.ctl(*args, **kw)
        self.assertEqual(code, 0, f"trellisctl {' '.join(args)} failed:\n{out}{err}")
        return out

    def write(self, relative, text):
        path = os.path.join(self.files, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def apply_shop(self):
        self.write("mesh/1-services.yaml", SERVICES)
        self.write("mesh/2-routes.yml", ROUTES)
        self.write("mesh/sub/3-workloads.yaml", WORKLOADS)
        self.write("mesh/README.md", "not applied")
        return self.ok("apply", "-f", os.path.join(self.files, "mesh"))

    def route_weights(self, name="billing"):
        """{backend: weight} of the first rule of HTTPRoute shop/NAME, read back as YAML."""
        document = yaml.safe_load(self.ok("get", "hr", name, "-n", "shop", "-o", "yaml"))
        refs = document["spec"]["rules"][0]["backendRefs"]
        return {ref["name"]: ref.get("weight", 1) for ref in refs}

    def wait_for(self, what, predicate, timeout=WAIT_TIMEOUT):
        """Polls predicate() (which returns a value or None) until it gives a value."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(0.05)
        self.fail(f"timed out waiting for {what}")

    # -- apply, get, diff, delete ---------------------------------------------------------------

    def test_apply_folder_is_idempotent(self):
        out = self.apply_shop()
        self.assertEqual(out.splitlines(), [
            "Service shop/billing created",
            "Service shop/billing-v2 created",
            "Service shop/inventory created",
            "Service shop/inventory-v2 created",
            "Service shop/checkout created",
            "HTTPRoute shop/billing created",
            "Workload shop/checkout created",
        ])
        again = self.apply_shop()
        self.assertEqual(again.splitlines(), [
            line.replace("created", "unchanged") for line in out.splitlines()])

        # A change to one document: only it is configured.
        mesh = os.path.join(self.files, "mesh")
        self.write("mesh/2-routes.yml", ROUTES.replace("weight: 100", "weight: 50"))
        out = self.ok("apply", "-f", mesh)
        self.assertIn("HTTPRoute shop/billing configured", out)
        self.assertIn("Service shop/billing unchanged", out)

        # --dry-run reports and changes nothing.
        self.write("mesh/2-routes.yml", ROUTES)
        out = self.ok("apply", "--dry-run", "-f", mesh)
        self.assertIn("HTTPRoute shop/billing configured (dry run)", out)
        self.assertEqual(self.route_weights(), {"billing": 50})

    def test_get_tables_and_yaml_round_trip(self):
        self.apply_shop()
        table = self.ok("get", "svc", "-n", "shop").splitlines()
        self.assertEqual(table[0].split(), ["NAMESPACE", "NAME", "VERSION", "PORTS", "ENDPOINTS",
                                            "LB"])
        self.assertEqual([row.split()[1] for row in table[1:]],
                         ["billing", "billing-v2", "checkout", "inventory", "inventory-v2"])
        routes = self.ok("get", "HTTPRoutes", "-A")
        self.assertIn("Service/billing", routes)
        self.assertIn("billing:80=100", routes)

        code, out, err = self.ctl("get", "wl")
        self.assertEqual((code, out), (0, ""))
        self.assertIn("No workloads found in namespace default.", err)

        listing = json.loads(self.ok("get", "all", "-A", "-o", "json"))
        self.assertEqual(len(listing["items"]), 7)

        # Everything as YAML, applied back: nothing changes (resourceVersions still current).
        stream = self.ok("get", "all", "-n", "shop", "-o", "yaml")
        documents = list(yaml.safe_load_all(stream))
        self.assertEqual(len(documents), 7)
        self.assertTrue(all(isinstance(d["metadata"]["resourceVersion"], str) for d in documents))
        out = self.ok("apply", "-f", "-", stdin=stream)
        self.assertEqual(len(out.splitlines()), 7)
        self.assertTrue(all(line.endswith(" unchanged") for line in out.splitlines()), out)

        # An edit of what get printed applies; a second edit of the same (now stale) copy is a
        # conflict that says what to do.
        one = self.ok("get", "hr/billing", "-n", "shop", "-o", "yaml")
        self.assertIn("HTTPRoute shop/billing configured",
                      self.ok("apply", "-f", "-", stdin=one.replace("weight: 100", "weight: 7")))
        code, out, err = self.ctl("apply", "-f", "-", stdin=one.replace("weight: 100", "weight: 8"))
        self.assertEqual(code, 1, out + err)
        self.assertIn("someone changed it since you read it", err)
        self.assertEqual(self.route_weights(), {"billing": 7})

        code, out, err = self.ctl("get", "hr", "nope", "-n", "shop")
        self.assertEqual(code, 1)
        self.assertIn("HTTPRoute shop/nope not found (list them with: trellisctl get httproutes -n "
                      "shop)", err)
        code, out, err = self.ctl("get", "pods")
        self.assertEqual(code, 1)
        self.assertIn('unknown resource kind "pods"', err)

    def test_apply_errors_name_file_line_and_field(self):
        self.apply_shop()
        path = self.write("bad-route.yaml", BAD_ROUTE)
        code, out, err = self.ctl("apply", "-f", path)
        self.assertEqual(code, 1, out + err)
        self.assertIn(f'{path}:9:33: HTTPRoute shop/billing: spec.rules[0].backendRefs[0].weigth: '
                      'unknown field "weigth" (did you mean "weight"?)', err)
        self.assertIn("nothing was changed", err)
        self.assertEqual(self.route_weights(), {"billing": 100})

    def test_peer_authentication_apply_get_delete(self):
        self.apply_shop()
        path = self.write("pa.yaml", PEER_AUTHENTICATIONS)
        self.assertEqual(self.ok("apply", "-f", path).splitlines(), [
            "PeerAuthentication shop/default created",
            "PeerAuthentication shop/billing-strict created",
        ])
        self.assertEqual(self.ok("apply", "-f", path).splitlines(), [
            "PeerAuthentication shop/default unchanged",
            "PeerAuthentication shop/billing-strict unchanged",
        ])
        table = self.ok("get", "pa", "-n", "shop").splitlines()
        self.assertEqual(table[0].split(), ["NAMESPACE", "NAME", "VERSION", "TARGETS", "MODE"])
        rows = {row.split()[1]: row.split()[3:] for row in table[1:]}
        self.assertEqual(rows, {"billing-strict": ["Service/billing", "STRICT"],
                                "default": ["(namespace)", "PERMISSIVE"]})
        document = yaml.safe_load(self.ok("get", "peerauthentication", "billing-strict", "-n",
                                          "shop", "-o", "yaml"))
        self.assertEqual(document["spec"]["mtls"], {"mode": "STRICT"})

        # A wrong mode is refused with file, line, column, resource and field.
        bad = self.write("bad-pa.yaml", BAD_PEER_AUTHENTICATION)
        code, out, err = self.ctl("apply", "-f", bad)
        self.assertEqual(code, 1, out + err)
        self.assertIn(f'{bad}:6:16: PeerAuthentication shop/billing-strict: spec.mtls.mode: '
                      'unknown value "strict" (expected STRICT, PERMISSIVE or DISABLE)', err)
        self.assertIn("nothing was changed", err)

        # A target Service that does not exist is a warning, not a refusal.
        gone = self.write("gone.yaml", PEER_AUTHENTICATIONS.replace("name: billing}",
                                                                    "name: gone}"))
        code, out, err = self.ctl("apply", "-f", gone)
        self.assertEqual(code, 0, out + err)
        self.assertIn("PeerAuthentication shop/billing-strict configured", out)
        self.assertIn(f"warning: {gone}:11:16: PeerAuthentication shop/billing-strict: "
                      "spec.targetRefs[0]: Service shop/gone not found", err)

        self.assertEqual(self.ok("delete", "pa/billing-strict", "-n", "shop"),
                         "PeerAuthentication shop/billing-strict deleted\n")
        table = self.ok("get", "peerauthentications", "-A").splitlines()
        self.assertEqual([row.split()[:2] for row in table[1:]], [["shop", "default"]])

    def test_diff_exit_codes(self):
        mesh = os.path.join(self.files, "mesh")
        self.apply_shop()
        code, out, err = self.ctl("diff", "-f", mesh)
        self.assertEqual((code, out), (0, ""), err)

        changed = self.write("changed/routes.yaml", ROUTES.replace("weight: 100", "weight: 90"))
        code, out, err = self.ctl("diff", "-f", changed)
        self.assertEqual(code, 1, err)
        self.assertIn("--- HTTPRoute shop/billing (live, resourceVersion ", out)
        self.assertIn(f"+++ HTTPRoute shop/billing ({changed}:1)", out)
        minus = [line for line in out.splitlines() if line.startswith("-") and "weight" in line]
        plus = [line for line in out.splitlines() if line.startswith("+") and "weight" in line]
        self.assertEqual([line.split()[-1] for line in minus + plus], ["100", "90"], out)

        new = self.write("new/route.yaml", ROUTES.replace("name: billing, namespace",
                                                          "name: fresh, namespace"))
        code, out, err = self.ctl("diff", "-f", new)
        self.assertEqual(code, 1)
        self.assertIn("--- HTTPRoute shop/fresh (not in the mesh)", out)

        code, out, err = self.ctl("diff", "-f", os.path.join(self.files, "missing.yaml"))
        self.assertEqual(code, 2, out + err)  # an error, not "differences"
        self.assertIn("missing.yaml: no such file or folder", err)

        # diff changed nothing.
        self.assertEqual(self.route_weights(), {"billing": 100})

    def test_delete_by_name_and_by_file(self):
        self.apply_shop()
        # A Service a route still sends traffic to: trellisd refuses, or deletes and warns that
        # the route's share now gets 500; either way trellisctl says so.
        self.ok("canary", "billing", "--to", "billing-v2", "--weight", "10", "-n", "shop")
        code, out, err = self.ctl("delete", "svc", "billing-v2", "-n", "shop")
        self.assertIn("billing-v2", err)
        if code == 0:
            self.assertIn("warning: ", err)
            self.assertEqual(out, "Service shop/billing-v2 deleted\n")
        else:
            self.assertIn("cannot delete Service shop/billing-v2", err)
            self.ok("delete", "svc", "billing-v2", "-n", "shop", "--ignore-not-found")

        self.assertEqual(self.ok("delete", "hr", "billing", "-n", "shop"),
                         "HTTPRoute shop/billing deleted\n")
        code, out, err = self.ctl("get", "hr", "billing", "-n", "shop")
        self.assertEqual(code, 1)
        self.assertIn("not found", err)
        code, out, err = self.ctl("delete", "hr", "billing", "-n", "shop")
        self.assertEqual(code, 1)
        self.assertIn("HTTPRoute shop/billing not found", err)
        self.assertEqual(self.ctl("delete", "hr", "billing", "-n", "shop", "--ignore-not-found")[0],
                         0)

        # -f deletes what the files define, last document first.
        out = self.ok("delete", "-f", os.path.join(self.files, "mesh"), "--ignore-not-found")
        self.assertEqual(out.splitlines(), [
            "Workload shop/checkout deleted",
            "Service shop/checkout deleted",
            "Service shop/inventory-v2 deleted",
            "Service shop/inventory deleted",
            "Service shop/billing deleted",
        ])
        code, out, err = self.ctl("get", "all", "-A")
        self.assertEqual((code, out), (0, ""))

    # -- validate (offline) ---------------------------------------------------------------------

    def test_validate_is_offline_and_precise(self):
        # A server address nothing listens on: validate must not need trellisd.
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            server = f"http://127.0.0.1:{unused.getsockname()[1]}"
            good = self.write("good/mesh.yaml", SERVICES + "---\n" + ROUTES)
            code, out, err = self.ctl("validate", "-f", good, server=server, token=False)
            self.assertEqual(code, 0, err)
            self.assertEqual(out, "valid: 6 resources in 1 file\n")

            bad = self.write("bad/service.yaml", BAD_SERVICE)
            code, out, err = self.ctl("validate", "-f", bad, server=server, token=False)
            self.assertEqual(code, 1)
            self.assertIn(f'{bad}:9:18: Service shop/greeter: spec.ports[0].appProtocol: unknown '
                          'appProtocol "https" (expected http, http2, h2c, kubernetes.io/h2c, grpc '
                          'or tcp)', err)

            code, out, err = self.ctl("validate", "-f", bad, "-o", "json", server=server,
                                      token=False)
            self.assertEqual(code, 1)
            report = json.loads(out)
            self.assertFalse(report["valid"])
            self.assertEqual((report["errors"][0]["line"], report["errors"][0]["column"]), (9, 18))

    # -- history and rollback -------------------------------------------------------------------

    def test_history_and_rollback(self):
        self.apply_shop()
        route = self.write("route.yaml", ROUTES)
        for weight in (50, 25):
            self.write("route.yaml", ROUTES.replace("weight: 100", f"weight: {weight}"))
            self.ok("apply", "-f", route)
        rows = [row.split() for row in self.ok("history", "hr", "billing", "-n", "shop")
                .splitlines()]
        self.assertEqual(rows[0], ["REVISION", "CHANGE", "LINES"])
        self.assertEqual([row[1] for row in rows[1:]], ["created", "updated", "updated"])
        self.assertEqual(rows[2][2:], ["+1", "-1"])
        first_revision = int(rows[1][0])

        self.assertIn("weight: 100",
                      self.ok("history", "hr", "billing", "-n", "shop", "--revision",
                              str(first_revision)))

        out = self.ok("rollback", "hr", "billing", "-n", "shop")
        self.assertTrue(
            out.startswith("HTTPRoute shop/billing rolled back to the previous revision"), out)
        self.assertEqual(self.route_weights(), {"billing": 50})

        out = self.ok("rollback", "httproute/billing", "-n", "shop", "--to", str(first_revision))
        self.assertTrue(out.startswith(f"HTTPRoute shop/billing rolled back to revision "
                                       f"{first_revision}"), out)
        self.assertEqual(self.route_weights(), {"billing": 100})

        code, out, err = self.ctl("history", "hr", "never", "-n", "shop")
        self.assertEqual(code, 1)
        self.assertIn("HTTPRoute shop/never has no history", err)

    # -- canary ---------------------------------------------------------------------------------

    def test_canary_weight_promote_and_abort(self):
        self.apply_shop()
        out = self.ok("canary", "billing", "--to", "billing-v2", "--weight", "10", "-n", "shop")
        self.assertEqual(out, "HTTPRoute shop/billing configured\n"
                              "  rule 0: billing 90%, billing-v2 10%\n")
        self.assertEqual(self.route_weights(), {"billing": 90, "billing-v2": 10})

        out = self.ok("canary", "billing", "--to", "billing-v2", "--weight", "10", "-n", "shop")
        self.assertTrue(out.startswith("HTTPRoute shop/billing unchanged"), out)

        out = self.ok("canary", "billing", "--to", "billing-v2", "--abort", "-n", "shop")
        self.assertEqual(out, "HTTPRoute shop/billing configured\n  rule 0: billing 100%\n")
        self.assertEqual(self.route_weights(), {"billing": 100})

        self.ok("canary", "billing", "--to", "billing-v2", "--weight", "30", "-n", "shop")
        out = self.ok("canary", "billing", "--to", "billing-v2", "--promote", "-n", "shop")
        self.assertEqual(out, "HTTPRoute shop/billing configured\n  rule 0: billing-v2 100%\n")
        self.assertEqual(self.route_weights(), {"billing-v2": 100})

        # Every step is a revision: the history shows them and rollback undoes the promotion.
        rows = self.ok("history", "hr", "billing", "-n", "shop").splitlines()
        self.assertEqual(len(rows), 1 + 5)
        self.ok("rollback", "hr", "billing", "-n", "shop")
        self.assertEqual(self.route_weights(), {"billing": 70, "billing-v2": 30})

    def test_canary_creates_a_route_and_refuses_a_missing_target(self):
        self.apply_shop()
        out = self.ok("canary", "inventory", "--to", "inventory-v2", "--weight", "5", "-n", "shop")
        self.assertEqual(out, "HTTPRoute shop/inventory created\n"
                              "  rule 0: inventory 95%, inventory-v2 5%\n")
        self.assertEqual(self.route_weights("inventory"), {"inventory": 95, "inventory-v2": 5})

        code, out, err = self.ctl("canary", "billing", "--to", "billing-v9", "--weight", "10",
                                  "-n", "shop")
        self.assertEqual(code, 1)
        self.assertIn("Service shop/billing-v9 does not exist: apply it", err)
        code, out, err = self.ctl("canary", "billing", "--to", "billing-v2", "--weight", "10",
                                  "--promote", "-n", "shop")
        self.assertEqual(code, 2)
        self.assertIn("exactly one of --weight N (0-100), --promote or --abort", err)
        self.assertEqual(self.route_weights(), {"billing": 100})

    # -- status and proxy-config ----------------------------------------------------------------

    def start_proxy(self, service, instance, workload_ns="shop"):
        workdir = make_scratch_dir(f"proxy-{instance}")
        port_file = os.path.join(workdir, "admin-port")
        args = [binary(PROXY), "--xds", f"127.0.0.1:{self.trellisd.xds_port}",
                "--service", service, "--namespace", workload_ns, "--instance", instance,
                "--inbound", f"127.0.0.1:{free_port()}", "--app", f"127.0.0.1:{free_port()}",
                "--outbound", f"127.0.0.1:{free_port()}", "--concurrency", "1",
                "--admin-address", "127.0.0.1:0", "--admin-port-file", port_file,
                "--log-level", "warn"]
        return Proc(args, test=self, name=f"trellis-proxy-{instance}", workdir=workdir)

    def proxy_status(self, proxy_id):
        code, out, _ = self.ctl("status", "-o", "json")
        if code != 0:
            return None
        for item in json.loads(out)["items"]:
            if item["id"] == proxy_id:
                return item
        return None

    def test_status_and_proxy_config(self):
        code, out, err = self.ctl("status")
        self.assertEqual((code, out), (0, ""))
        self.assertIn("No proxies have connected", err)

        self.apply_shop()
        self.start_proxy("checkout", "checkout-1")

        def acked_everything():
            item = self.proxy_status("checkout-1.shop")
            if not item or not item["connected"]:
                return None
            types = item["types"]
            done = all(t in types and types[t]["acked"] and types[t]["acked"] == types[t]["sent"]
                       for t in ("lds", "rds", "cds", "eds"))
            return item if done else None

        self.wait_for("checkout-1.shop to ACK LDS, RDS, CDS and EDS", acked_everything)
        table = self.ok("status").splitlines()
        self.assertEqual(table[0].split(), ["ID", "SERVICE", "NAMESPACE", "CONNECTED", "LDS", "RDS",
                                            "CDS", "EDS"])
        row = next(r.split() for r in table[1:] if r.startswith("checkout-1.shop "))
        self.assertEqual(row[:4], ["checkout-1.shop", "checkout", "shop", "yes"])
        self.assertEqual([row[i] for i in (4, 6, 8, 10)], ["ACK"] * 4, table)

        listeners = self.ok("proxy-config", "listeners", "checkout-1.shop")
        self.assertIn("mesh/inbound", listeners)
        self.assertIn("mesh/outbound", listeners)
        raw = json.loads(self.ok("proxy-config", "clusters", "checkout-1.shop", "-o", "json"))
        clusters = self.ok("proxy-config", "clusters", "checkout-1.shop").splitlines()
        self.assertEqual(len(clusters), 1 + len(raw))
        for cluster in raw:
            self.assertTrue(any(line.startswith(cluster["name"] + " ") for line in clusters),
                            clusters)
        endpoints = self.ok("proxy-config", "endpoints", "checkout-1.shop")
        self.assertIn("127.0.0.1:9001", endpoints)  # inventory's endpoint from its Service

        # A canary reaches the proxy: its outbound routes to billing carry the new weights.
        self.ok("canary", "billing", "--to", "billing-v2", "--weight", "10", "-n", "shop")

        def split_pushed():
            routes = self.ok("proxy-config", "routes", "checkout-1.shop")
            lines = [line for line in routes.splitlines() if "billing-v2" in line]
            return lines if lines and "=90" in lines[0] and "=10" in lines[0] else None

        self.wait_for("the 90/10 split in checkout-1.shop's routes", split_pushed)

        code, out, err = self.ctl("proxy-config", "routes", "nobody.shop")
        self.assertEqual(code, 1)
        self.assertIn("trellisctl status", err)

    # -- the token and the server address -------------------------------------------------------

    def test_writes_need_the_token(self):
        path = self.write("services.yaml", SERVICES)
        code, out, err = self.ctl("apply", "-f", path, token=False)
        self.assertEqual(code, 1)
        self.assertIn("set --token or TRELLIS_TOKEN", err)
        self.assertIn("api-token", err)

        code, out, err = self.ctl("apply", "-f", path, "--token", "not-the-token", token=False)
        self.assertEqual(code, 1)
        self.assertIn("refused the token", err)

        token = self.trellisd.token
        self.assertIn("Service shop/billing created",
                      self.ok("apply", "-f", path, "--token", token, token=False))
        # Reads need no token.
        self.assertIn("billing", self.ok("get", "svc", "-n", "shop", token=False))

    def test_unreachable_server_says_what_to_do(self):
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
            url = f"http://127.0.0.1:{unused.getsockname()[1]}"
            code, out, err = self.ctl("get", "svc", server=url)
        self.assertEqual(code, 1)
        self.assertIn(f"cannot reach trellisd at {url}", err)
        self.assertIn("is it running? (trellisd --data-dir DIR) or set --server/TRELLIS_SERVER",
                      err)


if __name__ == "__main__":
    unittest.main()
