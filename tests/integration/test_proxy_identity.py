"""The proxy's side of workload identity, against a real trellisd: a sidecar started with
--ca-address and a join token gets its certificate before it serves, shows it on /certs (and
`openssl verify` accepts it against GET /api/v1/identity/bundle), renews it at half-life with a
new key, exits 1 with trellisd's reason when its token is refused, keeps retrying while trellisd
cannot be reached, and never lets its private key out (admin answers, logs).
"""

import os
import signal
import subprocess
import time
import unittest

from harness import Proc, TrellisTestCase, binary, free_port, make_scratch_dir
from mesh_harness import PROXY_BINARY, Instance, Mesh, wait_until
from pki_peers import openssl_verify, split_pem

NS, SA = "shop", "checkout"
IDENTITY = f"spiffe://trellis.local/ns/{NS}/sa/{SA}"
EXIT_TIMEOUT = 10.0  # seconds a refused proxy may take to exit


def fingerprints(bundle):
    """SHA-256 fingerprints of the bundle's certificates, lower-case hex without colons."""
    out = set()
    for pem in split_pem(bundle):
        text = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"],
                              input=pem, capture_output=True, text=True, check=True).stdout
        out.add(text.strip().split("=", 1)[1].replace(":", "").lower())
    return out


def write_token_file(token):
    path = os.path.join(make_scratch_dir("join-token"), "token")
    with open(path, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)
    return path


class IdentityInstance(Instance):
    """A mesh instance whose sidecar gets its identity from trellisd (--ca-address)."""

    def __init__(self, mesh, service, name, namespace, token_file, *, log_level="info", **kw):
        self.token_file = token_file
        self.log_level = log_level
        super().__init__(mesh, service, name, namespace, **kw)

    def proxy_args(self):
        args = super().proxy_args()
        args[args.index("--log-level") + 1] = self.log_level
        # A sidecar with a workload identity proves it to trellisd over mutual TLS.
        args[args.index("--xds") + 1] = self.mesh.xds_tls_target
        return args + ["--ca-address", f"127.0.0.1:{self.mesh.api_port}",
                       "--join-token-file", self.token_file]

    def certs(self):
        return self.admin_json("/certs")


class ProxyIdentityTestCase(TrellisTestCase):
    mesh_args = ()

    def setUp(self):
        self.mesh = Mesh(self, extra_args=self.mesh_args)
        self.mesh.apply_shop()

    def create_token(self, ns=NS, sa=SA, ttl="1h"):
        status, body = self.mesh.request("POST", "/api/v1/identity/tokens",
                                         {"namespace": ns, "serviceAccount": sa, "ttl": ttl})
        self.assertEqual(status, 200, body)
        return body

    def start(self, token, **kw):
        inst = IdentityInstance(self.mesh, SA, "checkout-1", NS, write_token_file(token), **kw)
        self.mesh.instances.append(inst)
        return inst

    def bundle(self):
        return self.mesh.get("/api/v1/identity/bundle")["trustBundle"]

    def assert_no_private_key(self, inst, token):
        for path in ("/certs", "/stats/prometheus", "/config_dump", "/xds", "/clusters"):
            status, text = inst.admin(path)
            self.assertEqual(status, 200, f"{path}: {text}")
            self.assertNotIn("PRIVATE KEY", text, path)
        logs = inst.proxy.stdout_text() + inst.proxy.stderr_text()
        self.assertNotIn("PRIVATE KEY", logs)
        # Nor the join token's secret (its id, before the last dot, may be named).
        self.assertNotIn(token.rsplit(".", 1)[1], logs)


