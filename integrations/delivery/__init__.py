"""The one outbox: every message to every destination, OBS and webhook
endpoints alike (docs/architecture.md "One outbox").

models     Message and Attempt: one table of messages, one of attempts
services   deliver a message's lane (claim, send, record), re-send, the sweep
adapters   what differs per kind of destination (OBS, webhooks), behind one interface
locks      the ordering rule per RO and destination: advisory lock, lease, fencing token
policy     the retry schedule: exponential backoff over a window, with jitter,
           parameters per destination kind (OBS ≥ 6 h, webhooks ≥ 24 h)
publish    handing a delivery task to the broker after the commit, with one
           circuit for the broker: an outage costs one bounded timeout, then
           the sweep takes over
queue      queueing the one delivery task
tasks      the one delivery task, the one sweep
selectors  the sweep's read and the delivery log
"""
