"""gRPC peers for integration tests, built on Debian's python3-grpcio (run with /usr/bin/python3).

No .proto files: every method is registered through grpc.method_handlers_generic_handler with
request_deserializer=None / response_serializer=None, so messages are raw bytes on the wire and
tests control every byte. Control requests (sleep, abort, stream sizes) carry a small JSON body.

The server runs as its own process, so a proxy test stays a real multi-process test:

    /usr/bin/python3 grpc_peers.py serve --port 0 --name a --ready-file /tmp/x/ready

It writes `127.0.0.1:PORT` to the ready file once it listens. Every service in SERVICES offers
the same methods (so route matching by service can be observed):

  Unary         echoes the request; request metadata `echo-header-<k>` / `echo-trailer-<k>` come
                back as initial / trailing metadata `<k>`; trailing metadata always carries
                `x-instance: <name>`
  ServerStream  {"count": N, "size": S} -> N messages, message i is S bytes of value i % 256
  ClientStream  concatenation of every request message
  Bidi          echoes each message as it arrives
  Sleep         {"ms": M} -> sleeps M ms (ending early and counting a cancellation if the call
                is cancelled), then answers b"slept"
  Abort         {"code": "NOT_FOUND", "message": "...", "trailers": {...}} -> that status
  Inspect       JSON {"name", "method", "metadata": [[k, v], ...], "peer", "time_remaining"}
                (seconds left of the call's deadline, from grpc-timeout; null without one)
  Stats         JSON {"name", "calls": {method: n}, "cancelled": {method: n}, "peers": [...],
                "active": n, "max_active": n}; `peers` are the distinct client addresses seen, i.e.
                the connections the proxy opened to this server

start_grpc_server() starts one from a test; GrpcClient wraps a channel with helpers per method.
"""

import argparse
import base64
import collections
import json
import os
import sys
import threading
import time
from concurrent import futures

import grpc

SERVICES = ("trellis.test.Echo", "trellis.test.Admin", "trellis.test.Other")
ECHO = SERVICES[0]
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

# Options for both ends: big messages allowed, and no hidden connection sharing or retries that
# would blur what a test observes.
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.use_local_subchannel_pool", 1),  # each channel its own connection
    ("grpc.enable_retries", 0),             # a failed call is reported, never silently retried
]


# ---------------------------------------------------------------------------------------------
# Server

class _State:
    def __init__(self, name):
        self.name = name
        self.lock = threading.Lock()
        self.calls = collections.Counter()
        self.cancelled = collections.Counter()
        self.peers = set()
        self.active = 0
        self.max_active = 0

    def begin(self, method, context):
        with self.lock:
            self.calls[method] += 1
            self.peers.add(context.peer())
            self.active += 1
            self.max_active = max(self.max_active, self.active)

    def end(self):
        with self.lock:
            self.active -= 1

    def snapshot(self):
        with self.lock:
            return {"name": self.name, "calls": dict(self.calls),
                    "cancelled": dict(self.cancelled), "peers": sorted(self.peers),
                    "active": self.active, "max_active": self.max_active}


def _metadata_pairs(context):
    pairs = []
    for key, value in context.invocation_metadata():
        if isinstance(value, bytes):
            value = "base64:" + base64.b64encode(value).decode()
        pairs.append([key, value])
    return pairs


def _status_code(value):
    if isinstance(value, int):
        for code in grpc.StatusCode:
            if code.value[0] == value:
                return code
        raise ValueError(f"unknown gRPC status {value}")
    return grpc.StatusCode[value]


