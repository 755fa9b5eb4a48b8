"""trellis-echo over HTTP/2 (h2c, prior knowledge) and gRPC, with real peers: curl, nghttp, h2load,
python3-h2 (frame-level checks) and python3-grpcio (generic unary and streaming calls).

Debian's python3-h2 and python3-grpcio are visible only to /usr/bin/python3, which runs these
tests; without them the tests that need them are skipped.
"""

import json
import os
import queue
import re
import shutil
import socket
import subprocess
import threading
import time
import unittest

import harness
from harness import RawConnection, http_get

try:
    import h2.config
    import h2.connection
    import h2.events
except ImportError:  # pragma: no cover - the Debian package is a test dependency
    h2 = None

try:
    import grpc
except ImportError:  # pragma: no cover
    grpc = None

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
GRPC_HEADERS = [("content-type", "application/grpc"), ("te", "trailers")]
INTERNAL_ERROR = 0x2
GOAWAY = 0x7


def frame_types(data):
    """The types of the complete HTTP/2 frames at the start of `data` (RFC 9113 §4.1)."""
    types = []
    while len(data) >= 9:
        length = int.from_bytes(data[:3], "big")
        if len(data) < 9 + length:
            break
        types.append(data[3])
        data = data[9 + length:]
    return types


def grpc_frame(message):
    """One length-prefixed gRPC message (uncompressed)."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


class StreamResult:
    def __init__(self):
        self.headers = None  # the final response head, as a dict
        self.header_list = []
        self.data = b""
        self.trailers = None
        self.ended = False
        self.reset = None  # the RST_STREAM error code

    @property
    def finished(self):
        return self.ended or self.reset is not None

    def json(self):
        return json.loads(self.data)


class H2Client:
    """A frame-level HTTP/2 client (python3-h2) over a blocking socket. Received DATA is
    acknowledged (its window reopened) only when `auto_ack` is set, so tests can play a slow
    reader."""

    def __init__(self, test, port, split_preface_at=None):
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=harness.DEFAULT_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        test.addCleanup(self.sock.close)
        config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=config)
        self.conn.initiate_connection()
        if split_preface_at is not None:
            first = self.conn.data_to_send()
            test.assertTrue(first.startswith(PREFACE))
            self.sock.sendall(first[:split_preface_at])
            # No signal says the server has read the first part; a pause makes a split read
            # likely, and the test stays valid if the kernel merges the writes anyway.
            time.sleep(0.05)
            self.sock.sendall(first[split_preface_at:])
        self.flush()
        self.streams = {}
        self.finish_order = []
        self.closed = False
        self.terminated = None  # ConnectionTerminated event
        self.auto_ack = True

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, path, method="GET", headers=(), body=None, end_stream=True):
        stream_id = self.conn.get_next_available_stream_id()
        fields = [(":method", method), (":scheme", "http"), (":path", path),
                  (":authority", f"127.0.0.1:{self.port}"), *headers]
        self.conn.send_headers(stream_id, fields, end_stream=end_stream and body is None)
        self.streams[stream_id] = StreamResult()
        if body is not None:
            self.conn.send_data(stream_id, body, end_stream=end_stream)
        self.flush()
        return stream_id

    def pump(self, timeout=harness.DEFAULT_TIMEOUT):
        """Reads once and handles the events. Returns False on EOF, None on timeout."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return None
        finally:
            self.sock.settimeout(harness.DEFAULT_TIMEOUT)
        if not data:
            self.closed = True
            return False
        for event in self.conn.receive_data(data):
            self._handle(event)
        self.flush()
        return True

    def _handle(self, event):
        result = self.streams.get(getattr(event, "stream_id", None))
        if isinstance(event, h2.events.ResponseReceived):
            result.header_list = list(event.headers)
            result.headers = dict(event.headers)
        elif isinstance(event, h2.events.DataReceived):
            result.data += event.data
            if self.auto_ack:
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.TrailersReceived):
            result.trailers = dict(event.headers)
        elif isinstance(event, h2.events.StreamEnded):
            result.ended = True
            self.finish_order.append(event.stream_id)
        elif isinstance(event, h2.events.StreamReset):
            result.reset = event.error_code
            self.finish_order.append(event.stream_id)
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.terminated = event

    def wait(self, stream_id):
        result = self.streams[stream_id]
        while not result.finished:
            if not self.pump():
                raise ConnectionError(f"connection ended before stream {stream_id} finished")
        return result

    def get(self, path, headers=()):
        return self.wait(self.request(path, headers=headers))


