"""HTTP/2 peers for integration tests, built on Debian's python3-h2 (run with /usr/bin/python3).

- An h2c (prior knowledge) echo server, run as its own process:

      /usr/bin/python3 h2_peers.py serve --port 0 --name a --ready-file F
                                   [--max-concurrent-streams N]

  It answers every request with JSON describing what it received (pseudo-headers, headers in
  order, body size and SHA-256, request trailers), like trellis-echo does for HTTP/1.1, and
  records what happened on its connections. Knobs, from the query string or `x-echo-<knob>`
  request headers (so gRPC paths, which have no query, can use them too):

    status=N          response status (default 200)
    delay=MS          wait before answering (after the request body ended)
    body=N            answer with N bytes of 'x' instead of JSON, sent as the peer's window allows
    header=k:v        extra response header (repeatable)
    trailer=k:v       response trailer (repeatable)
    grpc=1            answer as a gRPC server: content-type application/grpc, the JSON as one
                      gRPC message, trailers grpc-status 0 (plus any trailer=k:v)
    trailers_only=1   with grpc=1: one HEADERS frame, grpc-status=grpc_status (default 0),
                      grpc-message=grpc_message, plus header=k:v (a gRPC Trailers-Only reply)
    reset=1           reset the stream instead of answering (code reset_code, default 2)
    reset_after=N     send the response head and N body bytes of a body=M answer, wait 100 ms,
                      then reset
    goaway=1          after answering, send GOAWAY(NO_ERROR) and close the connection
    goaway_first=1    send GOAWAY(NO_ERROR, last_stream_id=this stream) first, then answer,
                      then close
    stall=1           never grant flow-control window for the request body, never answer

  GET /_stats answers with JSON about the server's life so far: connections_total,
  connections_active, requests_total, max_streams_on_a_connection (most streams open at once on
  one connection), refused_streams (streams over --max-concurrent-streams, answered with
  RST_STREAM REFUSED_STREAM), resets_received [{path, code}], active_paths,
  bytes_received {path: n}, bytes_sent {path: n}. Read it straight from the server (H2Client),
  not through the proxy; connections that only read /_stats are not counted.

- H2Client: a synchronous HTTP/2 client over one socket for byte-level tests (resets,
  flow control, GOAWAY, forbidden headers) that curl and nghttp cannot express.

- Small in-process TCP helpers (threads): BannerServer (server speaks first), TcpEchoServer,
  Http1Recorder (records when an HTTP/1 upstream connection is closed under it) and
  TruncatingHttp1Server (dies in the middle of a response body).
"""

import argparse
import asyncio
import collections
import hashlib
import json
import os
import signal
import socket
import socketserver
import sys
import threading
import time
import urllib.parse

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

# ---------------------------------------------------------------------------------------------
# Server

STATS_PATH = "/_stats"


class _GoawayTolerantConnection(h2.connection.H2Connection):
    """python3-h2 closes its whole state machine on receiving GOAWAY, so frames that still
    arrive for streams at or below last_stream_id (RFC 9113 §6.8: those complete) would raise.
    Keep the connection open after a GOAWAY; the peer closes the socket when it is done."""

    def _receive_goaway_frame(self, frame):
        state = self.state_machine.state
        frames, events = super()._receive_goaway_frame(frame)
        if state != h2.connection.ConnectionState.CLOSED:
            self.state_machine.state = state
        return frames, events


def _text(value):
    return value.decode("latin-1") if isinstance(value, bytes) else value


class ServerStats:
    def __init__(self):
        self.connections_total = 0
        self.connections_active = 0
        self.requests_total = 0
        self.max_streams_on_a_connection = 0
        self.refused_streams = 0
        self.resets_received = []
        self.active_paths = collections.Counter()
        self.bytes_received = collections.Counter()
        self.bytes_sent = collections.Counter()

    def as_json(self):
        return {"connections_total": self.connections_total,
                "connections_active": self.connections_active,
                "requests_total": self.requests_total,
                "max_streams_on_a_connection": self.max_streams_on_a_connection,
                "refused_streams": self.refused_streams,
                "resets_received": self.resets_received,
                "active_paths": sorted(p for p, n in self.active_paths.items() if n > 0),
                "bytes_received": dict(self.bytes_received),
                "bytes_sent": dict(self.bytes_sent)}