class FirstCertificateTest(ProxyIdentityTestCase):
    def test_the_proxy_gets_a_certificate_that_verifies_against_the_bundle(self):
        token = self.create_token()["token"]
        inst = self.start(token, log_level="trace")
        certs = inst.certs()
        self.assertEqual(certs["identity"], IDENTITY)
        cert = certs["certificate"]
        self.assertIsNotNone(cert, certs)
        self.assertEqual(cert["identity"], IDENTITY)
        self.assertEqual(certs["renewals"], 0)
        # 24 h by default: about a day left.
        self.assertGreater(cert["seconds_until_expiration"], 23 * 3600)
        self.assertEqual(cert["days_until_expiration"], cert["seconds_until_expiration"] // 86400)

        bundle = self.bundle()
        ok, output = openssl_verify(cert["chain_pem"], bundle)
        self.assertTrue(ok, output)
        text = subprocess.run(["openssl", "x509", "-noout", "-text", "-serial"],
                              input=split_pem(cert["chain_pem"])[0], capture_output=True,
                              text=True, check=True).stdout
        self.assertIn(f"URI:{IDENTITY}", text)
        serial = text.rsplit("serial=", 1)[1].strip().lower().lstrip("0")
        self.assertEqual(cert["serial_number"].lower().lstrip("0"), serial)
        self.assertEqual({r["sha256_fingerprint"] for r in certs["trust_bundle"]},
                         fingerprints(bundle))
        self.assertTrue(all(r["subject"] for r in certs["trust_bundle"]))

        self.assertEqual(inst.metric("trellis_identity_certificate_expiry_seconds"),
                         cert["not_after"])
        self.assertEqual(inst.metric("trellis_identity_renewals_total", result="success"), 0)
        self.assert_no_private_key(inst, token)

    def test_without_ca_address_there_is_no_identity(self):
        inst = self.mesh.start_instance("inventory", "inventory-1")
        status, _ = inst.admin("/certs")
        self.assertEqual(status, 404)
        self.assertNotIn("trellis_identity_", inst.admin("/stats/prometheus")[1])


class RenewalTest(ProxyIdentityTestCase):
    mesh_args = ("--cert-ttl", "4s")

    def test_the_proxy_renews_before_expiry_with_a_new_certificate_each_time(self):
        token = self.create_token()["token"]
        inst = self.start(token, log_level="debug")
        started = time.monotonic()
        serials = []

        def renewed_twice():
            certs = inst.certs()
            cert = certs["certificate"]
            if not serials or serials[-1] != cert["serial_number"]:
                serials.append(cert["serial_number"])
            return certs if certs["renewals"] >= 2 else None

        certs = wait_until("two renewals", renewed_twice, timeout=8.0, procs=[inst.proxy])
        self.assertLess(time.monotonic() - started, 8.0)
        # Every renewal brought a new certificate, each seen before it expired.
        self.assertGreaterEqual(len(serials), 3, serials)
        self.assertEqual(len(serials), len(set(serials)), serials)
        self.assertEqual(certs["renewal_failures"], 0)
        cert = certs["certificate"]
        self.assertGreater(cert["seconds_until_expiration"], 0)
        ok, output = openssl_verify(cert["chain_pem"], self.bundle())
        self.assertTrue(ok, output)
        self.assertGreaterEqual(
            inst.metric("trellis_identity_renewals_total", result="success"), 2)
        self.assertEqual(inst.metric("trellis_identity_renewals_total", result="failure"), 0)
        self.assertGreaterEqual(inst.metric("trellis_identity_certificate_expiry_seconds"),
                                cert["not_after"])
        # Each renewal went through trellisd's renewal path (not the token again).
        status, text = self.mesh.request("GET", "/metrics")
        self.assertIn('trellisd_certificate_requests_total{outcome="issued"}', text)
        self.assert_no_private_key(inst, token)


class RefusalTest(ProxyIdentityTestCase):
    def run_refused(self, token):
        """Starts a sidecar with `token`; returns its stderr once it exited 1."""
        workdir = make_scratch_dir("proxy-refused")
        port_file = os.path.join(workdir, "admin-port")
        args = [binary(PROXY_BINARY), "--xds", self.mesh.xds_target, "--service", SA,
                "--namespace", NS, "--instance", "checkout-1",
                "--inbound", f"127.0.0.1:{free_port()}", "--app", f"127.0.0.1:{free_port()}",
                "--admin-address", "127.0.0.1:0", "--admin-port-file", port_file,
                "--ca-address", f"127.0.0.1:{self.mesh.api_port}",
                "--join-token-file", write_token_file(token)]
        proc = Proc(args, test=self, name="trellis-proxy (refused)", workdir=workdir)
        code = proc.proc.wait(EXIT_TIMEOUT)
        self.assertEqual(code, 1, proc.stderr_text())
        # It never served: no admin listener was opened.
        self.assertFalse(os.path.exists(port_file))
        return proc.stderr_text() + proc.stdout_text(), proc.stderr_text()

    def test_an_expired_token_makes_the_proxy_exit_1_with_the_reason(self):
        created = self.create_token(ttl="1s")
        # The token's own lifetime: wall-clock expiry has no other signal to wait for.
        wait_until("the token's expiry", lambda: time.time() >= created["expiresAt"] + 1.0,
                   timeout=5.0)
        output, stderr = self.run_refused(created["token"])
        self.assertIn("token_expired", stderr)
        self.assertIn(f"join token {created['id']} expired", stderr)
        self.assertNotIn("PRIVATE KEY", output)

    def test_a_token_for_another_identity_makes_the_proxy_exit_1_with_the_reason(self):
        token = self.create_token(sa="billing")["token"]
        output, stderr = self.run_refused(token)
        self.assertIn("token_wrong_identity", stderr)
        self.assertIn("service account billing", stderr)
        self.assertNotIn("PRIVATE KEY", output)
        self.assertNotIn(token.rsplit(".", 1)[1], output)


class UnreachableTest(TrellisTestCase):
    def test_the_proxy_retries_while_trellisd_is_unreachable_and_stops_on_sigterm(self):
        workdir = make_scratch_dir("proxy-unreachable")
        port_file = os.path.join(workdir, "admin-port")
        args = [binary(PROXY_BINARY), "--xds", f"127.0.0.1:{free_port()}", "--service", SA,
                "--namespace", NS, "--admin-address", "127.0.0.1:0",
                "--admin-port-file", port_file,
                "--ca-address", f"127.0.0.1:{free_port()}", "--join-token", "trellis-join.x.y"]
        proc = Proc(args, test=self, name="trellis-proxy (unreachable)", workdir=workdir)
        logs = lambda: proc.stdout_text() + proc.stderr_text()  # noqa: E731
        wait_until("a second attempt", lambda: "attempt 2 to get a certificate" in logs(),
                   timeout=10.0, procs=[proc])
        self.assertIn("Connection refused", logs())
        self.assertIn("retrying in", logs())
        self.assertFalse(os.path.exists(port_file))  # not serving without an identity
        proc.proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        self.assertEqual(proc.proc.wait(5), 0, logs())
        self.assertLess(time.monotonic() - started, 2.0)


class FlagsTest(TrellisTestCase):
    def run_proxy(self, *args):
        result = subprocess.run([binary(PROXY_BINARY), *args], capture_output=True, text=True,
                                timeout=10, check=False)
        return result.returncode, result.stderr

    def test_identity_flags_are_checked(self):
        xds = ["--xds", "127.0.0.1:1", "--service", SA, "--namespace", NS]
        code, err = self.run_proxy(*xds, "--ca-address", "127.0.0.1:1")
        self.assertEqual(code, 2)
        self.assertIn("needs a join token", err)
        code, err = self.run_proxy(*xds, "--join-token", "t")
        self.assertEqual(code, 2)
        self.assertIn("only apply with --ca-address", err)
        code, err = self.run_proxy(*xds, "--ca-address", "nowhere", "--join-token", "t")
        self.assertEqual(code, 2)
        self.assertIn("expected IP:PORT", err)
        code, err = self.run_proxy(*xds, "--ca-address", "127.0.0.1:1", "--join-token-file",
                                   "/nonexistent/token")
        self.assertEqual(code, 2)
        self.assertIn("--join-token-file /nonexistent/token", err)
        code, err = self.run_proxy(*xds, "--ca-address", "127.0.0.1:1", "--join-token", "t",
                                   "--service-account", "Bad/Name")
        self.assertEqual(code, 2)
        self.assertIn("workload identity", err)
        # trellisd binds a sidecar's node id to its namespace.
        code, err = self.run_proxy(*xds, "--node-id", "checkout-1.other")
        self.assertEqual(code, 2)
        self.assertIn("--node-id 'checkout-1.other' must end in '.shop'", err)


if __name__ == "__main__":
    unittest.main()
