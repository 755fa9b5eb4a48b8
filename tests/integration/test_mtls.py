"""Mutual TLS between two trellis-proxy processes over real sockets, certificates from the openssl
CLI: client -> client proxy (plaintext listener) -> server proxy (inbound listener with a
PeerAuthentication) -> trellis-echo. HTTP/1, HTTP/2 (h2 upstream) and TCP go through mutual
TLS; the application sees x-forwarded-client-cert with the caller's SPIFFE ID; PERMISSIVE takes
plaintext and counts it, STRICT refuses it; a wrong expected identity answers 503
upstream_tls_failure; handshakes and resumptions show in /metrics."""

import json
import os
import socket
import ssl
import subprocess
import time

from harness import (RawConnection, binary, free_port, http_get, make_scratch_dir,
                     parse_response)
from proxy_harness import PROXY_BINARY, ProxyTestCase

TRUST_DOMAIN = "trellis.local"
BILLING_ID = f"spiffe://{TRUST_DOMAIN}/ns/shop/sa/billing"
CHECKOUT_ID = f"spiffe://{TRUST_DOMAIN}/ns/shop/sa/checkout"
OTHER_ID = f"spiffe://{TRUST_DOMAIN}/ns/shop/sa/other"


def _openssl(*args, cwd):
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed:\n{result.stderr}")


class Pki:
    """A root CA in a temporary directory and SPIFFE workload certificates (EC P-256) it signs."""

    def __init__(self, name="mesh-root"):
        self.dir = make_scratch_dir("mtls-pki")
        self.ca_key = os.path.join(self.dir, f"{name}.key")
        self.ca_cert = os.path.join(self.dir, f"{name}.pem")
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-out", self.ca_key, cwd=self.dir)
        _openssl("req", "-x509", "-new", "-key", self.ca_key, "-subj", f"/O=trellis/CN={name}",
                 "-days", "2", "-out", self.ca_cert,
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                 "-addext", f"subjectAltName=URI:spiffe://{TRUST_DOMAIN}", cwd=self.dir)

    def issue(self, spiffe_id, name):
        """(chain file, key file) for `spiffe_id`."""
        key = os.path.join(self.dir, f"{name}.key")
        csr = os.path.join(self.dir, f"{name}.csr")
        cert = os.path.join(self.dir, f"{name}.pem")
        ext = os.path.join(self.dir, f"{name}.ext")
        with open(ext, "w", encoding="utf-8") as f:
            f.write("basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth,clientAuth\n"
                    f"subjectAltName=URI:{spiffe_id}\n")
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-out", key, cwd=self.dir)
        _openssl("req", "-new", "-key", key, "-subj", "/O=trellis", "-out", csr, cwd=self.dir)
        _openssl("x509", "-req", "-in", csr, "-CA", self.ca_cert, "-CAkey", self.ca_key,
                 "-CAcreateserial", "-days", "1", "-extfile", ext, "-out", cert, cwd=self.dir)
        return cert, key

    def proxy_args(self, spiffe_id, name):
        cert, key = self.issue(spiffe_id, name)
        return ["--tls-cert-file", cert, "--tls-key-file", key, "--trust-bundle-file",
                self.ca_cert]


# ---------------------------------------------------------------------------------------------
# Configuration (namespace shop)

def listener(name, port, protocol="HTTP", service=None, tcp_backend=None, timeout=None):
    text = f"""apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {{name: {name}, namespace: shop}}
spec:
  address: 127.0.0.1
  port: {port}
  protocol: {protocol}
"""
    if service:
        text += f"  service: {service}\n"
    if timeout:
        text += f"  tlsHandshakeTimeout: {timeout}\n"
    if tcp_backend:
        text += f"  tcp:\n    backendRef: {{name: {tcp_backend}, port: 80}}\n"
    return text + "---\n"


def peer_authentication(name, mode, service=None):
    targets = f"  targetRefs: [{{kind: Service, name: {service}}}]\n" if service else ""
    return f"""apiVersion: trellis.dev/v1alpha1
kind: PeerAuthentication
metadata: {{name: {name}, namespace: shop}}
spec:
{targets}  mtls: {{mode: {mode}}}
---
"""


