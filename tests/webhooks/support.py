"""Stand-ins for the webhook tests: a receiver (the OBS tests' recording
server, at a path of our choosing) and the fast settings a test worker runs with."""

import json

from tests.obs.support import FakeObs, Reply  # noqa: F401  (Reply: the tests script answers with it)

# Short timeouts and a backoff of fractions of a second, so retries happen
# within a test; the window stays long enough for a few retries.
FAST_WEBHOOKS_ENV = {
    "WEBHOOKS_ALLOW_PRIVATE": "1",
    "WEBHOOKS_TIMEOUT_SECONDS": "1",
    "WEBHOOKS_RETRY_BASE_SECONDS": "0.2",
    "WEBHOOKS_RETRY_MAX_DELAY_SECONDS": "1",
    "WEBHOOKS_RETRY_WINDOW_SECONDS": "30",
    "WEBHOOKS_SWEEP_INTERVAL_SECONDS": "1",
    "WEBHOOKS_SWEEP_GRACE_SECONDS": "1",
}


class Receiver(FakeObs):
    """An endpoint: records every POST (headers lower-cased, raw body)."""

    def url_for(self, path: str = "/hooks") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def bodies(self, path: str | None = None) -> list[dict]:
        with self._lock:
            items = list(self.received)
        return [json.loads(r.raw) for r in items if path is None or r.path == path]

    def received_at(self, path: str):
        with self._lock:
            return [r for r in self.received if r.path == path]
