"""Hostile TLS peers against a STRICT inbound listener, with openssl s_client as the attacker.
Each case is tried over a real socket: plaintext, no client certificate, a certificate from
another CA, an expired certificate, a valid mesh certificate with the wrong SPIFFE identity
(authorization denies it), TLS 1.2, 1.1 and 1.0, and a handshake that stalls. Each is
refused and counted by reason. A mutual TLS connection opened before the attacks still serves
after them."""

import datetime
import os
import socket
import ssl
import subprocess
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from harness import IncompleteResponse, RawConnection, free_port, parse_response
from proxy_harness import ProxyTestCase
from test_mtls import (BILLING_ID, CHECKOUT_ID, OTHER_ID, Pki, listener, peer_authentication,
                       route, service)

REQUEST = b"GET /attack HTTP/1.1\r\nHost: billing\r\nConnection: close\r\n\r\n"


def only_checkout_may_call(service_name):
    return f"""apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: {{name: only-checkout, namespace: shop}}
spec:
  targetRefs: [{{kind: Service, name: {service_name}}}]
  action: ALLOW
  rules:
  - from:
    - source: {{principals: ["{CHECKOUT_ID}"]}}
---
"""


def expired_certificate(pki, spiffe_id, name):
    """(chain file, key file): a mesh certificate signed by `pki`'s root that expired yesterday
    (the openssl CLI of Debian 12 cannot back-date one)."""
    with open(pki.ca_key, "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), password=None)
    with open(pki.ca_cert, "rb") as f:
        ca_cert = x509.load_pem_x509_certificate(f.read())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=2))
            .not_valid_after(now - datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(spiffe_id)]), critical=True)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]),
                critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path = os.path.join(pki.dir, f"{name}.pem")
    key_path = os.path.join(pki.dir, f"{name}.key")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path


class HostileTlsPeersTest(ProxyTestCase):
    """billing's sidecar: a STRICT HTTP listener (1 s handshake timeout) that only checkout may
    call, in front of trellis-echo."""

    @classmethod
    def setUpClass(cls):
        cls.pki = Pki()

    def setUp(self):
        self.echo = self.start_echo("billing", "1")
        self.port = free_port()
        config = (listener("inbound", self.port, service="billing", timeout="1s") +
                  peer_authentication("billing-strict", "STRICT", service="billing") +
                  only_checkout_may_call("billing") +
                  service("billing", self.echo.port) +
                  route("billing", "inbound", "billing"))
        self.server = self.start_proxy(config,
                                       extra_args=self.pki.proxy_args(BILLING_ID, "billing"))

    # -- peers -----------------------------------------------------------------------------------

    def s_client(self, *args, cert=None):
        """openssl s_client sending one request; its stdout (what the server answered, if
        anything) and stderr."""
        argv = ["openssl", "s_client", "-connect", f"127.0.0.1:{self.port}", "-quiet",
                "-CAfile", self.pki.ca_cert, "-alpn", "http/1.1", *args]
        if cert:
            argv += ["-cert", cert[0], "-key", cert[1]]
        result = subprocess.run(argv, input=REQUEST, capture_output=True, timeout=10,
                                check=False)
        return result.stdout.decode("latin-1"), result.stderr.decode("latin-1")

    def good_connection(self):
        """A mutual TLS connection as checkout, kept open (keep-alive)."""
        cert, key = self.pki.issue(CHECKOUT_ID, "good-checkout")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.load_verify_locations(self.pki.ca_cert)
        context.load_cert_chain(cert, key)
        context.set_alpn_protocols(["http/1.1"])
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        conn = context.wrap_socket(raw)
        self.addCleanup(conn.close)
        return conn

    @staticmethod
    def exchange(conn, path):
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: billing\r\n\r\n".encode())
        data = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
            try:
                return parse_response(data)[0]
            except IncompleteResponse:
                continue

    def refused(self, reason, before):
        return self.server.wait_metric("trellis_tls_handshake_failures_total",
                                       lambda v: v >= before + 1, side="downstream",
                                       reason=reason) - before

    def failures(self, reason):
        return self.server.metric("trellis_tls_handshake_failures_total", side="downstream",
                                  reason=reason)

    # -- the attacks -----------------------------------------------------------------------------

    def test_every_attack_is_refused_counted_and_harms_no_other_connection(self):
        good = self.good_connection()
        self.assertEqual(self.exchange(good, "/before").status, 200)

        # Plaintext to a STRICT port.
        before = self.failures("plaintext_refused")
        with RawConnection(self.port) as conn:
            conn.send(REQUEST)
            self.assertEqual(conn.read_until_close(), b"")
        self.assertEqual(self.refused("plaintext_refused", before), 1)

        # No client certificate.
        before = self.failures("no_peer_certificate")
        out, err = self.s_client("-tls1_3")
        self.assertNotIn("HTTP/1.1", out, err)
        self.assertEqual(self.refused("no_peer_certificate", before), 1, err)

        # A certificate from another CA, with a mesh-looking identity.
        before = self.failures("untrusted_certificate")
        out, err = self.s_client("-tls1_3", cert=Pki("impostor-root").issue(CHECKOUT_ID, "imp"))
        self.assertNotIn("HTTP/1.1", out, err)
        self.assertEqual(self.refused("untrusted_certificate", before), 1, err)

        # An expired certificate from the mesh's own CA.
        before = self.failures("expired_certificate")
        out, err = self.s_client("-tls1_3",
                                 cert=expired_certificate(self.pki, CHECKOUT_ID, "expired"))
        self.assertNotIn("HTTP/1.1", out, err)
        self.assertEqual(self.refused("expired_certificate", before), 1, err)

        # Older protocol versions (the client allows them at security level 0).
        mesh_cert = self.pki.issue(CHECKOUT_ID, "old-protocols")
        for version in ("-tls1_2", "-tls1_1", "-tls1"):
            before = self.failures("protocol")
            out, err = self.s_client(version, "-cipher", "DEFAULT:@SECLEVEL=0", cert=mesh_cert)
            self.assertNotIn("HTTP/1.1", out, f"{version}: {err}")
            self.assertEqual(self.refused("protocol", before), 1, f"{version}: {err}")

        # A valid mesh certificate with the wrong identity: TLS succeeds, authorization denies.
        denied_before = self.server.metric("trellis_authz_denied_total")
        out, err = self.s_client("-tls1_3", cert=self.pki.issue(OTHER_ID, "other"))
        self.assertIn("HTTP/1.1 403", out, err)
        self.assertIn("x-trellis-reason: rbac_denied", out.lower(), out)
        self.assertEqual(self.server.wait_metric("trellis_authz_denied_total",
                                                 lambda v: v >= denied_before + 1),
                         denied_before + 1)

        # A handshake that stalls is closed after the listener's 1 s.
        before = self.failures("timeout")
        started = time.monotonic()
        with RawConnection(self.port) as conn:
            conn.send(b"\x16\x03\x01\x00")
            self.assertEqual(conn.read_until_close(), b"")
        self.assertLess(time.monotonic() - started, 4)
        self.assertEqual(self.refused("timeout", before), 1)

        # The connection opened before the attacks still serves, and checkout itself is allowed.
        self.assertEqual(self.exchange(good, "/after").status, 200)
        self.assertEqual(self.server.metric("trellis_downstream_plaintext_connections_total"), 0)