def service(name, port, identity=None, app_protocol=None):
    text = f"""apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {{name: {name}, namespace: shop}}
spec:
  ports:
  - port: 80
"""
    if app_protocol:
        text += f"    appProtocol: {app_protocol}\n"
    text += f"  endpoints:\n  - address: 127.0.0.1\n    port: {port}\n"
    if identity:
        text += f"    identity: \"{identity}\"\n"
    return text + "---\n"


def route(name, listener_name, backend, path="/"):
    return f"""apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}, namespace: shop}}
spec:
  parentRefs: [{{group: trellis.dev, kind: Listener, name: {listener_name}}}]
  rules:
  - matches: [{{path: {{type: PathPrefix, value: {path}}}}}]
    backendRefs: [{{name: {backend}, port: 80}}]
---
"""


def run_proxy_to_exit(config_text, *extra_args):
    """Runs trellis-proxy on `config_text` until it exits: (exit code, stdout + stderr)."""
    workdir = make_scratch_dir("mtls-exit")
    config_path = os.path.join(workdir, "config.yaml")
    with open(config_path, "w", encoding="utf-8") as f:
        f.write(config_text)
    result = subprocess.run([binary(PROXY_BINARY), "--config", config_path, "--admin-address",
                             "127.0.0.1:0", *extra_args], capture_output=True, text=True,
                            timeout=10, check=False)
    return result.returncode, result.stdout + result.stderr


class MtlsTestCase(ProxyTestCase):
    """The server side: billing's sidecar with a STRICT HTTP inbound listener, a PERMISSIVE one
    and a STRICT TCP one, all in front of one trellis-echo."""

    @classmethod
    def setUpClass(cls):
        cls.pki = Pki()

    def start_server_proxy(self):
        self.echo = self.start_echo("billing", "1")
        self.strict_port = free_port()
        self.permissive_port = free_port()
        self.tcp_port = free_port()
        config = (listener("inbound", self.strict_port, service="billing", timeout="1s") +
                  listener("inbound-permissive", self.permissive_port, service="ledger") +
                  listener("inbound-tcp", self.tcp_port, protocol="TCP", service="vault",
                           tcp_backend="vault") +
                  peer_authentication("billing-strict", "STRICT", service="billing") +
                  peer_authentication("vault-strict", "STRICT", service="vault") +
                  peer_authentication("namespace", "PERMISSIVE") +
                  service("billing", self.echo.port) +
                  service("ledger", self.echo.port) +
                  service("vault", self.echo.port) +
                  route("billing", "inbound", "billing") +
                  route("ledger", "inbound-permissive", "ledger"))
        return self.start_proxy(config,
                                extra_args=self.pki.proxy_args(BILLING_ID, "billing"))

    def start_client_proxy(self, server_identity=BILLING_ID, with_certificate=True):
        """checkout's sidecar: /h1 over HTTP/1 mTLS, /h2 over HTTP/2 mTLS, /wrong expecting
        another identity, and a TCP listener relayed over mTLS."""
        self.out_port = free_port()
        self.out_tcp_port = free_port()
        config = (listener("outbound", self.out_port) +
                  listener("outbound-tcp", self.out_tcp_port, protocol="TCP",
                           tcp_backend="vault") +
                  service("billing", self.strict_port, identity=server_identity) +
                  service("billing-h2", self.strict_port, identity=server_identity,
                          app_protocol="h2c") +
                  service("billing-wrong", self.strict_port, identity=OTHER_ID) +
                  service("ledger", self.permissive_port, identity=server_identity) +
                  service("vault", self.tcp_port, identity=server_identity, app_protocol="tcp") +
                  route("h1", "outbound", "billing", "/h1") +
                  route("h2", "outbound", "billing-h2", "/h2") +
                  route("wrong", "outbound", "billing-wrong", "/wrong") +
                  route("ledger", "outbound", "ledger", "/ledger"))
        args = self.pki.proxy_args(CHECKOUT_ID, "checkout") if with_certificate else []
        return self.start_proxy(config, extra_args=args)

    def setUp(self):
        self.server = self.start_server_proxy()


