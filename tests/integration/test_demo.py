"""`make demo` runs: the shop mesh comes up from examples/shop/ with STRICT mutual TLS, the
canary split shows, the rollback takes effect, no request fails, a call the AuthorizationPolicy
denies is shown, and nothing is left running afterwards."""

import os
import subprocess
import unittest

from harness import TrellisTestCase

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def demo_processes():
    out = subprocess.run(["pgrep", "-f", "shop_app.py|trellis-demo-"], capture_output=True,
                         text=True).stdout
    return [line for line in out.splitlines() if line.strip()]


class DemoTest(TrellisTestCase):
    def test_scenario_runs_and_cleans_up(self):
        build = os.environ["TRELLIS_BUILD_DIR"]
        result = subprocess.run(
            ["/usr/bin/python3", os.path.join(ROOT, "scripts", "demo_mesh.py"), "--build-dir",
             build, "--scenario-only", "--phase-seconds", "3", "--rate", "60"],
            capture_output=True, text=True, timeout=180)
        output = result.stdout + result.stderr
        self.assertEqual(result.returncode, 0, output)
        self.assertIn("ACK", output)
        self.assertIn("rule 0: billing 90%, billing-v2 10%", output)
        self.assertIn("errors over the whole run: 0", output)
        # Zero trust: the frontend's call to billing is denied by identity, and plaintext to a
        # STRICT sidecar is refused.
        self.assertIn("403 Forbidden   x-trellis-reason: rbac_denied", output)
        self.assertIn("refused: ", output)
        self.assertNotIn("UNEXPECTED", output)
        self.assertIn("demo stopped; nothing left running.", output)
        self.assertEqual(demo_processes(), [])


if __name__ == "__main__":
    unittest.main()
