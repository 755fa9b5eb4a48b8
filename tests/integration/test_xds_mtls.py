"""The xDS stream between a sidecar and trellisd is itself authenticated. trellisd serves ADS over
mutual TLS (--xds-tls-address) with its own certificate, spiffe://<td>/ns/trellis-system/sa/
trellisd, and holds what a node claims in its first DiscoveryRequest (NAMESPACE, SERVICE_ACCOUNT)
to the client certificate: nobody can register an endpoint as another workload.

The hostile xDS client here is hand-made on purpose (python3-h2 over Python's ssl, with the
DiscoveryRequest encoded byte by byte), so that it can claim anything: a service account over
plaintext, another workload's identity over mutual TLS, no certificate, another CA.
"""

import os
import ssl
import stat
import subprocess
import unittest

from harness import Proc, TrellisTestCase, binary, free_port, make_scratch_dir
from h2_peers import H2Client
from mesh_harness import PROXY_BINARY
from test_identity import Workload, openssl, spiffe
from trellisd_harness import Trellisd

ADS_PATH = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
LDS = "type.googleapis.com/envoy.config.listener.v3.Listener"
CONTROL_PLANE_ID = "spiffe://trellis.local/ns/trellis-system/sa/trellisd"
EXIT_TIMEOUT = 10.0  # seconds for a proxy that must refuse to start


def _varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number, payload):
    """A length-delimited protobuf field."""
    if isinstance(payload, str):
        payload = payload.encode()
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def discovery_request(node_id, metadata):
    """DiscoveryRequest{node{id, metadata (Struct of strings)}, type_url: LDS}."""
    struct = b"".join(_field(1, _field(1, key) + _field(2, _field(3, value)))
                      for key, value in metadata.items())
    node = _field(1, node_id) + _field(3, struct)
    return _field(2, node) + _field(4, LDS)


def sidecar_metadata(ns, service, service_account=None):
    metadata = {"NAMESPACE": ns, "SERVICE": service, "INSTANCE": f"{service}-1",
                "INBOUND_ADDRESS": "127.0.0.1:1", "APP_ADDRESS": "127.0.0.1:2"}
    if service_account:
        metadata["SERVICE_ACCOUNT"] = service_account
    return metadata


class Answer:
    """How trellisd answered a stream's first request: a response, or a gRPC status."""

    def __init__(self, stream):
        fields = dict((stream.trailers or []) + (stream.headers or []))
        self.responded = len(stream.data) > 0
        self.status = fields.get("grpc-status")
        self.message = fields.get("grpc-message", "")

    def __repr__(self):
        return f"Answer(responded={self.responded}, status={self.status}, {self.message!r})"


def node_id_of(metadata):
    """A sidecar's id as trellis-proxy makes it (<instance>.<namespace>); a proxyless client's."""
    if "SERVICE" not in metadata:
        return "grpc-client"
    return f"{metadata['INSTANCE']}.{metadata['NAMESPACE']}"


def ask(port, metadata, node_id=None, ssl_context=None, keep=None):
    """Opens an ADS stream to `port`, sends one DiscoveryRequest, and waits for the answer.
    With `keep` (a list), the connection stays open, appended to it, so the node stays
    connected."""
    node_id = node_id or node_id_of(metadata)
    client = H2Client(port, ssl_context=ssl_context)
    try:
        message = discovery_request(node_id, metadata)
        stream_id = client.request("POST", ADS_PATH, scheme="https" if ssl_context else "http",
                                   headers=[("content-type", "application/grpc"),
                                            ("te", "trailers")],
                                   body=b"\0" + len(message).to_bytes(4, "big") + message,
                                   end_stream=False)
        stream = client.streams[stream_id]
        answered = lambda: len(stream.data) > 0 or stream.done  # noqa: E731
        client.wait_for(lambda: answered() or client.closed, what="trellisd's answer")
        if not answered():
            raise ConnectionError("trellisd closed the connection without an answer")
        return Answer(stream)
    finally:
        if keep is None:
            client.close()
        else:
            keep.append(client)