class MutualTlsTest(MtlsTestCase):
    def setUp(self):
        super().setUp()
        self.client = self.start_client_proxy()

    def test_http1_goes_through_mutual_tls_and_the_app_sees_the_callers_identity(self):
        response = http_get(self.out_port, "/h1/pay",
                            headers={"x-forwarded-client-cert": "By=forged;URI=spiffe://x/y"})
        self.assertEqual(response.status, 200, response.body)
        headers = response.json()["headers"]
        # The client's own header is dropped by both proxies; the server proxy says who called.
        self.assertEqual(headers["x-forwarded-client-cert"], [f"By={BILLING_ID};URI={CHECKOUT_ID}"])
        self.assertEqual(self.client.metric("trellis_tls_handshakes_total", side="upstream"), 1)
        self.assertEqual(self.server.metric("trellis_tls_handshakes_total", side="downstream"), 1)
        # Kept alive: the next request reuses the TLS connection, no new handshake.
        self.assertEqual(http_get(self.out_port, "/h1/again").status, 200)
        self.assertEqual(self.client.metric("trellis_tls_handshakes_total", side="upstream"), 1)

    def test_http2_upstream_negotiates_h2_and_carries_the_identity(self):
        response = http_get(self.out_port, "/h2/pay")
        self.assertEqual(response.status, 200, response.body)
        headers = response.json()["headers"]
        self.assertEqual(headers["x-forwarded-client-cert"], [f"By={BILLING_ID};URI={CHECKOUT_ID}"])
        # ALPN h2: the server proxy served the request as an HTTP/2 stream.
        self.assertGreaterEqual(
            self.server.metric("trellis_http2_streams_total", direction="downstream"), 1)
        self.assertGreaterEqual(
            self.client.metric("trellis_http2_streams_total", direction="upstream"), 1)

    def test_tcp_is_relayed_inside_mutual_tls_and_later_handshakes_resume(self):
        for i in range(3):
            # HTTP bytes through the two TCP relays: the echo answers them as-is.
            with RawConnection(self.out_tcp_port) as conn:
                conn.send(f"GET /tcp/{i} HTTP/1.1\r\nHost: vault\r\nConnection: close\r\n\r\n"
                          .encode())
                response = conn.read_response()
            self.assertEqual(response.status, 200)
            self.assertEqual(response.json()["path"], f"/tcp/{i}")
            # TCP carries no identity header: the echo sees the client's own head only.
            self.assertNotIn("x-forwarded-client-cert", response.json()["headers"])
        total = self.client.wait_metric("trellis_tls_handshakes_total", lambda v: v >= 3,
                                        side="upstream")
        self.assertEqual(total, 3)
        # The first handshake gave a ticket; the next ones resumed with it, on both sides.
        self.assertGreaterEqual(self.client.metric("trellis_tls_handshakes_total",
                                                   side="upstream", resumed="true"), 2)
        self.assertGreaterEqual(self.server.metric("trellis_tls_handshakes_total",
                                                   side="downstream", resumed="true"), 2)

    def test_exchanges_outlast_the_connect_timeout(self):
        # The handshake's end must stop the upstream connect timer (1 s by default): a slow
        # answer or a long TCP stream is not a connect timeout.
        for path in ("/h1/slow?delay=1500ms", "/h2/slow?delay=1500ms"):
            response = http_get(self.out_port, path)
            self.assertEqual(response.status, 200, (path, response.body))
        with RawConnection(self.out_tcp_port) as conn:
            conn.send(b"GET /tcp/first HTTP/1.1\r\nHost: vault\r\n\r\n")
            self.assertEqual(conn.read_response().status, 200)
            time.sleep(1.5)
            conn.send(b"GET /tcp/later HTTP/1.1\r\nHost: vault\r\nConnection: close\r\n\r\n")
            response = conn.read_response()
            self.assertEqual(response.status, 200)
            self.assertEqual(response.json()["path"], "/tcp/later")
        self.assertEqual(self.client.metric("trellis_upstream_connect_timeouts_total"), 0)

    def test_wrong_expected_identity_answers_503_upstream_tls_failure(self):
        response = http_get(self.out_port, "/wrong")
        self.assertEqual(response.status, 503)
        self.assertEqual(response.header("x-trellis-reason"), "upstream_tls_failure")
        self.assertEqual(self.client.metric("trellis_tls_handshake_failures_total",
                                            side="upstream", reason="wrong_identity"), 1)
        self.assertEqual(self.client.metric("trellis_local_replies_total",
                                            reason="upstream_tls_failure"), 1)
        # The other routes still work.
        self.assertEqual(http_get(self.out_port, "/h1").status, 200)

    def test_permissive_listener_takes_mutual_tls_and_plaintext_and_counts_plaintext(self):
        self.assertEqual(self.server.metric("trellis_downstream_plaintext_connections_total"), 0)
        response = http_get(self.out_port, "/ledger/a")  # through the client proxy: mTLS
        self.assertEqual(response.status, 200)
        self.assertEqual(response.json()["headers"]["x-forwarded-client-cert"],
                         [f"By={BILLING_ID};URI={CHECKOUT_ID}"])
        self.assertEqual(self.server.metric("trellis_downstream_plaintext_connections_total"), 0)
        response = http_get(self.permissive_port, "/ledger/b",
                            headers={"x-forwarded-client-cert": "By=a;URI=spiffe://forged"})
        self.assertEqual(response.status, 200)
        self.assertNotIn("x-forwarded-client-cert", response.json()["headers"])
        self.assertEqual(self.server.metric("trellis_downstream_plaintext_connections_total"), 1)


