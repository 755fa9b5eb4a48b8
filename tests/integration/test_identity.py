"""trellisd's CA and certificate issuance over its real API, with the openssl CLI playing the
proxy: it makes its own key and CSR (the key never leaves it), proves its identity with a join
token from `trellisctl token create` or, to renew, with its current certificate, and every
certificate issued is checked by `openssl verify` against the trust bundle. Refusals (expired
or reused tokens, another service account, a forged renewal, another trust domain) are tested
one by one, and each is counted in trellisd's metrics.
"""

import base64
import json
import os
import stat
import subprocess
import time
import unittest

from harness import TrellisTestCase, binary, make_scratch_dir
from pki_peers import openssl_verify, split_pem
from trellisd_harness import Trellisd

TD = "trellis.local"


def spiffe(ns, sa, td=TD):
    return f"spiffe://{td}/ns/{ns}/sa/{sa}"


def openssl(*args, data=None):
    result = subprocess.run(["openssl", *args], input=data, capture_output=True, check=False)
    if result.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)}: {result.stderr.decode()}")
    return result.stdout


class Workload:
    """A key and CSRs made the way a proxy makes them, in its own scratch directory."""

    def __init__(self, identity):
        self.dir = make_scratch_dir("workload")
        self.key = os.path.join(self.dir, "key.pem")
        self.identity = identity
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", self.key)

    def csr(self, identity=None):
        return openssl("req", "-new", "-key", self.key, "-subj", "/O=trellis",
                       "-addext", f"subjectAltName=URI:{identity or self.identity}").decode()

    def sign(self, text, key=None):
        """The proof of possession for a renewal: `text` signed with `key` (default: the
        current key), base64."""
        path = os.path.join(self.dir, "data")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return base64.b64encode(
            openssl("dgst", "-sha256", "-sign", key or self.key, path)).decode()

    def rotate_key(self):
        """A new key, as a proxy makes for each renewal; returns the old key's path."""
        old = self.key + ".old"
        os.rename(self.key, old)
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", self.key)
        return old


class IdentityTestCase(TrellisTestCase):
    def setUp(self):
        self.d = Trellisd(self, log_level="info")

    def token(self, ns="shop", sa="checkout", ttl="1h"):
        status, body = self.d.request("POST", "/api/v1/identity/tokens",
                                      {"namespace": ns, "serviceAccount": sa, "ttl": ttl})
        self.assertEqual(status, 200, body)
        return body["token"]

    def issue(self, body):
        return self.d.request("POST", "/api/v1/identity/certificates", body, token=False)

    def refused_count(self, outcome):
        status, text = self.d.request("GET", "/metrics")
        for line in text.splitlines():
            if line.startswith(f'trellisd_certificate_requests_total{{outcome="{outcome}"}}'):
                return int(line.rsplit(" ", 1)[1])
        return 0


class CaTest(IdentityTestCase):
    def test_first_start_creates_a_root_with_a_private_key_file(self):
        ca_dir = os.path.join(self.d.data_dir, "ca")
        key_mode = stat.S_IMODE(os.stat(os.path.join(ca_dir, "root-key.pem")).st_mode)
        self.assertEqual(key_mode, 0o600)
        bundle = self.d.get("/api/v1/identity/bundle")
        self.assertEqual(bundle["trustDomain"], TD)
        text = openssl("x509", "-noout", "-text", data=bundle["trustBundle"].encode()).decode()
        self.assertIn("CA:TRUE", text)
        self.assertIn(f"URI:spiffe://{TD}", text)
        self.assertIn("prime256v1", text)
        # The key is nowhere in what the API hands out.
        self.assertNotIn("PRIVATE KEY", json.dumps(bundle))

    def test_the_root_survives_a_restart(self):
        before = self.d.get("/api/v1/identity/bundle")["trustBundle"]
        self.d.restart()
        self.assertEqual(self.d.get("/api/v1/identity/bundle")["trustBundle"], before)

    def test_a_key_readable_by_others_is_refused_at_start(self):
        os.chmod(os.path.join(self.d.data_dir, "ca", "root-key.pem"), 0o644)
        self.d.stop()
        with self.assertRaises(RuntimeError) as failure:
            self.d.start()
        self.assertIn("readable by others", str(failure.exception))


