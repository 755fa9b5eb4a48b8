"""Zero trust in a mesh of real processes: sidecars get their identities from trellisd's CA,
call each other over mutual TLS without the applications knowing, and the server's sidecar
learns who called (x-forwarded-client-cert to the application, AuthorizationPolicy by principal).
PeerAuthentication switches a Service between PERMISSIVE (plaintext still accepted, and counted)
and STRICT (refused) while everything runs; the trust bundle arrives over SDS.
"""

import json
import os
import shutil
import socket
import subprocess
import time
import unittest

from harness import TrellisTestCase, binary, http_get, make_scratch_dir
from mesh_harness import Mesh, wait_until
from test_proxy_identity import IdentityInstance, write_token_file
from test_xds_mtls import XdsMutualTlsTestCase, ask, sidecar_metadata, tls_context

NS = "shop"
TD = "trellis.local"


def spiffe(sa):
    return f"spiffe://{TD}/ns/{NS}/sa/{sa}"


def peer_authentication(name, mode, service=None):
    targets = f"targetRefs: [{{kind: Service, name: {service}}}]\n  " if service else ""
    return (f"apiVersion: trellis.dev/v1alpha1\nkind: PeerAuthentication\n"
            f"metadata: {{name: {name}, namespace: {NS}}}\n"
            f"spec:\n  {targets}mtls: {{mode: {mode}}}\n")


def allow_only(name, service, principal):
    return (f"apiVersion: trellis.dev/v1alpha1\nkind: AuthorizationPolicy\n"
            f"metadata: {{name: {name}, namespace: {NS}}}\n"
            f"spec:\n  targetRefs: [{{kind: Service, name: {service}}}]\n  action: ALLOW\n"
            f"  rules:\n  - from:\n    - source: {{principals: [\"{principal}\"]}}\n")


def plaintext_answer(port):
    """The first bytes a plaintext HTTP request gets from `port` ("" if the connection is
    closed or reset without an answer)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: billing\r\nConnection: close\r\n\r\n")
            return sock.recv(64).decode("latin-1")
    except (ConnectionResetError, BrokenPipeError):
        return ""


class MeshTestCase(TrellisTestCase):
    """trellisd with examples/shop applied; start() runs an instance whose sidecar joins with a
    token for the service's own account."""
    mesh_args = ()

    def setUp(self):
        self.mesh = Mesh(self, extra_args=self.mesh_args)
        self.mesh.apply_shop()

    def start(self, service, name, outbound=False):
        status, body = self.mesh.request("POST", "/api/v1/identity/tokens",
                                         {"namespace": NS, "serviceAccount": service})
        self.assertEqual(status, 200, body)
        inst = IdentityInstance(self.mesh, service, name, NS, write_token_file(body["token"]),
                                outbound=outbound)
        self.mesh.instances.append(inst)
        return inst

    def apply(self, *documents):
        status, body = self.mesh.apply_files([("security.yaml", "---\n".join(documents))])
        self.assertEqual(status, 200, body)

    def inbound_mode(self, inst):
        for listener in inst.config_dump()["listeners"]:
            if listener["name"] == "mesh/inbound":
                return listener.get("mtls")
        return None

    @staticmethod
    def logs(inst):
        return inst.proxy.stdout_text() + inst.proxy.stderr_text()

    def call_billing(self, checkout):
        return http_get(checkout.outbound_port, "/charge", headers={"Host": "billing"})