class _Stream:
    def __init__(self, stream_id, headers):
        self.id = stream_id
        self.headers = headers  # [(name, value)] as str, in order, pseudo-headers included
        pseudo = {n: v for n, v in headers if n.startswith(":")}
        self.method = pseudo.get(":method", "")
        target = pseudo.get(":path", "")
        self.path, _, self.query = target.partition("?")
        self.knobs = collections.defaultdict(list)
        for name, value in urllib.parse.parse_qsl(self.query, keep_blank_values=True):
            self.knobs[name].append(value)
        for name, value in headers:
            if name.startswith("x-echo-") and len(name) > len("x-echo-"):
                self.knobs[name[len("x-echo-"):]].append(value)
        self.body_bytes = 0
        self.sha = hashlib.sha256()
        self.trailers = []
        self.window_open = asyncio.Event()
        self.task = None
        self.closed = False

    def knob(self, name, default=None):
        values = self.knobs.get(name)
        return values[-1] if values else default


class H2EchoConnection(asyncio.Protocol):
    def __init__(self, server):
        self.server = server
        self.stats = server.stats
        config = h2.config.H2Configuration(client_side=False, header_encoding=None,
                                           validate_inbound_headers=False,
                                           normalize_inbound_headers=False)
        self.conn = _GoawayTolerantConnection(config=config)
        self.conn.local_settings = h2.settings.Settings(
            client=False,
            initial_values={h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS:
                            server.max_concurrent_streams,
                            h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 65536})
        self.streams = {}
        self.transport = None
        self.closing = False
        # Connections that only read /_stats are not counted: the statistics describe the
        # traffic under test, not the test's own probes.
        self.counted = False

    # -- asyncio.Protocol

    def connection_made(self, transport):
        self.transport = transport
        self.conn.initiate_connection()
        # h2 treats a stream over its advertised limit as a connection error; a real server
        # refuses just that stream (REFUSED_STREAM, safe to retry), so enforce it ourselves.
        self.conn.local_settings._settings[
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] = collections.deque([2**31 - 1])
        # A 1 MiB connection window, so that concurrent uploads are limited per stream only.
        self.conn.increment_flow_control_window(1024 * 1024 - 65535)
        self.flush()

    def connection_lost(self, exc):
        if self.counted:
            self.stats.connections_active -= 1
        for stream in list(self.streams.values()):
            self._forget(stream)

    def data_received(self, data):
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.flush()
            self.transport.close()
            return
        for event in events:
            self._handle(event)
        self.flush()

    # -- events

    def _handle(self, event):
        if isinstance(event, h2.events.RequestReceived):
            headers = [(_text(n), _text(v)) for n, v in event.headers]
            stream = _Stream(event.stream_id, headers)
            if len(self.streams) >= self.server.max_concurrent_streams:
                self.stats.refused_streams += 1
                self.conn.reset_stream(event.stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
                return
            self.streams[event.stream_id] = stream
            if stream.path == STATS_PATH:
                return
            if not self.counted:
                self.counted = True
                self.stats.connections_total += 1
                self.stats.connections_active += 1
            self.stats.requests_total += 1
            self.stats.active_paths[stream.path] += 1
            self.stats.max_streams_on_a_connection = max(
                self.stats.max_streams_on_a_connection,
                sum(1 for s in self.streams.values() if s.path != STATS_PATH))
        elif isinstance(event, h2.events.DataReceived):
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                stream.body_bytes += len(event.data)
                stream.sha.update(event.data)
                self.stats.bytes_received[stream.path] += len(event.data)
                if stream.knob("stall"):
                    return  # the window stays closed: the sender must stop, not us buffer
            try:
                self.conn.acknowledge_received_data(event.flow_controlled_length,
                                                    event.stream_id)
            except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                pass
        elif isinstance(event, h2.events.TrailersReceived):
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                stream.trailers = [(_text(n), _text(v)) for n, v in event.headers]
        elif isinstance(event, h2.events.StreamEnded):
            stream = self.streams.get(event.stream_id)
            if stream is not None and not stream.knob("stall"):
                stream.task = asyncio.ensure_future(self._respond(stream))
        elif isinstance(event, h2.events.StreamReset):
            stream = self.streams.get(event.stream_id)
            path = stream.path if stream else None
            if event.remote_reset:
                self.stats.resets_received.append({"path": path, "code": int(event.error_code)})
            if stream is not None:
                self._forget(stream)
        elif isinstance(event, h2.events.WindowUpdated):
            targets = (self.streams.values() if event.stream_id == 0
                       else [self.streams[event.stream_id]] if event.stream_id in self.streams
                       else [])
            for stream in targets:
                stream.window_open.set()
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            for stream in self.streams.values():
                stream.window_open.set()
        elif isinstance(event, h2.events.ConnectionTerminated):
            # The peer opens no more streams; those in progress finish (RFC 9113 §6.8).
            self.closing = True
            if not self.streams or event.error_code != 0:
                self.flush()
                self.transport.close()

    def _forget(self, stream):
        if stream.closed:
            return
        stream.closed = True
        if stream.path != STATS_PATH:
            self.stats.active_paths[stream.path] -= 1
        self.streams.pop(stream.id, None)
        if stream.task is not None and stream.task is not asyncio.current_task():
            stream.task.cancel()
        stream.window_open.set()

    def flush(self):
        data = self.conn.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    # -- answering

    async def _respond(self, stream):
        try:
            await self._respond_inner(stream)
        except (asyncio.CancelledError, h2.exceptions.StreamClosedError):
            pass
        except h2.exceptions.ProtocolError:
            pass
        finally:
            self._forget(stream)
            self.flush()
            if self.closing and not self.streams:
                self.transport.close()

    async def _respond_inner(self, stream):
        if stream.path == STATS_PATH:
            await self._send(stream, 200, [("content-type", "application/json")],
                             json.dumps(self.stats.as_json()).encode())
            return
        if stream.knob("goaway_first"):
            # Graceful GOAWAY naming this stream as the last one, then the answer (h2 would
            # refuse to send after its own GOAWAY, hence the state kept open).
            state = self.conn.state_machine.state
            self.conn.close_connection(error_code=0, last_stream_id=stream.id)
            self.conn.state_machine.state = state
            self.closing = True
            self.flush()
        delay = int(stream.knob("delay", "0").rstrip("ms") or 0)
        if delay:
            await asyncio.sleep(delay / 1000)
        if stream.knob("reset"):
            self.conn.reset_stream(stream.id, int(stream.knob("reset_code", "2")))
            return
        status = int(stream.knob("status", "200"))
        headers = [("x-echo-instance", self.server.name), ("server", "h2-peer")]
        for value in stream.knobs.get("header", []):
            name, _, val = value.partition(":")
            headers.append((name.strip().lower(), val.strip()))
        trailers = []
        for value in stream.knobs.get("trailer", []):
            name, _, val = value.partition(":")
            trailers.append((name.strip().lower(), val.strip()))
        body_size = stream.knob("body")
        if body_size is not None:
            body = b"x" * int(body_size)
            headers.append(("content-type", "application/octet-stream"))
        else:
            body = json.dumps(self._describe(stream)).encode()
            headers.append(("content-type", "application/json"))
        if stream.knob("grpc") and stream.knob("trailers_only"):
            headers = [h for h in headers if h[0] != "content-type"]
            headers += [("content-type", "application/grpc"),
                        ("grpc-status", stream.knob("grpc_status", "0")),
                        ("grpc-message", stream.knob("grpc_message", ""))]
            self.conn.send_headers(stream.id, [(":status", str(status))] + headers,
                                   end_stream=True)
            return
        if stream.knob("grpc"):
            headers = [h for h in headers if h[0] != "content-type"]
            headers.append(("content-type", "application/grpc"))
            body = bytes([0]) + len(body).to_bytes(4, "big") + body
            trailers = [("grpc-status", "0")] + trailers
        elif not trailers:
            headers.append(("content-length", str(len(body))))
        reset_after = stream.knob("reset_after")
        if reset_after is not None:
            await self._send(stream, status, headers, body[:int(reset_after)], end=False)
            # A moment for the head and data to travel on before the reset: the case under
            # test is a response that has visibly started.
            await asyncio.sleep(0.1)
            self.conn.reset_stream(stream.id, int(stream.knob("reset_code", "2")))
            return
        await self._send(stream, status, headers, body, trailers=trailers)
        if stream.knob("goaway"):
            self.conn.close_connection(error_code=0)
            self.flush()
            self.transport.close()

    def _describe(self, stream):
        pseudo = {n: v for n, v in stream.headers if n.startswith(":")}
        grouped = collections.OrderedDict()
        for name, value in stream.headers:
            if not name.startswith(":"):
                grouped.setdefault(name, []).append(value)
        trailers = collections.OrderedDict()
        for name, value in stream.trailers:
            trailers.setdefault(name, []).append(value)
        return {"service": self.server.name, "instance": self.server.name,
                "version": "HTTP/2", "method": stream.method, "path": stream.path,
                "query": stream.query, "authority": pseudo.get(":authority"),
                "scheme": pseudo.get(":scheme"), "pseudo": pseudo,
                "header_list": [[n, v] for n, v in stream.headers], "headers": grouped,
                "body_bytes": stream.body_bytes, "body_sha256": stream.sha.hexdigest(),
                "trailers": trailers, "stream_id": stream.id}

    async def _send(self, stream, status, headers, body, trailers=(), end=True):
        has_body = bool(body) or bool(trailers)
        self.conn.send_headers(stream.id, [(":status", str(status))] + headers,
                               end_stream=end and not has_body)
        self.flush()
        view = memoryview(body)
        while view:
            window = min(self.conn.local_flow_control_window(stream.id),
                         self.conn.max_outbound_frame_size)
            if window <= 0:
                stream.window_open.clear()
                await stream.window_open.wait()
                if stream.closed:
                    return
                continue
            chunk = view[:window]
            view = view[window:]
            last = not view and not trailers and end
            self.conn.send_data(stream.id, chunk.tobytes(), end_stream=last)
            if stream.path != STATS_PATH:
                self.stats.bytes_sent[stream.path] += len(chunk)
            self.flush()
            await asyncio.sleep(0)  # let reads (window updates, resets) in between frames
        if trailers:
            self.conn.send_headers(stream.id, list(trailers), end_stream=True)
        elif not body and end and has_body:
            self.conn.end_stream(stream.id)
        self.flush()


class H2EchoServer:
    def __init__(self, name, max_concurrent_streams):
        self.name = name
        self.max_concurrent_streams = max_concurrent_streams
        self.stats = ServerStats()


async def _serve(port, name, ready_file, max_concurrent_streams):
    server_state = H2EchoServer(name, max_concurrent_streams)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: H2EchoConnection(server_state), "127.0.0.1", port)
    bound = server.sockets[0].getsockname()[1]
    if ready_file:
        tmp = ready_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(f"127.0.0.1:{bound}\n")
        os.replace(tmp, ready_file)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    server.close()