class IssuanceTest(IdentityTestCase):
    def test_a_join_token_gets_a_short_lived_spiffe_certificate(self):
        workload = Workload(spiffe("shop", "checkout"))
        status, body = self.issue({"csr": workload.csr(), "joinToken": self.token()})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["identity"], spiffe("shop", "checkout"))
        ok, output = openssl_verify(body["certificateChain"], body["trustBundle"])
        self.assertTrue(ok, output)
        leaf = split_pem(body["certificateChain"])[0]
        text = openssl("x509", "-noout", "-text", data=leaf.encode()).decode()
        self.assertIn(f"URI:{spiffe('shop', 'checkout')}", text)
        self.assertIn("CA:FALSE", text)
        self.assertIn("TLS Web Server Authentication, TLS Web Client Authentication", text)
        lifetime = body["expiresAt"] - time.time()
        self.assertGreater(lifetime, 23.9 * 3600)
        self.assertLessEqual(lifetime, 24 * 3600)
        # The certificate holds the workload's own public key: its key never left it.
        cert_key = openssl("x509", "-noout", "-pubkey", data=leaf.encode())
        own_key = openssl("pkey", "-in", workload.key, "-pubout")
        self.assertEqual(cert_key, own_key)
        self.assertEqual(self.refused_count("issued"), 1)

    def test_trellisctl_token_create_prints_a_usable_token(self):
        result = subprocess.run(
            [binary("src/cli/trellisctl"), "--server", self.d.url, "--token", self.d.token,
             "token", "create", "-n", "shop", "--service-account", "billing", "--ttl", "10m"],
            capture_output=True, text=True, check=False)
        self.assertEqual(result.returncode, 0, result.stderr)
        token = result.stdout.strip()
        self.assertTrue(token.startswith("trellis-join."), result.stdout)
        self.assertIn("shop/billing", result.stderr)
        workload = Workload(spiffe("shop", "billing"))
        status, body = self.issue({"csr": workload.csr(), "joinToken": token})
        self.assertEqual(status, 200, body)

    def test_renewal_with_the_current_certificate_and_a_new_key(self):
        workload = Workload(spiffe("shop", "checkout"))
        _, first = self.issue({"csr": workload.csr(), "joinToken": self.token()})
        old_key = workload.rotate_key()
        csr = workload.csr()
        signature = workload.sign(csr, key=old_key)  # proves it holds the current certificate
        status, renewed = self.issue({"csr": csr, "certificateChain": first["certificateChain"],
                                      "signature": signature})
        self.assertEqual(status, 200, renewed)
        self.assertTrue(openssl_verify(renewed["certificateChain"], renewed["trustBundle"])[0])
        self.assertNotEqual(renewed["certificateChain"], first["certificateChain"])