def _make_handlers(state):
    """method name -> grpc.RpcMethodHandler, all on raw bytes."""

    def tracked(method, body):
        def run(request_or_iterator, context):
            state.begin(method, context)
            try:
                return body(request_or_iterator, context)
            finally:
                state.end()
        return run

    def tracked_stream(method, body):
        def run(request_or_iterator, context):
            state.begin(method, context)
            try:
                yield from body(request_or_iterator, context)
            finally:
                state.end()
        return run

    def unary(request, context):
        initial, trailing = [], [("x-instance", state.name)]
        for key, value in context.invocation_metadata():
            if key.startswith("echo-header-"):
                initial.append((key[len("echo-header-"):], value))
            elif key.startswith("echo-trailer-"):
                trailing.append((key[len("echo-trailer-"):], value))
        if initial:
            context.send_initial_metadata(initial)
        context.set_trailing_metadata(trailing)
        return request

    def server_stream(request, context):
        spec = json.loads(request)
        for i in range(spec["count"]):
            yield bytes([i % 256]) * spec["size"]

    def client_stream(request_iterator, context):
        return b"".join(request_iterator)

    def bidi(request_iterator, context):
        for message in request_iterator:
            yield message

    def sleep(request, context):
        end = time.monotonic() + json.loads(request)["ms"] / 1000
        while time.monotonic() < end:
            if not context.is_active():
                with state.lock:
                    state.cancelled["Sleep"] += 1
                return b""
            time.sleep(0.005)
        return b"slept"

    def abort(request, context):
        spec = json.loads(request)
        if spec.get("trailers"):
            context.set_trailing_metadata(list(spec["trailers"].items()))
        context.abort(_status_code(spec["code"]), spec.get("message", ""))

    def stats(request, context):
        return json.dumps(state.snapshot()).encode()

    def inspect_for(full_method):
        # grpcio 1.51's servicer context does not expose the method name: bind it per service.
        def run(request, context):
            return json.dumps({"name": state.name, "method": full_method,
                               "metadata": _metadata_pairs(context),
                               "peer": context.peer(),
                               "time_remaining": context.time_remaining()}).encode()
        return run

    def handlers_for(service):
        return {
            "Unary": grpc.unary_unary_rpc_method_handler(tracked("Unary", unary)),
            "ServerStream": grpc.unary_stream_rpc_method_handler(
                tracked_stream("ServerStream", server_stream)),
            "ClientStream": grpc.stream_unary_rpc_method_handler(
                tracked("ClientStream", client_stream)),
            "Bidi": grpc.stream_stream_rpc_method_handler(tracked_stream("Bidi", bidi)),
            "Sleep": grpc.unary_unary_rpc_method_handler(tracked("Sleep", sleep)),
            "Abort": grpc.unary_unary_rpc_method_handler(tracked("Abort", abort)),
            "Inspect": grpc.unary_unary_rpc_method_handler(
                tracked("Inspect", inspect_for(f"/{service}/Inspect"))),
            # Stats is not tracked: reading the counters must not change them.
            "Stats": grpc.unary_unary_rpc_method_handler(stats),
        }

    return handlers_for


def serve(port, name, ready_file, max_concurrent_streams=None, max_workers=300):
    state = _State(name)
    handlers_for = _make_handlers(state)
    options = [opt for opt in CHANNEL_OPTIONS if opt[0].startswith("grpc.max_")]
    options.append(("grpc.so_reuseport", 0))
    if max_concurrent_streams:
        options.append(("grpc.max_concurrent_streams", max_concurrent_streams))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers), options=options)
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(service, handlers_for(service))
         for service in SERVICES])
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    if bound == 0:
        print(f"grpc_peers: cannot listen on 127.0.0.1:{port}", file=sys.stderr)
        return 1
    server.start()
    if ready_file:
        tmp = ready_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(f"127.0.0.1:{bound}\n")
        os.replace(tmp, ready_file)
    stop = threading.Event()
    import signal
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop(grace=0.5).wait()
    return 0


# ---------------------------------------------------------------------------------------------
# Starting a server from a test

class GrpcServer:
    def __init__(self, proc, name, port):
        self.proc = proc
        self.name = name
        self.port = port

    @property
    def target(self):
        return f"127.0.0.1:{self.port}"

    def client(self, test=None):
        """A GrpcClient connected directly (not through the proxy)."""
        client = GrpcClient(self.target)
        if test is not None:
            test.addCleanup(client.close)
        return client

    def stats(self):
        with GrpcClient(self.target) as client:
            return client.stats()

    def stop(self):
        return self.proc.stop()


def start_grpc_server(name, *, test=None, max_concurrent_streams=None):
    from harness import Proc, make_scratch_dir
    workdir = make_scratch_dir(f"grpc-{name}")
    ready = os.path.join(workdir, "ready")
    args = ["/usr/bin/python3", os.path.abspath(__file__), "serve", "--port", "0",
            "--name", name, "--ready-file", ready]
    if max_concurrent_streams:
        args += ["--max-concurrent-streams", max_concurrent_streams]
    proc = Proc(args, test=test, name=f"grpc-{name}", workdir=workdir)
    line = proc.wait_for_file(ready).split()[0]
    return GrpcServer(proc, name, int(line.rpartition(":")[2]))


# ---------------------------------------------------------------------------------------------
# Client helpers

