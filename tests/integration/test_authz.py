"""AuthorizationPolicy enforcement in trellis-proxy (docs/configuration.md, AuthorizationPolicy,
"Enforcement"), with a static --config file: the policies reach the proxy through the xDS codec
(loader -> model -> xDS -> model), attach to listeners by `service`, and are decided per request
(HTTP/1, HTTP/2, gRPC) or per connection (TCP).

Clients here speak plaintext, so they have no principal; identity-based ALLOW over real mutual
TLS is tested with the TLS data path (test_mtls.py)."""

import socket
import time

import grpc

from grpc_peers import ECHO, GrpcClient, call_error, start_grpc_server
from h2_peers import H2Client, TcpEchoServer
from harness import free_port, http_request
from proxy_harness import (ProxyTestCase, grpc_route, grpc_rule, listener, route, service,
                           simple_rule)

ADMIN = "trellis.test.Admin"


def policy(name, targets, action, rules):
    """An AuthorizationPolicy of namespace default; targets: Service names (None: all of the
    namespace); rules: YAML of the `rules:` list items, indented by two spaces (None: no
    rules)."""
    text = f"""apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata:
  name: {name}
spec:
  action: {action}
"""
    if targets is not None:
        text += "  targetRefs:\n" + "".join(f"  - {{kind: Service, name: {t}}}\n" for t in targets)
    if rules is not None:
        text += "  rules:\n" + rules
    return text + "---\n"


def serving(name, port, svc, protocol="HTTP", **kw):
    return listener(name, port, protocol=protocol, extra=f"  service: {svc}\n", **kw)


