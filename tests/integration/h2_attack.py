"""HTTP/2 peers for hostile-input tests over real sockets (Debian's python3-h2, hpack and
hyperframe; nothing else).

- Frame builders that write raw bytes, because python3-h2 refuses to send most of what these
  tests need (rapid resets, CONTINUATION floods, HPACK bombs, bad stream ids, oversized frames).
  Header blocks are encoded by hand with HPACK literals "without indexing" (RFC 7541 §6.2.2), so
  they leave the peer's dynamic table untouched and blocks can be sent, dropped or reordered
  without desynchronising the decoder; the HPACK bomb is the one block that indexes on purpose.
- `H2Wire`: a raw-socket peer that sends those bytes and reads the server's frames back with
  hyperframe, decoding its header blocks with hpack, so a test can assert the exact GOAWAY or
  RST_STREAM error code and that the connection was closed.
- `H2Client`: a well-behaved client built on python3-h2's state machine, the bystander that
  must keep being served while another connection attacks.
"""

import random
import select
import socket
import struct
import time
from collections import namedtuple

import h2.config
import h2.connection
import h2.events
import hpack
from h2.errors import ErrorCodes
from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame,
                              PushPromiseFrame, RstStreamFrame, SettingsFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Frame types (RFC 9113 §6).
DATA = 0x0
HEADERS = 0x1
PRIORITY = 0x2
RST_STREAM = 0x3
SETTINGS = 0x4
PUSH_PROMISE = 0x5
PING = 0x6
GOAWAY = 0x7
WINDOW_UPDATE = 0x8
CONTINUATION = 0x9
FRAME_NAMES = {DATA: "DATA", HEADERS: "HEADERS", PRIORITY: "PRIORITY", RST_STREAM: "RST_STREAM",
               SETTINGS: "SETTINGS", PUSH_PROMISE: "PUSH_PROMISE", PING: "PING",
               GOAWAY: "GOAWAY", WINDOW_UPDATE: "WINDOW_UPDATE", CONTINUATION: "CONTINUATION"}

# Flags.
FLAG_END_STREAM = 0x1
FLAG_ACK = 0x1
FLAG_END_HEADERS = 0x4

# SETTINGS identifiers (RFC 9113 §6.5.2).
SETTINGS_HEADER_TABLE_SIZE = 0x1
SETTINGS_ENABLE_PUSH = 0x2
SETTINGS_MAX_CONCURRENT_STREAMS = 0x3
SETTINGS_INITIAL_WINDOW_SIZE = 0x4
SETTINGS_MAX_FRAME_SIZE = 0x5
SETTINGS_MAX_HEADER_LIST_SIZE = 0x6

MAX_WINDOW = 2**31 - 1
DEFAULT_MAX_FRAME_SIZE = 16384
DEFAULT_AUTHORITY = "h2.trellis.test"


def code_name(code):
    """'PROTOCOL_ERROR' for 1, as the proxy's metrics label it; unknown codes as hex."""
    try:
        return ErrorCodes(code).name
    except ValueError:
        return f"0x{code:x}"


# ---------------------------------------------------------------------------------------------
# Raw frames

def frame(frame_type, flags, stream_id, payload=b""):
    """One frame: 24-bit length, type, flags, 31-bit stream id (R bit clear), payload."""
    length = len(payload)
    if length >= 1 << 24:
        raise ValueError("frame payload does not fit a 24-bit length")
    return struct.pack(">I", length)[1:] + struct.pack(">BBI", frame_type, flags,
                                                      stream_id & 0x7fffffff) + payload


def settings_frame(entries=(), ack=False):
    """`entries`: (identifier, value) pairs, sent in order (duplicates allowed)."""
    payload = b"".join(struct.pack(">HI", ident, value) for ident, value in entries)
    return frame(SETTINGS, FLAG_ACK if ack else 0, 0, payload)


def headers_frame(stream_id, block, end_stream=True, end_headers=True):
    flags = (FLAG_END_STREAM if end_stream else 0) | (FLAG_END_HEADERS if end_headers else 0)
    return frame(HEADERS, flags, stream_id, block)


def continuation_frame(stream_id, block, end_headers=False):
    return frame(CONTINUATION, FLAG_END_HEADERS if end_headers else 0, stream_id, block)