class GrpcClient:
    """One channel (one HTTP/2 connection) to `target`, with a helper per test method. Each
    helper raises grpc.RpcError on a non-OK status; the error is also a grpc.Call, so code(),
    details() and trailing_metadata() tell what came back."""

    def __init__(self, target, options=()):
        self.target = target
        self.channel = grpc.insecure_channel(target, options=CHANNEL_OPTIONS + list(options))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.channel.close()

    def wait_ready(self, timeout=5):
        grpc.channel_ready_future(self.channel).result(timeout=timeout)

    def _unary(self, method, service):
        return self.channel.unary_unary(f"/{service}/{method}")

    def unary_call(self, payload, *, service=ECHO, method="Unary", metadata=None, timeout=10):
        """Returns (response bytes, grpc.Call) so metadata can be checked."""
        return self._unary(method, service).with_call(payload, metadata=metadata,
                                                      timeout=timeout)

    def unary(self, payload, **kw):
        return self.unary_call(payload, **kw)[0]

    def unary_future(self, payload, *, service=ECHO, method="Unary", metadata=None, timeout=10):
        return self._unary(method, service).future(payload, metadata=metadata, timeout=timeout)

    def server_stream(self, count, size, *, service=ECHO, metadata=None, timeout=10):
        call = self.channel.unary_stream(f"/{service}/ServerStream")
        request = json.dumps({"count": count, "size": size}).encode()
        return list(call(request, metadata=metadata, timeout=timeout))

    def client_stream(self, messages, *, service=ECHO, metadata=None, timeout=10):
        call = self.channel.stream_unary(f"/{service}/ClientStream")
        return call(iter(messages), metadata=metadata, timeout=timeout)

    def bidi(self, messages, *, service=ECHO, metadata=None, timeout=10):
        """Sends each message only after the previous echo arrived (strict ping-pong), so the
        stream is really interleaved in both directions."""
        call = self.channel.stream_stream(f"/{service}/Bidi")
        outbox = collections.deque(messages)
        turn = threading.Semaphore(1)
        replies = []

        def requests():
            while outbox:
                turn.acquire()
                yield outbox.popleft()

        for reply in call(requests(), metadata=metadata, timeout=timeout):
            replies.append(reply)
            turn.release()
        return replies

    def sleep(self, ms, *, service=ECHO, metadata=None, timeout=10):
        return self.unary(json.dumps({"ms": ms}).encode(), service=service, method="Sleep",
                          metadata=metadata, timeout=timeout)

    def sleep_future(self, ms, *, service=ECHO, metadata=None, timeout=10):
        return self.unary_future(json.dumps({"ms": ms}).encode(), service=service,
                                 method="Sleep", metadata=metadata, timeout=timeout)

    def abort(self, code, message, trailers=None, *, service=ECHO, timeout=10):
        body = json.dumps({"code": code, "message": message, "trailers": trailers or {}})
        return self.unary(body.encode(), service=service, method="Abort", timeout=timeout)

    def inspect(self, *, service=ECHO, metadata=None, timeout=10):
        return json.loads(self.unary(b"", service=service, method="Inspect",
                                     metadata=metadata, timeout=timeout))

    def stats(self, timeout=5):
        return json.loads(self.unary(b"", method="Stats", timeout=timeout))


def call_error(fn, *args, **kw):
    """Runs a call expected to fail; returns its grpc.RpcError (raises AssertionError if the
    call succeeded)."""
    try:
        result = fn(*args, **kw)
    except grpc.RpcError as error:
        return error
    raise AssertionError(f"call succeeded unexpectedly: {result!r:.200}")


# ---------------------------------------------------------------------------------------------
# gRPC over raw HTTP/2 (for checks grpcio hides: the exact frames, grpc-timeout, Trailers-Only)

def grpc_frame(payload, compressed=False):
    """One length-prefixed gRPC message."""
    return bytes([1 if compressed else 0]) + len(payload).to_bytes(4, "big") + payload


def grpc_messages(data):
    """Splits a DATA payload into gRPC messages; raises ValueError on a partial frame."""
    messages, pos = [], 0
    while pos < len(data):
        if len(data) - pos < 5:
            raise ValueError("partial gRPC frame header")
        length = int.from_bytes(data[pos + 1:pos + 5], "big")
        if len(data) - pos - 5 < length:
            raise ValueError("partial gRPC message")
        messages.append(bytes(data[pos + 5:pos + 5 + length]))
        pos += 5 + length
    return messages


def grpc_request_headers(service, method, authority, timeout=None, extra=()):
    headers = [(":method", "POST"), (":scheme", "http"), (":path", f"/{service}/{method}"),
               (":authority", authority), ("content-type", "application/grpc"),
               ("te", "trailers")]
    if timeout:
        headers.append(("grpc-timeout", timeout))
    return headers + list(extra)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the test server")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--name", default="grpc")
    s.add_argument("--ready-file")
    s.add_argument("--max-concurrent-streams", type=int)
    s.add_argument("--max-workers", type=int, default=300)
    c = sub.add_parser("call", help="one call, printing the reply (for manual checks)")
    c.add_argument("--target", required=True)
    c.add_argument("--service", default=ECHO)
    c.add_argument("--method", default="Inspect")
    c.add_argument("--data", default="")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args.port, args.name, args.ready_file, args.max_concurrent_streams,
                     args.max_workers)
    with GrpcClient(args.target) as client:
        try:
            reply, call = client.unary_call(args.data.encode(), service=args.service,
                                            method=args.method)
        except grpc.RpcError as error:
            print(f"{error.code().name}: {error.details()} {error.trailing_metadata()}")
            return 1
        print(reply.decode(errors="replace"))
        print(f"trailing: {call.trailing_metadata()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
