"""trellisd's xDS read by a client that is not ours: proxyless gRPC (Debian's python3-grpcio,
gRPC core 1.51) resolving `xds:///NAME` through trellisd's ADS server.

Two trellis-echo instances stand behind Services `greeter` and `greeter-v2`; a GRPCRoute attached
to `greeter` (GAMMA: parentRef kind Service) splits calls between them. The client runs in its
own process (the bootstrap is read from GRPC_XDS_BOOTSTRAP once per process) and takes JSON
commands on stdin, one per line, answering one JSON line each on stdout; it stays up across
configuration changes, so a changed split reaches it over its one ADS stream (the push path),
and across a restart of trellisd (a new stream, served from the store).

Target forms gRPC 1.51 accepts (the LDS resource name is the target's path without the leading
slash, and the same string is the authority the virtual host must match): `xds:///greeter`,
`xds:///greeter.default`, `xds:///greeter.default:50051`,
`xds:///greeter.default.svc.cluster.local:50051`; test_target_forms calls each of them.

Run the client alone: /usr/bin/python3 test_xds_interop.py client  (GRPC_XDS_BOOTSTRAP set).
"""

import collections
import json
import math
import os
import selectors
import shutil
import subprocess
import sys
import time
import unittest

from harness import TrellisTestCase, make_scratch_dir
from trellisd_harness import Trellisd

NODE_ID = "interop-client"
METHOD = "/trellis.test.Echo/Call"
TARGET = "xds:///greeter.default:50051"
CALLS = 1000
SIGMAS = 5  # tolerance of a split, in binomial standard deviations
COMMAND_TIMEOUT = 60.0  # seconds the client may take to answer one command
FIRST_CALL_TIMEOUT = 20.0  # seconds for the first call: bootstrap, ADS, LDS..EDS, connect
SETTLE_RUN = 20  # consecutive calls on the expected backend that show a new split in force
SETTLE_MAX_CALLS = 3000
# gRPC 1.51 does not take a name's absence from an LDS answer as "does not exist" until it has
# once received that resource (the answer may predate its subscription): a name that never
# resolved fails only when the client's 15 s resource timer fires.
UNKNOWN_NAME_DEADLINE = 30.0
TYPES = ("lds", "rds", "cds", "eds")


# ---------------------------------------------------------------------------------------------
# Mesh documents

def service(name, endpoint_port, port=50051):
    return f"""\
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {{name: {name}, namespace: default}}
spec:
  ports: [{{name: grpc, port: {port}, appProtocol: grpc}}]
  endpoints: [{{address: 127.0.0.1, port: {endpoint_port}}}]
"""


def split_route(weight_v1, weight_v2):
    return f"""\
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {{name: greeter, namespace: default}}
spec:
  parentRefs:
  - {{group: "", kind: Service, name: greeter, port: 50051}}
  rules:
  - backendRefs:
    - {{name: greeter, port: 50051, weight: {weight_v1}}}
    - {{name: greeter-v2, port: 50051, weight: {weight_v2}}}
"""


def bootstrap(xds_port):
    return {
        "xds_servers": [{
            "server_uri": f"127.0.0.1:{xds_port}",
            "channel_creds": [{"type": "insecure"}],
            "server_features": ["xds_v3"],
        }],
        "node": {"id": NODE_ID, "locality": {}},
    }


# ---------------------------------------------------------------------------------------------
# The client process (runs under `python3 test_xds_interop.py client`)

