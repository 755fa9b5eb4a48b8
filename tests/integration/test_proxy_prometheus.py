"""The admin endpoint's metrics read by real Prometheus tools: promtool's exposition-format
check and lint, and a Prometheus server that scrapes the proxy and answers PromQL."""

import json
import os
import shutil
import subprocess
import time
import unittest
import urllib.parse
import urllib.request

from harness import Proc, free_port, http_get, make_scratch_dir
from proxy_harness import ProxyTestCase

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


@unittest.skipUnless(os.access(PROMTOOL, os.X_OK), "promtool not installed (make deps)")
class PrometheusTest(ProxyTestCase):
    def setUp(self):
        self.proxy, self.port, self.echoes = self.simple_mesh(echo_count=2)
        for path in ("/a", "/b", "/?status=503", "/?status=404"):
            http_get(self.port, path)
        http_get(self.port, "/", headers={"Content-Length": "x"})  # a parse error, for labels

    def test_promtool_accepts_the_exposition(self):
        status, text = self.proxy.admin("/stats/prometheus")
        self.assertEqual(status, 200)
        result = subprocess.run([PROMTOOL, "check", "metrics"], input=text, text=True,
                                capture_output=True, timeout=30)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    @unittest.skipUnless(os.access(PROMETHEUS, os.X_OK), "prometheus not installed")
    def test_prometheus_scrapes_the_proxy(self):
        workdir = make_scratch_dir("prometheus")
        self.addCleanup(shutil.rmtree, workdir, True)
        config = os.path.join(workdir, "prometheus.yml")
        with open(config, "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
scrape_configs:
- job_name: trellis
  metrics_path: /stats/prometheus
  static_configs:
  - targets: ["127.0.0.1:{self.proxy.admin_port}"]
""")
        web_port = free_port()
        Proc([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={workdir}/data",
              f"--web.listen-address=127.0.0.1:{web_port}", "--log.level=warn"],
             test=self, name="prometheus")

        def query(expr):
            url = (f"http://127.0.0.1:{web_port}/api/v1/query?" +
                   urllib.parse.urlencode({"query": expr}))
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    return json.loads(response.read())["data"]["result"]
            except OSError:
                return []

        deadline = time.monotonic() + 30
        while True:  # Prometheus has no readiness signal for "first scrape done": poll its API
            result = query('sum by (code_class) (trellis_http_requests_total{route="default/all"})')
            if result:
                break
            self.assertLess(time.monotonic(), deadline, "Prometheus never scraped the proxy")
            time.sleep(0.2)
        by_class = {r["metric"]["code_class"]: float(r["value"][1]) for r in result}
        self.assertEqual(by_class.get("2xx"), 2)
        self.assertEqual(by_class.get("5xx"), 1)
        self.assertEqual(by_class.get("4xx"), 1)
        up = query('up{job="trellis"}')
        self.assertEqual(up[0]["value"][1], "1")
        p99 = query("histogram_quantile(0.99, sum by (le) "
                    "(trellis_http_request_duration_seconds_bucket))")
        self.assertTrue(p99 and float(p99[0]["value"][1]) > 0)


if __name__ == "__main__":
    unittest.main()