class InboundTlsTest(MtlsTestCase):
    """The server proxy against clients made here: plaintext, Python's ssl, a stalled peer."""

    def client_context(self, name, spiffe_id, alpn=("http/1.1",)):
        cert, key = self.pki.issue(spiffe_id, name)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.check_hostname = False  # SPIFFE IDs, not host names
        context.load_verify_locations(self.pki.ca_cert)
        context.load_cert_chain(cert, key)
        context.set_alpn_protocols(list(alpn))
        return context

    def test_strict_refuses_plaintext_and_counts_it(self):
        with RawConnection(self.strict_port) as conn:
            conn.send(b"GET / HTTP/1.1\r\nHost: billing\r\n\r\n")
            self.assertEqual(conn.read_until_close(), b"")
        failures = self.server.wait_metric("trellis_tls_handshake_failures_total",
                                           lambda v: v >= 1, side="downstream",
                                           reason="plaintext_refused")
        self.assertEqual(failures, 1)
        self.assertEqual(self.server.metric("trellis_downstream_plaintext_connections_total"), 0)

    def test_python_ssl_client_with_a_mesh_certificate_is_served(self):
        context = self.client_context("python-client", CHECKOUT_ID)
        with socket.create_connection(("127.0.0.1", self.strict_port), timeout=5) as raw:
            with context.wrap_socket(raw) as conn:
                self.assertEqual(conn.version(), "TLSv1.3")
                self.assertEqual(conn.selected_alpn_protocol(), "http/1.1")
                conn.sendall(b"GET /direct HTTP/1.1\r\nHost: billing\r\nConnection: close\r\n"
                             b"x-forwarded-client-cert: By=x;URI=spiffe://trellis.local/ns/a/sa/b"
                             b"\r\n\r\n")
                data = b""
                while chunk := conn.recv(65536):
                    data += chunk
        response, _ = parse_response(data, eof=True)
        self.assertEqual(response.status, 200)
        self.assertEqual(response.json()["headers"]["x-forwarded-client-cert"],
                         [f"By={BILLING_ID};URI={CHECKOUT_ID}"])
        self.assertEqual(self.server.metric("trellis_tls_handshakes_total", side="downstream"), 1)

    def test_a_client_of_another_ca_is_refused_and_counted(self):
        other = Pki("other-root")
        cert, key = other.issue(CHECKOUT_ID, "impostor")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.load_verify_locations(self.pki.ca_cert)
        context.load_cert_chain(cert, key)
        with socket.create_connection(("127.0.0.1", self.strict_port), timeout=5) as raw:
            with self.assertRaises((ssl.SSLError, ConnectionError)):
                with context.wrap_socket(raw) as conn:
                    # TLS 1.3: the client finishes first and hears the refusal on its first read.
                    conn.sendall(b"GET / HTTP/1.1\r\nHost: billing\r\n\r\n")
                    if not conn.recv(1):
                        raise ConnectionError("closed")
        failures = self.server.wait_metric("trellis_tls_handshake_failures_total",
                                           lambda v: v >= 1, side="downstream",
                                           reason="untrusted_certificate")
        self.assertEqual(failures, 1)

    def test_a_stalled_handshake_is_closed_after_the_listeners_timeout(self):
        started = time.monotonic()
        with RawConnection(self.strict_port) as conn:
            conn.send(b"\x16\x03\x01")  # the start of a handshake record, and nothing more
            self.assertEqual(conn.read_until_close(), b"")
        self.assertLess(time.monotonic() - started, 4)  # tlsHandshakeTimeout: 1s
        self.assertEqual(self.server.wait_metric("trellis_tls_handshake_failures_total",
                                                 lambda v: v >= 1, side="downstream",
                                                 reason="timeout"), 1)