def data_frame(stream_id, payload, end_stream=False):
    return frame(DATA, FLAG_END_STREAM if end_stream else 0, stream_id, payload)


def rst_stream_frame(stream_id, code=ErrorCodes.CANCEL):
    return frame(RST_STREAM, 0, stream_id, struct.pack(">I", code))


def ping_frame(opaque=b"trellis!", ack=False):
    return frame(PING, FLAG_ACK if ack else 0, 0, opaque)


def window_update_frame(stream_id, increment):
    return frame(WINDOW_UPDATE, 0, stream_id, struct.pack(">I", increment))


def goaway_frame(last_stream_id, code=ErrorCodes.NO_ERROR, debug=b""):
    return frame(GOAWAY, 0, 0, struct.pack(">II", last_stream_id, code) + debug)


def client_preface(settings=()):
    """The connection preface followed by the client's SETTINGS frame."""
    return PREFACE + settings_frame(settings)


# ---------------------------------------------------------------------------------------------
# HPACK by hand (RFC 7541), no Huffman coding

def _bytes(text):
    return text if isinstance(text, bytes) else text.encode("latin-1")


def hpack_int(value, prefix_bits, first=0):
    """Integer with an N-bit prefix (§5.1); `first` carries the representation's pattern bits."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = bytearray([first | limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7f) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _string(text):
    raw = _bytes(text)
    return hpack_int(len(raw), 7) + raw


def literal(name, value):
    """Literal header field without indexing, new name (§6.2.2): leaves the table untouched.
    Names are sent exactly as given, upper case included."""
    return b"\x00" + _string(name) + _string(value)


def literal_indexed(name, value):
    """Literal with incremental indexing, new name (§6.2.1): enters the dynamic table."""
    return b"\x40" + _string(name) + _string(value)


def indexed(index):
    """Indexed header field (§6.1); 62 is the newest dynamic-table entry."""
    return hpack_int(index, 7, 0x80)


def request_fields(path="/", method="GET", authority=DEFAULT_AUTHORITY, scheme="http",
                   extra=(), omit=()):
    """Pseudo-headers first, then `extra`; names in `omit` are left out."""
    fields = [(":method", method), (":scheme", scheme), (":authority", authority),
              (":path", path), *extra]
    return [(n, v) for n, v in fields if n not in omit]


def request_block(path="/", **kw):
    """A header block for request_fields(path, **kw), every field a stateless literal."""
    return encode_block(request_fields(path, **kw))


def encode_block(fields):
    return b"".join(literal(n, v) for n, v in fields)


def header_frames(stream_id, block, end_stream=True, max_frame_size=DEFAULT_MAX_FRAME_SIZE):
    """HEADERS plus as many CONTINUATION frames as `block` needs at `max_frame_size`."""
    chunks = [block[i:i + max_frame_size] for i in range(0, max(len(block), 1), max_frame_size)]
    out = headers_frame(stream_id, chunks[0], end_stream, end_headers=len(chunks) == 1)
    for i, chunk in enumerate(chunks[1:], start=1):
        out += continuation_frame(stream_id, chunk, end_headers=i == len(chunks) - 1)
    return out


def header_list_size(fields):
    """RFC 9113 §6.5.2 accounting: name + value + 32 octets per field."""
    return sum(len(_bytes(n)) + len(_bytes(v)) + 32 for n, v in fields)


# ---------------------------------------------------------------------------------------------
# Attacks (bytes to send after the preface)

def rapid_reset(count, first_stream_id=1, path="/rapid-reset"):
    """CVE-2023-44487: `count` requests, each cancelled by RST_STREAM right after its HEADERS."""
    out = bytearray()
    for i in range(count):
        stream_id = first_stream_id + 2 * i
        out += headers_frame(stream_id, request_block(path))
        out += rst_stream_frame(stream_id, ErrorCodes.CANCEL)
    return bytes(out)


def continuation_flood(count, stream_id=1, field_bytes=64):
    """CVE-2024-27316 family: a HEADERS frame without END_HEADERS, then `count` CONTINUATION
    frames, none of which ends the block. Each carries one small, valid literal field."""
    out = bytearray(headers_frame(stream_id, request_block("/continuation-flood"),
                                  end_stream=True, end_headers=False))
    for i in range(count):
        out += continuation_frame(stream_id, literal(f"x-flood-{i % 100}", "a" * field_bytes))
    return bytes(out)


def hpack_bomb_block(entry_bytes=4000, references=4000, path="/hpack-bomb"):
    """A small block that decodes to a huge list: one big literal enters the dynamic table
    (4000 + 32 bytes of the default 4096-byte table), then one-byte references to it."""
    return (request_block(path) + literal_indexed("x-bomb", "b" * entry_bytes) +
            indexed(62) * references)


def hpack_bomb_decoded_size(entry_bytes=4000, references=4000, path="/hpack-bomb"):
    """Header-list size (§6.5.2 accounting) that hpack_bomb_block decodes to."""
    entry = header_list_size([("x-bomb", "b" * entry_bytes)])
    return header_list_size(request_fields(path)) + entry * (references + 1)


def settings_flood(count):
    return settings_frame() * count


def ping_flood(count):
    return b"".join(ping_frame(struct.pack(">Q", i)) for i in range(count))


def window_update_flood(count, increment=1 << 20, stream_id=0):
    """WINDOW_UPDATE frames whose sum overflows the 2^31-1 window limit: FLOW_CONTROL_ERROR."""
    return window_update_frame(stream_id, increment) * count


def garbage(seed, size=4096):
    """Deterministic pseudo-random bytes (their first "frame header" almost surely announces a
    length over the maximum frame size)."""
    return random.Random(seed).randbytes(size)


def random_frames(seed, count=64):
    """Deterministic frames with small lengths but random type, flags, stream id and payload:
    garbage that gets past the length check into the frame parsers."""
    rng = random.Random(seed)
    return b"".join(frame(rng.randrange(0, 12), rng.randrange(0, 256),
                          rng.choice([0, 1, 3, rng.randrange(0, 2**31)]),
                          rng.randbytes(rng.randrange(0, 48)))
                    for _ in range(count))


# ---------------------------------------------------------------------------------------------
# A raw peer that reads frames back

def describe(frames):
    """'SETTINGS WINDOW_UPDATE(0) HEADERS(1) RST_STREAM(1,PROTOCOL_ERROR)' for messages."""
    parts = []
    for f in frames:
        name = FRAME_NAMES.get(f.type, f"TYPE_0x{f.type:x}")
        if isinstance(f, (RstStreamFrame, GoAwayFrame)):
            stream = f.last_stream_id if isinstance(f, GoAwayFrame) else f.stream_id
            parts.append(f"{name}({stream},{code_name(f.error_code)})")
        elif f.stream_id:
            parts.append(f"{name}({f.stream_id})")
        else:
            parts.append(name)
    if len(parts) > 40:
        parts = parts[:20] + [f"... {len(parts) - 30} more ..."] + parts[-10:]
    return " ".join(parts)


class H2Wire:
    """A raw HTTP/2 client connection: sends arbitrary bytes, reads the server's frames with
    hyperframe and keeps its HPACK decoder in sync by decoding every header block received.

    `rcvbuf` shrinks the socket's receive buffer before connecting, so that a client which stops
    reading makes the server's output back up quickly (flood tests). `auto_ack` answers the
    server's SETTINGS as a real client must (the server applies its own new limits, such as a
    larger maximum frame size, only once they are acknowledged)."""

    def __init__(self, port, host="127.0.0.1", *, timeout=5.0, rcvbuf=None, auto_ack=True):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.timeout = timeout
        self.auto_ack = auto_ack
        self.buf = b""            # bytes received and not yet parsed, from self._pos on
        self._pos = 0
        self.frames = []          # every frame received, in order
        self.goaway = None        # the first GOAWAY received
        self.closed = False       # the server closed (FIN or RST)
        self.reset = False        # ... with a RST
        self.send_failed = False  # a send hit a closed connection
        self.server_settings = {}
        self.responses = {}       # stream id -> decoded header lists (1xx, final, trailers)
        self.decoder = hpack.Decoder()
        self.decoder.max_header_list_size = 1 << 24
        self._block = None        # (stream id, fragments) of a header block in progress

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def send(self, data):
        """Sends everything; False (and `send_failed`) if the server had closed already. A
        server that stops reading makes this fail the test after `timeout`."""
        self.sock.settimeout(self.timeout)
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            self.send_failed = True
            return False
        except socket.timeout:
            raise AssertionError(f"the server stopped reading: {len(data)} bytes not taken "
                                 f"within {self.timeout}s") from None

    def start(self, settings=()):
        """Sends the preface and SETTINGS."""
        return self.send(client_preface(settings))

    def handshake(self, settings=()):
        """start(), then waits for the server's SETTINGS (acknowledged at once when auto_ack).
        Returns the server's settings {identifier: value}."""
        self.start(settings)
        self.read_until(lambda f: isinstance(f, SettingsFrame) and "ACK" not in f.flags,
                        what="the server's SETTINGS")
        return dict(self.server_settings)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("deadline passed")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(1 << 16)
        except ConnectionResetError:
            self.closed = self.reset = True
            return False
        if not chunk:
            self.closed = True
            return False
        self.buf = self.buf[self._pos:] + chunk
        self._pos = 0
        return True

    def _take_frame(self):
        view = memoryview(self.buf)[self._pos:]
        if len(view) < 9:
            return None
        f, length = Frame.parse_frame_header(view[:9])
        if len(view) < 9 + length:
            return None
        f.parse_body(view[9:9 + length])
        self._pos += 9 + length
        if self._pos == len(self.buf):
            self.buf, self._pos = b"", 0
        return f

    def _note(self, f):
        self.frames.append(f)
        if isinstance(f, GoAwayFrame) and self.goaway is None:
            self.goaway = f
        if isinstance(f, SettingsFrame) and "ACK" not in f.flags:
            self.server_settings.update(f.settings)
            if self.auto_ack and not self.closed:
                self.send(settings_frame(ack=True))
        if isinstance(f, (HeadersFrame, PushPromiseFrame)):
            self._block = (f.stream_id, [f.data])
        elif isinstance(f, ContinuationFrame) and self._block:
            self._block[1].append(f.data)
        if isinstance(f, (HeadersFrame, PushPromiseFrame, ContinuationFrame)) and \
                "END_HEADERS" in f.flags and self._block:
            stream_id, fragments = self._block
            self._block = None
            fields = self.decoder.decode(b"".join(fragments), raw=True)
            self.responses.setdefault(stream_id, []).append(
                [(n.decode("latin-1"), v.decode("latin-1")) for n, v in fields])

    def next_frame(self, timeout=None):
        """The next frame, or None once the server has closed and every frame is read."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while True:
            f = self._take_frame()
            if f is not None:
                self._note(f)
                return f
            if self.closed or not self._fill(deadline):
                return None

    def poll(self):
        """Records whatever the server has sent so far, without waiting."""
        while not self.closed and select.select([self.sock], [], [], 0)[0]:
            if not self._fill(time.monotonic() + self.timeout):
                break
        while (f := self._take_frame()) is not None:
            self._note(f)

    def _failure(self, what, start):
        rest = self.buf[self._pos:]
        leftover = f"; unparsed bytes: {rest[:120]!r}" if rest else ""
        return f"{what}; received: {describe(self.frames[start:]) or 'nothing'}{leftover}"

    def read_until(self, predicate, timeout=None, what="the expected frame"):
        """Reads frames until predicate(frame) holds; returns that frame. Fails, listing what
        was received, if the server closes first or `timeout` passes."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        start = len(self.frames)
        while True:
            try:
                f = self.next_frame(max(0.0, deadline - time.monotonic()))
            except socket.timeout:
                raise AssertionError(self._failure(f"no {what} within the timeout",
                                                   start)) from None
            if f is None:
                raise AssertionError(self._failure(f"connection closed before {what}", start))
            if predicate(f):
                return f

    def read_goaway(self, timeout=None):
        if self.goaway is not None:
            return self.goaway
        return self.read_until(lambda f: isinstance(f, GoAwayFrame), timeout, "GOAWAY")

    def wait_closed(self, timeout=None):
        """Reads (and records) frames until the server closes; False if it is still open when
        `timeout` passes."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        try:
            while self.next_frame(max(0.0, deadline - time.monotonic())) is not None:
                pass
        except socket.timeout:
            return False
        return True

    def read_stream_end(self, stream_id, timeout=None):
        """Reads until stream `stream_id` ends: returns the frame that ended it, END_STREAM or
        RST_STREAM, or the GOAWAY that came first."""
        return self.read_until(
            lambda f: isinstance(f, GoAwayFrame) or (f.stream_id == stream_id and (
                isinstance(f, RstStreamFrame) or "END_STREAM" in f.flags)),
            timeout, f"the end of stream {stream_id}")

    def read_response(self, stream_id, timeout=None):
        """Reads until stream `stream_id` ends; returns (status, headers, body). Fails on
        RST_STREAM or GOAWAY."""
        end = self.read_stream_end(stream_id, timeout)
        if isinstance(end, (RstStreamFrame, GoAwayFrame)):
            raise AssertionError(f"stream {stream_id} ended by {describe([end])}")
        return self.response(stream_id)

    def response(self, stream_id):
        """(status, headers, body) of a stream whose end was read already."""
        final = [h for h in self.responses.get(stream_id, [])
                 if not dict(h).get(":status", "").startswith("1")]
        if not final:
            raise AssertionError(f"stream {stream_id} ended without a response head")
        body = b"".join(f.data for f in self.frames_on(stream_id, DataFrame))
        return int(dict(final[0])[":status"]), final[0], body

    def frames_on(self, stream_id, frame_type=None):
        return [f for f in self.frames
                if f.stream_id == stream_id and (frame_type is None or isinstance(f, frame_type))]

    def flood(self, chunk, max_chunks):
        """Sends `chunk` again and again, recording the server's frames in between, until the
        server sends GOAWAY or closes, or `max_chunks` went out. Returns the chunks sent. (For
        attacks that do not depend on the client leaving the server's output unread.)"""
        for sent in range(max_chunks):
            if not self.send(chunk):
                return sent
            self.poll()
            if self.goaway is not None or self.closed:
                return sent + 1
        return max_chunks


GoawayOutcome = namedtuple("GoawayOutcome", "code last_stream_id debug closed frames")


def expect_goaway(wire, timeout=5.0):
    """Reads until GOAWAY, then until the server closes. Returns a GoawayOutcome."""
    goaway = wire.read_goaway(timeout)
    closed = wire.wait_closed(timeout)
    return GoawayOutcome(goaway.error_code, goaway.last_stream_id, goaway.additional_data,
                         closed, describe(wire.frames))


# ---------------------------------------------------------------------------------------------
# A well-behaved client

H2Response = namedtuple("H2Response", "status headers body stream_id")


class H2Client:
    """python3-h2 as an ordinary h2c prior-knowledge client: the connection stays open across
    requests, windows are reopened as data is read."""

    def __init__(self, port, host="127.0.0.1", *, authority=DEFAULT_AUTHORITY, timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.authority = authority
        self.timeout = timeout
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self._flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, path="/", method="GET", headers=(), body=None):
        stream_id = self.conn.get_next_available_stream_id()
        fields = [(":method", method), (":scheme", "http"), (":authority", self.authority),
                  (":path", path), *headers]
        self.conn.send_headers(stream_id, fields, end_stream=body is None)
        if body is not None:
            self.conn.send_data(stream_id, body, end_stream=True)
        self._flush()
        status, head, data = None, [], bytearray()
        deadline = time.monotonic() + self.timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no complete response on stream {stream_id}")
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError(f"server closed the connection during stream {stream_id}")
            for event in self.conn.receive_data(chunk):
                if isinstance(event, h2.events.ResponseReceived) and \
                        event.stream_id == stream_id:
                    head = list(event.headers)
                    status = int(dict(head)[":status"])
                elif isinstance(event, h2.events.DataReceived):
                    if event.stream_id == stream_id:
                        data += event.data
                    self.conn.acknowledge_received_data(event.flow_controlled_length,
                                                        event.stream_id)
                elif isinstance(event, h2.events.StreamReset) and event.stream_id == stream_id:
                    raise ConnectionError(f"stream {stream_id} reset: "
                                          f"{code_name(event.error_code)}")
                elif isinstance(event, h2.events.ConnectionTerminated):
                    raise ConnectionError(f"GOAWAY {code_name(event.error_code)}")
                elif isinstance(event, h2.events.StreamEnded) and event.stream_id == stream_id:
                    self._flush()
                    return H2Response(status, head, bytes(data), stream_id)
            self._flush()

    def close(self):
        self.sock.close()