class MeshMutualTlsTest(MeshTestCase):
    def test_sidecars_call_each_other_over_mutual_tls(self):
        billing = self.start("billing", "billing-1")
        checkout = self.start("checkout", "checkout-1", outbound=True)
        checkout.wait_endpoints("billing", {billing.inbound_port})

        # trellisd tells the caller which identity billing's endpoint must present.
        clusters = checkout.config_dump()["clusters"]
        billing_cluster = next(c for c in clusters if c["name"].startswith("shop/billing:"))
        self.assertEqual([e.get("identity") for e in billing_cluster["endpoints"]],
                         [spiffe("billing")])

        response = self.call_billing(checkout)
        self.assertEqual(response.status, 200, response.body)
        echoed = json.loads(response.body)
        # The application behind billing's sidecar learns the caller from its certificate.
        self.assertEqual(echoed["headers"].get("x-forwarded-client-cert"),
                         [f"By={spiffe('billing')};URI={spiffe('checkout')}"])
        self.assertGreaterEqual(
            billing.metric("trellis_tls_handshakes_total", side="downstream"), 1)
        self.assertGreaterEqual(checkout.metric("trellis_tls_handshakes_total", side="upstream"),
                                1)
        # The trust bundle came over SDS.
        sds = billing.xds()["types"][
            "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"]
        self.assertEqual(sds["resources"], 1, sds)
        self.assertTrue(sds["acked_version"], sds)

        # A client cannot forge the header: the sidecar replaces what it sent.
        response = http_get(checkout.outbound_port, "/",
                            headers={"Host": "billing",
                                     "x-forwarded-client-cert": "URI=spiffe://evil/ns/x/sa/y"})
        self.assertEqual(json.loads(response.body)["headers"].get("x-forwarded-client-cert"),
                         [f"By={spiffe('billing')};URI={spiffe('checkout')}"])

    def test_permissive_counts_plaintext_and_strict_refuses_it(self):
        billing = self.start("billing", "billing-1")
        checkout = self.start("checkout", "checkout-1", outbound=True)
        checkout.wait_endpoints("billing", {billing.inbound_port})
        self.assertEqual(self.inbound_mode(billing), "permissive")

        # PERMISSIVE (the default): a plaintext client is served, and counted.
        self.assertTrue(plaintext_answer(billing.inbound_port).startswith("HTTP/1.1 200"))
        billing.wait_metric(1, "trellis_downstream_plaintext_connections_total")

        self.apply(peer_authentication("billing-strict", "STRICT", "billing"))
        wait_until("billing's inbound listener in STRICT",
                   lambda: self.inbound_mode(billing) == "strict", procs=[billing.proxy])
        self.assertEqual(plaintext_answer(billing.inbound_port), "")
        wait_until("the refusal counted", lambda: billing.metric(
            "trellis_tls_handshake_failures_total", side="downstream",
            reason="plaintext_refused") >= 1, procs=[billing.proxy])
        # Mutual TLS between the sidecars goes on.
        self.assertEqual(self.call_billing(checkout).status, 200)

        # A namespace-wide DISABLE loses to the Service's STRICT (the most specific wins).
        self.apply(peer_authentication("billing-strict", "STRICT", "billing"),
                   peer_authentication("shop-off", "DISABLE"))
        self.assertEqual(self.inbound_mode(billing), "strict")

    def test_authorization_policy_decides_by_the_callers_identity(self):
        billing = self.start("billing", "billing-1")
        checkout = self.start("checkout", "checkout-1", outbound=True)
        checkout.wait_endpoints("billing", {billing.inbound_port})
        self.assertEqual(self.call_billing(checkout).status, 200)

        self.apply(allow_only("billing-callers", "billing", spiffe("frontend")))
        wait_until("checkout's call denied",
                   lambda: self.call_billing(checkout).status == 403, procs=[billing.proxy])
        response = self.call_billing(checkout)
        self.assertEqual(response.header("x-trellis-reason"), "rbac_denied")
        self.assertGreaterEqual(billing.metric("trellis_authz_denied_total",
                                               listener="mesh/inbound"), 1)
        wait_until("the access-log line naming the policy",
                   lambda: "policy=shop/billing-callers" in self.logs(billing),
                   procs=[billing.proxy])
        self.assertIn(f"principal={spiffe('checkout')}", self.logs(billing))

        self.apply(allow_only("billing-callers", "billing", spiffe("checkout")))
        wait_until("checkout's call allowed again",
                   lambda: self.call_billing(checkout).status == 200, procs=[billing.proxy])


class RenewalUnderTrafficTest(MeshTestCase):
    """Certificates of 4 s: both sidecars renew about every 2 s while requests flow between
    them over mutual TLS; no request fails, and new connections present the new certificate."""
    mesh_args = ("--cert-ttl", "4s")

    def test_renewals_drop_no_request(self):
        billing = self.start("billing", "billing-1")
        checkout = self.start("checkout", "checkout-1", outbound=True)
        checkout.wait_endpoints("billing", {billing.inbound_port})
        first_serial = billing.certs()["certificate"]["serial_number"]
        def renewed_twice():
            return all(inst.metric("trellis_identity_renewals_total", result="success") >= 2
                       for inst in (billing, checkout))
        statuses = []
        deadline = time.monotonic() + 30  # about 4 s is expected; generous for loaded machines
        while time.monotonic() < deadline and not (renewed_twice() and len(statuses) >= 20):
            statuses.append(self.call_billing(checkout).status)
        self.assertTrue(renewed_twice(), "both sidecars renewed twice")
        self.assertEqual(set(statuses), {200}, statuses)
        self.assertNotEqual(billing.certs()["certificate"]["serial_number"], first_serial)
        # Handshakes made after the renewals verified the renewed certificates.
        self.assertEqual(checkout.metric("trellis_tls_handshake_failures_total"), 0)
        self.assertEqual(billing.metric("trellis_tls_handshake_failures_total"), 0)