class H2Server:
    """A running h2_peers server process (see start_h2_server)."""

    def __init__(self, proc, name, port):
        self.proc = proc
        self.name = name
        self.port = port

    def stats(self):
        with H2Client(self.port) as client:
            return client.get(STATS_PATH).json()

    def wait_stats(self, predicate, timeout=5.0, what="condition"):
        """Polls /_stats (the peer has no push channel) until predicate(stats) holds."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if predicate(stats):
                return stats
            if time.monotonic() > deadline:
                raise AssertionError(f"h2 peer {self.name}: {what} not reached within "
                                     f"{timeout}s; stats: {json.dumps(stats)[:2000]}")
            time.sleep(0.02)

    def stop(self):
        return self.proc.stop()


def start_h2_server(name, *, test=None, max_concurrent_streams=1000):
    from harness import Proc, make_scratch_dir
    workdir = make_scratch_dir(f"h2-{name}")
    ready = os.path.join(workdir, "ready")
    args = ["/usr/bin/python3", os.path.abspath(__file__), "serve", "--port", "0", "--name", name,
            "--ready-file", ready, "--max-concurrent-streams", max_concurrent_streams]
    proc = Proc(args, test=test, name=f"h2-{name}", workdir=workdir)
    line = proc.wait_for_file(ready).split()[0]
    return H2Server(proc, name, int(line.rpartition(":")[2]))


# ---------------------------------------------------------------------------------------------
# Client

class H2Stream:
    """What arrived on one stream. Header names/values are str; pseudo-headers included."""

    def __init__(self, stream_id):
        self.id = stream_id
        self.headers = None
        self.informational = []
        self.data = bytearray()
        self.trailers = None
        self.ended = False
        self.reset_code = None  # set when the peer reset the stream

    @property
    def done(self):
        return self.ended or self.reset_code is not None

    @property
    def status(self):
        return int(self.header(":status")) if self.headers is not None else None

    def header(self, name, default=None):
        values = self.header_values(name)
        return values[0] if values else default

    def header_values(self, name):
        return [v for n, v in (self.headers or []) if n == name]

    def trailer(self, name, default=None):
        for n, v in self.trailers or []:
            if n == name:
                return v
        return default

    @property
    def body(self):
        return bytes(self.data)

    def json(self):
        return json.loads(self.data)

    def __repr__(self):
        return (f"H2Stream(id={self.id}, status={self.status}, {len(self.data)} bytes, "
                f"ended={self.ended}, reset={self.reset_code}, trailers={self.trailers})")


class H2Client:
    """HTTP/2 prior knowledge over one TCP connection, driven synchronously by the test.

    auto_ack=False leaves received DATA unacknowledged (no WINDOW_UPDATE): a reader that does
    not read. validate=False lets the test send headers RFC 9113 forbids."""

    def __init__(self, port, host="127.0.0.1", timeout=5.0, auto_ack=True, settings=None,
                 connection_window=None, validate=False, ssl_context=None):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if ssl_context is not None:  # TLS (ALPN as the context offers), handshake done here
            self.sock = ssl_context.wrap_socket(self.sock)
        self.timeout = timeout
        self.authority = f"{host}:{port}"
        self.auto_ack = auto_ack
        config = h2.config.H2Configuration(client_side=True, header_encoding=None,
                                           validate_outbound_headers=validate,
                                           normalize_outbound_headers=False,
                                           validate_inbound_headers=False,
                                           normalize_inbound_headers=False)
        self.conn = _GoawayTolerantConnection(config=config)
        if settings:
            self.conn.local_settings = h2.settings.Settings(client=True, initial_values=settings)
        self.conn.initiate_connection()
        if connection_window:
            self.conn.increment_flow_control_window(connection_window - 65535)
        self.streams = {}
        self.goaways = []  # [(error_code, last_stream_id)]
        self.closed = False  # the peer closed the TCP connection
        self.settings_received = False
        self.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def close_gracefully(self, code=0):
        """GOAWAY, then close."""
        self.conn.close_connection(error_code=code)
        self.flush()
        self.close()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    # -- sending

    def send_headers(self, headers, end_stream=True, stream_id=None):
        """Opens a stream with exactly these header fields; returns its id."""
        stream_id = stream_id or self.conn.get_next_available_stream_id()
        self.streams[stream_id] = H2Stream(stream_id)
        self.conn.send_headers(stream_id, [(n.encode(), v.encode()) for n, v in headers],
                               end_stream=end_stream)
        self.flush()
        return stream_id

    def request(self, method="GET", path="/", authority=None, headers=(), body=None,
                end_stream=True, scheme="http"):
        fields = [(":method", method), (":scheme", scheme), (":path", path),
                  (":authority", authority or self.authority)] + list(headers)
        stream_id = self.send_headers(fields, end_stream=end_stream and not body)
        if body:
            self.send_body(stream_id, body, end_stream=end_stream)
        return stream_id

    def send_body(self, stream_id, data, end_stream=True, max_seconds=None):
        """Sends DATA as the peer's windows allow. With max_seconds, gives up when the window
        stays closed that long in total and returns the bytes sent (for stall tests)."""
        view = memoryview(data)
        sent = 0
        give_up = time.monotonic() + max_seconds if max_seconds else None
        stuck_since = None
        while view:
            window = min(self.conn.local_flow_control_window(stream_id),
                         self.conn.max_outbound_frame_size)
            if window <= 0:
                now = time.monotonic()
                if give_up is not None and now > give_up:
                    return sent
                if self.streams[stream_id].done or self.closed:
                    return sent
                stuck_since = stuck_since or now
                if give_up is None and now - stuck_since > self.timeout:
                    raise AssertionError(f"send window of stream {stream_id} stayed closed for "
                                         f"{self.timeout}s after {sent} bytes")
                self.pump(timeout=0.05)
                continue
            stuck_since = None
            chunk = view[:window]
            view = view[window:]
            self.conn.send_data(stream_id, chunk.tobytes(), end_stream=end_stream and not view)
            sent += len(chunk)
            self.flush()
        return sent

    def send_trailers(self, stream_id, trailers):
        self.conn.send_headers(stream_id, [(n.encode(), v.encode()) for n, v in trailers],
                               end_stream=True)
        self.flush()

    def reset(self, stream_id, code=h2.errors.ErrorCodes.CANCEL):
        self.conn.reset_stream(stream_id, error_code=code)
        self.flush()

    def ack(self, stream_id, nbytes):
        self.conn.acknowledge_received_data(nbytes, stream_id)
        self.flush()

    # -- receiving

    def pump(self, timeout=None):
        """Reads once and processes the frames. Returns False on timeout or EOF."""
        self.sock.settimeout(timeout if timeout is not None else self.timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            data = b""
        if not data:
            self.closed = True
            return False
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as error:
            raise AssertionError(f"peer broke HTTP/2: {error!r}") from error
        for event in events:
            self._handle(event)
        try:
            self.flush()
        except OSError:
            pass
        return True

    def _stream(self, stream_id):
        return self.streams.setdefault(stream_id, H2Stream(stream_id))

    def _handle(self, event):
        if isinstance(event, h2.events.ResponseReceived):
            self._stream(event.stream_id).headers = [(_text(n), _text(v))
                                                     for n, v in event.headers]
        elif isinstance(event, h2.events.InformationalResponseReceived):
            self._stream(event.stream_id).informational.append(
                [(_text(n), _text(v)) for n, v in event.headers])
        elif isinstance(event, h2.events.DataReceived):
            self._stream(event.stream_id).data += event.data
            if self.auto_ack:
                try:
                    self.conn.acknowledge_received_data(event.flow_controlled_length,
                                                        event.stream_id)
                except h2.exceptions.StreamClosedError:
                    pass
        elif isinstance(event, h2.events.TrailersReceived):
            self._stream(event.stream_id).trailers = [(_text(n), _text(v))
                                                      for n, v in event.headers]
        elif isinstance(event, h2.events.StreamEnded):
            self._stream(event.stream_id).ended = True
        elif isinstance(event, h2.events.StreamReset):
            self._stream(event.stream_id).reset_code = int(event.error_code)
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaways.append((int(event.error_code), event.last_stream_id))
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            self.settings_received = True

    def wait_for(self, predicate, timeout=None, what="condition"):
        """Pumps until predicate() holds; AssertionError naming `what` and the state if not."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closed:
                if predicate():
                    break
                raise AssertionError(
                    f"{what} not reached within {timeout}s (connection closed: {self.closed}, "
                    f"goaways: {self.goaways}, streams: {list(self.streams.values())[-5:]})")
            self.pump(timeout=min(remaining, 0.2))
        return True

    def response(self, stream_id, timeout=None):
        """Waits until the stream ended or was reset; returns its H2Stream."""
        stream = self.streams[stream_id]
        self.wait_for(lambda: stream.done, timeout, f"end of stream {stream_id}")
        return stream

    def get(self, path="/", timeout=None, **kw):
        return self.response(self.request("GET", path, **kw), timeout=timeout)

    def wait_closed(self, timeout=None):
        """Reads until the peer closes the connection."""
        self.wait_for(lambda: self.closed, timeout, "connection close by the peer")


