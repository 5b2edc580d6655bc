"""What every outbound delivery shares, OBS and webhooks alike.

policy   the retry schedule: exponential backoff over a window, with jitter,
         parameters per destination kind (OBS ≥ 6 h, webhooks ≥ 24 h)
publish  handing a delivery task to the broker after the commit, with one
         circuit for the broker: an outage costs one bounded timeout, then
         the outboxes' sweeps take over
"""