def issuer_of(inst):
    chain = inst.certs()["certificate"]["chain_pem"]
    leaf = chain[:chain.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")]
    return subprocess.run(["openssl", "x509", "-noout", "-issuer"], input=leaf,
                          capture_output=True, text=True, check=True).stdout


def rotated_root():
    """A new root CA for the trust domain: (key file, certificate file)."""
    work = make_scratch_dir("rotated-root")
    key, cert = os.path.join(work, "key.pem"), os.path.join(work, "root.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "30", "-subj", "/O=trellis/CN=rotated root", "-addext",
                    f"subjectAltName=URI:spiffe://{TD}", "-addext",
                    "basicConstraints=critical,CA:TRUE", "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign"],
                   capture_output=True, check=True)
    os.chmod(key, 0o600)
    return key, cert


class RootRotationTest(MeshTestCase):
    """trellisd restarts with a new root. billing keeps its certificate of the old root (60 s
    lifetime: no renewal during the test) and only trusts the new root through the bundle SDS
    brings it; checkout restarts and gets a certificate of the new root. Their call succeeds
    both ways: old and new roots are trusted together during the overlap."""
    mesh_args = ("--cert-ttl", "60s")

    def test_the_new_root_reaches_sidecars_over_sds(self):
        billing = self.start("billing", "billing-1")
        checkout = self.start("checkout", "checkout-1", outbound=True)
        checkout.wait_endpoints("billing", {billing.inbound_port})
        self.assertEqual(self.call_billing(checkout).status, 200)
        sds_type = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
        old_bundle_version = billing.xds()["types"][sds_type]["acked_version"]
        swaps = self.logs(billing).count("mutual TLS: new connections present")

        key, cert = rotated_root()
        ports = self.mesh.api_port, self.mesh.xds_port, self.mesh.xds_tls_port
        self.mesh.stop()
        self.mesh._options += ["--ca-cert", cert, "--ca-key", key]
        # trellisd keeps serving xDS with its certificate of the old root, which billing trusts.
        self.mesh.start(*ports)

        wait_until("billing's trust bundle replaced over SDS", lambda: billing.xds()["types"][
            sds_type]["acked_version"] not in ("", old_bundle_version), procs=[billing.proxy])
        self.assertNotIn("rotated root", issuer_of(billing))
        # The new bundle became new TLS contexts (no new certificate was issued to billing).
        wait_until("billing's new TLS contexts", lambda: self.logs(billing).count(
            "mutual TLS: new connections present") > swaps, procs=[billing.proxy])
        checkout.kill_proxy()
        checkout.start_proxy()
        self.assertIn("rotated root", issuer_of(checkout))
        checkout.wait_endpoints("billing", {billing.inbound_port})
        # A new handshake: checkout (new root) -> billing (old root), each trusting the other.
        response = self.call_billing(checkout)
        self.assertEqual(response.status, 200, response.body)
        self.assertEqual(json.loads(response.body)["headers"]["x-forwarded-client-cert"],
                         [f"By={spiffe('billing')};URI={spiffe('checkout')}"])
        self.assertEqual(billing.metric("trellis_tls_handshake_failures_total"), 0)


class AdmissionTest(MeshTestCase):
    """A certificate proves a service account, not a service: trellisd admits a sidecar among a
    Service's endpoints only for the Service's accounts, and in a STRICT Service never without
    an identity. The impostors are hand-made xDS clients (test_xds_mtls.ask) that stay
    connected, each with a distinct inbound port to look for in checkout's endpoints."""

    def impostor(self, service, account, port, streams):
        metadata = sidecar_metadata(NS, service, account)
        metadata["INSTANCE"] = f"impostor-{port}"
        metadata["INBOUND_ADDRESS"] = f"127.0.0.1:{port}"
        context = None
        if account:
            cert, key = XdsMutualTlsTestCase.workload(self, NS, account)
            context = tls_context(self.bundle, cert, key)
        answer = ask(self.mesh.xds_tls_port if account else self.mesh.xds_port, metadata,
                     ssl_context=context, keep=streams)
        self.assertTrue(answer.responded, answer)
        return f"impostor-{port}.{NS}"

    def test_only_the_services_accounts_serve_it(self):
        with open(os.path.join(self.mesh.data_dir, "ca", "root.pem"), encoding="utf-8") as f:
            self.bundle = f.read()
        self.d = self.mesh  # for XdsMutualTlsTestCase.workload
        streams = []
        self.addCleanup(lambda: [client.close() for client in streams])
        billing = self.start("billing", "billing-1")
        checkout = self.start("checkout", "checkout-1", outbound=True)
        checkout.wait_endpoints("billing", {billing.inbound_port})

        # checkout's certificate registering as billing: connected, but no endpoint of billing.
        node = self.impostor("billing", "checkout", 1, streams)
        # billing's own account on a second instance is admitted: the check can tell them apart.
        self.impostor("billing", "billing", 2, streams)
        checkout.wait_endpoints("billing", {billing.inbound_port, 2})
        notes = self.mesh.proxy(node)["notes"]
        self.assertIn("not an endpoint of its Service: service account checkout may not serve "
                      "Service shop/billing (spec.serviceAccounts: billing)", notes)
        # The operator sees it, and who is who, in trellisctl status.
        env = dict(os.environ, TRELLIS_SERVER=self.mesh.url,
                   TRELLIS_TOKEN_FILE=os.path.join(self.mesh.data_dir, "api-token"))
        status = subprocess.run([binary("src/cli/trellisctl"), "status"], env=env,
                                capture_output=True, text=True, timeout=10, check=True).stdout
        self.assertIn("NOT AN ENDPOINT BECAUSE", status)
        self.assertIn("service account checkout may not serve Service shop/billing", status)
        self.assertIn(spiffe("billing"), status)

        # spec.serviceAccounts lets checkout's account serve billing after all.
        self.apply("apiVersion: trellis.dev/v1alpha1\nkind: Service\n"
                   f"metadata: {{name: billing, namespace: {NS}}}\n"
                   "spec:\n  ports: [{name: http, port: 80, appProtocol: http}]\n"
                   "  serviceAccounts: [billing, checkout]\n")
        checkout.wait_endpoints("billing", {billing.inbound_port, 1, 2})

        # STRICT: a plaintext sidecar (no identity) is not admitted; in PERMISSIVE it is.
        self.impostor("billing", None, 3, streams)
        checkout.wait_endpoints("billing", {billing.inbound_port, 1, 2, 3})
        self.apply(peer_authentication("billing-strict", "STRICT", "billing"))
        checkout.wait_endpoints("billing", {billing.inbound_port, 1, 2})


