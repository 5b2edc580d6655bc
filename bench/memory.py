"""4a. Peak RSS of the one server process that handles a 1,000-RO ingest.

A fresh single-worker server, warmed up with small batches so the baseline is
the steady state, not the cold start; the peak is the kernel's VmHWM.
"""

import json

from . import harness, ingest, payloads


def ingest_peak(database_url: str, key: str, size: int = 1000) -> dict:
    data = json.dumps(payloads.batch(shop_ids=ingest.SHOP_IDS, ros_total=size, tag="mem")).encode()
    with harness.Server(database_url, workers=1) as server:
        ingest.warm_up(server, key, "memwarm")
        before = server.current_rss_mib()
        ingest.send(server, key, "POST", data)
        peak = server.peak_rss_mib()
    body_mib = len(data) / 1024 / 1024
    return {
        "ros": size,
        "body_mib": body_mib,
        "rss_before_mib": before,
        "peak_rss_mib": peak,
        "peak_growth_mib": peak - before,
        "growth_to_body_ratio": (peak - before) / body_mib,
    }