class NoCertificateTest(MtlsTestCase):
    def test_a_proxy_without_certificate_fails_identity_endpoints_with_503(self):
        client = self.start_client_proxy(with_certificate=False)
        response = http_get(self.out_port, "/h1")
        self.assertEqual(response.status, 503)
        self.assertEqual(response.header("x-trellis-reason"), "upstream_tls_failure")
        self.assertEqual(client.metric("trellis_local_replies_total",
                                       reason="upstream_tls_failure"), 1)

    def test_strict_listener_without_certificate_is_refused_at_start(self):
        config = (listener("inbound", free_port(), service="billing") +
                  peer_authentication("strict", "STRICT", service="billing") +
                  service("billing", self.echo.port))
        code, output = run_proxy_to_exit(config)
        self.assertEqual(code, 1)
        self.assertIn("listener shop/inbound is STRICT (mutual TLS only) but this proxy has no "
                      "certificate", output)

    def test_reload_to_strict_without_certificate_is_rejected(self):
        port = free_port()
        plain = listener("inbound", port, service="billing") + service("billing", self.echo.port)
        proxy = self.start_proxy(plain + route("billing", "inbound", "billing"))
        self.assertEqual(http_get(port, "/").status, 200)  # PERMISSIVE by default: plaintext
        status, body = proxy.reload(plain + peer_authentication("strict", "STRICT") +
                                    route("billing", "inbound", "billing"))
        self.assertEqual(status, 400)
        self.assertIn("listener shop/inbound is STRICT", body)
        self.assertEqual(http_get(port, "/").status, 200)  # the previous version stays

    def test_tls_flags_go_together(self):
        cert, _ = self.pki.issue(CHECKOUT_ID, "lonely")
        code, output = run_proxy_to_exit(listener("web", free_port()), "--tls-cert-file", cert)
        self.assertEqual(code, 2)
        self.assertIn("--tls-cert-file, --tls-key-file and --trust-bundle-file go together: "
                      "--tls-key-file is missing", output)
        code, output = run_proxy_to_exit(listener("web", free_port()), "--tls-cert-file", cert,
                                         "--tls-key-file", "/nonexistent/key.pem",
                                         "--trust-bundle-file", self.pki.ca_cert)
        self.assertEqual(code, 2)
        self.assertIn("--tls-key-file /nonexistent/key.pem: No such file or directory", output)
        # A key that is not the certificate's: refused, naming the files.
        _, other_key = self.pki.issue(OTHER_ID, "other")
        code, output = run_proxy_to_exit(listener("web", free_port()), "--tls-cert-file", cert,
                                         "--tls-key-file", other_key,
                                         "--trust-bundle-file", self.pki.ca_cert)
        self.assertEqual(code, 2)
        self.assertIn("the private key does not match the certificate", output)
        self.assertIn(other_key, output)


if __name__ == "__main__":
    import unittest
    unittest.main()


# ---------------------------------------------------------------------------------------------
# Regressions from the review of the first version (named after what they broke)

def backend_policy(name, target, check):
    return f"""apiVersion: trellis.dev/v1alpha1
kind: BackendPolicy
metadata: {{name: {name}, namespace: shop}}
spec:
  targetRefs: [{{group: "", kind: Service, name: {target}}}]
  healthCheck:
{check}    interval: 200ms
    timeout: 200ms
    unhealthyThreshold: 1
---
"""