# ---------------------------------------------------------------------------------------------
# In-process TCP helpers (threads; each registers its own cleanup with the test)

class _ThreadedServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _serve_in_thread(test, handler_class):
    server = _ThreadedServer(("127.0.0.1", 0), handler_class)
    # A short poll interval so that shutdown() at cleanup does not cost half a second.
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    test.addCleanup(server.server_close)
    test.addCleanup(server.shutdown)
    return server


class BannerServer:
    """Speaks first: sends `banner` as soon as a connection is accepted, then echoes."""

    def __init__(self, test, banner=b"220 banner from a server-speaks-first protocol\r\n"):
        self.banner = banner
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.sendall(owner.banner)
                while data := self.request.recv(65536):
                    self.request.sendall(data)

        self.server = _serve_in_thread(test, Handler)
        self.port = self.server.server_address[1]


class TcpEchoServer:
    """Answers every read with b"tcp-echo:" + the bytes read."""

    def __init__(self, test):
        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                while data := self.request.recv(65536):
                    self.request.sendall(b"tcp-echo:" + data)

        self.server = _serve_in_thread(test, Handler)
        self.port = self.server.server_address[1]


class Http1Recorder:
    """An HTTP/1.1 upstream that reads a request head and never answers; `heads` receives each
    head once read, `closed` each time the proxy closes such a connection (EOF or RST)."""

    def __init__(self, test):
        self.heads = []
        self.closed = threading.Event()
        self.head_seen = threading.Event()
        stop = threading.Event()
        test.addCleanup(stop.set)
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                buf = b""
                while b"\r\n\r\n" not in buf:
                    data = self.request.recv(65536)
                    if not data:
                        return
                    buf += data
                owner.heads.append(buf.split(b"\r\n\r\n")[0].decode("latin-1"))
                owner.head_seen.set()
                self.request.settimeout(0.05)
                while not stop.is_set():
                    try:
                        if not self.request.recv(65536):
                            break
                    except socket.timeout:
                        continue
                    except ConnectionResetError:
                        break
                else:
                    return
                owner.closed.set()

        self.server = _serve_in_thread(test, Handler)
        self.port = self.server.server_address[1]