def tls_context(bundle, cert=None, key=None):
    """A client context trusting `bundle` (the name is checked by SPIFFE ID, not hostname)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.load_verify_locations(cadata=bundle)
    if cert:
        context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["h2"])
    return context


class XdsMutualTlsTestCase(TrellisTestCase):
    trellisd_args = ()

    def setUp(self):
        self.d = Trellisd(self, log_level="info", extra_args=self.trellisd_args)
        with open(os.path.join(self.d.data_dir, "ca", "root.pem"), encoding="utf-8") as f:
            self.bundle = f.read()

    def workload(self, ns, sa):
        """Key and certificate files for spiffe://trellis.local/ns/<ns>/sa/<sa>, from trellisd's
        CA with a join token, as a sidecar gets them."""
        status, body = self.d.request("POST", "/api/v1/identity/tokens",
                                      {"namespace": ns, "serviceAccount": sa})
        self.assertEqual(status, 200, body)
        workload = Workload(spiffe(ns, sa))
        status, issued = self.d.request("POST", "/api/v1/identity/certificates",
                                        {"csr": workload.csr(), "joinToken": body["token"]},
                                        token=False)
        self.assertEqual(status, 200, issued)
        cert = os.path.join(workload.dir, "chain.pem")
        with open(cert, "w", encoding="utf-8") as f:
            f.write(issued["certificateChain"])
        return cert, workload.key

    def assert_refused(self, answer, *fragments):
        self.assertFalse(answer.responded, answer)
        self.assertEqual(answer.status, "7", answer)  # PERMISSION_DENIED
        for fragment in fragments:
            self.assertIn(fragment, answer.message)


class XdsMutualTlsTest(XdsMutualTlsTestCase):
    def test_a_service_account_claimed_over_plaintext_is_refused(self):
        answer = ask(self.d.xds_port, sidecar_metadata("shop", "billing", "billing"))
        self.assert_refused(answer, "claims service account billing over plaintext")
        self.assertEqual(self.d.metric("trellisd_xds_nodes_refused_total"), 1)
        self.assertIsNone(self.d.proxy("billing-1.shop"))
        self.assertIn("xDS: refused: node billing-1.shop claims service account billing",
                      self.d.proc.stdout_text() + self.d.proc.stderr_text())

    def test_a_claim_that_matches_the_certificate_registers(self):
        cert, key = self.workload("shop", "checkout")
        answer = ask(self.d.xds_tls_port, sidecar_metadata("shop", "checkout", "checkout"),
                     ssl_context=tls_context(self.bundle, cert, key))
        self.assertTrue(answer.responded, answer)
        self.assertEqual(self.d.metric("trellisd_xds_nodes_refused_total"), 0)
        proxy = self.d.proxy("checkout-1.shop")
        self.assertEqual(proxy["identity"], spiffe("shop", "checkout"))

    def test_another_workloads_identity_is_refused_over_mutual_tls(self):
        cert, key = self.workload("shop", "checkout")
        context = tls_context(self.bundle, cert, key)
        # Checkout's certificate, claiming billing's service account (to be sent its traffic).
        self.assert_refused(ask(self.d.xds_tls_port, sidecar_metadata("shop", "billing", "billing"),
                                ssl_context=context),
                            "claims namespace 'shop' and service account 'billing'",
                            spiffe("shop", "checkout"))
        # ... or another namespace, or no service account at all.
        self.assert_refused(ask(self.d.xds_tls_port,
                                sidecar_metadata("other", "checkout", "checkout"),
                                ssl_context=context), "namespace 'other'")
        self.assert_refused(ask(self.d.xds_tls_port, sidecar_metadata("shop", "checkout"),
                                ssl_context=context), "service account ''")
        self.assertEqual(self.d.metric("trellisd_xds_nodes_refused_total"), 3)
        self.assertEqual(self.d.proxies(), [])

    def test_no_certificate_or_another_ca_gets_no_configuration(self):
        no_certificate = tls_context(self.bundle)
        work = make_scratch_dir("other-ca")
        key, cert = os.path.join(work, "key.pem"), os.path.join(work, "cert.pem")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", key, "-out", cert, "-days", "1", "-subj", "/O=evil", "-addext",
                f"subjectAltName=URI:{spiffe('shop', 'checkout')}")
        # No service account claimed: were the stream let through, it would register.
        for context in (no_certificate, tls_context(self.bundle, cert, key)):
            with self.assertRaises((ssl.SSLError, ConnectionError)):
                # TLS 1.3: the client may finish its side first; then the alert ends the read.
                answer = ask(self.d.xds_tls_port, sidecar_metadata("shop", "checkout"),
                             ssl_context=context)
                raise AssertionError(f"served without a certificate of the mesh: {answer}")
        self.assertEqual(self.d.proxies(), [])
        self.assertEqual(self.d.metric("trellisd_xds_nodes_refused_total"), 0)  # refused by TLS

    def test_a_node_id_goes_only_to_the_identity_that_holds_it(self):
        checkout, checkout_key = self.workload("shop", "checkout")
        billing, billing_key = self.workload("shop", "billing")
        open_streams = []
        self.addCleanup(lambda: [client.close() for client in open_streams])
        answer = ask(self.d.xds_tls_port, sidecar_metadata("shop", "billing", "billing"),
                     ssl_context=tls_context(self.bundle, billing, billing_key), keep=open_streams)
        self.assertTrue(answer.responded, answer)
        # checkout's certificate, claiming billing-1's node id (to move it out of billing).
        self.assert_refused(ask(self.d.xds_tls_port, sidecar_metadata("shop", "checkout",
                                                                      "checkout"),
                                node_id="billing-1.shop",
                                ssl_context=tls_context(self.bundle, checkout, checkout_key)),
                            "node id billing-1.shop is held by " + spiffe("shop", "billing"))
        # A plaintext node, or a proxyless client, may not take it either.
        self.assert_refused(ask(self.d.xds_port, sidecar_metadata("shop", "billing")),
                            "is held by " + spiffe("shop", "billing"))
        self.assert_refused(ask(self.d.xds_port, {}, node_id="billing-1.shop"),
                            "is held by a connected sidecar")
        # A sidecar's id is <instance>.<namespace>: a certificate reaches its own namespace only.
        self.assert_refused(ask(self.d.xds_tls_port, sidecar_metadata("shop", "checkout",
                                                                      "checkout"),
                                node_id="checkout-1.dev",
                                ssl_context=tls_context(self.bundle, checkout, checkout_key)),
                            "does not end in .shop")
        self.assertEqual(self.d.metric("trellisd_xds_nodes_refused_total"), 4)
        self.assertEqual(self.d.proxy("billing-1.shop")["identity"], spiffe("shop", "billing"))
        self.assertEqual(self.d.proxy("billing-1.shop")["service"], "billing")

    def test_trellisd_serves_as_its_own_spiffe_id_and_keeps_its_certificate(self):
        directory = os.path.join(self.d.data_dir, "xds-tls")
        identity_file = os.path.join(directory, "identity.pem")  # key and chain
        self.assertEqual(stat.S_IMODE(os.stat(identity_file).st_mode), 0o600)
        context = tls_context(self.bundle)  # verifies the chain against the mesh's root

        def served_certificate():
            import socket
            with socket.create_connection(("127.0.0.1", self.d.xds_tls_port), timeout=5) as raw:
                with context.wrap_socket(raw) as sock:
                    der = sock.getpeercert(binary_form=True)
            return subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-serial",
                                   "-ext", "subjectAltName"], input=der, capture_output=True,
                                  check=True).stdout.decode()

        first = served_certificate()
        self.assertIn(f"URI:{CONTROL_PLANE_ID}", first)
        # A restart keeps it (still trusted, not past half its life): sidecars that have not
        # heard of a new root yet still trust trellisd.
        self.d.restart()
        self.assertEqual(served_certificate(), first)


class FileIdentitySidecarTest(XdsMutualTlsTestCase):
    """A sidecar whose certificate comes from files (--tls-cert-file) proves it to trellisd the
    same way: its xDS stream is mutual TLS, announcing the certificate's service account."""

    def start_proxy(self, namespace, cert, key, xds=None):
        workdir = make_scratch_dir("proxy-file-identity")
        bundle = os.path.join(workdir, "bundle.pem")
        with open(bundle, "w", encoding="utf-8") as f:
            f.write(self.bundle)
        args = [binary(PROXY_BINARY), "--xds", xds or self.d.xds_tls_target, "--service", "checkout",
                "--namespace", namespace, "--instance", "checkout-1",
                "--inbound", f"127.0.0.1:{free_port()}", "--app", f"127.0.0.1:{free_port()}",
                "--admin-address", "127.0.0.1:0", "--tls-cert-file", cert, "--tls-key-file", key,
                "--trust-bundle-file", bundle]
        return Proc(args, test=self, name="trellis-proxy (file identity)", workdir=workdir)

    def test_its_xds_stream_proves_the_certificates_identity(self):
        cert, key = self.workload("shop", "checkout")
        self.start_proxy("shop", cert, key)
        proxy = self.d.wait_for("the sidecar registered", lambda: self.d.proxy("checkout-1.shop"))
        self.assertEqual(proxy["namespace"], "shop")
        self.d.wait_for("its stream connected",
                        lambda: self.d.proxy("checkout-1.shop")["connected"])
        self.assertEqual(self.d.metric("trellisd_xds_nodes_refused_total"), 0)

    def test_pointed_at_the_plaintext_port_it_says_so(self):
        cert, key = self.workload("shop", "checkout")
        proc = self.start_proxy("shop", cert, key, xds=self.d.xds_target)
        self.d.wait_for("the hint", lambda: "--xds must be trellisd's xDS TLS port" in
                        proc.stdout_text() + proc.stderr_text())
        self.assertEqual(self.d.proxies(), [])

    def test_a_certificate_of_another_namespace_stops_the_proxy(self):
        cert, key = self.workload("shop", "checkout")
        proc = self.start_proxy("other", cert, key)
        self.assertEqual(proc.proc.wait(EXIT_TIMEOUT), 1, proc.stderr_text())
        self.assertIn(f"the certificate's identity {spiffe('shop', 'checkout')} is not of "
                      "namespace other", proc.stdout_text() + proc.stderr_text())
        self.assertEqual(self.d.proxies(), [])


class RequireMutualTlsTest(XdsMutualTlsTestCase):
    trellisd_args = ("--xds-require-mtls",)

    def test_plaintext_sidecars_are_refused_and_proxyless_clients_served(self):
        self.assert_refused(ask(self.d.xds_port, sidecar_metadata("shop", "billing")),
                            "requires mutual TLS of sidecars (--xds-require-mtls)")
        # A proxyless gRPC client names no SERVICE: it registers nothing and may read.
        answer = ask(self.d.xds_port, {}, node_id="grpc-client")
        self.assertTrue(answer.responded, answer)
        cert, key = self.workload("shop", "billing")
        answer = ask(self.d.xds_tls_port, sidecar_metadata("shop", "billing", "billing"),
                     node_id="billing-1.shop", ssl_context=tls_context(self.bundle, cert, key))
        self.assertTrue(answer.responded, answer)
        self.assertEqual(self.d.metric("trellisd_xds_nodes_refused_total"), 1)


if __name__ == "__main__":
    unittest.main()
