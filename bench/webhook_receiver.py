"""A local webhook receiver for the bench: answers every POST at once with 204
and appends one JSON line per message to a file:
`{"t": <receive time>, "path": ..., "id": <webhook-id>, "type": ..., "ro": ..., "version": ...}`.

    python -m bench.webhook_receiver OUT.jsonl    # prints the port it listens on

Its own process, like bench/obs_receiver.py, so the load generator cannot delay the receipt times.
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    out = open(sys.argv[1], "a", buffering=1)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received = time.time()
            try:
                body = json.loads(raw)
                data = body.get("data", {})
                line = {
                    "type": body.get("type"),
                    "ro": data.get("repair_number"),
                    "version": data.get("version"),
                }
            except (ValueError, AttributeError):
                line = {"malformed": raw.decode("utf-8", "replace")[:200]}
            line.update(t=received, path=self.path, id=self.headers.get("webhook-id"))
            with lock:
                out.write(json.dumps(line) + "\n")
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
