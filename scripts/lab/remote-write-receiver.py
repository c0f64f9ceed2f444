#!/usr/bin/python3
"""A Prometheus remote-write receiver for the lab (Debian's python3, python3-snappy).

POST /api/v1/write: the body is unpacked with python-snappy (the reference
library's binding) and answered 204, as Mimir and Thanos receive do.
POST /api/v1/reject: answered 400 with a text body, as a receiver refusing
out-of-order samples does. Anything else: 404. Runs until killed.

    remote-write-receiver.py ADDRESS PORT
"""
import http.server
import sys

import snappy


class Receiver(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/api/v1/write":
            snappy.uncompress(body)  # a body that does not unpack fails the request, loudly
            self.send_response(204)
            self.end_headers()
        elif self.path == "/api/v1/reject":
            reply = b"out of order sample: rejected by the lab receiver\n"
            self.send_response(400)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def log_message(self, fmt, *args):
        pass


http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), Receiver).serve_forever()
