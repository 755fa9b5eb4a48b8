#!/usr/bin/env python3
"""A shop service for `make demo`: answers every GET with JSON naming itself, after calling the
Services it depends on through its sidecar's outbound listener (plain HTTP to 127.0.0.1 with
`Host: <service>`; the application knows nothing about the mesh). Standard library only.

  shop_app.py --name frontend --listen 127.0.0.1:9001 --outbound 127.0.0.1:15001 \
              --calls auth,checkout
"""
import argparse
import http.client
import json
import socketserver
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


def parse_address(text):
    host, _, port = text.rpartition(":")
    return host, int(port)


def call(outbound, service, path, timeout=2.0):
    """One call through the sidecar. Returns (status, parsed JSON or text)."""
    host, port = outbound
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": service})
        response = conn.getresponse()
        body = response.read()
        try:
            return response.status, json.loads(body)
        except ValueError:
            return response.status, body.decode(errors="replace").strip()
    except OSError as error:
        return 0, str(error)
    finally:
        conn.close()


def make_handler(name, version, outbound, calls):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            results = {}
            status = 200
            for service in calls:
                code, body = call(outbound, service, self.path)
                results[service] = {"status": code, "body": body}
                if code != 200:
                    status = 502
            payload = json.dumps({"service": name, "version": version, "calls": results}).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    return Handler


class Server(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--version", default="v1")
    parser.add_argument("--listen", required=True, help="IP:PORT")
    parser.add_argument("--outbound", required=True, help="the sidecar's outbound IP:PORT")
    parser.add_argument("--calls", default="", help="comma-separated Services to call")
    parser.add_argument("--ready-file")
    args = parser.parse_args()
    calls = [c for c in args.calls.split(",") if c]
    server = Server(parse_address(args.listen),
                    make_handler(args.name, args.version, parse_address(args.outbound), calls))
    if args.ready_file:
        with open(args.ready_file, "w") as out:
            out.write(str(server.server_address[1]))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