class ReviewRegressionsTest(MtlsTestCase):
    def test_switch_to_strict_stops_plaintext_connections_accepted_before(self):
        """A reload from PERMISSIVE to STRICT: a keep-alive plaintext connection's next request
        is refused (403 mtls_required), as is a connection accepted before the reload that
        speaks only after it; a plaintext TCP relay is closed."""
        port, tcp_port = free_port(), free_port()

        def config(mode):
            return (listener("inbound", port, service="billing") +
                    listener("inbound-tcp", tcp_port, protocol="TCP", service="vault",
                             tcp_backend="vault") +
                    peer_authentication("billing", mode, service="billing") +
                    peer_authentication("vault", mode, service="vault") +
                    service("billing", self.echo.port) + service("vault", self.echo.port) +
                    route("billing", "inbound", "billing"))
        server = self.start_proxy(config("PERMISSIVE"),
                                  extra_args=self.pki.proxy_args(BILLING_ID, "billing-2"))
        with RawConnection(port) as kept, RawConnection(port) as silent, \
                RawConnection(tcp_port) as relay:
            kept.send(b"GET /one HTTP/1.1\r\nHost: billing\r\n\r\n")
            self.assertEqual(kept.read_response().status, 200)
            relay.send(b"GET /t1 HTTP/1.1\r\nHost: vault\r\n\r\n")
            self.assertEqual(relay.read_response().status, 200)
            self.assertEqual(server.reload(config("STRICT"))[0], 200)
            kept.send(b"GET /two HTTP/1.1\r\nHost: billing\r\n\r\n")
            response = kept.read_response()
            self.assertEqual(response.status, 403)
            self.assertEqual(response.header("x-trellis-reason"), "mtls_required")
            silent.send(b"GET /late HTTP/1.1\r\nHost: billing\r\n\r\n")
            self.assertEqual(silent.read_until_close(), b"")
            self.assertEqual(relay.read_until_close(), b"")

    def test_pooled_plaintext_connection_is_not_reused_once_the_endpoint_has_an_identity(self):
        """A connection pooled while the endpoint had no identity must not carry a request
        after a reload gives it one: here a wrong identity, so the request must fail."""
        out = free_port()

        def config(identity):
            return (listener("outbound", out) +
                    service("ledger", self.permissive_port, identity=identity) +
                    route("ledger", "outbound", "ledger"))
        client = self.start_proxy(config(None),
                                  extra_args=self.pki.proxy_args(CHECKOUT_ID, "checkout-2"))
        self.assertEqual(http_get(out, "/a").status, 200)  # pools a plaintext connection
        self.assertEqual(client.reload(config(OTHER_ID))[0], 200)
        response = http_get(out, "/b")
        self.assertEqual(response.status, 503)
        self.assertEqual(response.header("x-trellis-reason"), "upstream_tls_failure")

    def test_health_checks_of_mesh_endpoints_speak_their_protocol_over_mtls(self):
        """TCP probes see the end of the handshake; HTTP probes of an HTTP/2 cluster offer
        http/1.1, not h2; every mesh endpoint stays healthy."""
        out = free_port()
        http_check = "    http: {path: /hc}\n"
        tcp_check = "    tcp: {}\n"
        config = (listener("outbound", out) +
                  service("h1http", self.strict_port, identity=BILLING_ID) +
                  service("h1tcp", self.strict_port, identity=BILLING_ID) +
                  service("h2http", self.strict_port, identity=BILLING_ID, app_protocol="h2c") +
                  service("tcptcp", self.tcp_port, identity=BILLING_ID, app_protocol="tcp") +
                  backend_policy("a", "h1http", http_check) +
                  backend_policy("b", "h1tcp", tcp_check) +
                  backend_policy("c", "h2http", http_check) +
                  backend_policy("d", "tcptcp", tcp_check) +
                  route("h1", "outbound", "h1http"))
        client = self.start_proxy(config, extra_args=self.pki.proxy_args(CHECKOUT_ID, "hc"))

        def verdicts():
            status, body = client.admin("/clusters")
            clusters = json.loads(body)["clusters"]
            return {c["name"]: [e.get("health_check") for e in c["endpoints"]] for c in clusters}
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            found = verdicts()
            if all(v == ["healthy"] for v in found.values()) and len(found) == 4:
                break
            time.sleep(0.05)
        self.assertEqual(verdicts(), {f"shop/{name}:80": ["healthy"]
                                      for name in ("h1http", "h1tcp", "h2http", "tcptcp")})
        self.assertEqual(client.metric("trellis_tls_handshake_failures_total"), 0)