class AuthzTest(ProxyTestCase):
    """One proxy, several listeners, each serving a Service with its own policies."""

    def setUp(self):
        super().setUp()
        echo = self.start_echo("backend")
        self.grpc = start_grpc_server("authz", test=self)
        self.tcp_echo = TcpEchoServer(self)
        names = ["billing", "billing_grpc", "orders", "orders_tcp", "vault", "vault_tcp", "plain",
                 "open_tcp"]
        self.ports = {name: free_port() for name in names}
        p = self.ports
        config = (
            serving("billing-in", p["billing"], "billing") +
            serving("billing-grpc", p["billing_grpc"], "billing") +
            serving("orders-in", p["orders"], "orders") +
            serving("orders-tcp", p["orders_tcp"], "orders", protocol="TCP",
                    tcp_backend=("raw", 80)) +
            serving("vault-in", p["vault"], "vault") +
            serving("vault-tcp", p["vault_tcp"], "vault", protocol="TCP",
                    tcp_backend=("raw", 80)) +
            listener("plain", p["plain"]) +
            serving("open-tcp", p["open_tcp"], "open", protocol="TCP", tcp_backend=("raw", 80)) +
            "".join(service(name, [echo.port]) for name in
                    ("billing", "orders", "vault", "other", "open")) +
            service("raw", [self.tcp_echo.port]) +
            service("grpc", [int(self.grpc.target.rsplit(":", 1)[1])], app_protocol="grpc") +
            "".join(route(f"r-{name}", name, simple_rule("billing")) for name in
                    ("billing-in", "orders-in", "vault-in", "plain")) +
            grpc_route("g", "billing-grpc", grpc_rule(["grpc"])) +
            # billing: /admin and the gRPC Admin service are denied; /audited is audited.
            policy("deny-admin", ["billing"], "DENY", """  - to:
    - operation:
        paths: ["/admin", "/admin/*", "/trellis.test.Admin/*"]
""") +
            policy("audit", ["billing", "open"], "AUDIT", """  - to:
    - operation:
        paths: ["/audited"]
  - to:
    - operation:
        ports: ["%d"]
""" % p["open_tcp"]) +
            # orders: reads only.
            policy("read-only", ["orders"], "ALLOW", """  - to:
    - operation:
        methods: ["GET", "HEAD"]
""") +
            # vault: only checkout's identity.
            policy("checkout-only", ["vault"], "ALLOW", """  - from:
    - source:
        principals: ["spiffe://trellis.local/ns/default/sa/checkout"]
""") +
            # Another Service's policy applies to none of these listeners.
            policy("deny-everything", ["other"], "DENY", "  - {}\n"))
        self.proxy = self.start_proxy(config, log_level="info")

    def log_lines(self, prefix, count=1, timeout=5.0):
        """The proxy's log lines (spdlog writes to stdout) containing `prefix`, once there are
        at least `count`."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.proxy.proc.stdout_text() + self.proxy.proc.stderr_text()
            lines = [line for line in text.splitlines() if prefix in line]
            if len(lines) >= count or time.monotonic() > deadline:
                return lines
            time.sleep(0.02)

    def denied(self, listener_name, policy_name):
        return self.proxy.metric("trellis_authz_denied_total", listener=listener_name,
                                 policy=policy_name)

    def assert_denied_http1(self, response):
        self.assertEqual(response.status, 403)
        self.assertEqual(response.header("x-trellis-reason"), "rbac_denied")
        self.assertEqual(response.body, b"rbac_denied\n")

    def tcp_exchange(self, port, payload=b"hello"):
        """Sends `payload`; returns what came back before the proxy closed (or 2 s passed)."""
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            try:
                sock.sendall(payload)
                data = sock.recv(100)
            except ConnectionResetError:
                data = b""
            return data

    # -- DENY by path

    def test_deny_by_path_over_http1(self):
        port = self.ports["billing"]
        for path in ("/admin", "/admin/users", "/admin?debug=1"):
            self.assert_denied_http1(http_request(port, "GET", path))
        self.assert_denied_http1(http_request(port, "POST", "/admin/x", body=b"payload"))
        for path in ("/", "/administrator", "/ok/admin"):
            self.assertEqual(http_request(port, "GET", path).status, 200, path)
        self.assertEqual(self.proxy.wait_metric("trellis_authz_denied_total", lambda v: v == 4,
                                                listener="default/billing-in",
                                                policy="default/deny-admin"), 4)
        self.assertEqual(self.proxy.metric("trellis_local_replies_total",
                                           listener="default/billing-in", reason="rbac_denied"), 4)
        lines = self.log_lines("authz denied", 4)
        self.assertEqual(len(lines), 4, lines)
        self.assertRegex(lines[0], r"authz denied listener=default/billing-in "
                         r"policy=default/deny-admin rule=0 principal=- method=GET path=/admin "
                         rf"port={port} reason=denied_by_policy peer=127\.0\.0\.1$")
        # The query string is not part of the path, in the decision or in the log.
        self.assertIn(" path=/admin port=", lines[2])
        self.assertIn(" method=POST path=/admin/x ", lines[3])

    def test_path_spellings_of_a_denied_path_are_denied_and_the_normal_form_is_forwarded(self):
        """Regression (review of the first version): "//admin", "/./admin", "/x/../admin" and
        "/%61dmin" reached the application, which reads them as /admin."""
        port = self.ports["billing"]
        for path in ("//admin", "/./admin", "/x/../admin", "/%61dmin", "/admin//users"):
            self.assert_denied_http1(http_request(port, "GET", path))
        with H2Client(port) as client:
            self.assertEqual(client.get("/x/../admin").status, 403)
        # An encoded separator cannot be normalized without guessing: refused.
        response = http_request(port, "GET", "/admin%2Fusers")
        self.assertEqual((response.status, response.header("x-trellis-reason")),
                         (400, "bad_request"))
        # Allowed requests reach the application in their normal form.
        response = http_request(port, "GET", "/a/./b//c/../d")
        self.assertEqual(response.status, 200)
        self.assertEqual(response.json()["path"], "/a/b/d")

    def test_deny_by_path_over_http2(self):
        port = self.ports["billing"]
        with H2Client(port) as client:
            stream = client.get("/admin/x")
            self.assertEqual((stream.status, stream.header("x-trellis-reason")),
                             (403, "rbac_denied"))
            self.assertEqual(stream.body, b"rbac_denied\n")
            self.assertEqual(client.get("/fine").status, 200)
            # Still usable: a denial answers the stream, not the connection.
            self.assertEqual(client.get("/admin").status, 403)
        self.assertEqual(self.proxy.wait_metric("trellis_authz_denied_total", lambda v: v == 2,
                                                listener="default/billing-in",
                                                policy="default/deny-admin"), 2)
        self.assertEqual(len(self.log_lines("path=/admin/x", 1)), 1)

    def test_log_values_are_escaped(self):
        port = self.ports["billing"]
        with H2Client(port) as client:
            stream = client.get('/admin/a"b\\c')
            self.assertEqual(stream.status, 403)
        lines = self.log_lines("authz denied", 1)
        self.assertIn(r' path="/admin/a\"b\\c" ', lines[0])

    def test_grpc_call_is_permission_denied(self):
        with GrpcClient(f"127.0.0.1:{self.ports['billing_grpc']}") as client:
            self.assertEqual(client.unary(b"ping"), b"ping")
            error = call_error(client.unary_call, b"x", service=ADMIN)
            self.assertEqual(error.code(), grpc.StatusCode.PERMISSION_DENIED)
            self.assertEqual(error.details(), "rbac_denied")
            self.assertEqual(client.unary(b"again", service=ECHO), b"again")
        self.assertEqual(self.proxy.wait_metric("trellis_authz_denied_total", lambda v: v == 1,
                                                listener="default/billing-grpc",
                                                policy="default/deny-admin"), 1)
        self.assertEqual(self.proxy.wait_metric("trellis_grpc_requests_total", lambda v: v == 1,
                                                listener="default/billing-grpc",
                                                grpc_code="PERMISSION_DENIED"), 1)
        self.assertEqual(self.grpc.stats()["calls"].get("Unary", 0), 2)
        lines = self.log_lines("authz denied listener=default/billing-grpc", 1)
        self.assertIn(f"method=POST path=/{ADMIN}/Unary ", lines[0])

    # -- ALLOW

    def test_allow_by_method_denies_other_methods(self):
        port = self.ports["orders"]
        self.assertEqual(http_request(port, "GET", "/items").status, 200)
        self.assertEqual(http_request(port, "HEAD", "/items").status, 200)
        for method in ("POST", "DELETE", "PUT"):
            self.assert_denied_http1(http_request(port, method, "/items", body=b"x"))
        self.assertEqual(self.proxy.wait_metric("trellis_authz_denied_total", lambda v: v == 3,
                                                listener="default/orders-in",
                                                policy="no_allow_policy_matched"), 3)
        lines = self.log_lines("authz denied listener=default/orders-in", 3)
        self.assertIn(" policy=default/read-only rule=- principal=- method=POST path=/items ",
                      lines[0])
        self.assertIn(" reason=no_allow_policy_matched ", lines[0])

    def test_allow_by_principal_denies_a_client_without_identity(self):
        self.assert_denied_http1(http_request(self.ports["vault"], "GET", "/"))
        with H2Client(self.ports["vault"]) as client:
            self.assertEqual(client.get("/").status, 403)
        self.assertEqual(self.proxy.wait_metric("trellis_authz_denied_total", lambda v: v == 2,
                                                listener="default/vault-in",
                                                policy="no_allow_policy_matched"), 2)

    # -- TCP

    def test_tcp_connection_without_identity_is_closed(self):
        self.assertEqual(self.tcp_exchange(self.ports["vault_tcp"]), b"")
        self.assertEqual(self.proxy.wait_metric("trellis_authz_denied_total", lambda v: v == 1,
                                                listener="default/vault-tcp",
                                                policy="no_allow_policy_matched"), 1)
        lines = self.log_lines("authz denied listener=default/vault-tcp", 1)
        self.assertRegex(lines[0], r" policy=default/checkout-only rule=- principal=- method=- "
                         r"path=- "
                         rf"port={self.ports['vault_tcp']} reason=no_allow_policy_matched ")

    def test_tcp_allow_rules_with_http_fields_never_match(self):
        # Istio's TCP rule: an ALLOW rule that names methods cannot hold on a TCP connection.
        self.assertEqual(self.tcp_exchange(self.ports["orders_tcp"]), b"")
        self.assertEqual(self.proxy.wait_metric("trellis_authz_denied_total", lambda v: v == 1,
                                                listener="default/orders-tcp",
                                                policy="no_allow_policy_matched"), 1)

    def test_tcp_audit_allows_and_logs(self):
        self.assertEqual(self.tcp_exchange(self.ports["open_tcp"]), b"tcp-echo:hello")
        self.assertEqual(self.proxy.wait_metric("trellis_authz_audited_total", lambda v: v == 1,
                                                listener="default/open-tcp",
                                                policy="default/audit"), 1)
        lines = self.log_lines("authz audit listener=default/open-tcp", 1)
        self.assertIn(" policy=default/audit decision=allowed principal=- method=- path=- ",
                      lines[0])

    # -- scope

    def test_audit_match_is_allowed_and_logged(self):
        self.assertEqual(http_request(self.ports["billing"], "GET", "/audited").status, 200)
        self.assertEqual(self.proxy.wait_metric("trellis_authz_audited_total", lambda v: v == 1,
                                                listener="default/billing-in",
                                                policy="default/audit"), 1)
        lines = self.log_lines("authz audit", 1)
        self.assertRegex(lines[0], r"authz audit listener=default/billing-in "
                         r"policy=default/audit decision=allowed principal=- method=GET "
                         r"path=/audited ")
        self.assertEqual(self.log_lines("authz denied", 0, timeout=0), [])

    def test_policies_of_other_services_do_not_apply(self):
        # deny-everything targets Service other, which no listener serves; a listener without
        # a Service has no policy at all.
        self.assertEqual(http_request(self.ports["billing"], "GET", "/ok").status, 200)
        self.assertEqual(http_request(self.ports["plain"], "GET", "/admin").status, 200)
        self.assertEqual(http_request(self.ports["plain"], "DELETE", "/x").status, 200)
        self.assertEqual(self.proxy.metric("trellis_authz_denied_total"), 0)
        self.assertEqual(self.log_lines("authz ", 0, timeout=0), [])


if __name__ == "__main__":
    import unittest
    unittest.main()
