"""Helpers for Trellis integration tests (stdlib only; run with /usr/bin/python3).

Processes are started through `Proc`, which every test registers for cleanup, so nothing keeps
running after a test, even a failed one. Readiness is a file the server writes once it listens
(`--ready-file`); tests never sleep to wait for a server.

Environment:
  TRELLIS_BUILD_DIR  build tree holding the binaries (default /work/main/build)
"""

import atexit
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

READY_TIMEOUT = 10.0  # seconds a server may take to become ready
POLL_INTERVAL = 0.01
DEFAULT_TIMEOUT = 5.0  # seconds for a single socket operation in helpers


def build_dir():
    return os.environ.get("TRELLIS_BUILD_DIR", "/work/main/build")


def binary(relative_path):
    """Absolute path of a built binary, e.g. binary("src/apps/echo/trellis-echo")."""
    path = os.path.join(build_dir(), relative_path)
    if not os.access(path, os.X_OK):
        raise FileNotFoundError(
            f"{path} not found: build it, or point TRELLIS_BUILD_DIR at the build tree")
    return path


def free_port(host="127.0.0.1"):
    """A port that was free a moment ago (prefer port 0 + ready file where a server allows)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# Processes

_live_procs = set()


@atexit.register
def _kill_leftovers():
    for proc in list(_live_procs):
        proc.stop(timeout=1.0)


def make_scratch_dir(name):
    """A fresh temporary directory; hand it to Proc(workdir=...) so it is removed with it."""
    return tempfile.mkdtemp(prefix=f"trellis-{name}-")


class Proc:
    """A child process with its own scratch directory and captured stdout/stderr.

    Pass `test` (a unittest.TestCase) to have it stopped by addCleanup; an atexit hook stops any
    process still running when the interpreter exits.
    """

    def __init__(self, args, *, test=None, env=None, name=None, workdir=None):
        self.args = [str(a) for a in args]
        self.name = name or os.path.basename(self.args[0])
        self.workdir = workdir or make_scratch_dir(self.name)
        self._stdout_path = os.path.join(self.workdir, "stdout")
        self._stderr_path = os.path.join(self.workdir, "stderr")
        with open(self._stdout_path, "wb") as out, open(self._stderr_path, "wb") as err:
            self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err, env=env, start_new_session=True)
        self._stopped = False
        self.final_stderr = ""
        _live_procs.add(self)
        if test is not None:
            test.addCleanup(self.stop)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def path(self, name):
        """A path inside this process's scratch directory."""
        return os.path.join(self.workdir, name)

    def stdout_text(self):
        return _read_text(self._stdout_path)

    def stderr_text(self):
        return _read_text(self._stderr_path)

    def wait_for_file(self, path, timeout=READY_TIMEOUT):
        """Waits until `path` exists and is non-empty; returns its content. Fails early, with the
        process's stderr, if the process exits first."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with open(path, encoding="utf-8") as f:
                    content = f.read()
                if content:
                    return content
            except FileNotFoundError:
                pass
            code = self.proc.poll()
            if code is not None:
                raise RuntimeError(f"{self.name} exited with {code} before writing {path}:\n"
                                   f"{self.stderr_text()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} did not write {path} within {timeout}s:\n"
                                   f"{self.stderr_text()}")
            time.sleep(POLL_INTERVAL)

    def stop(self, timeout=3.0):
        """SIGTERM, then SIGKILL after `timeout`; idempotent. Returns the exit code; the final
        stderr stays available as `final_stderr` after the scratch directory is removed."""
        if not self._stopped:
            self._stopped = True
            _live_procs.discard(self)
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.final_stderr = self.stderr_text()
            shutil.rmtree(self.workdir, ignore_errors=True)
        return self.proc.returncode

    def stop_checked(self):
        """Stops the process and raises AssertionError (with its stderr) unless it exited 0, so
        crashes and sanitizer reports fail the test."""
        code = self.stop()
        if code != 0:
            raise AssertionError(f"{self.name} exited with {code}:\n{self.final_stderr}")


def _read_text(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def _parse_ready_lines(content):
    """`ADDR:PORT` lines → [(addr, port)]; IPv6 addresses are bracketed."""
    out = []
    for line in content.split():
        addr, _, port = line.rpartition(":")
        out.append((addr.strip("[]"), int(port)))
    return out


# ---------------------------------------------------------------------------------------------
# trellis-echo

ECHO_BINARY = "src/apps/echo/trellis-echo"


class EchoServer:
    """A running trellis-echo. `port` is the first listener's port, `addresses` all of them."""

    def __init__(self, proc, addresses):
        self.proc = proc
        self.addresses = addresses
        self.host, self.port = addresses[0]

    def url(self, path="/"):
        return f"http://{self.host}:{self.port}{path}"

    def stop(self):
        return self.proc.stop()

    def stop_checked(self):
        self.proc.stop_checked()