class TruncatingHttp1Server:
    """Answers with `content-length: total` but sends only `sent` body bytes, then resets the
    connection (SO_LINGER 0), as an upstream that crashes mid-response."""

    def __init__(self, test, total=1_000_000, sent=10_000):
        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                buf = b""
                while b"\r\n\r\n" not in buf:
                    data = self.request.recv(65536)
                    if not data:
                        return
                    buf += data
                self.request.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
                                     b"content-length: %d\r\n\r\n" % total + b"y" * sent)
                time.sleep(0.1)  # let the partial body reach the proxy before the reset
                self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                        b"\x01\x00\x00\x00\x00\x00\x00\x00")
                self.request.close()

        self.server = _serve_in_thread(test, Handler)
        self.port = self.server.server_address[1]


# ---------------------------------------------------------------------------------------------
# Raw frame parsing (for answers that are not a valid HTTP/2 session from the client's side)

FRAME_GOAWAY = 0x7


def parse_frames(data):
    """[(type, flags, stream_id, payload)] for the complete frames at the start of `data`."""
    frames, pos = [], 0
    while len(data) - pos >= 9:
        length = int.from_bytes(data[pos:pos + 3], "big")
        if len(data) - pos - 9 < length:
            break
        ftype, flags = data[pos + 3], data[pos + 4]
        stream_id = int.from_bytes(data[pos + 5:pos + 9], "big") & 0x7FFFFFFF
        frames.append((ftype, flags, stream_id, data[pos + 9:pos + 9 + length]))
        pos += 9 + length
    return frames


def goaway_codes(data):
    """Error codes of the GOAWAY frames in `data`."""
    return [int.from_bytes(payload[4:8], "big")
            for ftype, _, _, payload in parse_frames(data) if ftype == FRAME_GOAWAY]


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the h2c echo server")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--name", default="h2")
    s.add_argument("--ready-file")
    s.add_argument("--max-concurrent-streams", type=int, default=1000)
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.port, args.name, args.ready_file, args.max_concurrent_streams))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
