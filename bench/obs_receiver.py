"""A local stand-in for OBS's update endpoint: answers every POST at once with
`{"success": true}` and appends one JSON line per update to a file:
`{"t": <receive time, Unix seconds>, "obs_event_id": ..., "status": ...}`.

    python -m bench.obs_receiver OUT.jsonl    # prints the port it listens on

Its own process, so the load generator's threads cannot delay the receipt times.
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
                update = json.loads(raw)[0]
                line = json.dumps(
                    {"t": received, "obs_event_id": update["obs_event_id"], "status": update["status"]}
                )
            except (ValueError, LookupError, TypeError):
                line = json.dumps({"t": received, "malformed": raw.decode("utf-8", "replace")[:200]})
            with lock:
                out.write(line + "\n")
            payload = b'{"success": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