class RestoredNodeIdTest(MeshTestCase):
    """After a trellisd restart, an instance restored from the store (its sidecar not back yet)
    still holds its node id for its identity: another certificate cannot take it meanwhile."""

    def test_a_restored_instance_keeps_its_id_for_its_identity(self):
        billing = self.start("billing", "billing-1")
        billing.kill_proxy()
        self.mesh.restart()
        self.d = self.mesh  # for XdsMutualTlsTestCase.workload
        with open(os.path.join(self.mesh.data_dir, "ca", "root.pem"), encoding="utf-8") as f:
            bundle = f.read()
        cert, key = XdsMutualTlsTestCase.workload(self, NS, "checkout")
        answer = ask(self.mesh.xds_tls_port, sidecar_metadata(NS, "billing", "checkout"),
                     node_id="billing-1.shop", ssl_context=tls_context(bundle, cert, key))
        self.assertFalse(answer.responded, answer)
        self.assertIn(f"node id billing-1.shop is held by {spiffe('billing')} (in its grace "
                      "period)", answer.message)
        # The real one comes back to its id.
        billing.start_proxy()
        wait_until("billing-1 connected again",
                   lambda: (self.mesh.proxy("billing-1.shop") or {}).get("connected"),
                   procs=[billing.proxy])
        self.assertEqual(self.mesh.proxy("billing-1.shop")["identity"], spiffe("billing"))


class UntrustedControlPlaneTest(MeshTestCase):
    """trellisd comes back with a new root and without its previous serving certificate (a new
    machine, say), so its xDS certificate chains to a root billing has never heard of. billing's
    ADS handshake fails; it renews at once over the CA API (its certificate is still trusted
    there during the overlap), which brings a certificate of the new root and the bundle with
    both roots, and its next ADS stream verifies trellisd again."""
    mesh_args = ("--cert-ttl", "1h")

    def test_a_sidecar_renews_when_trellisd_moved_to_a_root_it_does_not_know(self):
        billing = self.start("billing", "billing-1")
        self.assertNotIn("rotated root", issuer_of(billing))
        key, cert = rotated_root()
        ports = self.mesh.api_port, self.mesh.xds_port, self.mesh.xds_tls_port
        self.mesh.stop()
        shutil.rmtree(os.path.join(self.mesh.data_dir, "xds-tls"))
        self.mesh._options += ["--ca-cert", cert, "--ca-key", key]
        self.mesh.start(*ports)

        wait_until("billing renewed for the new root",
                   lambda: "rotated root" in issuer_of(billing), procs=[billing.proxy])
        self.assertIn("trellisd's certificate is not trusted", self.logs(billing))
        wait_until("billing's ADS stream back", lambda: billing.xds()["connected"],
                   procs=[billing.proxy])
        self.assertEqual(len(billing.certs()["trust_bundle"]), 2)  # old and new, in the overlap
        self.assertEqual(self.mesh.metric("trellisd_xds_nodes_refused_total"), 0)


if __name__ == "__main__":
    unittest.main()