def start_echo(name="echo", instance="1", *, test=None, threads=1, listen=None, extra_args=()):
    """Starts trellis-echo and waits until it listens. `listen` is a list of ADDR:PORT (default
    one 127.0.0.1:0 listener)."""
    exe = binary(ECHO_BINARY)
    label = f"echo-{name}-{instance}"
    workdir = make_scratch_dir(label)
    ready_file = os.path.join(workdir, "ready")
    args = [exe, "--name", name, "--instance", instance, "--threads", threads,
            "--ready-file", ready_file, *extra_args]
    for address in listen or ["127.0.0.1:0"]:
        args += ["--listen", address]
    proc = Proc(args, test=test, name=label, workdir=workdir)
    addresses = _parse_ready_lines(proc.wait_for_file(ready_file))
    return EchoServer(proc, addresses)


# ---------------------------------------------------------------------------------------------
# trellis-proxy
#
# start_proxy(config_yaml, ...) goes here (owned by the lead). Same shape as start_echo: make a
# scratch dir (make_scratch_dir), write the config and pass a --ready-file inside it, start the
# binary with Proc(..., test=test, workdir=...), then Proc.wait_for_file(ready_file).


# ---------------------------------------------------------------------------------------------
# Clients

class Response:
    """One parsed HTTP/1.x response. Header names are lower case; order is preserved."""

    def __init__(self, version, status, reason, headers, body=b"", trailers=(), raw=b""):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = list(headers)
        self.body = body
        self.trailers = list(trailers)
        self.raw = raw

    def header(self, name, default=None):
        values = self.header_values(name)
        return values[0] if values else default

    def header_values(self, name):
        name = name.lower()
        return [v for n, v in self.headers if n == name]

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"Response({self.status} {self.reason!r}, {len(self.body)} body bytes)"


class IncompleteResponse(Exception):
    pass


def _parse_fields(lines):
    fields = []
    for line in lines:
        name, sep, value = line.partition(b":")
        if not sep:
            raise ValueError(f"malformed header line {line!r}")
        fields.append((name.strip().lower().decode("latin-1"),
                       value.strip().decode("latin-1")))
    return fields


