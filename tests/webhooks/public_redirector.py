"""An https server that answers every POST with a redirect, for the guard test
(test_redirect_guard.py), run inside a network namespace on a public address:

    python tests/webhooks/public_redirector.py ADDRESS PORT CERT KEY LOCATION LOG

It appends one line per request it answered to LOG, and prints "ready" once
it listens."""

import ssl
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


def main(address: str, port: str, cert: str, key: str, location: str, log: str) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with open(log, "a") as out:
                out.write(f"{self.path} {self.headers.get('webhook-id', '')}\n")
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = HTTPServer((address, int(port)), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(*sys.argv[1:])
