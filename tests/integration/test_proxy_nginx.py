"""nginx (Debian's) as a real upstream behind trellis-proxy: static files, large bodies,
keep-alive reuse and nginx's own error pages pass through untouched."""

import os
import shutil
import socket
import subprocess
import time
import unittest

from harness import Proc, RawConnection, free_port, http_get, make_scratch_dir
from proxy_harness import ProxyTestCase, listener, route, service, simple_rule

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@unittest.skipUnless(os.access(NGINX, os.X_OK), "nginx not installed (make deps installs it)")
class NginxUpstreamTest(ProxyTestCase):
    def setUp(self):
        self.root = make_scratch_dir("nginx")
        self.addCleanup(shutil.rmtree, self.root, True)
        www = os.path.join(self.root, "www")
        os.makedirs(www)
        with open(os.path.join(www, "index.html"), "w") as f:
            f.write("<h1>hello from nginx</h1>\n")
        self.big = os.urandom(2 * 1024 * 1024)
        with open(os.path.join(www, "big.bin"), "wb") as f:
            f.write(self.big)
        self.nginx_port = free_port()
        conf = os.path.join(self.root, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""daemon off;
master_process off;
pid {self.root}/nginx.pid;
error_log {self.root}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {self.root}/body;
  proxy_temp_path {self.root}/proxy;
  fastcgi_temp_path {self.root}/fastcgi;
  uwsgi_temp_path {self.root}/uwsgi;
  scgi_temp_path {self.root}/scgi;
  keepalive_requests 10000;
  server {{
    listen 127.0.0.1:{self.nginx_port};
    root {www};
    location /chunked {{ return 200 "dynamic"; }}
  }}
}}
""")
        nginx = Proc([NGINX, "-c", conf, "-p", self.root], test=self, name="nginx")
        # nginx has no readiness file of its own: its listening port is the signal.
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.nginx_port), timeout=1).close()
                break
            except OSError:
                self.assertTrue(nginx.alive(), nginx.stderr_text())
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.02)
        self.port = free_port()
        self.proxy = self.start_proxy(listener("web", self.port) +
                                      service("nginx", [self.nginx_port]) +
                                      route("static", "web", simple_rule("nginx")))

    def test_static_file(self):
        response = http_get(self.port, "/index.html")
        self.assertEqual(response.status, 200)
        self.assertEqual(response.body, b"<h1>hello from nginx</h1>\n")
        self.assertIn("nginx", response.header("server"))

    def test_large_file_and_keep_alive(self):
        with RawConnection(self.port, timeout=10) as conn:
            for _ in range(3):
                conn.send(b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n")
                response = conn.read_response()
                self.assertEqual(response.status, 200)
                self.assertEqual(response.body, self.big)
        self.assertEqual(self.proxy.metric("trellis_upstream_connections_opened_total"), 1)

    def test_nginx_404_passes_through(self):
        response = http_get(self.port, "/missing")
        self.assertEqual(response.status, 404)
        self.assertIsNone(response.header("x-trellis-reason"))

    def test_curl_through_proxy_to_nginx(self):
        out = subprocess.run(["curl", "-sS", "-o", "-", f"http://127.0.0.1:{self.port}/chunked"],
                             capture_output=True, timeout=10, check=True)
        self.assertEqual(out.stdout, b"dynamic")


if __name__ == "__main__":
    unittest.main()