def parse_response(buf, head_request=False, eof=False):
    """Parses one response at the start of `buf`. Returns (Response, bytes consumed); raises
    IncompleteResponse if more bytes are needed, ValueError if the bytes are not HTTP."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        raise IncompleteResponse()
    lines = buf[:end].split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise ValueError(f"malformed status line {lines[0]!r}")
    version, status = parts[0].decode(), int(parts[1])
    reason = parts[2].decode("latin-1") if len(parts) > 2 else ""
    headers = _parse_fields(lines[1:])
    pos = end + 4
    names = {n: v for n, v in headers}
    body, trailers = b"", []
    if 100 <= status < 200 or status in (204, 304) or head_request:
        pass
    elif "chunked" in names.get("transfer-encoding", "").lower():
        chunks = []
        while True:
            line_end = buf.find(b"\r\n", pos)
            if line_end < 0:
                raise IncompleteResponse()
            size = int(buf[pos:line_end].split(b";")[0], 16)
            pos = line_end + 2
            if size == 0:
                break
            if len(buf) < pos + size + 2:
                raise IncompleteResponse()
            chunks.append(buf[pos:pos + size])
            pos += size + 2
        trailer_end = buf.find(b"\r\n", pos)
        if trailer_end == pos:
            pos += 2
        else:
            trailer_end = buf.find(b"\r\n\r\n", pos)
            if trailer_end < 0:
                raise IncompleteResponse()
            trailers = _parse_fields(buf[pos:trailer_end].split(b"\r\n"))
            pos = trailer_end + 4
        body = b"".join(chunks)
    elif "content-length" in names:
        length = int(names["content-length"])
        if len(buf) < pos + length:
            raise IncompleteResponse()
        body = buf[pos:pos + length]
        pos += length
    else:
        if not eof:
            raise IncompleteResponse()
        body = buf[pos:]
        pos = len(buf)
    return Response(version, status, reason, headers, body, trailers, bytes(buf[:pos])), pos


class RawConnection:
    """A plain TCP connection for byte-exact tests (pipelining, malformed input, upgrades)."""

    def __init__(self, port, host="127.0.0.1", timeout=DEFAULT_TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.closed_by_peer = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            self.closed_by_peer = True
        self.buf += chunk
        return bool(chunk)

    def read_response(self, head_request=False, skip_informational=True):
        """Reads the next response (skipping 1xx unless told otherwise)."""
        while True:
            try:
                response, used = parse_response(self.buf, head_request, self.closed_by_peer)
            except IncompleteResponse:
                if self.closed_by_peer or not self._fill():
                    if self.closed_by_peer and self.buf:
                        response, used = parse_response(self.buf, head_request, eof=True)
                    else:
                        raise ConnectionError(f"closed before a complete response: {self.buf!r}")
                else:
                    continue
            self.buf = self.buf[used:]
            if skip_informational and 100 <= response.status < 200 and response.status != 101:
                continue
            return response

    def read_exact(self, n):
        while len(self.buf) < n:
            if not self._fill():
                raise ConnectionError(f"closed after {len(self.buf)} of {n} bytes")
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_until_close(self):
        """All remaining bytes until the peer closes; raises ConnectionResetError on RST."""
        while self._fill():
            pass
        data, self.buf = self.buf, b""
        return data

    def close(self):
        self.sock.close()


def raw_request(port, data, timeout=DEFAULT_TIMEOUT, host="127.0.0.1"):
    """Sends `data` and returns the bytes received until the peer closes or one complete final
    response (1xx skipped) has arrived."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(data)
        buf = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return buf
            buf += chunk
            rest = buf
            try:
                while True:
                    response, used = parse_response(rest)
                    rest = rest[used:]
                    if not 100 <= response.status < 200:
                        return buf
            except (IncompleteResponse, ValueError):
                continue


def http_request(port, method, path, body=None, headers=None, timeout=DEFAULT_TIMEOUT,
                 host="127.0.0.1"):
    """One request over http.client; returns a Response (headers lower-cased)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        headers = [(n.lower(), v) for n, v in resp.getheaders()]
        return Response(f"HTTP/{resp.version / 10:.1f}", resp.status, resp.reason, headers, body)
    finally:
        conn.close()


def http_get(port, path="/", headers=None, timeout=DEFAULT_TIMEOUT, host="127.0.0.1"):
    return http_request(port, "GET", path, headers=headers, timeout=timeout, host=host)


class TrellisTestCase(unittest.TestCase):
    """Base class whose helpers register every started process for cleanup."""

    def start_echo(self, name="echo", instance="1", **kw):
        return start_echo(name, instance, test=self, **kw)