class RefusalTest(IdentityTestCase):
    def assert_refused(self, body, reason, status=403):
        code, answer = self.issue(body)
        self.assertEqual(code, status, answer)
        self.assertEqual(answer["reason"], reason, answer)
        self.assertNotIn("certificateChain", answer)
        self.assertEqual(self.refused_count(reason), 1)
        log = self.d.proc.stdout_text() + self.d.proc.stderr_text()
        self.assertIn(f"certificate request refused ({reason})", log)
        return answer

    def test_a_token_for_another_service_account_is_refused(self):
        csr = Workload(spiffe("shop", "billing")).csr()
        answer = self.assert_refused({"csr": csr, "joinToken": self.token(sa="checkout")},
                                     "token_wrong_identity")
        self.assertIn("service account checkout", answer["error"])

    def test_a_token_for_another_namespace_is_refused(self):
        csr = Workload(spiffe("other", "checkout")).csr()
        self.assert_refused({"csr": csr, "joinToken": self.token(ns="shop")},
                            "token_wrong_identity")

    def test_an_expired_token_is_refused_even_after_it_worked(self):
        token = self.token(ttl="1s")
        workload = Workload(spiffe("shop", "checkout"))
        status, _ = self.issue({"csr": workload.csr(), "joinToken": token})
        self.assertEqual(status, 200)  # within its second (the CSR is made beforehand)
        time.sleep(2.1)  # the token's own lifetime: no readiness signal for wall-clock expiry
        self.assert_refused({"csr": workload.csr(), "joinToken": token}, "token_expired")

    def test_a_forged_or_unknown_token_is_refused(self):
        token = self.token()
        forged = token[:-4] + ("0000" if not token.endswith("0000") else "1111")
        csr = Workload(spiffe("shop", "checkout")).csr()
        self.assert_refused({"csr": csr, "joinToken": forged}, "token_unknown")
        self.assertEqual(self.issue({"csr": csr, "joinToken": "nope"})[1]["reason"],
                         "token_malformed")

    def test_no_credential_is_refused(self):
        self.assert_refused({"csr": Workload(spiffe("shop", "checkout")).csr()}, "no_credential")

    def test_another_trust_domain_is_refused(self):
        csr = Workload(spiffe("shop", "checkout", td="evil.example")).csr()
        self.assert_refused({"csr": csr, "joinToken": self.token()}, "wrong_trust_domain")

    def test_renewal_signed_with_another_key_is_refused(self):
        workload = Workload(spiffe("shop", "checkout"))
        _, first = self.issue({"csr": workload.csr(), "joinToken": self.token()})
        thief = Workload(spiffe("shop", "checkout"))  # has the certificate, not its key
        csr = thief.csr()
        self.assert_refused({"csr": csr, "certificateChain": first["certificateChain"],
                             "signature": thief.sign(csr)}, "renewal_signature_invalid")

    def test_renewal_for_another_identity_is_refused(self):
        workload = Workload(spiffe("shop", "checkout"))
        _, first = self.issue({"csr": workload.csr(), "joinToken": self.token()})
        csr = workload.csr(spiffe("shop", "billing"))
        self.assert_refused({"csr": csr, "certificateChain": first["certificateChain"],
                             "signature": workload.sign(csr)}, "renewal_certificate_invalid")

    def test_a_csr_with_a_bad_signature_is_refused(self):
        csr = Workload(spiffe("shop", "checkout")).csr()
        body = csr.splitlines()
        middle = len(body) // 2
        body[middle] = body[middle][:-2] + ("AA" if not body[middle].endswith("AA") else "BB")
        self.assert_refused({"csr": "\n".join(body) + "\n", "joinToken": self.token()},
                            "bad_csr", status=400)


class RootRotationTest(TrellisTestCase):
    def test_old_and_new_roots_are_trusted_together_during_the_overlap(self):
        d = Trellisd(self)
        workload = Workload(spiffe("shop", "checkout"))
        status, body = d.request("POST", "/api/v1/identity/tokens",
                                 {"namespace": "shop", "serviceAccount": "checkout"})
        token = body["token"]
        _, old = d.request("POST", "/api/v1/identity/certificates",
                           {"csr": workload.csr(), "joinToken": token}, token=False)
        # The operator brings a new root (made with openssl, as a real one would be).
        work = make_scratch_dir("newroot")
        key = os.path.join(work, "key.pem")
        cert = os.path.join(work, "root.pem")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", key, "-out", cert, "-days", "30", "-subj",
                "/O=trellis/CN=rotated root", "-addext", f"subjectAltName=URI:spiffe://{TD}",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        os.chmod(key, 0o600)
        d.stop()
        d._options += ["--ca-cert", cert, "--ca-key", key]
        d.start()
        bundle = d.get("/api/v1/identity/bundle")["trustBundle"]
        self.assertEqual(len(split_pem(bundle)), 2)  # new root first, old one in its overlap
        ok, output = openssl_verify(old["certificateChain"], bundle)
        self.assertTrue(ok, "a certificate of the old root still verifies: " + output)
        _, new = d.request("POST", "/api/v1/identity/certificates",
                           {"csr": workload.csr(), "joinToken": token}, token=False)
        self.assertIn("rotated root", openssl(
            "x509", "-noout", "-issuer", data=split_pem(new["certificateChain"])[0].encode())
            .decode())
        ok, output = openssl_verify(new["certificateChain"], bundle)
        self.assertTrue(ok, output)


if __name__ == "__main__":
    unittest.main()