def client_main():
    import grpc  # only in the client process: the test process never loads gRPC

    channels = {}

    def stub(target):
        if target not in channels:
            channels[target] = grpc.insecure_channel(target)
        return channels[target].unary_unary(METHOD)  # no serializers: raw bytes

    def call(target, timeout, wait_for_ready):
        """(backend service or None, status code name, details) of one unary call."""
        try:
            response, rpc = stub(target).with_call(b"hello", timeout=timeout,
                                                   wait_for_ready=wait_for_ready)
        except grpc.RpcError as e:
            return None, e.code().name, e.details()
        if response != b"hello":
            return None, "BAD_ECHO", repr(response)
        served = dict(rpc.initial_metadata()).get("x-echo-service")
        return served, "OK", ""

    def calls(target, n, timeout=5.0, wait_for_ready=False):
        counts, errors, first_error = collections.Counter(), collections.Counter(), None
        for _ in range(n):
            served, code, details = call(target, timeout, wait_for_ready)
            if code == "OK":
                counts[served or "<no x-echo-service>"] += 1
            else:
                errors[code] += 1
                first_error = first_error or f"{code}: {details}"
        return {"counts": counts, "errors": errors, "first_error": first_error}

    def settle(target, service, run, max_calls, timeout=5.0):
        """Calls until `run` consecutive ones were served by `service`; returns how many."""
        streak = 0
        for made in range(1, max_calls + 1):
            served, code, details = call(target, timeout, False)
            streak = streak + 1 if served == service else 0
            if streak == run:
                return {"calls": made}
        return {"error": f"no {run} consecutive calls on {service} in {max_calls}"}

    def ready(target, timeout):
        """Waits until the channel is READY (it polls, so xDS updates are read meanwhile)."""
        stub(target)
        try:
            grpc.channel_ready_future(channels[target]).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            return {"error": f"channel to {target} not READY within {timeout}s"}
        return {"ready": True}

    for line in sys.stdin:
        command = json.loads(line)
        op = command.pop("op")
        if op == "call":
            served, code, details = call(command["target"], command["timeout"],
                                         command.get("wait_for_ready", False))
            answer = {"served": served, "code": code, "details": details}
        elif op == "calls":
            answer = calls(**command)
        elif op == "ready":
            answer = ready(**command)
        elif op == "settle":
            answer = settle(**command)
        elif op == "quit":
            break
        else:
            answer = {"error": f"unknown op {op}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    for channel in channels.values():
        channel.close()


class XdsClient:
    """The client process, driven from the test. Its stderr (gRPC's log; set GRPC_TRACE and
    GRPC_VERBOSITY in the environment to debug) is kept in a scratch file for failure messages."""

    def __init__(self, test, xds_port):
        self.workdir = make_scratch_dir("xds-client")
        bootstrap_path = os.path.join(self.workdir, "bootstrap.json")
        with open(bootstrap_path, "w", encoding="utf-8") as f:
            json.dump(bootstrap(xds_port), f)
        # While the client idles between commands no thread polls its sockets, and gRPC reads
        # the ADS stream only from its backup poller (every 5 s by default): poll more often, so
        # that a pushed change is applied (and ACKed) promptly.
        env = dict(os.environ, GRPC_XDS_BOOTSTRAP=bootstrap_path,
                   GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS="50")
        self.stderr_path = os.path.join(self.workdir, "stderr")
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                ["/usr/bin/python3", os.path.abspath(__file__), "client"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=err, env=env, start_new_session=True)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.proc.stdout, selectors.EVENT_READ)
        self.buffer = b""
        self.final_stderr = None  # kept once the scratch directory is gone
        test.addCleanup(self.close)

    def stderr_tail(self, limit=6000):
        text = self.final_stderr
        if text is None:
            with open(self.stderr_path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        return text[-limit:] if limit else text

    def command(self, op, **args):
        """Sends one command and returns the parsed answer; fails with the client's stderr if it
        exits or takes longer than COMMAND_TIMEOUT."""
        self.proc.stdin.write((json.dumps({"op": op, **args}) + "\n").encode())
        self.proc.stdin.flush()
        deadline = time.monotonic() + COMMAND_TIMEOUT
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not self.selector.select(left):
                raise AssertionError(f"client: no answer to {op} within {COMMAND_TIMEOUT}s:\n"
                                     f"{self.stderr_tail()}")
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                self.proc.wait()
                raise AssertionError(f"client exited with {self.proc.returncode} during {op}:\n"
                                     f"{self.stderr_tail()}")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return json.loads(line)

    def close(self):
        """Ends the client (quit, then SIGKILL if it hangs); returns its exit code."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b'{"op": "quit"}\n')
                self.proc.stdin.close()
                self.proc.wait(10)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        if self.final_stderr is None:
            self.final_stderr = self.stderr_tail(limit=None)
            self.selector.close()
            self.proc.stdout.close()
            shutil.rmtree(self.workdir, ignore_errors=True)
        return self.proc.returncode


# ---------------------------------------------------------------------------------------------
# Tests

class XdsInteropTest(TrellisTestCase):
    def setUp(self):
        self.echo_v1 = self.start_echo("greeter", "a")
        self.echo_v2 = self.start_echo("greeter-v2", "b")
        self.trellisd = Trellisd(self)
        self.trellisd.apply(service("greeter", self.echo_v1.port),
                            service("greeter-v2", self.echo_v2.port), split_route(80, 20))
        self.client = XdsClient(self, self.trellisd.xds_port)

    def fail_with_client_log(self, message):
        self.fail(f"{message}\n--- client stderr ---\n{self.client.stderr_tail()}")

    def first_call(self, target=TARGET):
        answer = self.client.command("call", target=target, timeout=FIRST_CALL_TIMEOUT,
                                     wait_for_ready=True)
        if answer["code"] != "OK":
            self.fail_with_client_log(f"first call to {target}: {answer}")
        return answer

    def measure(self, target=TARGET, n=CALLS):
        answer = self.client.command("calls", target=target, n=n)
        if answer["errors"]:
            self.fail_with_client_log(f"calls to {target} failed: {answer}")
        return answer["counts"]

    def assert_split(self, counts, share_v1, n=CALLS):
        """counts {service: calls} is a binomial draw with P(greeter) = share_v1."""
        self.assertLessEqual(set(counts), {"greeter", "greeter-v2"}, counts)
        self.assertEqual(sum(counts.values()), n, counts)
        observed = counts.get("greeter", 0)
        expected = n * share_v1
        tolerance = SIGMAS * math.sqrt(n * share_v1 * (1 - share_v1))
        self.assertLessEqual(abs(observed - expected), tolerance,
                             f"{counts}: greeter expected {expected:.0f} ± {tolerance:.0f}")

    def node(self):
        return self.trellisd.proxy(NODE_ID)

    def wait_all_acked(self, previous_rds=None):
        """Waits until the node has ACKed what was last sent of every type (and, if given, an
        RDS version other than `previous_rds`); returns its /api/v1/proxies item."""
        def acked():
            node = self.node()
            if node is None or not node["connected"]:
                return None
            types = node["types"]
            for name in TYPES:
                state = types.get(name)
                if state is None or not state["sent"] or state["acked"] != state["sent"]:
                    return None
                if state["nacked"] or state["error"]:
                    self.fail(f"{NODE_ID} NACKed {name}: {state}")
            if previous_rds is not None and types["rds"]["acked"] == previous_rds:
                return None
            return node
        return self.trellisd.wait_for(f"{NODE_ID} to ACK every type", acked)

    def change_split(self, weight_v1, weight_v2, previous_rds):
        answer = self.trellisd.apply(split_route(weight_v1, weight_v2))
        self.assertEqual([r["outcome"] for r in answer["results"]], ["configured"], answer)
        return self.wait_all_acked(previous_rds)

    def test_weighted_split_and_pushed_changes(self):
        self.first_call()
        counts = self.measure()
        print(f"\n  80/20: {dict(counts)}", file=sys.stderr)
        self.assert_split(counts, 0.8)

        node = self.wait_all_acked()
        self.assertEqual(node["service"], "")  # no SERVICE metadata: proxyless
        config = self.trellisd.get(f"/api/v1/proxies/{NODE_ID}/config")
        self.assertEqual([l["name"] for l in config["listeners"]], ["greeter.default:50051"])
        streams = self.trellisd.metric("trellisd_xds_streams_total")
        self.assertEqual(streams, 1)

        # 0/100: once SETTLE_RUN calls in a row (p = 0.2^20 under the old split) land on v2,
        # every call must.
        node = self.change_split(0, 100, node["types"]["rds"]["acked"])
        settled = self.client.command("settle", target=TARGET, service="greeter-v2",
                                      run=SETTLE_RUN, max_calls=SETTLE_MAX_CALLS)
        if "error" in settled:
            self.fail_with_client_log(f"split 0/100 not followed: {settled}")
        counts = self.measure()
        print(f"  0/100 (settled after {settled['calls']} calls): {dict(counts)}",
              file=sys.stderr)
        self.assertEqual(counts, {"greeter-v2": CALLS})

        # 50/50: the race between the ACK and the new route taking effect is at most a few
        # calls, far inside the tolerance.
        self.change_split(50, 50, node["types"]["rds"]["acked"])
        counts = self.measure()
        print(f"  50/50: {dict(counts)}", file=sys.stderr)
        self.assert_split(counts, 0.5)

        # All of it over the one stream the client opened first.
        self.assertEqual(self.trellisd.metric("trellisd_xds_streams_total"), 1)
        self.assertEqual(self.client.close(), 0, self.client.stderr_tail())
        self.trellisd.stop()

    def test_client_follows_a_restarted_trellisd(self):
        self.first_call()
        self.wait_all_acked()
        self.trellisd.restart()  # same store, same ports
        # The client opens a new ADS stream to the new process and is served from the store.
        node = self.wait_all_acked()
        self.assertEqual(self.trellisd.metric("trellisd_xds_streams_total"), 1)
        self.change_split(0, 100, node["types"]["rds"]["acked"])
        settled = self.client.command("settle", target=TARGET, service="greeter-v2",
                                      run=SETTLE_RUN, max_calls=SETTLE_MAX_CALLS)
        if "error" in settled:
            self.fail_with_client_log(f"split 0/100 not followed after the restart: {settled}")
        self.assertEqual(self.measure(n=100), {"greeter-v2": 100})
        self.trellisd.stop()

    def test_target_forms(self):
        forms = ["xds:///greeter", "xds:///greeter.default", "xds:///greeter.default:50051",
                 "xds:///greeter.default.svc.cluster.local:50051"]
        for target in forms:
            with self.subTest(target=target):
                self.first_call(target)
                counts = self.measure(target, n=200)
                self.assert_split(counts, 0.8, n=200)
        self.wait_all_acked()
        config = self.trellisd.get(f"/api/v1/proxies/{NODE_ID}/config")
        self.assertEqual(sorted(l["name"] for l in config["listeners"]),
                         sorted(f[len("xds:///"):] for f in forms))

    def test_unknown_name_fails_unavailable(self):
        target = "xds:///nope.default:1"
        started = time.monotonic()
        answer = self.client.command("call", target=target, timeout=UNKNOWN_NAME_DEADLINE)
        elapsed = time.monotonic() - started
        self.assertEqual(answer["code"], "UNAVAILABLE", answer)
        self.assertIn("xDS listener resource does not exist", answer["details"])
        print(f"\n  {target}: {answer['code']} after {elapsed:.1f}s: {answer['details']}",
              file=sys.stderr)
        node = self.trellisd.wait_for(
            "the empty LDS answer to be ACKed",
            lambda: (n := self.node()) and n["types"].get("lds", {}).get("acked") and n)
        self.assertEqual(node["types"]["lds"]["nacked"], "", node)
        self.assertEqual(self.trellisd.get(f"/api/v1/proxies/{NODE_ID}/config")["listeners"], [])

        # The name starts to resolve once a Service of that name exists: trellisd pushes the
        # listener to the client that asked for it. The channel's READY state is the signal: in
        # gRPC 1.51 a wait_for_ready call that starts while the channel fails for the missing
        # listener keeps the old (empty) route and stays queued after the listener arrives
        # ("xds cluster manager picker: unknown cluster"), so calls start only once it is READY.
        self.trellisd.apply(service("nope", self.echo_v1.port, port=1))
        answer = self.client.command("ready", target=target, timeout=FIRST_CALL_TIMEOUT)
        if "error" in answer:
            self.fail_with_client_log(answer["error"])
        self.assertEqual(self.measure(target, n=20), {"greeter": 20})
        self.assertTrue(self.trellisd.alive())
        self.assertEqual(self.client.close(), 0, self.client.stderr_tail())
        self.trellisd.stop()


if __name__ == "__main__":
    if sys.argv[1:] == ["client"]:
        client_main()
    else:
        unittest.main()
