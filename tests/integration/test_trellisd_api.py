"""trellisd's HTTP/JSON API at its edges: writes without the token are refused on their head,
before any body is buffered; reads stay open; the empty-store and token-file mistakes are
refused at start with a message that says what to do."""

import os
import shutil
import socket
import subprocess
import unittest


from harness import TrellisTestCase, binary, make_scratch_dir
from trellisd_harness import Trellisd


class TrellisdApiTest(TrellisTestCase):
    def scratch(self):
        path = make_scratch_dir("trellisd-api")
        self.addCleanup(shutil.rmtree, path, True)
        return path

    def test_unauthenticated_write_is_refused_before_its_body(self):
        trellisd = Trellisd(self)
        with socket.create_connection(("127.0.0.1", trellisd.api_port), timeout=5) as conn:
            # Announce 10 MiB but send none of it: the answer must not wait for the body.
            conn.sendall(b"POST /api/v1/apply HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Length: 10485760\r\n\r\n")
            answer = conn.recv(65536).decode()
        self.assertTrue(answer.startswith("HTTP/1.1 401"), answer)
        self.assertIn("Authorization: Bearer", answer)
        # Reads need no token; the server is still fine.
        self.assertIn("items", trellisd.get("/api/v1/resources"))

    def test_empty_store_file_is_refused(self):
        data = os.path.join(self.scratch(), "data")
        os.makedirs(data)
        open(os.path.join(data, "store.db"), "w").close()
        result = subprocess.run([binary("src/controlplane/trellisd/trellisd"), "--data-dir", data,
                                 "--api-address", "127.0.0.1:0", "--xds-address",
                                 "127.0.0.1:0", "--xds-tls-address", "127.0.0.1:0"],
                                capture_output=True, text=True, timeout=30)
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("store.db: the file is empty", result.stderr)

    def test_unreadable_token_file_is_refused(self):
        data = os.path.join(self.scratch(), "data")
        os.makedirs(data)
        open(os.path.join(data, "api-token"), "w").close()  # empty
        result = subprocess.run([binary("src/controlplane/trellisd/trellisd"), "--data-dir", data,
                                 "--api-address", "127.0.0.1:0", "--xds-address",
                                 "127.0.0.1:0", "--xds-tls-address", "127.0.0.1:0"],
                                capture_output=True, text=True, timeout=30)
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("api-token exists but is empty or unreadable", result.stderr)


if __name__ == "__main__":
    unittest.main()