def run(argv, timeout=30):
    return subprocess.run(argv, capture_output=True, check=True, timeout=timeout)


class EchoHttp2Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.echo = harness.start_echo("svc-2", "inst-2")
        cls.addClassCleanup(cls.echo.proc.stop)
        cls.port = cls.echo.port

    @classmethod
    def tearDownClass(cls):
        cls.echo.stop_checked()  # a crash or sanitizer report fails the class

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def client(self, **kw):
        if h2 is None:
            self.skipTest("python3-h2 is not installed")
        return H2Client(self, self.port, **kw)

    def curl(self, *args):
        return run(["curl", "-sS", "--max-time", "10", "--http2-prior-knowledge", *args]).stdout

    # --- protocol detection ----------------------------------------------------------------

    def test_curl_prior_knowledge_gets_json_echo(self):
        out = self.curl("-H", "te: trailers", "-H", "X-Custom: v1", "-w", "\n%{http_version}",
                        self.url("/a/b?x=1"))
        body, _, version = out.rpartition(b"\n")
        self.assertEqual(version, b"2")
        doc = json.loads(body)
        self.assertEqual((doc["version"], doc["method"], doc["path"], doc["query"]),
                         ("HTTP/2", "GET", "/a/b", "x=1"))
        self.assertEqual((doc["service"], doc["instance"]), ("svc-2", "inst-2"))
        headers = doc["headers"]
        self.assertEqual(headers[":authority"], [f"127.0.0.1:{self.port}"])
        self.assertEqual(headers["te"], ["trailers"])
        self.assertEqual(headers["x-custom"], ["v1"])
        self.assertNotIn("host", headers)  # curl sends :authority only
        self.assertEqual(doc["body_bytes"], 0)

    def test_same_port_still_speaks_http1(self):
        doc = http_get(self.port, "/one").json()
        self.assertEqual((doc["version"], doc["path"]), ("HTTP/1.1", "/one"))
        with RawConnection(self.port) as conn:  # "PRI" is an HTTP/1 method unless the preface
            conn.send(b"PRI /x HTTP/1.1\r\nHost: t\r\n\r\n")
            doc = conn.read_response().json()
        self.assertEqual((doc["method"], doc["version"]), ("PRI", "HTTP/1.1"))

    def test_preface_split_across_reads(self):
        client = self.client(split_preface_at=10)
        self.assertEqual(client.get("/split").json()["path"], "/split")

    def test_bad_preface_after_pri_prefix_is_not_http2(self):
        data = harness.raw_request(self.port, b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")
        self.assertTrue(data.startswith(b"HTTP/1.1 "), data)

    # --- knobs, as over HTTP/1 -------------------------------------------------------------

    def test_status_header_body_and_trailer_knobs(self):
        client = self.client()
        result = client.get("/?status=201&body=5&header=x-a:1&trailer=x-t:2",
                            headers=[("x-echo-header", "x-b: two")])
        self.assertEqual(result.headers[":status"], "201")
        self.assertEqual((result.headers["x-a"], result.headers["x-b"]), ("1", "two"))
        self.assertEqual(result.headers["content-length"], "5")
        self.assertEqual(result.headers["x-echo-instance"], "inst-2")
        self.assertEqual(result.data, b"xxxxx")
        self.assertEqual(result.trailers, {"x-t": "2"})

    def test_json_echo_with_trailer_knob(self):
        result = self.client().get("/j", headers=[("x-echo-trailer", "grpc-status: 0")])
        self.assertEqual(result.json()["path"], "/j")
        self.assertEqual(result.trailers, {"grpc-status": "0"})

    def test_health_bad_knob_204_and_head(self):
        client = self.client()
        health = client.get("/healthz?status=500")
        self.assertEqual((health.headers[":status"], health.data), ("200", b"ok"))
        bad = client.get("/?delay=soon")
        self.assertEqual(bad.headers[":status"], "400")
        self.assertIn(b"delay=soon", bad.data)
        empty = client.get("/?status=204")
        self.assertEqual((empty.headers[":status"], empty.data), ("204", b""))
        self.assertNotIn("content-length", empty.headers)
        head = client.wait(client.request("/h", method="HEAD"))
        self.assertEqual(head.data, b"")
        self.assertGreater(int(head.headers["content-length"]), 0)

    def test_request_body_counted(self):
        size = 3 * 1024 * 1024 + 5
        proc = subprocess.run(["curl", "-sS", "--max-time", "10", "--http2-prior-knowledge",
                               "--data-binary", "@-", self.url("/up")],
                              input=b"q" * size, capture_output=True, check=True, timeout=30)
        doc = json.loads(proc.stdout)
        self.assertEqual((doc["method"], doc["body_bytes"]), ("POST", size))

    def test_large_body_knob_streams_with_flow_control(self):
        size = 5 * 1024 * 1024 + 3
        body = self.curl(self.url(f"/?body={size}"))
        self.assertEqual((len(body), body.count(b"x")), (size, size))

    def test_delay_holds_one_stream_not_the_connection(self):
        client = self.client()
        start = time.monotonic()
        slow = client.request("/?delay=400ms")
        fast = client.request("/fast")
        self.assertEqual(client.wait(fast).json()["path"], "/fast")
        self.assertFalse(client.streams[slow].finished, "delayed response arrived too early")
        self.assertEqual(client.wait(slow).headers[":status"], "200")
        self.assertGreaterEqual(time.monotonic() - start, 0.4)
        self.assertEqual(client.finish_order, [fast, slow])

    def test_reset_knob_resets_only_its_stream(self):
        client = self.client()
        result = client.get("/?reset=1")
        self.assertEqual(result.reset, INTERNAL_ERROR)
        self.assertIsNone(result.headers)
        self.assertEqual(client.get("/after").json()["path"], "/after")

    def test_close_knob_closes_connection_without_answer(self):
        client = self.client()
        stream = client.request("/?close=1")
        while client.pump():
            pass
        self.assertTrue(client.closed)
        self.assertFalse(client.streams[stream].finished)
        self.assertIsNone(client.terminated)  # no GOAWAY: the connection just ends

    def test_garbage_knob_sends_invalid_bytes_then_closes(self):
        client = self.client()
        client.request("/?garbage=1")
        received = b""
        while chunk := client.sock.recv(65536):
            received += chunk
        self.assertTrue(received.endswith(b"HTTP/1.1 abc\r\n\r\n"), received[-40:])

    def test_many_concurrent_streams(self):
        client = self.client()
        ids = [client.request(f"/n{i}") for i in range(50)]
        for i, stream_id in enumerate(ids):
            self.assertEqual(client.wait(stream_id).json()["path"], f"/n{i}")

    def test_client_resets_mid_response_and_mid_delay(self):
        client = self.client()
        client.auto_ack = False  # the large response stalls on our window, mid-body
        big = client.request("/?body=10000000")
        delayed = client.request("/?delay=200ms")
        grpc_call = client.request("/x.Y/Z", "POST", GRPC_HEADERS, grpc_frame(b"a" * 1000),
                                   end_stream=False)
        # Both responses have started; their bodies wait on our closed connection window.
        while client.streams[big].headers is None or client.streams[grpc_call].headers is None:
            self.assertTrue(client.pump(), "connection ended")
        for stream in (big, delayed, grpc_call):
            client.conn.reset_stream(stream)
        client.flush()
        client.auto_ack = True
        client.conn.acknowledge_received_data(len(client.streams[big].data), big)
        self.assertEqual(client.get("/after").json()["path"], "/after")
        # Answered after the reset stream's timer fired (later deadline), which must have found
        # nothing to answer.
        self.assertEqual(client.get("/later?delay=250ms").json()["path"], "/later")

    def test_random_bytes_after_preface_get_goaway(self):
        for seed in range(20):
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                junk = bytes((seed * 7919 + i * 104729) % 251 for i in range(3000))
                sock.sendall(PREFACE + junk)
                received = b""
                try:
                    while chunk := sock.recv(65536):
                        received += chunk
                except ConnectionResetError:
                    pass
            self.assertIn(GOAWAY, frame_types(received), f"seed {seed}")
        self.assertEqual(http_get(self.port, "/alive").status, 200)

    def test_peer_closing_mid_request_is_survived(self):
        client = self.client()
        client.request("/up", method="POST", body=b"partial", end_stream=False)
        client.sock.close()
        self.assertEqual(http_get(self.port, "/alive").status, 200)

    # --- gRPC over the frame-level client ---------------------------------------------------

    def test_grpc_echo_then_status_trailer(self):
        client = self.client()
        body = grpc_frame(b"hello") + grpc_frame(b"")
        result = client.wait(client.request("/x.Y/Z", "POST", GRPC_HEADERS, body))
        self.assertEqual(result.headers[":status"], "200")
        self.assertEqual(result.headers["content-type"], "application/grpc")
        self.assertEqual(result.data, body)
        self.assertEqual(result.trailers, {"grpc-status": "0"})

    def test_grpc_error_status_is_trailers_only(self):
        client = self.client()
        result = client.wait(client.request(
            "/x.Y/Z", "POST", GRPC_HEADERS + [("x-echo-grpc-status", "5"),
                                              ("x-echo-grpc-message", "not here: 100%")],
            grpc_frame(b"dropped")))
        self.assertTrue(result.ended)
        self.assertIsNone(result.trailers)  # one HEADERS frame with END_STREAM
        self.assertEqual(result.data, b"")
        self.assertEqual(result.headers["grpc-status"], "5")
        self.assertEqual(result.headers["grpc-message"], "not here: 100%25")
        self.assertEqual(result.headers["content-type"], "application/grpc")

    def test_grpc_slow_reader_stalls_sender_by_window(self):
        client = self.client()
        client.auto_ack = False  # play a client that does not read its responses
        stream = client.request("/x.Y/Z", "POST", GRPC_HEADERS, end_stream=False)
        payload = os.urandom(1024 * 1024)
        sent = 0
        while sent < len(payload):
            window = min(client.conn.local_flow_control_window(stream),
                         client.conn.max_outbound_frame_size, len(payload) - sent)
            if window > 0:
                client.conn.send_data(stream, payload[sent:sent + window])
                client.flush()
                sent += window
                continue
            # The window is closed; it must stay closed while nothing is read. Only the absence
            # of a WINDOW_UPDATE shows that, hence a bounded wait.
            if client.pump(timeout=0.5) is None:
                break
        # Our receive window (64 KiB), the echo's send queue (64 KiB) and the bytes it holds
        # unconsumed (one stream window) bound what it accepted.
        self.assertLessEqual(sent, 4 * 65536, "the echo consumed bytes it could not send")
        self.assertLessEqual(len(client.streams[stream].data), 65535)
        # Reading again lets everything through, in order.
        client.auto_ack = True
        result = client.streams[stream]
        client.conn.acknowledge_received_data(len(result.data), stream)
        client.flush()
        while sent < len(payload):
            window = min(client.conn.local_flow_control_window(stream),
                         client.conn.max_outbound_frame_size, len(payload) - sent)
            if window > 0:
                client.conn.send_data(stream, payload[sent:sent + window])
                client.flush()
                sent += window
            else:
                self.assertTrue(client.pump(), "connection ended")
        client.conn.end_stream(stream)
        client.flush()
        client.wait(stream)
        self.assertEqual(len(result.data), len(payload))
        self.assertEqual(result.data, payload)
        self.assertEqual(result.trailers, {"grpc-status": "0"})

    # --- real peers -------------------------------------------------------------------------

    def test_nghttp_trailers_and_concurrent_streams(self):
        out = run(["nghttp", "-v", self.url("/?body=3&trailer=x-done:yes"),
                   self.url("/second")]).stdout.decode()
        self.assertRegex(out, r"recv \(stream_id=\d+\) x-done: yes")
        self.assertIn("xxx", out)
        self.assertIn('"path":"/second"', out)
        self.assertEqual(len(re.findall(r"recv \(stream_id=\d+\) :status: 200", out)), 2)

    def test_h2load_smoke(self):
        out = run(["h2load", "-n", "2000", "-c", "4", "-m", "10", self.url("/?body=12")],
                  timeout=60).stdout.decode()
        self.assertIn("2000 succeeded, 0 failed, 0 errored", out)
        self.assertIn("status codes: 2000 2xx", out)

    def test_h2load_grpc_unary(self):
        workdir = harness.make_scratch_dir("h2load-grpc")
        self.addCleanup(shutil.rmtree, workdir, True)
        body = os.path.join(workdir, "message")
        with open(body, "wb") as f:
            f.write(grpc_frame(b"x" * 12))
        out = run(["h2load", "-n", "1000", "-c", "2", "-m", "10", "-d", body,
                   "-H", "content-type: application/grpc", "-H", "te: trailers",
                   self.url("/x.Y/Z")], timeout=60).stdout.decode()
        self.assertIn("1000 succeeded, 0 failed, 0 errored", out)
        # Echoed bytes came back: 17 per response.
        self.assertRegex(out, r"traffic: .*\b17000\) data")


@unittest.skipIf(grpc is None, "python3-grpcio is not installed")
class EchoGrpcTest(unittest.TestCase):
    """Generic gRPC calls on raw bytes: the echo needs no protobuf to answer them."""

    @classmethod
    def setUpClass(cls):
        cls.echo = harness.start_echo("svc-g", "inst-g")
        cls.addClassCleanup(cls.echo.proc.stop)
        cls.channel = grpc.insecure_channel(f"127.0.0.1:{cls.echo.port}")
        cls.addClassCleanup(cls.channel.close)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.echo.stop_checked()

    def unary(self):
        return self.channel.unary_unary("/x.Y/Z", request_serializer=None,
                                        response_deserializer=None)

    def test_unary_echo(self):
        response, call = self.unary().with_call(b"hello", timeout=5)
        self.assertEqual(response, b"hello")
        self.assertEqual(call.code(), grpc.StatusCode.OK)
        self.assertIn(("x-echo-instance", "inst-g"), call.initial_metadata())

    def test_large_unary_echo(self):
        message = os.urandom(3 * 1024 * 1024)
        self.assertEqual(self.unary()(message, timeout=10), message)

    def test_header_and_trailer_knobs(self):
        _, call = self.unary().with_call(b"m", timeout=5, metadata=[
            ("x-echo-header", "x-a: 1"), ("x-echo-trailer", "x-t: 2")])
        self.assertIn(("x-a", "1"), call.initial_metadata())
        self.assertIn(("x-t", "2"), call.trailing_metadata())

    def test_status_knob(self):
        with self.assertRaises(grpc.RpcError) as caught:
            self.unary()(b"m", timeout=5, metadata=[("x-echo-grpc-status", "5"),
                                                    ("x-echo-grpc-message", "no such thing")])
        self.assertEqual(caught.exception.code(), grpc.StatusCode.NOT_FOUND)
        self.assertEqual(caught.exception.details(), "no such thing")

    def test_invalid_knob_is_invalid_argument(self):
        with self.assertRaises(grpc.RpcError) as caught:
            self.unary()(b"m", timeout=5, metadata=[("x-echo-delay", "soon")])
        self.assertEqual(caught.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("delay=soon", caught.exception.details())

    def test_http_status_knob_reaches_clients_mapping(self):
        with self.assertRaises(grpc.RpcError) as caught:
            self.unary()(b"m", timeout=5, metadata=[("x-echo-status", "503")])
        self.assertEqual(caught.exception.code(), grpc.StatusCode.UNAVAILABLE)

    def test_reset_knob_is_internal(self):
        with self.assertRaises(grpc.RpcError) as caught:
            self.unary()(b"m", timeout=5, metadata=[("x-echo-reset", "1")])
        self.assertEqual(caught.exception.code(), grpc.StatusCode.INTERNAL)

    def test_delay_then_deadline(self):
        start = time.monotonic()
        self.assertEqual(self.unary()(b"d", timeout=5, metadata=[("x-echo-delay", "200ms")]),
                         b"d")
        self.assertGreaterEqual(time.monotonic() - start, 0.2)
        with self.assertRaises(grpc.RpcError) as caught:
            self.unary()(b"d", timeout=0.2, metadata=[("x-echo-delay", "5s")])
        self.assertEqual(caught.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)

    def test_streaming_echo_message_by_message(self):
        echoes = queue.Queue()
        messages = [f"message {i}".encode() for i in range(5)] + [b""]

        def requests():
            # Each message waits for the echo of the one before: a server that answered only
            # at the end of the call would leave this generator stuck (and the call failing).
            for message in messages:
                yield message
                echoes.get(timeout=5)

        stream = self.channel.stream_stream("/x.Y/S", request_serializer=None,
                                            response_deserializer=None)
        received = []
        call = stream(requests(), timeout=10)
        for response in call:
            received.append(response)
            echoes.put(response)
        self.assertEqual(received, messages)
        self.assertEqual(call.code(), grpc.StatusCode.OK)

    def test_client_streaming_and_server_streaming(self):
        stream_unary = self.channel.stream_unary("/x.Y/C", request_serializer=None,
                                                 response_deserializer=None)
        # Two messages echoed to a unary-response client: it reports the protocol violation.
        with self.assertRaises(grpc.RpcError):
            stream_unary(iter([b"a", b"b"]), timeout=5)
        self.assertEqual(stream_unary(iter([b"only"]), timeout=5), b"only")
        unary_stream = self.channel.unary_stream("/x.Y/U", request_serializer=None,
                                                 response_deserializer=None)
        self.assertEqual(list(unary_stream(b"once", timeout=5)), [b"once"])

    def test_concurrent_calls_on_one_channel(self):
        results = [None] * 20
        unary = self.unary()

        def call(i):
            results[i] = unary(f"c{i}".encode(), timeout=10)

        threads = [threading.Thread(target=call, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, [f"c{i}".encode() for i in range(20)])


if __name__ == "__main__":
    unittest.main()
